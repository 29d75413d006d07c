"""Human output of an Estimate: a rich table per GPU, capacity lines, the verdict and the reasons.

Rendering only: every figure comes from the Estimate. Writes to the given console (stdout by default).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from planner.rendering.term import pack
from planner.rendering.textout import Table, escape

if TYPE_CHECKING:
    from rich.console import Console

    from planner.memory.estimator import Estimate, PerGpu


# The memory split per GPU in vLLM's accounting order: (label, PerGpu field, bar letter, colour). The bar
# draws each part with its own letter, so it reads without colour (NO_COLOR, a pipe, a log, greyscale);
# planner/rendering/memory_plot.py draws the same parts. REST: outside the budget (1 - gpu_memory_utilization).
PARTS = (
    ("weights", "weights_gib", "W", "cyan"),
    ("activation peak", "activation_gib", "A", "magenta"),
    ("non-torch", "non_torch_gib", "N", "yellow"),
    ("CUDA graphs (est.)", "cudagraph_gib", "G", "blue"),
    ("KV cache", "kv_cache_gib", "K", "green"),
)
REST = "."


def _bar(parts: list[tuple[float, str, str]], total: float, width: int = 28) -> str:
    """A stacked bar of the budget: one character (the part's letter) per 1/width of the device memory."""
    out = ""
    used = 0
    for value, style, letter in parts:
        n = max(0, round(width * max(0.0, value) / total)) if total > 0 else 0
        n = min(n, width - used)
        out += f"[{style}]" + letter * n + f"[/{style}]"
        used += n
    return out + "[dim]" + REST * (width - used) + "[/dim]"


def memory_table(est: Estimate, stage: PerGpu, title: str) -> Table:
    """A planner.rendering.textout Table: plain text without rich on a plain console, rich's own table on a rich
    console (it renders through Table.__rich__)."""
    t = Table(title=title, title_justify="left", show_edge=False, pad_edge=False, box=None)
    t.add_column("per GPU", style="bold")
    t.add_column("GiB", justify="right")
    t.add_column("share", justify="right")
    total = stage.total_gib
    rows = [(f"{letter} {label}", getattr(stage, attr), style, letter) for label, attr, letter, style in PARTS]
    for label, value, style, _ in rows:
        t.add_row(f"[{style}]{label}[/{style}]", f"{value:.2f}", f"{100 * value / total:.1f}%" if total else "")
    t.add_row(f"{REST} outside the budget", f"{total - stage.requested_gib:.2f}",
              f"{100 * (total - stage.requested_gib) / total:.1f}%" if total else "")
    t.add_row("  device total", f"{total:.2f}", "")
    t.caption = _bar([(v, s, letter) for _, v, s, letter in rows], total)
    return t


def render_estimate(est: Estimate, console: Console, warnings: Console | None = None) -> None:
    """The report on `console`; warnings on `warnings` (the CLI passes stderr: never in piped output)."""
    r = est.resolved
    g = est.gpu
    name = str(est.model.get("name"))
    lay = est.layout
    dp = f", DP {lay.dp}" if lay is not None and lay.dp > 1 else ""
    ep = f", EP {lay.ep_size}" if lay is not None and lay.use_ep else ""
    head = pack([f"{name} on {r.world_size * r.data_parallel_size} x {g.id} (TP {r.tensor_parallel_size}, "
                 f"PP {r.pipeline_parallel_size}{dp}{ep})",
                 f"vLLM {est.rules.version} ({est.rules.engine.upper()})"], console.width)
    for i, line in enumerate(head):
        bold = i == 0 and line.startswith(name)
        console.print(f"[bold]{escape(name)}[/bold]{escape(line[len(name):])}" if bold else escape(line),
                      soft_wrap=True)
    q = est.quant.name if est.quant.is_quantized else "none"
    for line in pack([f"dtype {r.dtype}", f"quantization {q}", f"KV dtype {r.kv_cache_dtype}",
                      f"weights from {est.weights_source}"], console.width):
        console.print(line, soft_wrap=True)
    settings = [f"max_model_len {r.max_model_len:,}", f"max_num_seqs {r.max_num_seqs}",
                f"max_num_batched_tokens {r.max_num_batched_tokens:,}",
                f"gpu_memory_utilization {r.gpu_memory_utilization}", f"block_size {r.block_size}"]
    for line in pack(settings, console.width):        # wrapped between settings, never inside one
        console.print(line, soft_wrap=True)
    console.print()
    if len(est.stages) > 1:
        for i, s in enumerate(est.stages):
            mark = " (tightest)" if i == est.tightest_stage else ""
            console.print(memory_table(est, s, f"pipeline stage {i}{mark}"))
            console.print()
    else:
        console.print(memory_table(est, est.per_gpu, "memory per GPU"))
        console.print()
    kv = est.kv_cache
    label = "CPU" if g.vendor == "cpu" else "GPU"
    # vLLM's own log lines, verbatim: never wrapped (soft_wrap), so `grep "GPU KV cache size"` finds them.
    console.print(f"Available KV cache memory: {round(est.per_gpu.kv_cache_gib, 2)} GiB", soft_wrap=True)
    # Exactly as vLLM logs it (kv_cache_utils), so a grep for the line matches both; the planner's own detail
    # goes on the next line, never appended to vLLM's (issue 15).
    console.print(f"{label} KV cache size: {kv.tokens:,} tokens", soft_wrap=True)
    console.print(f"  ({kv.num_blocks:,} blocks of {kv.block_size}, {kv.bytes_per_token:,} bytes per token per GPU)")
    console.print(f"Maximum concurrency for {r.max_model_len:,} tokens per request: {kv.max_concurrency:.2f}x",
                  soft_wrap=True)
    if lay is not None and lay.dp > 1:
        # Every DP engine profiles, sizes and logs its own KV cache (the figures above are one engine's).
        experts = (f"; {lay.max_experts_per_rank(est.spec)} of {lay.physical_experts(est.spec)} experts per GPU"
                   if lay.use_ep and est.spec is not None else "")
        console.print(f"each of the {lay.dp} DP engines logs the lines above: {kv.tokens * lay.dp:,} tokens and "
                      f"{kv.max_concurrency * lay.dp:.2f}x in all{experts}")
    elif lay is not None and lay.use_ep and est.spec is not None:
        console.print(f"expert parallel over {lay.ep_size} GPUs: {lay.max_experts_per_rank(est.spec)} of "
                      f"{lay.physical_experts(est.spec)} experts per GPU")
    console.print()
    for w in est.warnings:
        (warnings or console).print(f"[yellow]warning[/yellow] ({w.code}): {w.message}", soft_wrap=True)
    if est.fits:
        console.print("[bold green]FITS[/bold green]: vLLM should start with these settings.")
    else:
        console.print("[bold red]WOULD FAIL[/bold red] at startup:")
        for e in est.errors:
            console.print(f"  [red]{e.code}[/red]: {e.message}", soft_wrap=True)
