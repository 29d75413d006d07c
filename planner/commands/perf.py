"""`planner perf MODEL --gpu G [vllm serve flags] [vllm bench serve flags]`: what `vllm bench serve` (or, with
--offline-batch, `vllm bench throughput`) would measure on that deployment, from the config and the GPU alone.

Parsing and rendering only. The deployment is resolved by the same code path as `planner estimate`
(planner.resolve), the workload flags are read by planner/performance/bench_flags.py, and the prediction is
planner.performance.predict. Every workload value is checked before the estimate runs, so bad input fails fast.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from planner.commands import _options as _o
from planner.commands._run import run_command
from planner.errors import SCHEMA_VERSION, PlannerError
from planner.performance.bench_flags import WorkloadFlags, max_input_len, max_output_len, parse_workload
from planner.performance.predict import predict
from planner.rendering.estimate_head import estimate_json, head_lines, strict_json
from planner.rendering.perf import (
    bounds_lines,
    peak_output_tokens_per_s,
    serving_block,
    sweep_table,
    terminal_chart,
    throughput_lines,
    workload_parts,
)
from planner.rendering.term import pack, width, wrap_lines
from planner.resolve import estimate_from, resolve_inputs

if TYPE_CHECKING:
    from planner.answers import BenchmarkJson, PerfAnswer, PerfPointJson
    from planner.memory.estimator import Estimate
    from planner.performance.bench_flags import Sweep
    from planner.performance.types import Workload
    from planner.rendering import plot as chart_plot
    from planner.rendering import plotfile
    from planner.rendering.perf import PredictionLike
else:
    from planner.lazy import lazy

    # Only for --plot (a sweep's chart as .svg or .png).
    chart_plot = lazy("planner.rendering.plot")
    plotfile = lazy("planner.rendering.plotfile")

HELP = ("Predict what `vllm bench serve` would measure for MODEL on a GPU: throughput, TTFT, TPOT and ITL in "
        "vLLM's own result block, and what bounds the deployment. Takes every option of `planner estimate`, "
        "vLLM serve flags (or `-- vllm serve ...`), and the benchmark's workload flags as `vllm bench serve` "
        "spells them. --sweep max-concurrency=1,2,4 predicts one point per value; --plot FILE draws it. "
        "Exit 0 predicted, 1 vLLM would refuse to start, 2 bad input.")

_Str = str | None


def _opt(flag: str, help_text: str, metavar: str = "N") -> Any:
    return typer.Option(flag, help=help_text, metavar=metavar)


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
    dataset_name: _o.DatasetName = None,
    random_input_len: _o.RandomInputLen = None,
    random_output_len: _o.RandomOutputLen = None,
    random_range_ratio: Annotated[_Str, _opt("--random-range-ratio",
                                             "Lengths drawn from [len*(1-r), len*(1+r)], r in [0, 1).", "R")] = None,
    num_prompts: Annotated[_Str, _opt("--num-prompts", "Requests to send (default 1000, at most 10,000).")] = None,
    request_rate: Annotated[_Str, _opt("--request-rate", "Requests per second, or inf (default: all at once).",
                                       "RATE")] = None,
    burstiness: Annotated[_Str, _opt("--burstiness", "Gamma shape of the arrivals (1.0 = Poisson).", "B")] = None,
    max_concurrency: Annotated[_Str, _opt("--max-concurrency", "Most requests in flight (default: no cap).")] = None,
    seed: Annotated[_Str, _opt("--seed", "The benchmark's sampling seed (default 0); vLLM's own --seed goes "
                               "after `-- vllm serve`.")] = None,
    random_prefix_len: Annotated[_Str, _opt("--random-prefix-len", "random: a fixed prefix of N tokens before "
                                            "every prompt (prefix-cache hits).")] = None,
    prefix_repetition_prefix_len: Annotated[_Str, _opt("--prefix-repetition-prefix-len",
                                                       "prefix_repetition: prefix tokens (default 256).")] = None,
    prefix_repetition_suffix_len: Annotated[_Str, _opt("--prefix-repetition-suffix-len",
                                                       "prefix_repetition: suffix tokens (default 256).")] = None,
    prefix_repetition_num_prefixes: Annotated[_Str, _opt("--prefix-repetition-num-prefixes",
                                                         "prefix_repetition: prefixes (default 10).")] = None,
    prefix_repetition_output_len: Annotated[_Str, _opt("--prefix-repetition-output-len",
                                                       "prefix_repetition: output tokens (default 128).")] = None,
    offline_batch: Annotated[bool, typer.Option(
        "--offline-batch", help="Predict `vllm bench throughput`: every prompt handed to the engine at once.")] = False,
    sweep: Annotated[_Str, _opt("--sweep", "max-concurrency=1,2,4,... or request-rate=...: one point per value "
                                "(at most 32).", "PARAM=V1,V2")] = None,
    plot: Annotated[_Str, _opt("--plot", "With --sweep: write throughput vs latency to FILE (.svg or .png).",
                               "FILE")] = None,
    json_out: _o.JsonOut = False,
    debug: _o.Debug = False,
) -> None:
    def run() -> int:
        workload, swept = parse_workload(WorkloadFlags(
            dataset_name=dataset_name, random_input_len=random_input_len, random_output_len=random_output_len,
            random_range_ratio=random_range_ratio, num_prompts=num_prompts, request_rate=request_rate,
            burstiness=burstiness, max_concurrency=max_concurrency, seed=seed, offline_batch=offline_batch,
            sweep=sweep, random_prefix_len=random_prefix_len,
            prefix_repetition_prefix_len=prefix_repetition_prefix_len,
            prefix_repetition_suffix_len=prefix_repetition_suffix_len,
            prefix_repetition_num_prefixes=prefix_repetition_num_prefixes,
            prefix_repetition_output_len=prefix_repetition_output_len))
        plot_path = Path(plot) if plot is not None else None
        if plot_path is not None:
            if swept is None:
                raise PlannerError("--plot draws a sweep; add --sweep max-concurrency=1,2,4 "
                                   "(or --sweep request-rate=1,2,4)")
            plotfile.check_path(plot_path)
        inputs = resolve_inputs(list(ctx.args), gpu=gpu, device=device, gpu_memory_gib=gpu_memory_gib,
                                quant=quant, vllm_version=vllm_version, vllm_engine=vllm_engine,
                                revision=revision, offline=offline, progress=not json_out, token=hf_token)
        est = estimate_from(inputs)
        source_warnings = [str(w) for w in inputs.model.warnings]
        if not est.fits:
            _emit_would_fail(est, workload, swept, source_warnings, json_out=json_out)
            return 1
        _check_lengths(est, workload)
        workloads = swept.workloads(workload) if swept else [workload]
        try:
            preds: list[PredictionLike] = [predict(est, w) for w in workloads]
        except ValueError as e:
            # predict's documented refusals (a speculative method whose draft cost is not modelled, requests
            # vLLM would reject, a request that can never get its KV blocks): the input's answer, one line,
            # as planner.performance.capacity turns them for `cost` and `plan`.
            raise PlannerError(f"the perf model cannot predict this benchmark: {e}", code="not_predicted") from None
        if plot_path is not None and swept is not None:
            chart_plot.write_plot(plot_path, _chart(est, swept, preds))
        if json_out:
            _write(_dumps(to_json(est, swept, preds, source_warnings)))
        else:
            _write("\n".join(human_lines(est, swept, preds, source_warnings)) + "\n")
        return 0

    run_command(run, json_mode=json_out, debug=debug)


def _write(text: str) -> None:
    sys.stdout.write(text)


def _check_lengths(est: Estimate, w: Workload) -> None:
    """A random request longer than max_model_len is one vLLM's server rejects (a failed request, not a
    measurement): refuse it as input rather than predict a benchmark of errors."""
    if w.dataset_name == "sharegpt":
        return
    limit = est.resolved.max_model_len
    if limit is None:   # resolved by the estimate; None only if a future path leaves it open
        return
    need = max_input_len(w) + max_output_len(w)
    if need > limit:
        raise PlannerError(f"a request of up to {max_input_len(w):,} prompt + {max_output_len(w):,} output tokens "
                           f"exceeds max_model_len {limit:,}; vLLM would reject it",
                           hint="lower --random-input-len/--random-output-len or raise --max-model-len")


def _dumps(obj: Mapping[str, Any]) -> str:
    return json.dumps(strict_json(obj), indent=2, allow_nan=False) + "\n"


def workload_json(w: Workload) -> dict[str, Any]:
    return asdict(w)


def benchmark_json(p: PredictionLike) -> BenchmarkJson:
    """The benchmark's --save-result keys: BenchmarkResult's, plus `failed` (0: vLLM would start and serve
    every request) and the peak output throughput that vLLM prints and saves."""
    out: dict[str, Any] = dict(p.benchmark.to_json())
    out["failed"] = 0
    out["max_output_tokens_per_s"] = round(peak_output_tokens_per_s(p.sim), 2)
    return cast("BenchmarkJson", out)      # BenchmarkResult's fields are BenchmarkJson's keys


def point_json(p: PredictionLike) -> PerfPointJson:
    return {"benchmark": benchmark_json(p), "bounds": p.bounds.to_json(), "workload": workload_json(p.workload)}


def to_json(est: Estimate, swept: Sweep | None, preds: Sequence[PredictionLike],
            source_warnings: list[str]) -> PerfAnswer:
    if swept is None:
        return {"schema_version": SCHEMA_VERSION, **point_json(preds[0]),
                "estimate": estimate_json(est, source_warnings)}
    return {"schema_version": SCHEMA_VERSION, "sweep": swept.to_json(), "points": [point_json(p) for p in preds],
            "estimate": estimate_json(est, source_warnings)}


def _emit_would_fail(est: Estimate, w: Workload, swept: Sweep | None, source_warnings: list[str], *,
                     json_out: bool) -> None:
    if json_out:
        estimate = estimate_json(est, source_warnings)
        body: PerfAnswer
        if swept is None:
            body = {"schema_version": SCHEMA_VERSION, "benchmark": None, "bounds": None, "workload": workload_json(w),
                    "estimate": estimate}
        else:
            body = {"schema_version": SCHEMA_VERSION, "sweep": swept.to_json(), "points": [], "estimate": estimate}
        _write(_dumps(body))
        return
    cols = width(sys.stdout)
    lines = [*head_lines(est, source_warnings, cols), "WOULD FAIL at startup, so there is no benchmark to predict:"]
    lines += wrap_lines([f"  {e.code}: {e.message}" for e in est.errors], cols)
    _write("\n".join(lines) + "\n")


def human_lines(est: Estimate, swept: Sweep | None, preds: Sequence[PredictionLike],
                source_warnings: list[str]) -> list[str]:
    # Prose is laid out for the reader's width (80 when piped); vLLM's own lines (the result block, `vllm
    # bench throughput`'s summary) are printed as vLLM prints them, never wrapped (issue 15).
    cols = width(sys.stdout)
    out = head_lines(est, source_warnings, cols)
    out += pack(workload_parts(preds[0].workload, swept=swept.parameter if swept else None), cols, sep=", ",
                indent="  ")
    out.append("")
    if swept is None:
        p = preds[0]
        if p.workload.offline_batch:
            out += throughput_lines(p.benchmark)
        else:
            out += serving_block(p.benchmark, p.workload, peak_output_tokens_per_s(p.sim))
        out += wrap_lines(bounds_lines(p.bounds), cols)
        return out
    out += wrap_lines([f"sweep of --{swept.parameter}, one prediction per value (latencies in ms):"], cols)
    out += sweep_table(swept.parameter, swept.values, [p.benchmark for p in preds])
    out.append("")
    out += terminal_chart([p.benchmark.median_tpot_ms for p in preds], [p.benchmark.output_throughput for p in preds],
                          x_label="median TPOT (ms)", y_label="output token throughput (tok/s)")
    out.append("")
    first, last = preds[0], preds[-1]
    bounds = bounds_lines(first.bounds, f"What bounds it at --{swept.parameter} {_value(swept.values[0])}:")
    if len(preds) > 1:
        bounds += bounds_lines(last.bounds, f"What bounds it at --{swept.parameter} {_value(swept.values[-1])}:")
    return out + wrap_lines(bounds, cols)


def _value(v: float) -> str:
    return "inf" if math.isinf(v) else f"{v:g}"


def _chart(est: Estimate, swept: Sweep, preds: Sequence[PredictionLike]) -> Any:
    return chart_plot.Chart(title=f"{est.model.get('name')} on {est.resolved.world_size} x {est.gpu.id}, vLLM "
                                  f"{est.rules.version}: --{swept.parameter} sweep",
                            x_label="median TPOT (ms)", y_label="output token throughput (tok/s)",
                            xs=tuple(p.benchmark.median_tpot_ms for p in preds),
                            ys=tuple(p.benchmark.output_throughput for p in preds),
                            labels=tuple(_value(v) for v in swept.values))
