"""`planner cost`'s human output: plain lines, no colour, laid out for the reader's width (80 when piped):
prose wrapped at word boundaries (a figure with its unit, `264,364 requests/month`, is never split), the
tables narrowed by planner/rendering/term.py's `table`, a source URL on a line of its own when it is
longer than a line."""

from __future__ import annotations

from typing import Any

from planner.pricing.cost_report import CostReport, api_price_source, gpu_price_source
from planner.rendering.term import Column, table, wrap_lines


def _usd(x: float | None) -> str:
    if x is None:
        return "-"
    sign = "-" if x < 0 else ""
    return f"{sign}${abs(x):,.2f}"


def _usd4(x: float | None) -> str:
    if x is None:
        return "-"
    return f"${x:,.4f}" if abs(x) < 1 else f"${x:,.2f}"


def _share(x: float) -> str:
    return f"{x:.0%}" if x >= 0.01 else f"{x:.2%}"


def capacity_lines(r: CostReport) -> list[str]:
    m = r.model
    out = [f"capacity: {m.per_replica_rate:.3g} req/s per replica ({r.rate_source})"]
    cap = r.capacity
    if cap is not None:
        out.append(f"  {cap.reason}")
        b: dict[str, Any] | None = cap.benchmark
        if b is not None:
            out.append(f"  predicted at {m.per_replica_rate:.3g} req/s ({b['num_prompts']} prompts, Poisson): "
                       f"TTFT p50 {b['median_ttft_ms']:.0f} / p95 {b['p95_ttft_ms']:.0f} ms, "
                       f"TPOT p50 {b['median_tpot_ms']:.1f} / p95 {b['p95_tpot_ms']:.1f} ms, "
                       f"E2E p95 {b['p95_e2el_ms'] / 1000:.2f} s")
    return out


def human_lines(r: CostReport, head: list[str], *, requests_text: str, cols: int = 80) -> list[str]:
    m = r.model
    out = list(head)
    shown = requests_text.strip()
    as_given = "" if shown.replace(",", "") == str(r.requests_per_month) else f" ({shown})"
    if shown[-1:] in "KMGT" and shown[-1:]:
        as_given = f" ({shown}: upper-case suffixes are binary, as vLLM reads them; {shown[:-1]}{shown[-1].lower()} " \
                   f"would be {int(shown[:-1]) * 1000 ** ('KMGT'.index(shown[-1]) + 1):,})"
    volume = f"{r.requests_per_month:,} requests/month"
    be = r.break_even
    # A figure and its unit stay on one line (a reader, and a grep, looks for them together).
    keep = [volume, f"peak-to-average {m.peak_to_average:g}", *([f"{be:,} requests/month"] if be else [])]
    prose = [f"load: {volume}{as_given} of {m.input_len:,} input + "
             f"{m.output_len:,} output tokens; average {r.average_rate:.3g} req/s over "
             f"{m.hours_per_month:g} h, peak {r.peak_rate:.3g} req/s (peak-to-average {m.peak_to_average:g}: "
             "traffic is not flat; --peak-to-average)"]
    prose += capacity_lines(r)
    prose.append(f"replicas: {r.replicas} x {m.gpus_per_replica} GPU{'s' if m.gpus_per_replica > 1 else ''} = "
                 f"{r.gpus} GPU{'s' if r.gpus > 1 else ''}; the peak uses {_share(r.utilization)} of what they carry")
    out += wrap_lines(prose, cols, keep=keep)
    out.append("")
    api_name = r.api.label.strip()
    rows = [("self-hosted", r.self_hosted_monthly), (f"API ({api_name})", r.api_monthly)]
    s = r.savings_monthly
    money = [Column("", wrap=True), Column("monthly", "right"), Column("annual", "right"),
             Column("per 1M output tok", "right"), Column("per 1M tokens", "right")]
    cells = [(name, _usd(monthly), _usd(monthly * 12), _usd4(r.per_million_output(monthly)),
              _usd4(r.per_million_total(monthly))) for name, monthly in rows]
    cells.append(("savings (API - self-hosted)", _usd(s), _usd(s * 12), "", ""))
    # Two spaces between columns when the rows fit so, else one before the label has to wrap.
    natural = sum(max(len(c.header), *(len(row[i]) for row in cells)) for i, c in enumerate(money))
    header, body = table(money, cells, cols, gap=2 if natural + 2 * (len(money) - 1) <= cols else 1)
    out += header + body
    verdict = ("self-hosting is cheaper at this volume" if s > 0 else
               "the API is cheaper at this volume" if s < 0 else "they cost the same at this volume")
    out.append(verdict)
    if be is None:
        tail = ["break-even: never: one replica's share of the GPUs costs more than the API for all it carries"]
    else:
        tail = [f"break-even: {be:,} requests/month (the smallest volume at which self-hosting costs no more "
                f"than the API; {_usd(m.api_usd_per_request * 1000)} of API per 1,000 requests)"]
    out += wrap_lines(tail, cols, keep=keep)
    out.append("")
    out.append("by volume:")
    by_volume = [Column("requests/mo", "right"), Column("replicas", "right"), Column("GPUs", "right"),
                 Column("self-hosted/mo", "right"), Column("API/mo", "right"), Column("savings/mo", "right"),
                 Column("", spill=True)]
    rows_v = []
    for v in r.volumes:
        mark = "<- yours" if v.requests_per_month == r.requests_per_month else \
            ("<- break-even" if v.requests_per_month == be else "")
        rows_v.append((f"{v.requests_per_month:,}", str(v.replicas), str(v.replicas * m.gpus_per_replica),
                       _usd(v.self_hosted_monthly_usd), _usd(v.api_monthly_usd), _usd(v.savings_monthly_usd), mark))
    header, body = table(by_volume, rows_v, cols - 2, gap=1)
    out += ["  " + line if line else line for line in header + body]
    out.append("")
    out.append("prices used:")
    fixed = f" + {_usd(m.fixed_monthly_usd)} fixed a month" if m.fixed_monthly_usd else ""
    out += wrap_lines([f"  GPU: ${m.gpu_hourly_usd:g}/GPU-hour: {gpu_price_source(r.gpu_price)}",
                       f"  API: {api_price_source(r.api)}",
                       f"  {m.hours_per_month:g} GPU-hours a month per GPU (--hours-per-month){fixed}"], cols)
    return out
