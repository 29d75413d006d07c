"""`planner cost`'s human output: plain lines, no colour, never wrapped."""

from __future__ import annotations

from typing import Any

from planner.pricing.cost_report import CostReport, api_price_source, gpu_price_source


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


def human_lines(r: CostReport, head: list[str], *, requests_text: str) -> list[str]:
    m = r.model
    out = list(head)
    shown = requests_text.strip()
    as_given = "" if shown.replace(",", "") == str(r.requests_per_month) else f" ({shown})"
    if shown[-1:] in "KMGT" and shown[-1:]:
        as_given = f" ({shown}: upper-case suffixes are binary, as vLLM reads them; {shown[:-1]}{shown[-1].lower()} " \
                   f"would be {int(shown[:-1]) * 1000 ** ('KMGT'.index(shown[-1]) + 1):,})"
    out.append(f"load: {r.requests_per_month:,} requests/month{as_given} of {m.input_len:,} input + "
               f"{m.output_len:,} output tokens; average {r.average_rate:.3g} req/s over "
               f"{m.hours_per_month:g} h, peak {r.peak_rate:.3g} req/s (peak-to-average {m.peak_to_average:g}: "
               "traffic is not flat; --peak-to-average)")
    out += capacity_lines(r)
    out.append(f"replicas: {r.replicas} x {m.gpus_per_replica} GPU{'s' if m.gpus_per_replica > 1 else ''} = "
               f"{r.gpus} GPU{'s' if r.gpus > 1 else ''}; the peak uses {_share(r.utilization)} of what they carry")
    out.append("")
    api_name = r.api.label.strip()
    rows = [("self-hosted", r.self_hosted_monthly), (f"API ({api_name})", r.api_monthly)]
    label = "savings (API - self-hosted)"
    w = max(len(label), *(len(n) for n, _ in rows))
    out.append(f"{'':<{w}} {'monthly':>14} {'annual':>15} {'per 1M output tok':>18} {'per 1M tokens':>14}")
    for name, monthly in rows:
        out.append(f"{name:<{w}} {_usd(monthly):>14} {_usd(monthly * 12):>15} "
                   f"{_usd4(r.per_million_output(monthly)):>18} {_usd4(r.per_million_total(monthly)):>14}")
    s = r.savings_monthly
    out.append(f"{label:<{w}} {_usd(s):>14} {_usd(s * 12):>15}")
    verdict = ("self-hosting is cheaper at this volume" if s > 0 else
               "the API is cheaper at this volume" if s < 0 else "they cost the same at this volume")
    out.append(verdict)
    be = r.break_even
    if be is None:
        out.append("break-even: never: one replica's share of the GPUs costs more than the API for all it carries")
    else:
        out.append(f"break-even: {be:,} requests/month (the smallest volume at which self-hosting costs no more "
                   f"than the API; {_usd(m.api_usd_per_request * 1000)} of API per 1,000 requests)")
    out.append("")
    out.append("by volume:")
    out.append(f"  {'requests/month':>14} {'replicas':>8} {'GPUs':>5} {'self-hosted/mo':>15} {'API/mo':>14} "
               f"{'savings/mo':>14}")
    for v in r.volumes:
        mark = " <- yours" if v.requests_per_month == r.requests_per_month else \
            (" <- break-even" if v.requests_per_month == be else "")
        out.append(f"  {v.requests_per_month:>14,} {v.replicas:>8} {v.replicas * m.gpus_per_replica:>5} "
                   f"{_usd(v.self_hosted_monthly_usd):>15} {_usd(v.api_monthly_usd):>14} "
                   f"{_usd(v.savings_monthly_usd):>14}{mark}")
    out.append("")
    out.append("prices used:")
    out.append(f"  GPU: ${m.gpu_hourly_usd:g}/GPU-hour: {gpu_price_source(r.gpu_price)}")
    out.append(f"  API: {api_price_source(r.api)}")
    fixed = f" + {_usd(m.fixed_monthly_usd)} fixed a month" if m.fixed_monthly_usd else ""
    out.append(f"  {m.hours_per_month:g} GPU-hours a month per GPU (--hours-per-month){fixed}")
    return out
