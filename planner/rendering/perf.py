"""Human output of `planner perf`: vLLM's own result block, what bounds the deployment, and a sweep's table
and terminal chart.

The result block copies vllm/benchmarks/serve.py (0.33) as data: the same labels, the same `{:<40} {:<10}`
formats, the same sections (TTFT, TPOT and ITL are the metrics `vllm bench serve` prints by default, with
P99 its default percentile), so a predicted block can be read and diffed against a measured one. The
`--offline-batch` form is `vllm bench throughput`'s summary lines. Every function returns lines; vLLM's
(the result block, the throughput summary) are printed as they are, never wrapped, and the command lays
the planner's own prose out for the reader's width (planner/rendering/term.py).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from planner.performance.metrics import BenchmarkResult
    from planner.performance.types import SimResult, Workload

WIDTH = 50                              # vLLM's SECTION.format(..., n=50)
# (attribute, name, header) in the order vLLM prints them (process_one_metric calls; default metrics).
SECTIONS = (("ttft", "TTFT", "Time to First Token"),
            ("tpot", "TPOT", "Time per Output Token (excl. 1st token)"),
            ("itl", "ITL", "Inter-token Latency"))
PERCENTILES = ("99",)                   # vLLM's --metric-percentiles default
MARKERS = "123456789abcdefghijklmnopqrstuvw"   # one per sweep point (at most 32)


class BoundsLike(Protocol):
    def to_json(self) -> dict[str, Any]: ...

    def lines(self) -> list[str]: ...


class PredictionLike(Protocol):
    @property
    def workload(self) -> Workload: ...

    @property
    def benchmark(self) -> BenchmarkResult: ...

    @property
    def bounds(self) -> BoundsLike: ...

    @property
    def sim(self) -> SimResult: ...


# vLLM's row formats, verbatim: a label padded to 40, a value padded to 10 (floats with 2 decimals).
ROW = "{:<40} {:<10}"
ROW_FLOAT = "{:<40} {:<10.2f}"
SECTION = "{s:{c}^{n}}"


def _row(label: str, value: object) -> str:
    return ROW.format(label, value)


def _row2(label: str, value: float) -> str:
    return ROW_FLOAT.format(label, value)


def peak_output_tokens_per_s(sim: SimResult) -> float:
    """vLLM's "Peak output token throughput": the most output tokens in one 1-second bucket from the first
    request's start (serve.py calculate_metrics; token times are start + TTFT, then + each ITL)."""
    if not sim.timings:
        return 0.0
    start = min(t.sent_s for t in sim.timings)
    # Only the buckets that hold a token: a list of one bucket per second of the run grew with the simulated
    # duration (a slow deployment's 10**9 s run asked for 8 GB, a longer one raised OverflowError).
    buckets: Counter[int] = Counter()
    for t in sim.timings:
        now = t.first_token_s
        times = [now]
        for gap in t.itl_s:
            now += gap
            times.append(now)
        for x in times:
            if math.isfinite(x) and x >= start:
                buckets[int(x - start)] += 1
    return float(max(buckets.values(), default=0))


def serving_block(b: BenchmarkResult, w: Workload, peak_output: float) -> list[str]:
    """`vllm bench serve`'s result block for a predicted run (no failed requests: vLLM would start)."""
    out = [SECTION.format(s=" Serving Benchmark Result ", n=WIDTH, c="="),
           _row("Successful requests:", b.completed),
           _row("Failed requests:", 0)]
    if w.max_concurrency is not None:
        out.append(_row("Maximum request concurrency:", w.max_concurrency))
    if w.request_rate != math.inf:
        out.append(_row2("Request rate configured (RPS):", w.request_rate))
    out += [_row2("Benchmark duration (s):", b.duration),
            _row("Total input tokens:", b.total_input_tokens),
            _row("Total generated tokens:", b.total_output_tokens),
            _row2("Request throughput (req/s):", b.request_throughput),
            _row2("Output token throughput (tok/s):", b.output_throughput),
            _row2("Peak output token throughput (tok/s):", peak_output),
            _row2("Peak concurrent requests:", b.max_concurrent_requests),
            _row2("Total token throughput (tok/s):", b.total_token_throughput)]
    for attr, name, header in SECTIONS:
        out.append(SECTION.format(s=header, n=WIDTH, c="-"))
        out.append(_row2(f"Mean {name} (ms):", getattr(b, f"mean_{attr}_ms")))
        out.append(_row2(f"Median {name} (ms):", getattr(b, f"median_{attr}_ms")))
        for p in PERCENTILES:
            out.append(_row2(f"P{p} {name} (ms):", getattr(b, f"p{p}_{attr}_ms")))
    out.append("=" * WIDTH)
    return out


def throughput_lines(b: BenchmarkResult) -> list[str]:
    """`vllm bench throughput`'s summary (benchmarks/throughput.py, 0.33), for --offline-batch."""
    d = b.duration if b.duration > 0 else math.nan
    total = b.total_input_tokens + b.total_output_tokens
    return [f"Throughput: {b.completed / d:.2f} requests/s, {total / d:.2f} total tokens/s, "
            f"{b.total_output_tokens / d:.2f} output tokens/s",
            f"Total num prompt tokens:  {b.total_input_tokens}",
            f"Total num output tokens:  {b.total_output_tokens}"]


def workload_parts(w: Workload, swept: str | None = None) -> list[str]:
    """The workload as vllm bench serve's flags would set it, in items to be packed into lines without
    breaking one (`swept` names the parameter a sweep varies, whose value differs per point)."""
    if w.dataset_name == "sharegpt":
        shape = "ShareGPT lengths"
    elif w.dataset_name == "prefix_repetition":
        shape = (f"prefix_repetition {w.prefix_repetition_num_prefixes} prefixes of {w.prefix_repetition_prefix_len} + "
                 f"{w.prefix_repetition_suffix_len} in / {w.prefix_repetition_output_len} out")
    else:
        shape = f"random {w.random_input_len} in / {w.random_output_len} out"
        if w.random_prefix_len:
            shape = f"random {w.random_prefix_len} shared prefix + {w.random_input_len} in / {w.random_output_len} out"
        if w.random_range_ratio:
            shape += f" (range ratio {w.random_range_ratio:g})"
    if w.offline_batch:
        return [f"workload: {w.num_prompts} prompts", shape, "offline batch (vllm bench throughput)", f"seed {w.seed}"]
    rate = "inf" if w.request_rate == math.inf else f"{w.request_rate:g} req/s (burstiness {w.burstiness:g})"
    if swept == "request-rate":
        rate = f"swept (burstiness {w.burstiness:g})"
    conc = "none" if w.max_concurrency is None else str(w.max_concurrency)
    if swept == "max-concurrency":
        conc = "swept"
    return [f"workload: {w.num_prompts} prompts", shape, f"request rate {rate}", f"max concurrency {conc}",
            f"seed {w.seed}"]


def bounds_lines(bounds: BoundsLike, title: str = "What bounds it:") -> list[str]:
    return [title, *(f"  {line}" for line in bounds.lines())]


def sweep_table(parameter: str, values: Sequence[float], results: Sequence[BenchmarkResult]) -> list[str]:
    """One row per point, in sweep order; the first column is the point's marker in the chart."""
    head = (f"{'#':>2} {parameter:>15} {'req/s':>8} {'out tok/s':>10} {'TTFT med':>9} {'TPOT med':>9} "
            f"{'TTFT p99':>9} {'TPOT p99':>9}")
    out = [head]            # 78 columns: "(latencies in ms)" is on the line above it
    for i, (v, b) in enumerate(zip(values, results, strict=True)):
        val = "inf" if math.isinf(v) else f"{v:g}"
        out.append(f"{MARKERS[i]:>2} {val:>15} {b.request_throughput:>8.2f} {b.output_throughput:>10.1f} "
                   f"{b.median_ttft_ms:>9.1f} {b.median_tpot_ms:>9.2f} {b.p99_ttft_ms:>9.1f} {b.p99_tpot_ms:>9.2f}")
    return out


def nice_ticks(hi: float, n: int = 5) -> list[float]:
    """Round tick values from 0 to at least hi (steps of 1, 2 or 5 x 10^k)."""
    if not hi > 0 or not math.isfinite(hi):
        return [0.0, 1.0]
    raw = hi / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    k = math.ceil(hi / step - 1e-9)
    return [i * step for i in range(k + 1)]


def tick_label(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 10000:
        return f"{v / 1000:g}k"
    return f"{v:g}"


def terminal_chart(xs: Sequence[float], ys: Sequence[float], *, x_label: str, y_label: str,
                   width: int = 80, height: int = 15) -> list[str]:
    """A scatter chart in plain characters (no colour): point i drawn as MARKERS[i], '*' where points share
    a cell. Axes start at 0 and end at round ticks; every line is at most `width` columns."""
    xt, yt = nice_ticks(max(xs)), nice_ticks(max(ys))
    x_hi, y_hi = xt[-1], yt[-1]
    margin = max(len(tick_label(v)) for v in yt) + 1
    plot_w = width - margin - 2
    grid = [[" "] * plot_w for _ in range(height)]
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        c = min(plot_w - 1, max(0, round(x / x_hi * (plot_w - 1))))
        r = height - 1 - min(height - 1, max(0, round(y / y_hi * (height - 1))))
        grid[r][c] = MARKERS[i] if grid[r][c] == " " else "*"
    tick_rows = {height - 1 - round(v / y_hi * (height - 1)): v for v in yt}
    out = [y_label]
    for r in range(height):
        label = tick_label(tick_rows[r]) if r in tick_rows else ""
        out.append(f"{label:>{margin}} |{''.join(grid[r])}".rstrip())
    out.append(" " * margin + " +" + "-" * plot_w)
    axis = [" "] * (plot_w + 8)
    for v in xt:
        text = tick_label(v)
        c = round(v / x_hi * (plot_w - 1))
        start = min(max(0, c - len(text) // 2), plot_w + 8 - len(text))
        if all(ch == " " for ch in axis[max(0, start - 1):start + len(text) + 1]):
            axis[start:start + len(text)] = text
    out.append((" " * (margin + 2) + "".join(axis)).rstrip()[:width])
    out.append(f"{x_label:^{width}}".rstrip())
    return out
