"""planner.performance.workload draws the lengths and arrival times vLLM's benchmark draws."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from planner.performance.types import Workload
from planner.performance.workload import SHAREGPT_MEAN_IN, SHAREGPT_MEAN_OUT, arrivals, generate


def test_random_lengths_follow_range_ratio() -> None:
    reqs = generate(Workload(random_input_len=1000, random_output_len=100, random_range_ratio=0.2, num_prompts=2000))
    ins = [r.input_len for r in reqs]
    outs = [r.output_len for r in reqs]
    # get_sampling_params: integers in [floor(L (1 - r)), ceil(L (1 + r))]
    assert min(ins) >= 800 and max(ins) <= 1200 and min(outs) >= 80 and max(outs) <= 120
    assert abs(sum(ins) / len(ins) - 1000) < 10 and max(ins) - min(ins) > 350


def test_range_ratio_zero_is_fixed_and_invalid_ratio_refused() -> None:
    reqs = generate(Workload(random_input_len=512, random_output_len=64, num_prompts=50))
    assert {(r.input_len, r.output_len) for r in reqs} == {(512, 64)}
    with pytest.raises(ValueError):
        generate(Workload(random_range_ratio=1.0, num_prompts=5))


def test_poisson_arrivals_reproducible_with_the_right_rate() -> None:
    w = Workload(num_prompts=1000, request_rate=4.0, seed=0)
    a, b = generate(w), generate(w)
    assert [r.arrival_s for r in a] == [r.arrival_s for r in b]
    times = [r.arrival_s for r in a]
    assert times == sorted(times)
    # vLLM rescales the cumulated gaps so the last request goes out at n / rate
    assert math.isclose(times[-1], 1000 / 4.0)
    gaps = [y - x for x, y in itertools.pairwise(times)]
    mean = sum(gaps) / len(gaps)
    cv = math.sqrt(sum((g - mean) ** 2 for g in gaps) / len(gaps)) / mean
    assert abs(mean - 0.25) < 0.01 and 0.9 < cv < 1.1            # exponential gaps: coefficient of variation 1
    assert [r.arrival_s for r in generate(Workload(num_prompts=1000, request_rate=4.0, seed=1))] != times


def test_burstiness_shapes_the_gaps() -> None:
    def cv(burstiness: float) -> float:
        t = arrivals(2000, 10.0, burstiness, random.Random(3))
        g = [y - x for x, y in itertools.pairwise(t)]
        m = sum(g) / len(g)
        return math.sqrt(sum((x - m) ** 2 for x in g) / len(g)) / m
    assert cv(0.25) > 1.5 and cv(4.0) < 0.7           # gamma shape k: cv = 1/sqrt(k)
    steady = arrivals(10, 2.0, math.inf, random.Random(0))
    assert all(math.isclose(y - x, 0.5) for x, y in itertools.pairwise(steady))


def test_infinite_rate_and_offline_batch_send_everything_at_zero() -> None:
    assert {r.arrival_s for r in generate(Workload(num_prompts=20))} == {0.0}
    assert {r.arrival_s for r in generate(Workload(num_prompts=20, request_rate=1.0, offline_batch=True))} == {0.0}


def test_sharegpt_lengths_pass_vllms_filter_and_match_the_measured_means() -> None:
    reqs = generate(Workload(dataset_name="sharegpt", num_prompts=4000))
    assert all(4 <= r.input_len <= 1024 and r.output_len >= 4 and r.input_len + r.output_len <= 2048 for r in reqs)
    mean_in = sum(r.input_len for r in reqs) / len(reqs)
    mean_out = sum(r.output_len for r in reqs) / len(reqs)
    assert abs(mean_in / SHAREGPT_MEAN_IN - 1) < 0.05 and abs(mean_out / SHAREGPT_MEAN_OUT - 1) < 0.05
    assert len({r.input_len for r in reqs}) > 300        # a spread, not one length
