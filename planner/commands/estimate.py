"""`planner estimate MODEL --gpu NAME [vllm serve flags]` and `planner estimate --gpu NAME -- vllm serve ...`.

Everything the command does not know as its own option is read as `vllm serve` arguments with vLLM's
spellings, so a pasted command line works unchanged after `--`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from planner.vllm_versions import LATEST

if TYPE_CHECKING:
    from planner.estimate import Estimate
    from planner.serve_args import ServeCommand
    from planner.sources import LoadedModel

HELP = ("Predict what vLLM will do with MODEL on a GPU: weights, activation, CUDA graphs and KV cache per GPU, "
        "the KV cache size in tokens, the maximum concurrency, and any startup failure, as vLLM logs them. "
        "vLLM flags (--tensor-parallel-size/-tp, --max-model-len, ...) may follow, or a whole "
        "`vllm serve ...` command after `--`. Exit 0 fits, 1 vLLM would refuse to start, 2 bad input.")

# `planner --help` must not load the memory model: planner.resolve is imported when a command runs.
def split_model_and_flags(extra: list[str]) -> tuple[str | None, list[str]]:
    """planner.resolve.split_model_and_flags (kept here for plan and validate)."""
    from planner.resolve import split_model_and_flags as split

    return split(extra)


def parse_invocation(extra: list[str], model: str | None, version: str, *, usage: str) -> tuple[str, ServeCommand]:
    """planner.resolve.parse_invocation (kept here for plan and validate)."""
    from planner.resolve import parse_invocation as parse

    return parse(extra, model, version, usage=usage)


def build_estimate(extra: list[str], *, gpu: str | None, device: str | None, gpu_memory_gib: float | None,
                   quant: str | None, vllm_version: str | None, vllm_engine: str | None, revision: str | None,
                   offline: bool, progress: bool, model: str | None = None,
                   token: str | None = None) -> tuple[Estimate, LoadedModel]:
    """(Estimate, LoadedModel) through the one resolution path (planner.resolve); kept for callers."""
    from planner.resolve import estimate_from, resolve_inputs

    inputs = resolve_inputs(extra, gpu=gpu, device=device, gpu_memory_gib=gpu_memory_gib, quant=quant,
                            vllm_version=vllm_version, vllm_engine=vllm_engine, revision=revision,
                            offline=offline, progress=progress, model=model, token=token)
    return estimate_from(inputs), inputs.model


def command(
    ctx: typer.Context,
    gpu: str = typer.Option(None, "--gpu", help="GPU: catalog id, alias, nvidia-smi name or GFD label."),
    device: str = typer.Option(None, "--device", help="cuda (default) or cpu (vLLM's CPU backend)."),
    gpu_memory_gib: float = typer.Option(None, "--gpu-memory-gib",
                                         help="Override the device total (cudaMemGetInfo) in GiB."),
    quant: str = typer.Option(None, "--quant", help="Weight quantization: none, fp8, int8, awq, gptq, "
                              "gptq-int8, int4, mxfp4, nvfp4, bnb-nf4 (or vLLM's method names)."),
    vllm_version: str = typer.Option(None, "--vllm-version", help=f"vLLM release to model (default {LATEST})."),
    vllm_engine: str = typer.Option(None, "--vllm-engine", help="v0 or v1 (for 0.8-0.10)."),
    revision: str = typer.Option(None, "--revision", help="Hub revision (branch, tag or commit)."),
    offline: bool = typer.Option(False, "--offline", help="Never touch the network (Hub cache or catalog)."),
    hf_token: str = typer.Option(None, "--hf-token", help="Hugging Face token for gated or private repos "
                                 "(default: HF_TOKEN or the `hf auth login` token)."),
    json_out: bool = typer.Option(False, "--json", help="Print the JSON contract (schema_version 1)."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
) -> None:
    from planner.commands._run import run_command

    def run() -> int:
        import sys

        est, loaded = build_estimate(list(ctx.args), gpu=gpu, device=device, gpu_memory_gib=gpu_memory_gib,
                                     quant=quant, vllm_version=vllm_version, vllm_engine=vllm_engine,
                                     revision=revision, offline=offline, progress=not json_out, token=hf_token)
        if json_out:
            import json

            out = est.to_json()
            out["warnings"] = [*({"code": "source", "message": w} for w in loaded.warnings), *out["warnings"]]
            sys.stdout.write(json.dumps(out, indent=2) + "\n")
        else:
            from rich.console import Console

            from planner.render import render_estimate

            console = Console(highlight=False)
            warnings = Console(highlight=False, stderr=True)      # warnings never go into piped output
            for w in loaded.warnings:
                warnings.print(f"[yellow]warning[/yellow]: {w}", soft_wrap=True)
            render_estimate(est, console, warnings)
        return 0 if est.fits else 1

    run_command(run, json_mode=json_out, debug=debug)
