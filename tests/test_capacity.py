"""planner.performance.capacity: rate parsing, and the highest rate one replica sustains, from the perf model."""

from __future__ import annotations

import functools
import math

import pytest

import gpu_catalog
from planner.errors import PlannerError
from planner.memory.estimator import Estimate, estimate
from planner.performance.capacity import (
    GROWTH_MAX,
    HOURS_PER_MONTH,
    REL_TOL,
    Capacity,
    LoadShape,
    Slo,
    evaluate,
    max_sustainable_rate,
    parse_count,
    parse_rate,
    peak_rate,
    probe_prompts,
    replicas_for,
)
from planner.performance.predict import predict
from planner.release.engine_args import EngineArgs
from planner.sourcing.loader import load_model

MONTH_S = HOURS_PER_MONTH * 3600

# --- parsing ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "rate"), [
    ("40", 40.0), ("0.5", 0.5), (" 2 ", 2.0), ("12/s", 12.0), ("12/sec", 12.0),
    ("1000/min", 1000 / 60), ("90/minute", 1.5), ("3600/h", 1.0), ("7200/hour", 2.0), ("7200/hr", 2.0),
    ("86400/day", 1.0), ("172800/days", 2.0), ("2592000/month", 1.0), ("1/MONTH", 1 / MONTH_S),
    # vLLM's human_readable_int: lower case = powers of 1000 (a decimal mantissa allowed), upper = 1024
    ("1k/s", 1000.0), ("1.5k/h", 1500 / 3600), ("1K/s", 1024.0), ("5m/month", 5e6 / MONTH_S),
    ("5M/month", 5 * 2**20 / MONTH_S), ("2g/month", 2e9 / MONTH_S), ("1t/month", 1e12 / MONTH_S),
    ("1G/month", 2**30 / MONTH_S), ("20k/day", 20_000 / 86400),
])
def test_rates(text: str, rate: float) -> None:
    assert math.isclose(parse_rate(text), rate, rel_tol=1e-12)


def test_a_month_is_what_the_caller_says() -> None:
    assert math.isclose(parse_rate("744/month", hours_per_month=744), 1 / 3600)
    assert math.isclose(parse_rate("720/month"), 1 / 3600)


@pytest.mark.parametrize("text", ["", "abc", "10/week", "-5", "0", "0/min", "inf", "1e3", "1.5K/h", "5 per s",
                                  "/min", "1//min", "nan", "2e7"])
def test_bad_rates_name_the_accepted_forms(text: str) -> None:
    with pytest.raises(PlannerError) as e:
        parse_rate(text)
    assert e.value.hint is None or "5M/month" in e.value.hint
    assert "\n" not in e.value.one_line()


def test_a_rate_above_the_limit_is_refused() -> None:
    with pytest.raises(PlannerError, match="at most"):
        parse_rate("2000000")


@pytest.mark.parametrize(("text", "n"), [("500000", 500_000), ("500k", 500_000), ("2m", 2_000_000),
                                         ("2M", 2 * 2**20), ("1.5m", 1_500_000), ("64K", 65_536),
                                         ("1g", 10**9)])
def test_counts_follow_vllm(text: str, n: int) -> None:
    assert parse_count(text) == n


@pytest.mark.parametrize("text", ["0", "-1", "abc", "1.5M", "2 m", ""])
def test_bad_counts(text: str) -> None:
    with pytest.raises(PlannerError):
        parse_count(text)


def test_slo_checks_its_values() -> None:
    assert Slo().empty and not Slo(ttft_ms=500).empty
    assert Slo(ttft_ms=500, tpot_ms=40).targets() == {"ttft": 500, "tpot": 40}
    for bad in ({"ttft_ms": 0}, {"tpot_ms": -1}, {"e2el_ms": math.inf}, {"percentile": 0}, {"percentile": 101}):
        with pytest.raises(PlannerError):
            Slo(**bad)


def test_replicas_cover_the_peak() -> None:
    assert peak_rate(10.0) == 20.0 and peak_rate(10.0, 1.5) == 15.0
    assert replicas_for(20.0, 5.0) == 4 and replicas_for(20.01, 5.0) == 5 and replicas_for(0.001, 5.0) == 1
    with pytest.raises(PlannerError):
        peak_rate(1.0, 0.5)
    with pytest.raises(ValueError):
        replicas_for(1.0, 0.0)


def test_the_shape_builds_the_benchmarks_workload() -> None:
    s = LoadShape(random_input_len=700, random_output_len=100, seed=3)
    w = s.workload(2.5)
    assert (w.request_rate, w.burstiness, w.num_prompts, w.seed, w.offline_batch) == (2.5, 1.0, 200, 3, False)
    assert s.workload(math.inf).offline_batch
    # probes simulate at least the shape's prompts, more at higher rates, within the token budget
    assert probe_prompts(s, 0.1) == 200 and probe_prompts(s, 20.0) == 400 and probe_prompts(s, 1e4) == 500


# --- the search --------------------------------------------------------------------------------------------

SHAPE = LoadShape(random_input_len=256, random_output_len=32)


@functools.cache
def _est(gpu: str = "L40S", tp: int = 1) -> Estimate:
    return estimate(load_model("qwen3-8b", offline=True), gpu_catalog.resolve(gpu),
                    EngineArgs(tensor_parallel_size=tp, max_model_len=4096))


@functools.cache
def _cap(gpu: str = "L40S", tp: int = 1, slo: Slo | None = None) -> Capacity:
    return max_sustainable_rate(_est(gpu, tp), SHAPE, slo)


def _higher_breaks(cap: Capacity, est: Estimate, slo: Slo | None) -> None:
    """Every probe at or above 1 + REL_TOL times the answer failed, and 10 % above it fails too."""
    above = [p for p in cap.probes if p.rate > cap.request_rate]
    assert above and all(not p.met for p in above)
    assert min(p.rate for p in above) <= cap.request_rate * (1 + REL_TOL) * (1 + 1e-9)
    probe, _ = evaluate(est, SHAPE, cap.request_rate * 1.1, slo)
    assert not probe.met


def test_bounded_queue_rate() -> None:
    est = _est()
    cap = _cap()
    assert cap.met and cap.limit == "queue" and cap.slo is None and cap.workload is not None
    # the figures at the answer are the perf model's, reproducibly: predict() of the same workload
    again = predict(est, cap.workload)
    assert cap.benchmark is not None
    assert cap.benchmark["p95_ttft_ms"] == round(again.benchmark.p95_ttft_ms, 2)
    assert cap.benchmark["request_rate"] == cap.request_rate
    at, _ = evaluate(est, SHAPE, cap.request_rate)
    assert at.bounded and at.growth <= GROWTH_MAX
    _higher_breaks(cap, est, None)
    # far above it the queue clearly grows: TTFT at the end of the run is far above the start
    over, _ = evaluate(est, SHAPE, cap.request_rate * 2)
    assert over.growth > 0.2


def test_slo_rate_meets_the_targets_and_a_higher_one_breaks_them() -> None:
    slo = Slo(ttft_ms=150, tpot_ms=45)
    est, cap = _est(), _cap(slo=slo)
    assert cap.met and cap.limit in ("ttft", "tpot") and cap.benchmark is not None
    assert cap.benchmark["p95_ttft_ms"] <= 150 and cap.benchmark["p95_tpot_ms"] <= 45
    _higher_breaks(cap, est, slo)
    assert cap.limit.upper() in cap.reason and "target" in cap.reason
    assert cap.request_rate <= _cap().request_rate      # a target never raises the bounded-queue rate


def test_a_looser_slo_never_lowers_the_rate() -> None:
    tight, loose = _cap(slo=Slo(ttft_ms=150, tpot_ms=45)), _cap(slo=Slo(ttft_ms=300, tpot_ms=60))
    assert loose.request_rate >= tight.request_rate
    # the percentile: a lower one is looser
    p50 = _cap(slo=Slo(ttft_ms=150, tpot_ms=45, percentile=50))
    assert p50.request_rate >= tight.request_rate


def test_more_tensor_parallelism_carries_more() -> None:
    assert _cap("L40S", 2).request_rate >= _cap("L40S", 1).request_rate


def test_the_search_is_deterministic() -> None:
    a = max_sustainable_rate(_est(), SHAPE, Slo(ttft_ms=150, tpot_ms=45))
    b = _cap(slo=Slo(ttft_ms=150, tpot_ms=45))
    assert a.to_json() == b.to_json()


def test_an_unreachable_target_says_which_and_its_floor() -> None:
    cap = max_sustainable_rate(_est(), SHAPE, Slo(ttft_ms=1))
    assert not cap.met and cap.request_rate == 0 and cap.limit == "floor"
    assert "TTFT" in cap.reason and "1 ms target" in cap.reason
    assert cap.to_json()["per_replica_request_rate"] == 0


def test_a_gpu_without_compute_peaks_is_bad_input() -> None:
    e = estimate(load_model("qwen3-8b", offline=True), gpu_catalog.resolve("A10G"), EngineArgs(max_model_len=4096))
    assert e.fits
    with pytest.raises(PlannerError) as exc:
        max_sustainable_rate(e, SHAPE)
    assert exc.value.code == "no_perf_model" and "--per-replica-rate" in (exc.value.hint or "")


def test_requests_longer_than_the_context_are_bad_input() -> None:
    with pytest.raises(PlannerError, match="max_model_len"):
        max_sustainable_rate(_est(), LoadShape(random_input_len=4000, random_output_len=200))


def test_a_deployment_that_would_not_start_is_refused() -> None:
    bad = estimate(load_model("qwen3-8b", offline=True), gpu_catalog.resolve("RTX-4060-8GB"), EngineArgs())
    assert not bad.fits
    with pytest.raises(ValueError, match="would not start"):
        max_sustainable_rate(bad, SHAPE)
