"""`planner estimate MODEL --gpu NAME [vllm serve flags]` and `planner estimate --gpu NAME -- vllm serve ...`.

Everything the command does not know as its own option is read as `vllm serve` arguments with vLLM's
spellings, so a pasted command line works unchanged after `--`.
"""

from __future__ import annotations

import typer

from planner.commands import _options as _o

HELP = ("Predict what vLLM will do with MODEL on a GPU: weights, activation, CUDA graphs and KV cache per GPU, "
        "the KV cache size in tokens, the maximum concurrency, and any startup failure, as vLLM logs them. "
        "vLLM flags (--tensor-parallel-size/-tp, --max-model-len, ...) may follow, or a whole "
        "`vllm serve ...` command after `--`. Exit 0 fits, 1 vLLM would refuse to start, 2 bad input.")

_LAUNCHER_WORDS = ("vllm", "python", "python3")


def split_model_and_flags(extra: list[str]) -> tuple[str | None, list[str]]:
    """(MODEL, serve argv) from the words the CLI did not consume.

    A pasted command (`vllm serve M ...`, `python -m vllm.entrypoints...`) is passed through whole;
    otherwise the first word not starting with '-' is MODEL and the rest are serve flags.
    """
    if extra and (extra[0] in _LAUNCHER_WORDS or ("=" in extra[0] and not extra[0].startswith("-"))):
        return None, list(extra)
    for i, word in enumerate(extra):
        if not word.startswith("-"):
            # A value of a preceding flag is not MODEL: only a word at position 0 or after a word that
            # is itself a value can be. Keep it simple: MODEL must come first when flags are inline.
            if i == 0:
                return word, ["vllm", "serve", word, *extra[1:]]
            break
    return None, ["vllm", "serve", *extra]


def parse_invocation(extra: list[str], model: str | None, version: str, *, usage: str) -> tuple[str, object]:
    """(MODEL, ServeCommand) from a command's leftover words, refusing flags the release does not have.

    Shared by estimate, plan and validate so that one pasted command means the same everywhere.
    """
    from planner.errors import PlannerError
    from planner.serve_args import parse_serve_argv

    if model is not None:
        argv = ["vllm", "serve", model, *extra]
    else:
        model, argv = split_model_and_flags(extra)
    cmd = parse_serve_argv(argv, version=version)
    bad = [f for f in cmd.flags if f.status != "ok"]
    if bad:
        f = bad[0]
        raise PlannerError(f"{f.written}: {f.message or 'not a vllm serve option in vLLM ' + version}",
                           code="unknown_flag", hint=f.hint)
    if cmd.unknown:
        raise PlannerError(f"unexpected argument {cmd.unknown[0]!r}", hint=usage)
    ref = cmd.model or model
    if not ref:
        raise PlannerError("no MODEL given", hint=usage)
    return ref, cmd


def build_estimate(extra: list[str], *, gpu: str | None, device: str | None, gpu_memory_gib: float | None,
                   quant: str | None, vllm_version: str | None, vllm_engine: str | None, revision: str | None,
                   offline: bool, progress: bool, model: str | None = None, token: str | None = None) -> object:
    """Resolve inputs and run the memory model. Shared with `plan` and `validate` for one code path."""
    import gpu_catalog
    from planner.errors import PlannerError
    from planner.estimate import estimate
    from planner.sources import load_model
    from planner.vllm_versions import LATEST

    version = vllm_version or LATEST
    ref, cmd = parse_invocation(extra, model, version,
                                usage="planner estimate MODEL --gpu H100, or -- vllm serve MODEL ...")
    if device == "cpu":
        if gpu_memory_gib is None and cmd.args.kv_cache_memory_bytes is None \
                and "VLLM_CPU_KVCACHE_SPACE" not in cmd.env:
            raise PlannerError("--device cpu needs the KV size: --kv-cache-memory-bytes, VLLM_CPU_KVCACHE_SPACE, "
                               "or --gpu-memory-gib for the NUMA node's memory")
        dev = gpu_catalog.cpu_device(gpu_memory_gib or 8.0)
    elif device not in (None, "cuda", "gpu"):
        raise PlannerError(f"--device must be cuda or cpu, got {device!r}")
    elif not gpu:
        raise PlannerError("--gpu is required", hint="e.g. --gpu H100, or --device cpu")
    else:
        dev = gpu_catalog.resolve(gpu)
    loaded = load_model(ref, revision=revision, offline=offline or None, token=token, progress=progress)
    requested_quant = quant or cmd.args.quantization
    if requested_quant:
        from planner.sources import prequantized_variant

        loaded = prequantized_variant(loaded, requested_quant) or loaded
    amx = False
    if device == "cpu":
        from planner.cpu_backend import read_host_cpu

        amx = read_host_cpu().amx   # picks the CPU MLA kernel, and so its block size
    return estimate(loaded, dev, cmd.args, vllm_version=version, vllm_engine=vllm_engine, quant=quant,
                    env=cmd.env, gpu_memory_gib=gpu_memory_gib if device != "cpu" else None, cpu_amx=amx), loaded


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
    json_out: _o.JsonOut = False,
    debug: _o.Debug = False,
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
            for w in loaded.warnings:
                console.print(f"[yellow]warning[/yellow]: {w}", soft_wrap=True)
            render_estimate(est, console)
        return 0 if est.fits else 1

    run_command(run, json_mode=json_out, debug=debug)
