"""planner.performance.predict ties the memory model to the simulation; its answer is deterministic and explained."""

from __future__ import annotations

import json

import pytest

import gpu_catalog
from planner.memory.estimator import estimate
from planner.performance.predict import predict
from planner.performance.types import Workload
from planner.release.engine_args import EngineArgs
from planner.sourcing.loader import load_model


def est(gpu: str = "H100", **kw: object):  # type: ignore[no-untyped-def]
    return estimate(load_model("qwen3-8b", offline=True), gpu_catalog.resolve(gpu), EngineArgs(**kw))


def test_prediction_is_deterministic_and_complete() -> None:
    w = Workload(dataset_name="sharegpt", num_prompts=200)
    a, b = predict(est(), w), predict(est(), w)
    assert a.benchmark == b.benchmark
    assert a.benchmark.completed == 200 and a.benchmark.output_throughput > 0
    assert a.benchmark.total_output_tokens == sum(t.request.output_len for t in a.sim.timings)
    j = a.bounds.to_json()
    json.dumps(j)
    assert abs(sum(j["step_shares"].values()) - 1) < 1e-3 and a.bounds.lines()


def test_a_deployment_that_would_not_start_is_refused() -> None:
    bad = est("RTX-4090-24GB", max_model_len=40960)
    assert not bad.fits
    with pytest.raises(ValueError, match="would not start"):
        predict(bad, Workload(num_prompts=4))


def test_requests_longer_than_max_model_len_are_refused() -> None:
    with pytest.raises(ValueError, match="max_model_len"):
        predict(est(max_model_len=1024), Workload(random_input_len=1000, random_output_len=100, num_prompts=4))


def test_small_kv_cache_preempts_and_is_reported() -> None:
    # 1.2 GiB of KV cache on purpose: 200 requests of 1024 + 512 tokens cannot all be resident
    e = est(kv_cache_memory_bytes=int(1.2 * 2**30), max_model_len=4096)
    p = predict(e, Workload(random_input_len=1024, random_output_len=512, num_prompts=200))
    assert p.sim.preemptions > 0 and any("KV cache" in line for line in p.bounds.lines())
    big = predict(est(), Workload(random_input_len=1024, random_output_len=512, num_prompts=200))
    assert big.benchmark.output_throughput > p.benchmark.output_throughput


def test_offline_batch_has_no_client_overhead() -> None:
    w = Workload(random_input_len=128, random_output_len=16, num_prompts=1)
    served = predict(est(), w).benchmark.median_ttft_ms
    offline = predict(est(), Workload(random_input_len=128, random_output_len=16, num_prompts=1,
                                      offline_batch=True)).benchmark.median_ttft_ms
    assert offline < served
