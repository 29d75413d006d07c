"""TTFT targets no rate can meet (issue 11: every input ends in under 5 s): refused from one simulated request.

`ttft_unreachable` compares the target with predict.first_token_alone_s, the time to first token of the
load's shortest prompt sent alone to an idle server. Generated here: models x GPUs x tensor-parallel sizes x
lengths x targets on both sides of that figure. Below it, the search ends at once at the floor with the
figure in its reason; at or above it, nothing changes (the search runs as before). And the figure is a true
floor: in simulated Poisson runs at several rates no request gets its first token sooner.
"""

from __future__ import annotations

import functools
import math

import pytest

import gpu_catalog
from planner.memory.estimator import Estimate, estimate
from planner.performance.capacity import (
    LoadShape,
    Slo,
    evaluate,
    max_sustainable_rate,
    shortest_prompt,
    ttft_unreachable,
)
from planner.performance.predict import first_token_alone_s
from planner.release.engine_args import EngineArgs
from planner.sourcing.loader import load_model

DEPLOYMENTS = [("llama-3.1-8b", "H100", 1), ("llama-3.1-8b", "H100", 2), ("llama-3.1-8b", "H100", 4),
               ("llama-3.1-8b", "A100-80GB", 2), ("qwen3-8b", "H100", 1), ("qwen3-32b", "H100", 2)]
SHAPES = [LoadShape(random_input_len=1024, random_output_len=128),
          LoadShape(random_input_len=3000, random_output_len=64),
          LoadShape(random_input_len=512, random_output_len=256, random_range_ratio=0.5),
          LoadShape(dataset_name="sharegpt")]


@functools.cache
def _est(model: str, gpu: str, tp: int) -> Estimate:
    e = estimate(load_model(model, offline=True), gpu_catalog.resolve(gpu),
                 EngineArgs(max_model_len=4096, tensor_parallel_size=tp))
    assert e.fits
    return e


@functools.cache
def _alone_ms(model: str, gpu: str, tp: int, shape: LoadShape) -> float:
    return first_token_alone_s(_est(model, gpu, tp), shortest_prompt(shape)) * 1000


def test_the_shortest_prompt_of_each_dataset() -> None:
    assert shortest_prompt(SHAPES[0]) == 1024
    assert shortest_prompt(SHAPES[2]) == 256
    assert shortest_prompt(SHAPES[3]) == 4


@pytest.mark.parametrize("dep", DEPLOYMENTS)
@pytest.mark.parametrize("shape", SHAPES[:3])
@pytest.mark.parametrize("factor", [0.1, 0.5, 0.99])
def test_a_target_below_one_request_alone_is_refused_at_once(dep: tuple[str, str, int], shape: LoadShape,
                                                              factor: float) -> None:
    alone = _alone_ms(*dep, shape)
    target = alone * factor
    for slo in (Slo(ttft_ms=target), Slo(ttft_ms=target, tpot_ms=1000), Slo(ttft_ms=target, percentile=50)):
        cap = max_sustainable_rate(_est(*dep), shape, slo)
        assert not cap.met and cap.request_rate == 0 and cap.limit == "floor"
        assert cap.probes == () and cap.workload is None      # nothing was simulated but the one request
        assert f"TTFT of {alone:.1f} ms" in cap.reason and f"above the {target:g} ms target" in cap.reason
        assert f"one request of {shortest_prompt(shape):,} prompt tokens" in cap.reason
        assert cap.to_json()["per_replica_request_rate"] == 0


@pytest.mark.parametrize("dep", DEPLOYMENTS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("factor", [1.0, 1.01, 3.0])
def test_a_target_at_or_above_it_leaves_the_search_alone(dep: tuple[str, str, int], shape: LoadShape,
                                                         factor: float) -> None:
    slo = Slo(ttft_ms=_alone_ms(*dep, shape) * factor)
    assert ttft_unreachable(_est(*dep), shape, slo) == ""
    assert ttft_unreachable(_est(*dep), shape, Slo(tpot_ms=1)) == ""     # no TTFT target: not this check
    assert ttft_unreachable(_est(*dep), shape, None) == ""


@pytest.mark.parametrize("dep", DEPLOYMENTS[:4])
@pytest.mark.parametrize("shape", SHAPES)
def test_no_request_of_a_run_beats_one_request_alone(dep: tuple[str, str, int], shape: LoadShape) -> None:
    """The floor holds in simulated runs, from nearly idle to overloaded (the claim the refusal rests on)."""
    alone = _alone_ms(*dep, shape) / 1000
    est = _est(*dep)
    for rate in (0.05, 1.0, 8.0, 40.0):
        _probe, pred = evaluate(est, shape, rate, Slo(ttft_ms=1))
        worst = min(t.first_token_s - t.sent_s for t in pred.sim.timings)
        assert worst >= alone - 1e-9, (rate, worst, alone)


def test_a_met_target_is_sized_as_before() -> None:
    """A reachable target: the refusal does not fire, the search finds a rate within it."""
    dep, shape = DEPLOYMENTS[1], SHAPES[0]
    slo = Slo(ttft_ms=math.ceil(_alone_ms(*dep, shape) * 3))
    cap = max_sustainable_rate(_est(*dep), shape, slo)
    assert cap.met and cap.probes and cap.benchmark is not None
    assert cap.benchmark["p95_ttft_ms"] <= slo.ttft_ms
