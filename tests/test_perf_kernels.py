"""The fixed kernel time of a step in planner.performance.step_time: per layer, per fused-MoE layer, and per
GEMM launch of the linear layers (plus the activation-quantization kernel of an fp8/int8 GEMM)."""

from __future__ import annotations

import pytest

import gpu_catalog
from planner.memory.estimator import estimate
from planner.performance.calibration import DEFAULT
from planner.performance.predict import _regime, cost_of
from planner.performance.step_time import Regime, hardware, step_time
from planner.release.engine_args import EngineArgs
from planner.sourcing.loader import load_model

REG = Regime(step_overhead_s=0.0, per_seq_overhead_s=0.0, eager=False)


def _est(model: str, gpu: str, version: str | None = None, **kw: object):  # type: ignore[no-untyped-def]
    extra = {"vllm_version": version} if version else {}
    return estimate(load_model(model, offline=True), gpu_catalog.resolve(gpu), EngineArgs(**kw), **extra)


def test_launches_count_each_linear_layer() -> None:
    c = cost_of(_est("llama-3.1-8b", "H100"))
    # qkv, o, gate_up, down per layer; bf16: no activation quantization
    assert (c.linear_launches, c.quantized_launches) == (4 * 32, 0)
    ds = cost_of(_est("deepseek-r1", "H200", tensor_parallel_size=8))
    # MLA's fused_qkv_a, q_b, kv_b, o plus the shared expert's (or dense MLP's) gate_up and down
    assert ds.linear_launches == 6 * 61 and ds.quantized_launches == 6 * 61


def test_fp8_gemms_add_an_activation_quantization_kernel_each() -> None:
    h200, a100 = _est("deepseek-r1", "H200", tensor_parallel_size=8), _est("deepseek-r1", "A100-SXM-80GB",
                                                                             tensor_parallel_size=8)
    assert hardware(h200.gpu, h200.quant).act_quant and not hardware(a100.gpu, a100.quant).act_quant
    c = cost_of(h200)
    hw = hardware(h200.gpu, h200.quant)
    cal = DEFAULT.with_(linear_kernel_s=1e-5)
    one = step_time(c, hw, cal, REG, num_decode=1, decode_ctx=100, prefill_tokens=0, prefill_pairs=0.0)
    none = step_time(c, hw, cal.with_(linear_kernel_s=0.0), REG, num_decode=1, decode_ctx=100, prefill_tokens=0,
                     prefill_pairs=0.0)
    assert one.total - none.total == pytest.approx(1e-5 * 2 * 6 * 61)
    assert one.overhead - none.overhead == pytest.approx(1e-5 * 2 * 6 * 61)


def test_v1_waits_for_the_slowest_rank_not_for_each_worker_in_turn() -> None:
    cal = DEFAULT
    one = _regime(_est("llama-3.1-8b", "H100"), cal, 512).step_overhead_s
    tp2 = _regime(_est("llama-3.1-70b", "H100", tensor_parallel_size=2), cal, 512).step_overhead_s
    tp8 = _regime(_est("llama-3.1-70b", "H100", tensor_parallel_size=8), cal, 512).step_overhead_s
    assert tp2 - one == pytest.approx(cal.tp_worker_overhead_s / 2)
    # the expected maximum of eight exponential delays: 1/2 + ... + 1/8 of a rank's mean beyond one rank's
    assert tp8 - one == pytest.approx(cal.tp_worker_overhead_s * sum(1 / k for k in range(2, 9)))
    assert tp8 - one < 7 * (tp2 - one)


def test_v0_still_hands_the_step_to_each_worker() -> None:
    cal = DEFAULT
    tp1 = _regime(_est("llama-3.1-8b", "H100", "0.6.3", max_model_len=8192), cal, 512)
    tp4 = _regime(_est("llama-3.1-70b", "H100", "0.6.3", max_model_len=8192, tensor_parallel_size=4), cal, 512)
    assert tp4.step_overhead_s - tp1.step_overhead_s == pytest.approx(3 * cal.tp_worker_overhead_v0_s)


def test_fp8_fused_moe_runs_at_its_own_fraction_of_the_fp8_peak() -> None:
    # a compute-bound prefill chunk of DeepSeek-R1 (block-fp8 experts, fp8 GEMMs on the H200): the experts'
    # GEMM time scales by 1 / moe_fp8_factor; A100 runs the same checkpoint weight-only (16-bit math)
    est = _est("deepseek-r1", "H200", tensor_parallel_size=8)
    c, hw = cost_of(est), hardware(est.gpu, est.quant)

    def chunk(factor: float) -> float:
        return step_time(c, hw, DEFAULT.with_(moe_fp8_factor=factor), REG, num_decode=0, decode_ctx=0,
                         prefill_tokens=8192, prefill_pairs=8192 * 8193 / 2, num_prefill=1).compute
    assert chunk(0.5) > 1.5 * chunk(1.0)
    a100 = _est("deepseek-r1", "A100-SXM-80GB", tensor_parallel_size=8)
    ca, ha = cost_of(a100), hardware(a100.gpu, a100.quant)
    s = [step_time(ca, ha, DEFAULT.with_(moe_fp8_factor=f), REG, num_decode=0, decode_ctx=0, prefill_tokens=8192,
                   prefill_pairs=8192 * 8193 / 2, num_prefill=1).total for f in (0.5, 1.0)]
    assert s[0] == s[1]
