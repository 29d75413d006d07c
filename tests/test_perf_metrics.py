"""planner.performance.metrics computes the statistics the way vLLM's benchmark client (numpy) does."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from planner.performance.metrics import percentile, summarize
from planner.performance.types import Request, RequestTiming, SimResult


@given(st.lists(st.floats(0, 1e4, allow_nan=False), min_size=1, max_size=50), st.sampled_from([50, 95, 99, 0, 100]))
def test_percentile_is_numpys_linear(xs: list[float], q: int) -> None:
    assert abs(percentile(sorted(xs), q) - float(np.percentile(xs, q))) <= 1e-9 * max(1.0, max(xs))


def test_summarize_follows_calculate_metrics() -> None:
    # Two requests: 4 output tokens each, tokens every 10 ms after a 100 ms / 200 ms first token.
    r0, r1 = Request(0, 0.0, 10, 4), Request(1, 0.0, 20, 4)
    t0 = RequestTiming(r0, 0.0, 0.100, 0.130, (0.01, 0.01, 0.01))
    t1 = RequestTiming(r1, 0.05, 0.250, 0.310, (0.02, 0.02, 0.02))
    b = summarize(SimResult((t0, t1), duration_s=0.31, max_concurrent_requests=2))
    assert b.completed == 2 and b.total_input_tokens == 30 and b.total_output_tokens == 8
    assert abs(b.request_throughput - 2 / 0.31) < 1e-9
    assert abs(b.mean_ttft_ms - 150.0) < 1e-9          # (100 + 200) / 2
    assert abs(b.median_tpot_ms - 15.0) < 1e-9         # (10 + 20) / 2
    assert abs(b.std_ttft_ms - 50.0) < 1e-9            # population std
    assert abs(b.mean_itl_ms - 15.0) < 1e-9
    assert abs(b.p99_e2el_ms - float(np.percentile([130, 260], 99))) < 1e-9
    assert b.to_json()["max_concurrent_requests"] == 2


def test_single_token_requests_have_no_tpot() -> None:
    r = Request(0, 0.0, 5, 1)
    b = summarize(SimResult((RequestTiming(r, 0.0, 0.05, 0.05),), duration_s=0.05, max_concurrent_requests=1))
    assert b.mean_tpot_ms == 0.0 and b.mean_ttft_ms == 50.0


@given(st.lists(st.tuples(st.floats(0, 10, allow_nan=False), st.integers(1, 5)), min_size=1, max_size=30))
def test_counted_itl_statistics_equal_the_expanded_list(pairs: list[tuple[float, int]]) -> None:
    from planner.performance.metrics import _stats_ms, _stats_ms_counted

    counts: dict[float, int] = {}
    for v, c in pairs:
        counts[v] = counts.get(v, 0) + c
    expanded = [v for v, c in counts.items() for _ in range(c)]
    a, b = _stats_ms_counted(counts), _stats_ms(expanded)
    for k in a:
        assert abs(a[k] - b[k]) <= 1e-9 * max(1.0, abs(b[k]))
