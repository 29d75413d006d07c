"""planner.performance.queue: the waiting queue where the TTFT target breaks (the HPA's target), and the simulator's
time in the waiting queue it is computed from."""

from __future__ import annotations

import functools
import math

import pytest

import gpu_catalog
from planner.memory.estimator import estimate
from planner.performance.predict import predict
from planner.performance.queue import mean_waiting, queue_depth_target, ttft_percentile_ms
from planner.performance.types import Workload
from planner.release.engine_args import EngineArgs
from planner.sourcing.loader import load_model

W = Workload(random_input_len=1000, random_output_len=200, num_prompts=150)


@functools.cache
def est(gpu: str = "H100", **kw: object):  # type: ignore[no-untyped-def]
    return estimate(load_model("qwen3-8b", offline=True), gpu_catalog.resolve(gpu), EngineArgs(**kw))


def test_requests_wait_when_the_batch_is_full() -> None:
    # max_num_seqs 4 and 40 requests at once: most of them wait, for most of the run.
    burst = predict(est(max_num_seqs=4, max_model_len=4096), Workload(random_input_len=200, random_output_len=50,
                                                                     num_prompts=40))
    assert burst.sim.queued_request_s > 0
    assert mean_waiting(burst) > 10                      # ~36 waiting at first, draining to none
    assert mean_waiting(burst) <= 36
    # One request a second, alone on the server: it waits at most for the step already running.
    calm = predict(est(max_model_len=4096), Workload(random_input_len=200, random_output_len=50, num_prompts=5,
                                                     request_rate=1.0))
    assert 0 <= calm.sim.queued_request_s / 5 < 0.05


def test_waiting_grows_with_the_rate() -> None:
    low, high = (predict(est(), Workload(**{**W.__dict__, "request_rate": r})) for r in (5.0, 40.0))
    assert mean_waiting(high) > 5 * mean_waiting(low)


def test_queue_depth_where_the_target_breaks() -> None:
    q = queue_depth_target(est(), W, ttft_ms=300)
    assert q == queue_depth_target(est(), W, ttft_ms=300)           # deterministic
    assert q.status == "breaks" and q.waiting_per_pod is not None and q.waiting_per_pod > 0
    assert q.saturation_rate / 64 <= q.rate <= 2 * q.saturation_rate
    at = predict(est(), Workload(**{**W.__dict__, "request_rate": q.rate}))
    assert ttft_percentile_ms(at, 95) == q.ttft_ms <= 300
    assert mean_waiting(at) == q.waiting_per_pod
    # The bisection's last bracket is within 128 ** (1 / 64) of the rate found; past it the target breaks.
    above = predict(est(), Workload(**{**W.__dict__, "request_rate": q.rate * 128 ** (1 / 64)}))
    assert ttft_percentile_ms(above, 95) > 300
    assert q.calls == 9 and q.to_json()["status"] == "breaks"


def test_a_tighter_target_queues_less() -> None:
    loose, tight = (queue_depth_target(est(), W, ttft_ms=ms) for ms in (300, 200))
    assert tight.rate <= loose.rate
    assert tight.waiting_per_pod is not None and loose.waiting_per_pod is not None
    assert tight.waiting_per_pod <= loose.waiting_per_pod


def test_unmet_and_holding_targets() -> None:
    long = Workload(random_input_len=8000, random_output_len=100, num_prompts=50)
    unmet = queue_depth_target(est(max_model_len=10000), long, ttft_ms=50)
    assert unmet.status == "unmet" and unmet.waiting_per_pod is None and unmet.ttft_ms > 50
    holds = queue_depth_target(est(), W, ttft_ms=600_000)
    assert holds.status == "holds" and math.isclose(holds.rate, 2 * holds.saturation_rate)
    assert holds.calls == 3


@pytest.mark.parametrize(("ms", "pct"), [(0, 95), (-5, 95), (math.inf, 95), (500, 0), (500, 101)])
def test_bad_inputs(ms: float, pct: float) -> None:
    with pytest.raises(ValueError):
        queue_depth_target(est(), W, ttft_ms=ms, percentile_q=pct)
