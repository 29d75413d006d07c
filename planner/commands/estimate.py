"""`planner estimate MODEL --gpu NAME [vllm serve flags]` and `planner estimate --gpu NAME -- vllm serve ...`.

Everything the command does not know as its own option is read as `vllm serve` arguments with vLLM's
spellings, so a pasted command line works unchanged after `--`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from planner.commands import _options as _o
from planner.commands._run import run_command
from planner.rendering import textout
from planner.rendering.memory import render_estimate

# Kept here for plan, validate and the tests: the one resolution path is planner.resolve.
from planner.resolve import estimate_from, resolve_inputs
from planner.resolve import parse_invocation as parse_invocation
from planner.resolve import split_model_and_flags as split_model_and_flags

if TYPE_CHECKING:
    from planner.memory.estimator import Estimate
    from planner.rendering import memory_plot, plotfile
    from planner.sourcing.loader import LoadedModel
else:
    from planner.lazy import lazy

    # Only for --plot: the plot writers are not on the way to a plain estimate.
    memory_plot = lazy("planner.rendering.memory_plot")
    plotfile = lazy("planner.rendering.plotfile")

HELP = ("Predict what vLLM will do with MODEL on a GPU: weights, activation, CUDA graphs and KV cache per GPU, "
        "the KV cache size in tokens, the maximum concurrency, and any startup failure, as vLLM logs them. "
        "vLLM flags (--tensor-parallel-size/-tp, --max-model-len, ...) may follow, or a whole "
        "`vllm serve ...` command after `--`. --plot FILE draws the memory split per GPU (.svg or .png). "
        "Exit 0 fits, 1 vLLM would refuse to start, 2 bad input.")

PLOT_HELP = "Write the memory split per GPU to FILE (.svg or .png): one bar per pipeline stage."

def build_estimate(extra: list[str], *, gpu: str | None, device: str | None, gpu_memory_gib: float | None,
                   quant: str | None, vllm_version: str | None, vllm_engine: str | None, revision: str | None,
                   offline: bool, progress: bool, model: str | None = None,
                   token: str | None = None) -> tuple[Estimate, LoadedModel]:
    """(Estimate, LoadedModel) through the one resolution path (planner.resolve); kept for callers."""
    inputs = resolve_inputs(extra, gpu=gpu, device=device, gpu_memory_gib=gpu_memory_gib, quant=quant,
                            vllm_version=vllm_version, vllm_engine=vllm_engine, revision=revision,
                            offline=offline, progress=progress, model=model, token=token)
    return estimate_from(inputs), inputs.model


def command(
    ctx: typer.Context,
    gpu: _o.Gpu = None,
    device: _o.Device = None,
    gpu_memory_gib: _o.GpuMemoryGib = None,
    quant: _o.Quant = None,
    vllm_version: _o.VllmVersion = None,
    vllm_engine: _o.VllmEngine = None,
    revision: _o.Revision = None,
    offline: _o.Offline = False,
    hf_token: _o.HfToken = None,
    plot: Annotated[str | None, typer.Option("--plot", help=PLOT_HELP, metavar="FILE")] = None,
    json_out: _o.JsonOut = False,
    debug: _o.Debug = False,
) -> None:
    def run() -> int:
        plot_path = Path(plot) if plot is not None else None
        if plot_path is not None:
            plotfile.check_path(plot_path)             # before any work
        est, loaded = build_estimate(list(ctx.args), gpu=gpu, device=device, gpu_memory_gib=gpu_memory_gib,
                                     quant=quant, vllm_version=vllm_version, vllm_engine=vllm_engine,
                                     revision=revision, offline=offline, progress=not json_out, token=hf_token)
        if plot_path is not None:                      # a layout that would fail is drawn too: it shows why
            memory_plot.write_memory_plot(plot_path, est)
        if json_out:
            out = est.to_json()
            out["warnings"] = [*({"code": "source", "message": w} for w in loaded.warnings), *out["warnings"]]
            sys.stdout.write(json.dumps(out, indent=2) + "\n")
        else:
            # textout's consoles: plain text without importing rich where rich would write no styles.
            console = textout.console()
            warnings = textout.console(stderr=True)   # warnings never go into piped output
            for w in loaded.warnings:
                warnings.print(f"[yellow]warning[/yellow]: {w}", soft_wrap=True)
            render_estimate(est, console, warnings)
        return 0 if est.fits else 1

    run_command(run, json_mode=json_out, debug=debug)
