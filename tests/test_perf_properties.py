"""Physics the performance model must obey, whatever the deployment and load."""

from __future__ import annotations

import functools

from hypothesis import given, settings
from hypothesis import strategies as st

import gpu_catalog
from planner.memory.estimator import estimate
from planner.performance.calibration import DEFAULT
from planner.performance.predict import _regime, cost_of, predict
from planner.performance.step_time import hardware, step_time, weight_floor_s
from planner.performance.types import Workload
from planner.release.engine_args import EngineArgs
from planner.sourcing.loader import load_model

MODELS = ("llama-3.1-8b", "qwen3-30b-a3b", "gpt-oss-20b", "qwen2.5-7b")
GPUS = ("H100", "A100-SXM-80GB", "H100-PCIe-80GB", "MI300X")


@functools.lru_cache(maxsize=64)
def est_of(model: str, gpu: str, tp: int = 1, mns: int | None = None):  # type: ignore[no-untyped-def]
    return estimate(load_model(model, offline=True), gpu_catalog.resolve(gpu),
                    EngineArgs(tensor_parallel_size=tp, max_num_seqs=mns, max_model_len=8192))


@settings(max_examples=60)
@given(st.sampled_from(MODELS), st.sampled_from(GPUS), st.integers(1, 1024), st.integers(1, 8000),
       st.integers(0, 4096))
def test_no_decode_step_is_faster_than_reading_the_weights(model: str, gpu: str, n: int, ctx: int,
                                                           prefill: int) -> None:
    est = est_of(model, gpu)
    c, hw = cost_of(est), hardware(est.gpu, est.quant)
    s = step_time(c, hw, DEFAULT, _regime(est, DEFAULT, 512), num_decode=n, decode_ctx=n * ctx,
                  prefill_tokens=prefill, prefill_pairs=prefill * (prefill + 1) / 2, num_prefill=1 if prefill else 0)
    assert s.total >= weight_floor_s(c, hw)


@settings(max_examples=40)
@given(st.sampled_from(MODELS), st.sampled_from(("H100", "A100-SXM-80GB", "H100-PCIe-80GB")), st.sampled_from((2, 4)),
       st.integers(1, 512))
def test_tensor_parallel_never_increases_weight_reads_per_step(model: str, gpu: str, tp: int, n: int) -> None:
    one, many = est_of(model, gpu), est_of(model, gpu, tp)
    if not many.fits:
        return
    c1, ct = cost_of(one), cost_of(many)
    assert ct.dense_bytes <= c1.dense_bytes and ct.expert_bytes <= c1.expert_bytes


def _tput(model: str, conc: int, out: int = 64, mns: int | None = None) -> float:
    w = Workload(random_input_len=256, random_output_len=out, num_prompts=64, max_concurrency=conc)
    return predict(est_of(model, "H100", mns=mns), w).benchmark.output_throughput


@settings(max_examples=12)
@given(st.sampled_from(("llama-3.1-8b", "qwen3-30b-a3b")), st.integers(1, 5))
def test_more_concurrency_never_lowers_throughput_below_the_caps(model: str, k: int) -> None:
    # 64 short requests never fill the KV cache of an H100; max_num_seqs (1024) does not bind
    lo, hi = 2 ** (k - 1), 2 ** k
    assert _tput(model, hi) >= _tput(model, lo) * 0.999


@settings(max_examples=10)
@given(st.sampled_from(("llama-3.1-8b", "qwen3-30b-a3b")), st.integers(2, 200), st.integers(1, 100))
def test_longer_outputs_never_shorten_e2e(model: str, out: int, more: int) -> None:
    def e2e(o: int) -> float:
        w = Workload(random_input_len=128, random_output_len=o, num_prompts=8, max_concurrency=4)
        return predict(est_of(model, "H100"), w).benchmark.median_e2el_ms
    assert e2e(out + more) >= e2e(out)


def test_max_num_seqs_binds_throughput() -> None:
    capped, free = _tput("llama-3.1-8b", 64, mns=8), _tput("llama-3.1-8b", 64)
    assert capped < free


@functools.lru_cache(maxsize=16)
def _v0_est(steps: int, cp: bool):  # type: ignore[no-untyped-def]
    extra = (("--num-scheduler-steps", str(steps)),) if steps > 1 else ()
    return estimate(load_model("llama-3.1-8b", offline=True), gpu_catalog.resolve("H100"),
                    EngineArgs(max_model_len=8192, enable_chunked_prefill=cp, passthrough=extra),
                    vllm_version="0.6.3")


@settings(max_examples=10, deadline=None)
@given(st.sampled_from((1, 4, 8, 16)), st.booleans(), st.integers(1, 5))
def test_v0_more_concurrency_never_lowers_throughput_with_or_without_multi_step(steps: int, cp: bool,
                                                                                k: int) -> None:
    # V0 (0.6.3), multi-step or not: 64 short requests fill neither the KV cache nor max_num_seqs
    def tput(conc: int) -> float:
        w = Workload(random_input_len=256, random_output_len=64, num_prompts=64, max_concurrency=conc)
        return predict(_v0_est(steps, cp), w).benchmark.output_throughput
    assert tput(2 ** k) >= tput(2 ** (k - 1)) * 0.999


@settings(max_examples=8, deadline=None)
@given(st.sampled_from((2, 4, 8, 16)))
def test_multi_step_never_lowers_v0_burst_throughput(steps: int) -> None:
    w = Workload(random_input_len=256, random_output_len=128, num_prompts=128)
    assert predict(_v0_est(steps, False), w).benchmark.output_throughput > \
        predict(_v0_est(1, False), w).benchmark.output_throughput
