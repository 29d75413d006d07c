"""`planner plan MODEL --gpu NAME[,NAME...|any] [workload] [vllm serve flags]`: recommend the deployment.

Everything the command does not know as its own option is read as `vllm serve` arguments with vLLM's
spellings (as in `estimate`): a flag the user gives is kept, the rest are decided by the search
(planner/planning/recommend.py). The human output ends with the ready-to-run command, printed verbatim.
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import typer

import gpu_catalog
import model_catalog
from planner import emit as emitter
from planner.commands import _options as _o
from planner.commands._run import run_command
from planner.emit import ALL_FORMS, Deployment
from planner.errors import PlannerError, did_you_mean
from planner.memory.quant import normalize_quant_name
from planner.memory.spec import model_spec_from_config
from planner.planning.recommend import (
    DEFAULT_CONTEXT,
    Candidate,
    PlanRequest,
    PlanResult,
    available_candidates,
    parse_quant_mode,
    recommend,
    select_candidates,
)
from planner.redact import is_secret_env, remember
from planner.release.engine_args import parse_human_int
from planner.release.vllm_versions import LATEST, rules_for
from planner.rendering.plan import plan_json, render_plan
from planner.resolve import check_device_memory, parse_invocation
from planner.sourcing.loader import LoadedModel, load_model

if TYPE_CHECKING:
    from gpu_catalog import Gpu
    from planner.emit import OpsLoad
    from planner.emit import ops as emit_ops
    from planner.performance import bench_flags, capacity, predict
    from planner.performance import queue as perf_queue
    from planner.planning import sizing
    from planner.planning.sizing import Load
    from planner.rendering import memory_plot, plotfile
else:
    from planner.lazy import lazy

    # Paths a plain catalog plan does not take (tests/test_imports.py): --fallback (the gateway form),
    # --request-rate (the capacity and perf models) and --plot.
    emit_ops = lazy("planner.emit.ops")
    bench_flags = lazy("planner.performance.bench_flags")
    capacity = lazy("planner.performance.capacity")
    predict = lazy("planner.performance.predict")
    perf_queue = lazy("planner.performance.queue")
    sizing = lazy("planner.planning.sizing")
    memory_plot = lazy("planner.rendering.memory_plot")
    plotfile = lazy("planner.rendering.plotfile")

HELP = ("Recommend how to serve MODEL with vLLM: GPU type and count, tensor/pipeline parallelism, "
        "quantization, KV cache dtype and the vllm serve flags, ranked by an objective, with the memory per "
        "GPU and why each flag has its value; ends with the command to run. vLLM flags given after MODEL are "
        "kept. With --request-rate (and the lengths and --slo-* targets), sizes replicas for that load from "
        "the perf model. --plot FILE draws the chosen plan's memory split per GPU (.svg or .png). Exit 0 a plan "
        "fits (and meets the targets), 1 nothing fits or meets them (with why), 2 bad input.")

# Rows of the ranked table in the human output (--json lists every plan).
TABLE_ROWS = 8


def resolve_gpus(gpu: str | None, device: str | None, gpu_memory_gib: float | None) -> tuple[tuple[Gpu, ...], bool]:
    """(GPUs to search, whether that is the whole catalog) from --gpu / --device."""
    if device == "cpu":
        if gpu_memory_gib is None:
            raise PlannerError("--device cpu needs the NUMA node's memory: --gpu-memory-gib",
                               hint="and --kv-cache-memory-bytes or VLLM_CPU_KVCACHE_SPACE for the KV size")
        return (gpu_catalog.cpu_device(gpu_memory_gib),), False
    if device not in (None, "cuda", "gpu"):
        raise PlannerError(f"--device must be cuda or cpu, got {device!r}")
    if not gpu or not gpu.strip():
        raise PlannerError("--gpu is required", hint="e.g. --gpu H100, --gpu L40S,A100-SXM-80GB or --gpu any")
    if gpu.strip().lower() == "any":
        return tuple(g for g in gpu_catalog.all_gpus().values() if g.vendor != "cpu"), True
    out: list[Gpu] = []
    for name in gpu.split(","):
        if name.strip():
            g = gpu_catalog.resolve(name.strip())
            if g not in out:
                out.append(g)
    if not out:
        raise PlannerError("--gpu is empty", hint="e.g. --gpu H100")
    return tuple(out), False


def build_plan(extra: list[str], *, model: str | None = None, gpu: str | None, device: str | None = None,
               gpu_memory_gib: float | None = None, quant: str | None = None, objective: str = "gpus",
               context: str | None = None, concurrency: int | None = None, num_gpus: int | None = None,
               max_gpus: int | None = None, vllm_version: str | None = None, revision: str | None = None,
               offline: bool = False, progress: bool = False,
               token: str | None = None, load: Load | None = None) -> tuple[PlanResult, LoadedModel]:
    """Resolve the inputs and run the search: (PlanResult, LoadedModel)."""
    remember(token)                                      # never echoed, whatever fails below

    check_device_memory(gpu_memory_gib)
    version = vllm_version or LATEST
    rules_for(version)                                   # an unknown release is bad input, before any work
    ref, cmd = parse_invocation(extra, model, version, usage="planner plan MODEL --gpu H100 [flags]")
    if cmd.args.max_model_len == -1:
        raise PlannerError("--max-model-len auto: plan chooses the context itself",
                           hint="leave it out, or give --context N")
    gpus, whole = resolve_gpus(gpu, device, gpu_memory_gib)
    ctx_len = None
    if context is not None:
        if len(context) > 24:   # a context length has a handful of digits; do not echo a pasted blob
            raise PlannerError(f"--context: a value of {len(context)} characters is not a context length",
                               hint="e.g. 32768, 32k or 32K")
        ctx_len = parse_human_int(context, flag="--context")
    loaded = load_model(ref, revision=revision, offline=offline or None, token=token, progress=progress)
    spec = model_spec_from_config(loaded.config, name=loaded.name)
    if load is not None and ctx_len is None and cmd.args.max_model_len is None:
        ctx_len = load.context()
        if ctx_len > spec.max_model_len:
            if load.longest() > spec.max_model_len:
                raise PlannerError(f"the workload's requests (up to {load.longest():,} tokens) are longer than "
                                   f"{loaded.name}'s maximum context {spec.max_model_len:,}",
                                   hint="lower --random-input-len / --random-output-len")
            ctx_len = spec.max_model_len
    if load is not None and objective == "kv":
        raise PlannerError("--objective kv does not apply to a workload: gpus or cost",
                           hint="drop --request-rate to rank by KV cache")
    mode, names = parse_quant_mode(quant)
    available = available_candidates(loaded, spec, version)
    if cmd.args.quantization is not None:
        # A --quantization the user gives is kept as written: vLLM quantizes (or reads) as told.

        scheme = normalize_quant_name(cmd.args.quantization)
        cands: tuple[Candidate, ...] = (Candidate(
            scheme=scheme, model=loaded, serve_model=available[0].serve_model, quantization=None, origin="given",
            note=f"{available[0].note}, served with --quantization {cmd.args.quantization} as given"),)
        notes: tuple[str, ...] = ()
        mode = "given"
    else:
        cands, notes = select_candidates(available, mode, names, model_name=loaded.name)
    req = PlanRequest(gpus=gpus, candidates=cands, args=cmd.args, env=dict(cmd.env), vllm_version=version,
                      objective=objective, context=ctx_len, concurrency=concurrency, num_gpus=num_gpus,
                      max_gpus=max_gpus, gpu_memory_gib=gpu_memory_gib if device == "cpu" else None,
                      quant_mode=mode, whole_catalog=whole, auto_candidates=tuple(available),
                      given=frozenset(f.dest for f in cmd.flags if f.dest),
                      explore=load is not None, context_floor=None if load is not None else DEFAULT_CONTEXT)
    result = recommend(req, model_max_len=spec.max_model_len)
    if load is not None and result.plans:
        result, _ = sizing.size(result, load, model_max_len=spec.max_model_len)
    if notes:
        result = replace(result, notes=(*notes, *result.notes))
    return result, loaded


def parse_load(*, request_rate: str | None, dataset_name: str | None, random_input_len: str | None,
               random_output_len: str | None, peak_to_average: str | None, slo_ttft_ms: str | None,
               slo_tpot_ms: str | None, slo_e2el_ms: str | None, slo_percentile: str | None) -> Load | None:
    """The workload options as a Load (None without --request-rate); every value checked."""
    rest = {"--dataset-name": dataset_name, "--random-input-len": random_input_len,
            "--random-output-len": random_output_len, "--peak-to-average": peak_to_average,
            "--slo-ttft-ms": slo_ttft_ms, "--slo-tpot-ms": slo_tpot_ms, "--slo-e2el-ms": slo_e2el_ms,
            "--slo-percentile": slo_percentile}
    if request_rate is None:
        given = [k for k, v in rest.items() if v is not None]
        if given:
            raise PlannerError(f"{given[0]} describes a load: give --request-rate too",
                               hint="e.g. --request-rate 40, 1000/min or 5M/month")
        return None
    # The capacity model (and the perf model under it) only for a plan sized for a load (lazy imports).
    rate = capacity.parse_rate(request_rate, flag="--request-rate")
    w, _ = bench_flags.parse_workload(bench_flags.WorkloadFlags(dataset_name=dataset_name,
                                                                random_input_len=random_input_len,
                                                                random_output_len=random_output_len))
    if w.dataset_name == "prefix_repetition":
        # the capacity search sizes replicas for independent random or ShareGPT requests; shared-prefix
        # hits depend on which replica each prefix lands on, which the sizing does not model
        raise PlannerError("--dataset-name prefix_repetition: plan sizes a load of random or sharegpt requests; "
                           "predict a shared-prefix workload with `planner perf`")
    shape = capacity.LoadShape(dataset_name=w.dataset_name, random_input_len=w.random_input_len,
                               random_output_len=w.random_output_len)
    p2a = (capacity.PEAK_TO_AVERAGE if peak_to_average is None
           else bench_flags.parse_float("--peak-to-average", peak_to_average, lo=1.0, hi=1000.0))

    def ms(flag: str, text: str | None) -> float | None:
        return None if text is None else bench_flags.parse_float(flag, text, lo=0.0, hi=1e7, lo_open=True)

    ttft, tpot, e2el = ms("--slo-ttft-ms", slo_ttft_ms), ms("--slo-tpot-ms", slo_tpot_ms), ms("--slo-e2el-ms",
                                                                                              slo_e2el_ms)
    pct = 95.0 if slo_percentile is None else bench_flags.parse_float("--slo-percentile", slo_percentile, lo=0.0,
                                                                      hi=100.0, lo_open=True)
    slo = None
    if ttft is not None or tpot is not None or e2el is not None:
        slo = capacity.Slo(ttft_ms=ttft, tpot_ms=tpot, e2el_ms=e2el, percentile=pct)
    elif slo_percentile is not None:
        raise PlannerError("--slo-percentile needs a target: --slo-ttft-ms, --slo-tpot-ms or --slo-e2el-ms")
    return sizing.Load(rate=rate, rate_text=request_rate.strip(), peak_to_average=p2a, shape=shape, slo=slo)


def ops_load(result: PlanResult) -> OpsLoad | None:
    """The capacity plan's figures for the operations forms (planner.emit.ops_targets): None without a
    workload, or when the chosen plan does not meet it.

    The queue target is where the perf model's TTFT target breaks (planner.performance.queue), on the chosen plan's
    estimate (its tuned batch limits) and the load's shape, with the capacity search's prompt count; without
    a TTFT target, the time-averaged waiting queue at the per-replica rate (the highest with a bounded queue).
    """

    p = result.chosen
    fit = p.load if p is not None else None
    if p is None or fit is None or not fit.met:
        return None
    slo, shape = fit.load.slo, fit.load.shape
    if slo is not None and slo.ttft_ms is not None:
        q = perf_queue.queue_depth_target(p.est, shape.workload(fit.rate), ttft_ms=slo.ttft_ms,
                                          percentile_q=slo.percentile)
        queue = q.waiting_per_pod
    else:
        queue = perf_queue.mean_waiting(predict.predict(p.est, shape.workload(fit.rate)))
    return emitter.OpsLoad(request_rate=fit.load.rate, peak_to_average=fit.load.peak_to_average,
                           per_replica_rate=fit.rate, replicas=fit.replicas,
                           slo_ttft_ms=slo.ttft_ms if slo else None, slo_tpot_ms=slo.tpot_ms if slo else None,
                           slo_percentile=slo.percentile if slo else 95.0, queue_depth=queue)


def deployment(result: PlanResult, loaded: LoadedModel) -> Deployment:
    """The emitter's Deployment for the chosen plan (the user's --port / --served-model-name carried over)."""
    p = result.chosen
    assert p is not None
    req = result.request
    passthrough = dict(p.args.passthrough)
    port = passthrough.get("--port")
    # A nargs="+" passthrough value is the shell-joined list of names (planner.release.serve_args): one name is
    # unquoted back to itself, so the emitters quote it once; several stay in the passthrough as given.
    names = shlex.split(passthrough["--served-model-name"]) if passthrough.get("--served-model-name") else []
    served = names[0] if len(names) == 1 else None
    hit = model_catalog.lookup(loaded.catalog_alias) if loaded.catalog_alias else None
    gated = bool(hit is not None and hit.entry.gated)
    return Deployment(model=p.candidate.serve_model, args=p.args, vllm_version=req.vllm_version, gpu=p.gpu,
                      num_gpus=p.count, served_model_name=served,
                      env={k: v for k, v in req.env.items() if not is_secret_env(k)},
                      hf_token_required=gated,
                      port=int(port) if port and port.isdigit() else 8000)


def _plot(path: Path, result: PlanResult) -> None:
    """The chosen plan's memory split; when nothing fits the closest miss's (why it fails), else no file."""
    if result.chosen is not None:
        memory_plot.write_memory_plot(path, result.chosen.est, "plan 1")
    elif result.closest is not None:
        memory_plot.write_memory_plot(path, result.closest.est, "closest miss")
    else:
        sys.stderr.write(f"planner: no layout was estimated, so --plot wrote no {path}\n")


def command(
    ctx: typer.Context,
    gpu: str = typer.Option(None, "--gpu", help="GPU type: a catalog name, a comma list, or any (the catalog)."),
    num_gpus: int = typer.Option(None, "--num-gpus", help="GPUs per replica (default: searched, 1..a node)."),
    max_gpus: int = typer.Option(None, "--max-gpus", help="At most this many GPUs per replica."),
    quant: str = typer.Option(None, "--quant", help="Weight quantization: auto (least lossy that fits), a scheme "
                              "(fp8, int8, awq, gptq, nvfp4, ...) or a comma list. Default: the checkpoint as is."),
    objective: str = typer.Option("gpus", "--objective", help="gpus (fewest, default), cost (per hour) or kv "
                                  "(most KV cache)."),
    context: str = typer.Option(None, "--context", help="Context length to serve (--max-model-len), e.g. 32768, "
                                "32k (=32000) or 32K (=32768). Default: the model's maximum."),
    concurrency: int = typer.Option(None, "--concurrency", help="Sequences of the full context to hold at once "
                                    "(--max-num-seqs)."),
    emit: str = typer.Option(None, "--emit", help="vllm, docker, compose or k8s; or what operations need: hpa, "
                             "alerts (Prometheus rules file), prometheus-rule (Prometheus Operator), dashboard "
                             "(Grafana JSON) or litellm (gateway config with a hosted fallback). Prints that form "
                             "alone on stdout (the report goes to stderr), so it pipes into a file or kubectl; or "
                             "all (a folder). Default: the report and the vllm serve command on stdout."),
    out: str = typer.Option(None, "--out", help="Folder for --emit all."),
    fallback: str = typer.Option(None, "--fallback", help="Hosted model the LiteLLM gateway config falls back to "
                                 "when the vLLM pool fails or lags, e.g. gpt-4o-mini or anthropic/claude-haiku-4-5."),
    one_line: bool = typer.Option(False, "--one-line", help="Print the command on one line."),
    plot: str = typer.Option(None, "--plot", metavar="FILE", help="Write the chosen plan's memory split per GPU "
                             "to FILE (.svg or .png); when nothing fits, the closest miss's."),
    device: str = typer.Option(None, "--device", help="cuda (default) or cpu (vLLM's CPU backend)."),
    gpu_memory_gib: float = typer.Option(None, "--gpu-memory-gib", help="With --device cpu: the memory vLLM "
                                         "budgets from, in GiB."),
    vllm_version: str = typer.Option(None, "--vllm-version", help=f"vLLM release to plan for (default {LATEST})."),
    revision: str = typer.Option(None, "--revision", help="Hub revision (branch, tag or commit)."),
    offline: bool = typer.Option(False, "--offline", help="Never touch the network (Hub cache or catalog)."),
    hf_token: str = typer.Option(None, "--hf-token", help="Hugging Face token for gated or private repos "
                                 "(default: HF_TOKEN or the `hf auth login` token)."),
    json_out: bool = typer.Option(False, "--json", help="Print the chosen plan's estimate contract plus plans and "
                                  "commands as JSON."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
    request_rate: str = typer.Option(None, "--request-rate", metavar="RATE", help="The load to size for, on "
                                     "average: requests/s, or N/min, N/h, N/day, N/month (e.g. 1000/min, "
                                     "5M/month)."),
    dataset_name: _o.DatasetName = None,
    random_input_len: _o.RandomInputLen = None,
    random_output_len: _o.RandomOutputLen = None,
    peak_to_average: str = typer.Option(None, "--peak-to-average", metavar="X", help="Peak over average rate "
                                        "(default 2: traffic is not flat); replicas carry the peak."),
    slo_ttft_ms: str = typer.Option(None, "--slo-ttft-ms", metavar="MS", help="Time-to-first-token target."),
    slo_tpot_ms: str = typer.Option(None, "--slo-tpot-ms", metavar="MS", help="Time-per-output-token target."),
    slo_e2el_ms: str = typer.Option(None, "--slo-e2el-ms", metavar="MS", help="End-to-end latency target."),
    slo_percentile: str = typer.Option(None, "--slo-percentile", metavar="P", help="Percentile the targets hold "
                                       "at (default 95)."),
) -> None:

    def run() -> int:


        form = "vllm" if emit is None else emit
        if form not in (*ALL_FORMS, "all"):
            raise PlannerError(f"--emit: unknown form {emit!r}", code="emit_form",
                               hint=did_you_mean(emit, [*ALL_FORMS, "all"])
                               or "choose " + ", ".join(ALL_FORMS) + " or all")
        if form == "all" and not out:
            raise PlannerError("--emit all writes a folder: give --out DIR")
        plot_path = None
        if plot is not None:


            plot_path = Path(plot)
            plotfile.check_path(plot_path)             # before any work
        load = parse_load(request_rate=request_rate, dataset_name=dataset_name, random_input_len=random_input_len,
                          random_output_len=random_output_len, peak_to_average=peak_to_average,
                          slo_ttft_ms=slo_ttft_ms, slo_tpot_ms=slo_tpot_ms, slo_e2el_ms=slo_e2el_ms,
                          slo_percentile=slo_percentile)
        if fallback is not None:
            emit_ops.litellm_model(fallback)             # bad input fails before the search
        result, loaded = build_plan(list(ctx.args), gpu=gpu, device=device, gpu_memory_gib=gpu_memory_gib,
                                    quant=quant, objective=objective, context=context, concurrency=concurrency,
                                    num_gpus=num_gpus, max_gpus=max_gpus, vllm_version=vllm_version,
                                    revision=revision, offline=offline, progress=not json_out, token=hf_token,
                                    load=load)
        if plot_path is not None:
            _plot(plot_path, result)
        texts: dict[str, str] = {}
        written: list[str] = []
        targets = None
        if result.chosen is not None:
            d = deployment(result, loaded)
            # The operations forms' numbers: the capacity plan's where there is a workload, else the defaults
            # they state. The queue target costs a few simulations: only where a form or --json shows it.
            if json_out or form in (*emitter.OPS_FORMS, "k8s", "all"):
                targets = emitter.ops_targets(d, load=ops_load(result), fallback=fallback)
            if json_out:
                texts = emitter.commands(d)
            elif form != "all":
                texts = {form: emitter.emit(d, form, targets) if form != "vllm"
                         else emitter.vllm_serve(d, one_line=one_line)}
            if form == "all":
                written = [str(p) for p in emitter.write_all(d, out, targets=targets)]
                texts.setdefault("vllm", emitter.vllm_serve(d, one_line=one_line))
        if json_out:


            doc = plan_json(result, loaded, texts)
            if targets is not None:
                doc["ops"] = targets.to_json()
            if written:
                doc["written"] = written
            sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        else:
            # With a form to pipe (--emit vllm|docker|compose|k8s|hpa|...), stdout carries that form alone: the report
            # goes to stderr, where a terminal still shows it and `> compose.yaml` or `| kubectl apply -f -`
            # do not read it.
            report_to_stderr = emit is not None and form != "all"
            render_plan(result, loaded, texts.get(form if form != "all" else "vllm"), written=written,
                        report_to_stderr=report_to_stderr)
        return 0 if result.chosen is not None else 1

    run_command(run, json_mode=json_out, debug=debug)
