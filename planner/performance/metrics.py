"""The statistics `vllm bench serve` prints and saves, computed from simulated request timings.

Follows vllm/benchmarks/serve.py `calculate_metrics` (0.11-0.33): TTFT and E2E latency per request, TPOT =
(latency - TTFT) / (output tokens - 1) for requests with more than one output token, ITL = every gap between
successive output chunks pooled over requests; mean/std/median/percentiles as numpy computes them (std is the
population std, percentiles interpolate linearly), times 1000 for milliseconds. Throughputs divide by the
benchmark duration (first request sent to last response finished).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from planner.performance.types import SimResult

STATS = ("mean", "median", "std", "p95", "p99")
METRICS = ("ttft", "tpot", "itl", "e2el")


def percentile(sorted_xs: Sequence[float], q: float) -> float:
    """numpy.percentile's default ('linear') on an already sorted sequence; 0.0 for an empty one."""
    n = len(sorted_xs)
    if n == 0:
        return 0.0
    pos = (n - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def _stats_ms(xs: Sequence[float]) -> dict[str, float]:
    if not xs:  # vLLM: np.mean(ttfts or 0) -> 0.0 when nothing completed
        return dict.fromkeys(STATS, 0.0)
    s = sorted(xs)
    n = len(s)
    mean = math.fsum(s) / n
    var = math.fsum((x - mean) ** 2 for x in s) / n
    return {"mean": mean * 1000, "median": percentile(s, 50) * 1000, "std": math.sqrt(var) * 1000,
            "p95": percentile(s, 95) * 1000, "p99": percentile(s, 99) * 1000}


def _stats_ms_counted(counts: dict[float, int]) -> dict[str, float]:
    """_stats_ms of the list holding each value `count` times, without building it."""
    total = sum(counts.values())
    if not total:
        return dict.fromkeys(STATS, 0.0)
    vals = sorted(counts)
    cum: list[int] = []
    c = 0
    for v in vals:
        c += counts[v]
        cum.append(c)
    mean = math.fsum(v * counts[v] for v in vals) / total
    var = math.fsum(counts[v] * (v - mean) ** 2 for v in vals) / total

    def at(idx: int) -> float:
        return vals[bisect.bisect_right(cum, idx)]

    def pct(q: float) -> float:
        pos = (total - 1) * q / 100.0
        lo = math.floor(pos)
        hi = min(lo + 1, total - 1)
        a = at(lo)
        return a + (at(hi) - a) * (pos - lo)

    return {"mean": mean * 1000, "median": pct(50) * 1000, "std": math.sqrt(var) * 1000,
            "p95": pct(95) * 1000, "p99": pct(99) * 1000}


@dataclass(frozen=True)
class BenchmarkResult:
    """The keys of `vllm bench serve --save-result` (plus max_concurrent_requests), in its units."""

    completed: int
    duration: float
    total_input_tokens: int
    total_output_tokens: int
    request_throughput: float
    output_throughput: float
    total_token_throughput: float
    mean_ttft_ms: float
    median_ttft_ms: float
    std_ttft_ms: float
    p95_ttft_ms: float
    p99_ttft_ms: float
    mean_tpot_ms: float
    median_tpot_ms: float
    std_tpot_ms: float
    p95_tpot_ms: float
    p99_tpot_ms: float
    mean_itl_ms: float
    median_itl_ms: float
    std_itl_ms: float
    p95_itl_ms: float
    p99_itl_ms: float
    mean_e2el_ms: float
    median_e2el_ms: float
    std_e2el_ms: float
    p95_e2el_ms: float
    p99_e2el_ms: float
    max_concurrent_requests: int

    def to_json(self, digits: int = 2) -> dict[str, float | int]:
        return {k: (round(v, digits) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def summarize(sim: SimResult) -> BenchmarkResult:
    """BenchmarkResult of a simulated run, computed the way the benchmark client computes it."""
    ttfts: list[float] = []
    tpots: list[float] = []
    itls: list[float] = []
    e2els: list[float] = []
    total_in = total_out = 0
    for t in sim.timings:
        n_out = t.request.output_len
        total_in += t.request.input_len
        total_out += n_out
        ttft = t.first_token_s - t.sent_s
        latency = t.finish_s - t.sent_s
        ttfts.append(ttft)
        e2els.append(latency)
        if n_out > 1:
            tpots.append((latency - ttft) / (n_out - 1))
        if sim.itl_counts is None:
            itls.extend(t.itl_s)
    dur = sim.duration_s if sim.duration_s > 0 else float("nan")
    completed = len(sim.timings)
    fields: dict[str, float | int] = {
        "completed": completed,
        "duration": sim.duration_s,
        "total_input_tokens": total_in,
        "total_output_tokens": total_out,
        "request_throughput": completed / dur if completed else 0.0,
        "output_throughput": total_out / dur if completed else 0.0,
        "total_token_throughput": (total_in + total_out) / dur if completed else 0.0,
        "max_concurrent_requests": sim.max_concurrent_requests,
    }
    for name, xs in (("ttft", ttfts), ("tpot", tpots), ("itl", itls), ("e2el", e2els)):
        stats = _stats_ms_counted(sim.itl_counts) if name == "itl" and sim.itl_counts is not None else _stats_ms(xs)
        for stat, value in stats.items():
            fields[f"{stat}_{name}_ms"] = value
    return BenchmarkResult(**fields)  # type: ignore[arg-type]
