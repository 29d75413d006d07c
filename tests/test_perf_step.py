"""planner.performance.step_time: bytes, FLOPs and peaks of one engine step, from real configs and the GPU catalog."""

from __future__ import annotations

import math

import pytest

import gpu_catalog
from planner.memory.estimator import estimate
from planner.performance.calibration import DEFAULT
from planner.performance.predict import _regime, cost_of, predict, scheduler_steps
from planner.performance.step_time import (
    DecodeSteps,
    experts_touched,
    gemm_mode,
    hardware,
    step_time,
    weight_floor_s,
)
from planner.performance.types import Workload
from planner.release.engine_args import EngineArgs
from planner.sourcing.loader import load_model


def est_of(model: str, gpu: str = "H100", quant: str | None = None, **kw: object):  # type: ignore[no-untyped-def]
    return estimate(load_model(model, offline=True), gpu_catalog.resolve(gpu), EngineArgs(**kw), quant=quant)


def decode(est, n: int, ctx: int = 1000):  # type: ignore[no-untyped-def]
    c, hw = cost_of(est), hardware(est.gpu, est.quant)
    return step_time(c, hw, DEFAULT, _regime(est, DEFAULT, 512), num_decode=n, decode_ctx=n * ctx,
                     prefill_tokens=0, prefill_pairs=0.0)


def test_weights_read_match_the_memory_model() -> None:
    est = est_of("llama-3.1-8b")
    c = cost_of(est)
    # the step reads every linear weight once (the embedding table is gathered, not read whole)
    embed = 128256 * 4096 * 2
    assert abs(c.dense_bytes + embed - est.per_gpu.weights_gib * 2**30) / (est.per_gpu.weights_gib * 2**30) < 0.01


def test_fp8_halves_weight_reads_and_runs_fp8_gemms_only_from_ada() -> None:
    bf16, fp8 = cost_of(est_of("llama-3.1-8b")), cost_of(est_of("llama-3.1-8b", quant="fp8"))
    assert 0.5 < fp8.dense_bytes / bf16.dense_bytes < 0.56      # lm_head stays 16-bit
    e_h100, e_a100 = est_of("llama-3.1-8b", quant="fp8"), est_of("llama-3.1-8b", "A100-SXM-80GB", quant="fp8")
    assert gemm_mode(e_h100.gpu, e_h100.quant) == "fp8" and gemm_mode(e_a100.gpu, e_a100.quant) == "weight_only"
    assert hardware(e_h100.gpu, e_h100.quant).gemm_flops == pytest.approx(1978.9e12)
    assert hardware(e_a100.gpu, e_a100.quant).gemm_flops == pytest.approx(312e12)


def test_moe_reads_only_the_experts_a_batch_touches() -> None:
    assert experts_touched(128, 128, 8, 1) == pytest.approx(8)
    assert experts_touched(128, 128, 8, 10_000) == pytest.approx(128)
    assert experts_touched(128, 128, 8, 16) == pytest.approx(128 * (1 - (1 - 8 / 128) ** 16))
    est = est_of("qwen3-30b-a3b")
    one, many = decode(est, 1), decode(est, 256)
    c = cost_of(est)
    # one token touches its top-8 experts of 128 in each MoE layer, not all 128
    read = one.weights * DEFAULT.bw_efficiency * hardware(est.gpu, est.quant).mem_bw
    assert read == pytest.approx(c.dense_bytes + c.moe_layers * 8 * c.expert_bytes)
    assert many.total > 2 * one.total


def test_tensor_parallel_splits_the_weight_reads_and_adds_all_reduces() -> None:
    tp1, tp2 = est_of("llama-3.1-8b"), est_of("llama-3.1-8b", tensor_parallel_size=2)
    c1, c2 = cost_of(tp1), cost_of(tp2)
    assert c2.dense_bytes == pytest.approx(c1.dense_bytes / 2, rel=0.01)
    s1, s2 = decode(tp1, 64), decode(tp2, 64)
    assert s1.communication == 0 and s2.communication > 0 and s2.weights < s1.weights
    pcie = decode(est_of("llama-3.1-8b", "H100-PCIe-80GB", tensor_parallel_size=2), 64)
    assert pcie.communication > s2.communication          # PCIe vs NVLink


def test_prefill_attention_is_quadratic_in_the_chunk() -> None:
    est = est_of("llama-3.1-8b")
    c, hw = cost_of(est), hardware(est.gpu, est.quant)
    reg = _regime(est, DEFAULT, 512)

    def prefill(n: int) -> float:
        return step_time(c, hw, DEFAULT, reg, num_decode=0, decode_ctx=0, prefill_tokens=n,
                         prefill_pairs=n * (n + 1) / 2, num_prefill=1).compute
    assert prefill(8192) > 4.2 * prefill(2048)           # linear part x4, attention part x16


def test_no_decode_step_beats_one_read_of_the_weights() -> None:
    for model in ("llama-3.1-8b", "qwen3-30b-a3b", "gpt-oss-20b"):
        est = est_of(model)
        floor = weight_floor_s(cost_of(est), hardware(est.gpu, est.quant))
        assert decode(est, 1, 10).total > floor > 0


def test_eager_and_v0_cost_more_per_step_than_v1_graphs() -> None:
    graphs, eager = decode(est_of("llama-3.1-8b"), 8), decode(est_of("llama-3.1-8b", enforce_eager=True), 8)
    assert eager.overhead > graphs.overhead and eager.total > graphs.total
    v0 = estimate(load_model("llama-3.1-8b", offline=True), gpu_catalog.resolve("H100"),
                  EngineArgs(max_model_len=8192), vllm_version="0.6.3")
    assert _regime(v0, DEFAULT, 512).step_overhead_s == DEFAULT.step_overhead_v0_s
    assert not math.isclose(DEFAULT.step_overhead_v0_s, DEFAULT.step_overhead_async_s)


def test_a100_hosts_take_longer_for_the_cpu_side_only() -> None:
    from planner.performance.calibration import host_cpu_factor

    a100 = estimate(load_model("llama-3.1-8b", offline=True), gpu_catalog.resolve("A100-SXM-80GB"),
                    EngineArgs(max_model_len=8192), vllm_version="0.10.1")
    h100 = estimate(load_model("llama-3.1-8b", offline=True), gpu_catalog.resolve("H100"),
                    EngineArgs(max_model_len=8192), vllm_version="0.10.1")
    assert host_cpu_factor(a100.gpu, DEFAULT) == DEFAULT.ampere_host_cpu_factor > 1.0
    assert host_cpu_factor(h100.gpu, DEFAULT) == 1.0
    ra, rh = _regime(a100, DEFAULT, 512), _regime(h100, DEFAULT, 512)
    assert math.isclose(ra.step_overhead_s, rh.step_overhead_s * DEFAULT.ampere_host_cpu_factor)
    assert math.isclose(ra.per_seq_overhead_s, rh.per_seq_overhead_s * DEFAULT.ampere_host_cpu_factor)
    # the factor changes nothing on the GPU side: without it the A100's step is the same roofline
    one = DEFAULT.with_(ampere_host_cpu_factor=1.0)
    assert _regime(a100, one, 512).step_overhead_s == rh.step_overhead_s


def test_cached_decode_steps_are_step_time_exactly() -> None:
    from planner.performance.step_time import DecodeSteps

    for model in ("llama-3.1-8b", "gpt-oss-20b", "qwen3-30b-a3b"):
        est = est_of(model, tensor_parallel_size=2)
        c, hw, reg = cost_of(est), hardware(est.gpu, est.quant), _regime(est, DEFAULT, 512)
        fast = DecodeSteps(c, hw, DEFAULT, reg)
        for n, ctx in ((1, 10), (7, 5000), (300, 900_000), (7, 6000), (1024, 10)):
            assert fast(n, ctx) == step_time(c, hw, DEFAULT, reg, num_decode=n, decode_ctx=ctx, prefill_tokens=0,
                                             prefill_pairs=0.0)


def _v0(release: str = "0.6.3", steps: int | None = None, **kw: object):  # type: ignore[no-untyped-def]
    extra = {"passthrough": (("--num-scheduler-steps", str(steps)),)} if steps else {}
    return estimate(load_model("llama-3.1-8b", offline=True), gpu_catalog.resolve("H100"),
                    EngineArgs(max_model_len=8192, tensor_parallel_size=2, **extra, **kw),  # type: ignore[arg-type]
                    vllm_version=release)


def test_multi_step_amortises_the_scheduler_over_the_window() -> None:
    one, ten = _v0(), _v0(steps=10)
    assert scheduler_steps(one) == 1 and scheduler_steps(ten) == 10
    r1, r10 = _regime(one, DEFAULT, 512, None, 1), _regime(ten, DEFAULT, 512, None, 10)
    # a decode step pays 1/N of the per-step CPU (scheduling, input preparation, the broadcast to the
    # second TP worker) and of the serial per-sequence part; a prefill step pays all of it
    base = DEFAULT.step_overhead_v0_s + DEFAULT.tp_worker_overhead_v0_s
    assert math.isclose(r10.decode_step_overhead_s or 0.0, base / 10) and math.isclose(r10.step_overhead_s, base)
    assert math.isclose(r10.decode_per_seq_serial_s or 0.0, DEFAULT.per_seq_serial_v0_s / 10)
    c, hw = cost_of(ten), hardware(ten.gpu, ten.quant)
    d1, d10 = DecodeSteps(c, hw, DEFAULT, r1)(64, 64 * 500), DecodeSteps(c, hw, DEFAULT, r10)(64, 64 * 500)
    saved = (base - base / 10) + 64 * DEFAULT.per_seq_serial_v0_s * 0.9
    assert math.isclose(d1.total - d10.total, saved, rel_tol=1e-9)
    pre = dict(num_decode=0, decode_ctx=0, prefill_tokens=512, prefill_pairs=512 * 513 / 2, num_prefill=1)
    assert math.isclose(step_time(c, hw, DEFAULT, r1, **pre).total,   # type: ignore[arg-type]
                        step_time(c, hw, DEFAULT, r10, **pre).total)   # type: ignore[arg-type]
    # V1 has no multi-step scheduling (the flag went with V0)
    v1 = estimate(load_model("llama-3.1-8b", offline=True), gpu_catalog.resolve("H100"),
                  EngineArgs(max_model_len=8192), vllm_version="0.10.1")
    assert scheduler_steps(v1, 8) == 1


def test_multi_step_raises_v0_burst_throughput_and_streams_by_release() -> None:
    w = Workload(random_input_len=256, random_output_len=128, num_prompts=64)
    one = predict(_v0(enable_chunked_prefill=False), w).benchmark
    ten = predict(_v0(steps=10, enable_chunked_prefill=False), w).benchmark
    assert ten.output_throughput > one.output_throughput and ten.median_tpot_ms < one.median_tpot_ms
    # 0.6.2 creates request outputs at a window's end only: ITL is a whole window, TPOT about the same
    old = predict(_v0("0.6.2", steps=10, enable_chunked_prefill=False), w).benchmark
    assert old.median_itl_ms > 5 * ten.median_itl_ms
    assert math.isclose(old.median_tpot_ms, ten.median_tpot_ms, rel_tol=0.1)
