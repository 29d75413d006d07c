"""MLA's prefill path and DeepSeek-V3.2's sparse attention in planner.performance.step_time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import gpu_catalog
from planner.memory.quant import resolve_scheme
from planner.memory.spec import model_spec_from_config
from planner.performance.calibration import DEFAULT
from planner.performance.step_time import DecodeSteps, Regime, _attention, hardware, model_cost, step_time

VALIDATION = Path(__file__).resolve().parent / "data" / "validation"
REG = Regime(step_overhead_s=0.0, per_seq_overhead_s=0.0, eager=False)


def _cfg(name: str) -> dict:  # type: ignore[type-arg]
    for sub in ("perf-model-configs", "model-configs"):
        p = VALIDATION / sub / f"{name}.json"
        if p.is_file():
            return json.loads(p.read_text())
    raise FileNotFoundError(name)


def _cost(name: str, *, tp: int = 8, kv_bytes: int = 2):  # type: ignore[no-untyped-def]
    cfg = _cfg(name)
    spec = model_spec_from_config(cfg, name)
    scheme, _ = resolve_scheme(cfg.get("quantization_config"), None)
    return spec, scheme, model_cost(spec, scheme, tp=tp, pp=1, act_bytes=2, kv_bytes=kv_bytes)


def _hw(gpu: str, scheme):  # type: ignore[no-untyped-def]
    return hardware(gpu_catalog.resolve(gpu), scheme)


def test_mla_prefill_runs_multi_head_attention_over_decompressed_keys() -> None:
    # vLLM's MLA prefill is not absorbed: 2 x heads x (nope + rope + v) per pair (16 heads per rank at TP 8)
    _, _, c = _cost("deepseek-ai__DeepSeek-R1")
    assert c.prefill_pair_flops_layer == 2.0 * 16 * (128 + 64 + 128)
    assert c.attn_flops_per_pair_layer == 2.0 * 16 * (2 * 512 + 64)      # decode: absorbed, over the latent
    assert c.prefill_pair_flops_layer < c.attn_flops_per_pair_layer / 3
    # each chunk decompresses its cached context through kv_b_proj: 2 x 512 x heads x (nope + v) per token
    assert c.ctx_decompress_flops_layer == 2.0 * 512 * 16 * (128 + 128)


def test_a_long_mla_prefill_costs_the_multi_head_form_plus_the_context_decompression() -> None:
    _, scheme, c = _cost("deepseek-ai__DeepSeek-R1")
    hw = _hw("H200", scheme)
    n, p = 8192, 24576
    pairs = n * p + n * (n + 1) / 2

    def chunk(ctx: int, with_pairs: bool = True) -> float:
        return step_time(c, hw, DEFAULT, REG, num_decode=0, decode_ctx=0, prefill_tokens=n,
                         prefill_pairs=pairs if with_pairs else 0.0, prefill_ctx=ctx, num_prefill=1).total
    dense = chunk(p) - chunk(0)
    # reading and decompressing 24K cached latent tokens: the kv_b_proj GEMM at the linear layers' rate
    want = c.ctx_decompress_flops_layer * p * c.attn_layers / (hw.gemm_flops * DEFAULT.flops_efficiency)
    assert dense == pytest.approx(want, rel=0.05)
    # the pairs cost the multi-head rate, not the absorbed one
    mha = c.prefill_pair_flops_layer * pairs * c.attn_layers / (hw.attn_flops * DEFAULT.flops_efficiency)
    assert chunk(0) - chunk(0, with_pairs=False) == pytest.approx(mha, rel=0.05)


def test_decode_steps_keep_the_absorbed_form() -> None:
    _, scheme, c = _cost("deepseek-ai__DeepSeek-R1")
    hw = _hw("H200", scheme)
    dec = DecodeSteps(c, hw, DEFAULT, REG)
    for n, ctx in ((1, 100), (64, 64 * 4000), (512, 512 * 30_000)):
        assert dec(n, ctx) == step_time(c, hw, DEFAULT, REG, num_decode=n, decode_ctx=ctx, prefill_tokens=0,
                                        prefill_pairs=0.0)


def test_v32_config_carries_the_indexer_and_its_replicated_projections() -> None:
    spec, _, c32 = _cost("deepseek-ai__DeepSeek-V3.2")
    _, _, c31 = _cost("deepseek-ai__DeepSeek-V3.1")
    assert (spec.index_topk, spec.index_n_heads, spec.index_head_dim) == (2048, 64, 128)
    assert c32.index_topk == 2048 and c31.index_topk == 0
    assert c32.prefill_pair_flops_layer is None           # sparse MLA stays absorbed for prefill
    # wq_b (1536 -> 64 x 128), wk (7168 -> 128), weights_proj (7168 -> 64): whole on every rank
    extra = 61 * 2 * (1536 * 64 * 128 + 7168 * 128 + 7168 * 64)
    assert c32.dense_flops_per_token - c31.dense_flops_per_token == pytest.approx(extra)


def test_sparse_attention_caps_the_keys_at_top_k_and_pads_the_heads() -> None:
    _, scheme, c = _cost("deepseek-ai__DeepSeek-V3.2")
    h200, b200 = _hw("H200", scheme), _hw("B200", scheme)
    assert (h200.sparse_mla_heads, b200.sparse_mla_heads) == (64, 128)
    rate = h200.attn_flops * DEFAULT.flops_efficiency
    idx_rate = h200.gemm_flops * DEFAULT.flops_efficiency
    # one decode query over 1,000 keys: all of them, 16 heads per rank run as 64 (the bf16 kernel)
    sparse = 2.0 * 64 * (2 * 512 + 64) * 1000 * 61 / rate
    index = 2.0 * 64 * 128 * 1000 * 61 / idx_rate
    _, fl = _attention(c, h200, DEFAULT, 1000, 1, 1000.0, 0.0, 1)
    assert fl == pytest.approx(sparse + index)
    # past top-k only the indexer grows with the context
    _, fl2 = _attention(c, h200, DEFAULT, 64_000, 1, 64_000.0, 0.0, 1)
    assert fl2 == pytest.approx(2.0 * 64 * 1088 * 2048 * 61 / rate + 2.0 * 64 * 128 * 64_000 * 61 / idx_rate)
    # an fp8 cache (fp8_ds_mla) takes the FP8 kernel, which does not pad the heads
    _, _, c8 = _cost("deepseek-ai__DeepSeek-V3.2", kv_bytes=1)
    _, fl8 = _attention(c8, h200, DEFAULT, 1000, 1, 1000.0, 0.0, 1)
    assert fl8 == pytest.approx(sparse / 4 + index)
