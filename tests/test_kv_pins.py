"""Pins of two quantities of vLLM's KV arithmetic that no other non-e2e test catches when they change.

- The startup check reserves the null block (vllm/v1/core/kv_cache_planning.py, 0.33:
  check_enough_kv_cache_memory plans against available_memory - _pool_bytes_per_block).
- max_in_flight_tokens = max_concurrent_batches x max_num_batched_tokens (vllm/config/vllm.py, 0.33):
  a sliding-window request keeps window - 1 + max_in_flight_tokens tokens of blocks
  (SlidingWindowSpec.max_memory_usage_bytes in vllm/v1/kv_cache_interface.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import gpu_catalog
from planner.memory.estimator import estimate
from planner.release.engine_args import EngineArgs
from planner.release.vllm_versions import max_concurrent_batches, max_in_flight_tokens, rules_for

CONFIGS = Path(__file__).parent / "data" / "validation" / "model-configs"
H100 = gpu_catalog.resolve("H100")


def _config(name: str) -> dict[str, object]:
    return json.loads((CONFIGS / f"{name}.json").read_text())


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


# --- the null block -------------------------------------------------------------------------------------
LLAMA = "meta-llama__Llama-3.1-8B-Instruct"
# Llama-3.1-8B, bf16: 32 layers x 8 KV heads x 128 x (K + V) x 2 B = 131,072 B per token, 16-token blocks.
BYTES_PER_BLOCK = 32 * 8 * 128 * 2 * 2 * 16
BLOCKS_8K = 8192 // 16


def _fits(kv_bytes: int, version: str) -> tuple[bool, tuple[str, ...]]:
    est = estimate(_config(LLAMA), H100, EngineArgs(max_model_len=8192, kv_cache_memory_bytes=kv_bytes),
                   vllm_version=version)
    assert est.kv_cache.bytes_per_block == BYTES_PER_BLOCK
    assert est.kv_cache.blocks_per_request == BLOCKS_8K
    return est.fits, tuple(e.code for e in est.errors)


def test_the_startup_check_keeps_the_null_block_back() -> None:
    # One block short of request + null block: vLLM 0.33 refuses to start ...
    assert _fits(BYTES_PER_BLOCK * (BLOCKS_8K + 1) - 1, "0.33.0") == (False, ("kv_cache_too_small",))
    # ... and starts with exactly one request plus the null block.
    assert _fits(BYTES_PER_BLOCK * (BLOCKS_8K + 1), "0.33.0") == (True, ())


def test_releases_before_the_null_block_check_accept_one_request_exactly() -> None:
    assert _fits(BYTES_PER_BLOCK * BLOCKS_8K, "0.19.0") == (True, ())
    assert _fits(BYTES_PER_BLOCK * BLOCKS_8K - 1, "0.19.0") == (False, ("kv_cache_too_small",))


# --- max_in_flight_tokens -------------------------------------------------------------------------------
@pytest.mark.parametrize(("version", "pp", "async_on", "batches"), [
    ("0.33.0", 1, True, 2),      # Model Runner V2: PP + 1
    ("0.33.0", 2, True, 3),
    ("0.33.0", 2, False, 2),     # no async scheduling (e.g. the CPU backend): one batch per stage
    ("0.19.0", 1, True, 2),      # the V1 runner overlaps two batches only at PP=1
    ("0.19.0", 2, True, 2),
    ("0.19.0", 1, False, 1),
])
def test_max_concurrent_batches_is_vllms(version: str, pp: int, async_on: bool, batches: int) -> None:
    rules = rules_for(version)
    assert max_concurrent_batches(rules, pipeline_parallel_size=pp, async_scheduling=async_on) == batches
    assert max_in_flight_tokens(rules, max_num_batched_tokens=1024, pipeline_parallel_size=pp,
                                async_scheduling=async_on) == batches * 1024


GEMMA = "google__gemma-2-9b-it"     # 42 layers alternating sliding (window 4096) and full attention


@pytest.mark.parametrize(("pp", "batches"), [(1, 2), (2, 3)])
def test_a_sliding_window_request_holds_blocks_for_the_tokens_in_flight(pp: int, batches: int) -> None:
    mnbt, mml, window, bs = 1024, 8192, 4096, 16
    est = estimate(_config(GEMMA), H100, EngineArgs(max_model_len=mml, max_num_batched_tokens=mnbt,
                                                    pipeline_parallel_size=pp), vllm_version="0.33.0")
    in_flight = batches * mnbt
    sliding = cdiv(min(window - 1 + in_flight, mml), bs) + 1
    full = cdiv(mml, bs)
    assert est.kv_cache.blocks_per_request == full + sliding
    # Not max_num_batched_tokens alone: that would be cdiv(4095 + 1024, 16) + 1 = 321 sliding blocks.
    assert sliding != cdiv(min(window - 1 + mnbt, mml), bs) + 1


def test_before_0_21_the_sliding_window_need_uses_max_num_batched_tokens() -> None:
    mnbt, mml, window, bs = 1024, 8192, 4096, 16
    est = estimate(_config(GEMMA), H100, EngineArgs(max_model_len=mml, max_num_batched_tokens=mnbt),
                   vllm_version="0.19.0")
    assert est.kv_cache.blocks_per_request == cdiv(mml, bs) + cdiv(min(window - 1 + mnbt, mml), bs) + 1
