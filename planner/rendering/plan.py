"""Output of `planner plan`: the ranked table, the chosen plan's memory, the reasons, then the command.

Rendering only: every figure comes from the PlanResult. The human form is laid out for an 80-column
terminal; the command (or manifest) is written last with plain `sys.stdout.write`, never through rich,
so it is not wrapped, boxed or coloured and copies from any terminal or log.
"""

from __future__ import annotations

import sys
import textwrap
from typing import TYPE_CHECKING, Any, cast

from planner.errors import SCHEMA_VERSION
from planner.planning.recommend import decisions
from planner.rendering import textout
from planner.rendering.memory import memory_table
from planner.rendering.textout import Table, escape

if TYPE_CHECKING:
    from rich.console import Console

    from planner.answers import EstimateAnswer, FindingJson, PlanAnswer, PlanRowJson, PlanSectionJson
    from planner.planning.recommend import Plan, PlanResult

OBJECTIVE_LABEL = {"gpus": "fewest GPUs", "cost": "lowest cost per hour", "kv": "most KV cache"}


def _tokens(n: int) -> str:
    """Compact token counts for the table: 40,960 / 1.23M."""
    if n >= 10_000_000:
        return f"{n / 1e6:.1f}M"
    if n >= 1_000_000:
        return f"{n / 1e6:.2f}M"
    return f"{n:,}"


def _context(n: int) -> str:
    return f"{n // 1024}K" if n % 1024 == 0 and n >= 1024 else f"{n:,}"


def plan_row(rank: int, p: Plan, required: int) -> PlanRowJson:
    """One ranked plan as JSON (the `plans` list of --json)."""
    r = p.est.resolved
    row: PlanRowJson = {
        "rank": rank,
        "gpu": p.gpu.id,
        "count": p.count,
        "tensor_parallel_size": p.tp,
        "pipeline_parallel_size": p.pp,
        "data_parallel_size": p.dp,
        "expert_parallel": p.ep,
        "nodes": p.nodes,
        "gpus_per_node": p.count // p.nodes,
        "quantization": p.candidate.scheme,
        "model": p.candidate.serve_model,
        "kv_cache_dtype": p.args.kv_cache_dtype,
        "max_model_len": p.context,
        "full_context": p.full,
        "max_num_seqs": r.max_num_seqs,
        "gpu_memory_utilization": r.gpu_memory_utilization,
        "enforce_eager": p.args.enforce_eager,
        "kv_tokens": p.kv_tokens,
        "kv_tokens_total": p.kv_tokens_total,
        "max_concurrency": round(p.concurrency, 2),
        "headroom": round(p.headroom(required), 4),
        "cost_per_hour_usd": None if p.cost_per_hour is None else round(p.cost_per_hour, 4),
        "native_quantization": p.native,
    }
    if p.load is not None:
        row["capacity"] = p.load.to_json()
    return row


def plan_json(result: PlanResult, loaded: Any, commands: dict[str, str]) -> PlanAnswer:
    """The chosen plan's estimate contract (or the closest miss's), plus plans, decisions and commands."""
    req = result.request
    required = req.concurrency or 1
    chosen = result.chosen
    est = chosen.est if chosen is not None else (result.closest.est if result.closest is not None else None)
    section: PlanSectionJson = {
        "objective": req.objective,
        "model": chosen.candidate.serve_model if chosen is not None else None,
        "chosen": 1 if chosen is not None else None,
        "decisions": [d.to_json() for d in decisions(result, chosen)] if chosen is not None else [],
        "estimates": result.evaluated,
        "notes": list(result.notes),
        "suggestions": list(result.suggestions),
    }
    load = next((p.load.load for p in result.plans if p.load is not None), None)
    if load is not None:
        section["load"] = load.to_json()
    if chosen is None and result.closest is not None:
        m = result.closest
        section["closest_miss"] = {"gpu": m.gpu.id, "count": m.count, "tensor_parallel_size": m.tp,
                                   "pipeline_parallel_size": m.pp,
                                   "data_parallel_size": m.est.resolved.data_parallel_size,
                                   "quantization": m.candidate.scheme,
                                   "shortfall_gib_per_gpu": None if m.shortfall_gib == float("inf")
                                   else round(m.shortfall_gib, 4)}
    rows = [plan_row(i + 1, p, required) for i, p in enumerate(result.plans)]
    doc: PlanAnswer
    if est is not None:
        # Estimate.to_json builds an EstimateAnswer (planner/answers.py); its annotation still says dict.
        doc = {**cast("EstimateAnswer", est.to_json()), "plan": section, "plans": rows, "commands": dict(commands)}
    else:
        doc = {"schema_version": SCHEMA_VERSION, "fits": False, "warnings": [], "plan": section, "plans": rows,
               "commands": dict(commands)}
    doc["fits"] = chosen is not None
    if "vllm" in doc:
        doc["vllm"]["given"] = sorted(req.args.given())      # what the user set; the rest was decided
    source: list[FindingJson] = [{"code": "source", "message": w} for w in getattr(loaded, "warnings", ())]
    doc["warnings"] = [*source, *doc.get("warnings", [])]
    return doc


def load_table(result: PlanResult, rows: int) -> Table:
    """The ranked table of a plan sized for a load: replicas and totals instead of the KV columns."""
    t = Table(box=None, pad_edge=False, padding=(0, 1), show_edge=False, header_style="bold")
    for name, justify in (("#", "right"), ("GPU", "left"), ("n", "right"), ("TP/PP", "left"), ("quant", "left"),
                          ("req/s", "right"), ("repl", "right"), ("GPUs", "right"), ("$/h", "right"),
                          ("limit", "left")):
        t.add_column(name, justify=justify, no_wrap=name != "GPU", overflow="fold")
    for i, p in enumerate(result.plans[:rows]):
        fit = p.load
        quant = p.candidate.scheme + ("" if p.native else "*")
        if fit.sized and fit.met:
            cost = "" if fit.cost_per_hour is None else f"{fit.cost_per_hour:.2f}"
            t.add_row(str(i + 1), p.gpu.id, str(p.count), f"{p.tp}/{p.pp}", quant, f"{fit.rate:.3g}",
                      str(fit.replicas), str(fit.gpus_total), cost, fit.capacity.limit)
        elif fit.sized:
            t.add_row(str(i + 1), p.gpu.id, str(p.count), f"{p.tp}/{p.pp}", quant, "0", "-", "-", "", "none")
        else:
            t.add_row(str(i + 1), p.gpu.id, str(p.count), f"{p.tp}/{p.pp}", quant, f"<{fit.bound:.3g}",
                      f">={fit.min_replicas}" if fit.bound > 0 else "-", "", "", "bound")
    return t


def capacity_lines(p: Plan) -> list[str]:
    """The capacity block of a plan sized for a load."""
    fit = p.load
    load = fit.load
    cap = fit.capacity
    b = cap.benchmark or {}
    pct = load.slo.percentile if load.slo else 95.0
    par = f"TP {p.tp}" + (f" x PP {p.pp}" if p.pp > 1 else "")
    out = [f"Capacity: {fit.replicas} replica{'' if fit.replicas == 1 else 's'} x {p.count} {p.gpu.id} ({par}) "
           f"= {fit.gpus_total} GPU{'' if fit.gpus_total == 1 else 's'}",
           f"  load {load.rate:.4g} req/s on average, {load.peak:.4g} at the peak (peak-to-average "
           f"{load.peak_to_average:g})",
           f"  one replica sustains {fit.rate:.3g} req/s; {fit.replicas} carry {fit.replicas * fit.rate:.4g} "
           f"({fit.headroom:.0%} over the peak)",
           f"  what stops more: {cap.reason}"]
    if load.slo is not None:
        targets = ", ".join(f"{k.upper()} {v:g} ms" for k, v in load.slo.targets().items())
        out.append(f"  targets at p{pct:g}: {targets}")
    out.append(f"  predicted per replica at {fit.rate:.3g} req/s: TTFT p50 {b.get('median_ttft_ms', 0):.0f} / p95 "
               f"{b.get('p95_ttft_ms', 0):.0f} ms, TPOT p50 {b.get('median_tpot_ms', 0):.1f} / p95 "
               f"{b.get('p95_tpot_ms', 0):.1f} ms")
    if fit.cost_per_hour is not None:
        out.append(f"  cost ${fit.cost_per_hour:.2f}/h (${fit.price_per_gpu_hour:.2f} per GPU-hour, the catalog's "
                   "median on-demand price)")
        mo, mt = fit.cost_per_million_output, fit.cost_per_million_tokens
        if mo is not None and mt is not None:
            out.append(f"  at the average load: ${mo:.3f} per 1M output tokens, ${mt:.3f} per 1M tokens "
                       "(input + output)")
    else:
        out.append(f"  cost: no price for {p.gpu.id} in the catalog")
    return out


def plans_table(result: PlanResult, rows: int) -> Table:
    required = result.request.concurrency or 1
    t = Table(box=None, pad_edge=False, padding=(0, 1), show_edge=False, header_style="bold")
    for name, justify in (("#", "right"), ("GPU", "left"), ("n", "right"), ("TP/PP", "left"), ("quant", "left"),
                          ("KV", "left"), ("context", "right"), ("KV tokens", "right"), ("conc", "right"),
                          ("free", "right"), ("$/h", "right")):
        t.add_column(name, justify=justify, no_wrap=name != "GPU", overflow="fold")
    for i, p in enumerate(result.plans[:rows]):
        cost = "" if p.cost_per_hour is None else f"{p.cost_per_hour:.2f}"
        quant = p.candidate.scheme + ("" if p.native else "*")
        par = f"{p.tp}/{p.pp}" + (f"/{p.dp}" if p.dp > 1 else "") + ("e" if p.ep else "")
        t.add_row(str(i + 1), p.gpu.id, str(p.count), par, quant,
                  "fp8" if p.args.kv_cache_dtype.startswith("fp8") else p.args.kv_cache_dtype,
                  _context(p.context), _tokens(p.kv_tokens), f"{p.concurrency:.1f}x",
                  f"{100 * p.headroom(required):.0f}%", cost)
    return t


def render_plan(result: PlanResult, loaded: Any, command_text: str | None, *, written: list[str] | None = None,
                console: Console | None = None, rows: int = 8, report_to_stderr: bool = False,
                warnings: Console | None = None) -> None:
    """The human output. `command_text` (the emitted form) is written last, verbatim, to stdout; the report
    before it goes to stdout too, or to stderr with `report_to_stderr` (stdout is then the form alone).
    Warnings always go to stderr (`warnings`), so they never end up in a file or pipe the output feeds.
    The consoles are planner.rendering.textout's: term's, without rich where they write plain text."""
    out = console or textout.console(stderr=report_to_stderr)
    warn = warnings or textout.console(stderr=True)
    req = result.request
    for w in getattr(loaded, "warnings", ()):
        warn.print(f"[yellow]warning[/yellow]: {w}", soft_wrap=True)
    name = getattr(loaded, "name", "model")
    repo = getattr(loaded, "repo_id", None)
    head = f"[bold]{name}[/bold]" + (f" ({repo})" if repo and repo != name else "")
    out.print(f"{head} · vLLM {req.vllm_version}")
    gpus = "the GPU catalog" if req.whole_catalog else ", ".join(g.id for g in req.gpus)
    n = len(result.plans)
    out.print(f"Searched {gpus}")
    out.print(f"Objective: {OBJECTIVE_LABEL[req.objective]} · {result.evaluated} estimates · "
              f"{n} plan{'' if n == 1 else 's'}")
    for note in result.notes:
        out.print(f"note: {note}")
    out.print()
    chosen = result.chosen
    sized = bool(result.plans) and result.plans[0].load is not None
    if result.plans:
        out.print(load_table(result, rows) if sized else plans_table(result, rows))
        extra = []
        if len(result.plans) > rows:
            extra.append(f"+{len(result.plans) - rows} in --json")
        if any(not p.native for p in result.plans[:rows]):
            extra.append("* weight-only Marlin (no native kernel on this GPU)")
        if any(p.dp > 1 for p in result.plans[:rows]) and not sized:
            extra.append("TP/PP/N: N data-parallel engines, each with the KV tokens and conc shown")
        if any(p.ep for p in result.plans[:rows]) and not sized:
            extra.append("e: expert parallel")
        extra.append("req/s per replica within the targets; <: a bound, not simulated" if sized
                     else "conc: full-context sequences held; free: KV left over")
        out.print("[dim]" + "; ".join(extra) + "[/dim]")
        out.print()
    if chosen is None and sized:
        out.print("[bold red]No plan meets the targets[/bold red] at any request rate:")
        for tip in result.suggestions:
            out.print(escape(textwrap.fill(tip, width=max(40, out.width - 2), initial_indent="  - ",
                                           subsequent_indent="    ", break_on_hyphens=False)))
        return
    if chosen is None:
        _render_miss(result, out)
        return
    r = chosen.est.resolved
    q = "no quantization" if chosen.candidate.scheme == "none" else chosen.candidate.scheme
    par = f"TP {chosen.tp}" + (f" x PP {chosen.pp}" if chosen.pp > 1 else "") + (
        f" x DP {chosen.dp}" if chosen.dp > 1 else "") + (" with EP" if chosen.ep else "")
    where = f" on {chosen.nodes} nodes of {chosen.count // chosen.nodes}" if chosen.nodes > 1 else ""
    out.print(f"[bold]Plan 1[/bold]: {chosen.count} x {chosen.gpu.id}{where} ({par}), {q}, KV {r.kv_cache_dtype}, "
              f"context {chosen.context:,}")
    if len(chosen.est.stages) > 1:
        s = chosen.est.stages[chosen.est.tightest_stage]
        out.print(memory_table(chosen.est, s, f"memory per GPU (pipeline stage {chosen.est.tightest_stage}, the "
                                              "tightest)"))
    else:
        out.print(memory_table(chosen.est, chosen.est.per_gpu, "memory per GPU"))
    kv = chosen.est.kv_cache
    label = "CPU" if chosen.gpu.vendor == "cpu" else "GPU"
    # vLLM's own log lines, verbatim: never wrapped, so grep finds them.
    out.print(f"{label} KV cache size: {kv.tokens:,} tokens", soft_wrap=True)
    out.print(f"Maximum concurrency for {r.max_model_len:,} tokens per request: {kv.max_concurrency:.2f}x",
              soft_wrap=True)
    if chosen.dp > 1:
        out.print(f"(the lines above are each DP engine's: {chosen.dp} engines hold {chosen.kv_tokens_total:,} tokens "
                  "in all)")
    if chosen.nodes > 1:
        out.print(f"Multi-node: {chosen.nodes} nodes x {chosen.count // chosen.nodes} GPUs; the node commands and a "
                  "LeaderWorkerSet come with --emit vllm / k8s / all")
    if chosen.load is not None:
        out.print()
        for line in capacity_lines(chosen):
            indent = "  " if line.startswith("  ") else ""
            out.print(escape(textwrap.fill(line.strip(), width=max(40, out.width - 2), initial_indent=indent,
                                           subsequent_indent=indent + "  ", break_on_hyphens=False)))
    for w in chosen.est.warnings:
        if w.code != "needs_prequantized_checkpoint":     # the plan serves the pre-quantized repo itself
            warn.print(f"[yellow]warning[/yellow] ({w.code}): {w.message}", soft_wrap=True)
    out.print()
    out.print("[bold]Why[/bold]")
    width = max(40, out.width - 4)
    for d in decisions(result, chosen):
        value = f" {d.value}" if d.value else ""
        out.print(f"  [bold]{escape(d.flag + value)}[/bold]")
        out.print(escape(textwrap.fill(d.why, width=width, initial_indent="    ", subsequent_indent="    ",
                                       break_on_hyphens=False, break_long_words=False)))
    out.print()
    for path in written or ():
        out.print(f"wrote {path}")
    if written:
        out.print()
    out.file.flush()
    if command_text is not None:
        sys.stdout.write(command_text.rstrip("\n") + "\n")


def _render_miss(result: PlanResult, out: Console) -> None:
    req = result.request
    m = result.closest
    ctx = req.context or (req.args.max_model_len if req.args.max_model_len not in (None, -1) else None)
    want = f"{req.concurrency or 1} sequence(s) of " + (f"{ctx:,} tokens" if ctx else "the model's maximum context")
    out.print(f"[bold red]Nothing fits[/bold red]: no searched layout starts with {want}.")
    if m is not None:
        dp = m.est.resolved.data_parallel_size
        par = f"TP {m.tp}" + (f" x PP {m.pp}" if m.pp > 1 else "") + (f" x DP {dp}" if dp > 1 else "") + (
            " with EP" if m.est.layout is not None and m.est.layout.use_ep else "")
        short = "" if m.shortfall_gib == float("inf") else f", {m.shortfall_gib:.2f} GiB per GPU short"
        out.print(f"Closest: {m.count} x {m.gpu.id} ({par}), {m.candidate.scheme}{short}")
        out.print(memory_table(m.est, m.est.per_gpu, "memory per GPU"))
        for e in m.est.errors:
            out.print(f"  [red]{e.code}[/red]: {e.message}")
    if result.suggestions:
        out.print()
        out.print("[bold]What would fit[/bold]")
        for s in result.suggestions:
            out.print(f"  - {s}")
