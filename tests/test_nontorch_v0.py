"""vLLM 0.6's non-torch memory as its V0 worker measures it (planner/memory/cuda_context.py): what each patch
release counts, and why the figure differs by GPU. Fails when the per-release accounting, the per-GPU
scaling or the fit on c032 changes, or when a constant fitted on one run comes back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import gpu_catalog
from planner.memory import cuda_context
from planner.memory.estimator import estimate
from planner.memory.overhead import non_torch_bytes
from planner.memory.spec import model_spec_from_config
from planner.release.engine_args import EngineArgs
from planner.release.vllm_versions import rules_for

GiB = 2**30
CONFIGS = Path(__file__).parent / "data" / "validation" / "model-configs"
H100 = gpu_catalog.resolve("H100-SXM-80GB")
A10G = gpu_catalog.resolve("A10G-24GB")
T4 = gpu_catalog.resolve("T4-16GB")
RTX4060 = gpu_catalog.resolve("RTX-4060-8GB")


def _nt(version: str, gpu: gpu_catalog.Gpu | None, tp: int = 1) -> int:
    return non_torch_bytes(tp=tp, pp=1, regime=rules_for(version).overhead, gpu=gpu)


def test_thread_slots_are_sms_times_resident_threads() -> None:
    assert cuda_context.thread_slots(H100) == 132 * 2048
    assert cuda_context.thread_slots(A10G) == 80 * 1536
    assert cuda_context.thread_slots(T4) == 40 * 1024
    assert cuda_context.thread_slots(RTX4060) == 24 * 1536
    # unknown SMs (AMD, user entries, MIG slices) or no GPU: the reference GPU's
    assert cuda_context.thread_slots(None) == cuda_context.REFERENCE_SLOTS
    assert cuda_context.thread_slots(gpu_catalog.resolve("MI300X")) == cuda_context.REFERENCE_SLOTS


def test_every_nvidia_catalog_gpu_has_its_sms_and_threads_per_sm() -> None:
    missing = {"H20-96GB"}       # SM count not published by NVIDIA
    for gpu in gpu_catalog.all_gpus().values():
        if gpu.vendor != "nvidia" or gpu.id in missing:
            continue
        assert gpu.id in cuda_context.SM_COUNT, gpu.id
        assert gpu.cc in cuda_context.THREADS_PER_SM, gpu.id


def test_context_is_driver_state_plus_default_stacks() -> None:
    assert cuda_context.context_bytes(H100) == int(0.25 * GiB) + 1024 * 132 * 2048
    assert cuda_context.context_bytes(H100) > cuda_context.context_bytes(A10G) > cuda_context.context_bytes(T4)


@pytest.mark.parametrize("version", ["0.6.0", "0.6.3.post1", "0.6.5", "0.6.6.post1"])
def test_releases_with_a_baseline_after_the_context_count_only_the_growth(version: str) -> None:
    regime = rules_for(version).overhead
    assert not regime.counts_cuda_context
    assert _nt(version, H100) == (636 * 132 * 2048)


def test_0_6_4_counts_the_cuda_context() -> None:
    assert rules_for("0.6.4.post1").overhead.counts_cuda_context
    for gpu in (H100, A10G, T4):
        assert _nt("0.6.4", gpu) - _nt("0.6.5", gpu) == cuda_context.context_bytes(gpu)


def test_fit_on_c032_and_the_cross_check_on_other_gpus() -> None:
    # c032: 0.6.6/0.7.0 development build, H100 TP1, "non_torch_memory takes 0.16GiB"
    assert abs(_nt("0.6.6", H100) / GiB - 0.16) < 0.005
    # V0 0.7/0.8 TP1 logs on other GPUs (same growth mechanism): RTX 4060 0.03 (c040), A100 0.09 (c057)
    assert abs(_nt("0.6.6", RTX4060) / GiB - 0.03) < 0.015
    assert abs(_nt("0.6.6", gpu_catalog.resolve("A100-SXM-80GB")) / GiB - 0.09) < 0.05


def test_the_figure_scales_with_the_gpu() -> None:
    h100, a10g = _nt("0.6.6", H100), _nt("0.6.6", A10G)
    assert h100 > a10g
    assert h100 / a10g == pytest.approx((132 * 2048) / (80 * 1536), rel=1e-6)


def test_several_gpus_add_the_communicators() -> None:
    assert _nt("0.6.6", H100, tp=2) - _nt("0.6.6", H100) == int(1.0 * GiB)


def test_later_releases_keep_their_own_coefficients() -> None:
    for version, base in (("0.7.0", 0.06), ("0.8.5", 0.13), ("0.33.0", 0.26)):
        regime = rules_for(version).overhead
        assert regime.non_torch_bytes_per_thread_slot == 0 and not regime.counts_cuda_context
        assert regime.non_torch_base_gib == base
        assert _nt(version, A10G) == _nt(version, H100) == int(base * GiB)


def test_a_24gb_card_serves_the_context_its_users_ran() -> None:
    """Llama-3.1-8B on an A10G at 0.6.6 with a 16k context: 3.3 GiB of KV cache is left. The constant
    fitted on c033 (1.79 GiB) left 1.65 GiB, fewer than 16,384 tokens, and refused it."""
    cfg = json.loads((CONFIGS / "meta-llama__Llama-3.1-8B.json").read_text())
    spec = model_spec_from_config(cfg, name="llama-3.1-8b")
    est = estimate(spec, A10G, EngineArgs(max_model_len=16384), vllm_version="0.6.6.post1")
    assert est.fits, [e.message for e in est.errors]
    assert est.per_gpu.non_torch_gib < 0.2
    assert est.kv_cache.tokens >= 16384
