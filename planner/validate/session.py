"""One `planner validate` run: predict, launch (or read a log), observe, compare.

The command layer (planner/commands/validate.py) only parses options and renders `ValidationResult`.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import gpu_catalog
from planner import memory
from planner.answers import ValidateAnswer
from planner.errors import SCHEMA_VERSION, PlannerError
from planner.memory.spec import model_spec_from_config
from planner.performance.predict import predict as perf_predict
from planner.release.serve_args import to_serve_argv
from planner.release.vllm_versions import LATEST
from planner.resolve import estimate_from, make_inputs, parse_invocation
from planner.sourcing.loader import load_model
from planner.validate.bench import has_vllm_bench, run_builtin, run_vllm_bench
from planner.validate.compare import ComparisonReport, Tolerances, compare
from planner.validate.launch import (
    StartupTimeout,
    VllmServer,
    free_port,
    http_get_text,
    installed_vllm_version,
    resolve_vllm_command,
    run_load,
    send_chat,
    send_completion,
)
from planner.validate.logparse import (
    Observed,
    ObservedError,
    apply_cache_config_info,
    parse_log,
    parse_metric_labels,
)
from planner.validate.vllm_env import cache_root, env_dir

GiB = 1 << 30
# Environment variables that change what vLLM does with memory; passed to the estimate as they are set.
_ENV_KEYS = ("VLLM_CPU_KVCACHE_SPACE", "VLLM_ALLOW_LONG_MAX_MODEL_LEN", "VLLM_ENABLE_V1_MULTIPROCESSING",
             "VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS", "VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE",
             "VLLM_USE_V1", "VLLM_PP_LAYER_PARTITION")


@dataclass
class ValidateOptions:
    model: str
    serve_flags: list[str] = field(default_factory=list)   # vLLM flags as the user typed them
    device: str = "auto"                                   # auto | cuda | cpu
    gpu: str | None = None
    gpu_memory_gib: float | None = None
    vllm_version: str | None = None
    vllm_cmd: str | None = None
    vllm_env: str | None = None
    from_log: Path | None = None
    metrics_file: Path | None = None
    requests: int = 0
    concurrency: int = 1
    max_tokens: int = 16
    timeout: float = 600.0
    grace: float = 15.0
    tolerance: float | None = None
    log_dir: Path | None = None
    env: dict[str, str] = field(default_factory=dict)      # extra environment for the vLLM process
    offline: bool = False                                  # never touch the Hub (planner and vLLM)
    hf_token: str | None = None                            # for gated repos; reaches vLLM as HF_TOKEN
    bench: Any = None                                      # a planner.performance Workload: run it, compare


@dataclass
class RequestsSummary:
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)
    load: dict[str, Any] | None = None
    # --bench: {"tool", "workload", "measured", "predicted" (None on CPU), "note", "failed", "errors"}
    bench: dict[str, Any] | None = None


@dataclass
class ValidationResult:
    predicted: dict[str, Any]
    observed: Observed
    report: ComparisonReport
    requests: RequestsSummary
    vllm_version: str
    command: list[str] | None
    log_path: str | None
    launched: bool
    not_launched_reason: str | None = None

    @property
    def exit_code(self) -> int:
        return 0 if self.report.ok and self.requests.failed == 0 else 1

    def to_json(self) -> ValidateAnswer:
        report = self.report.to_json()
        return {
            "schema_version": SCHEMA_VERSION,
            "predicted": self.predicted,
            "observed": self.observed.to_json(),
            "comparisons": report["comparisons"],
            "verdict": report["verdict"],
            "requests": asdict(self.requests),
            "vllm_version": self.vllm_version,
            "command": self.command,
            "log_path": self.log_path,
            "launched": self.launched,
            "not_launched_reason": self.not_launched_reason,
            "exit_code": self.exit_code,
        }


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        raise PlannerError(f"{what} {path}: no such file") from None
    except OSError as exc:
        raise PlannerError(f"{what} {path}: cannot read: {exc.strerror or exc}") from None


def _device_and_gpu(opts: ValidateOptions, distribution: str | None) -> tuple[str, Any]:
    device = opts.device
    if device not in ("auto", "cuda", "cpu"):
        raise PlannerError(f"--device: invalid choice {device!r}", hint="choose from auto, cuda, cpu")
    # A --gpu is checked whatever runs: an unknown name is bad input even where it would not be used.
    gpu = gpu_catalog.resolve(opts.gpu) if opts.gpu else None
    if device == "auto":
        # vllm-cpu (or a CPU log) means the CPU backend; so does a launch with no --gpu and an unknown vLLM.
        device = "cpu" if distribution == "vllm-cpu" or (opts.gpu is None and distribution is None
                                                          and opts.from_log is None) else "cuda"
    if device == "cpu" and gpu is not None:
        # The prediction would be for the CPU backend, not for the GPU named: say so rather than ignore it.
        where = ("the log is from vLLM's CPU backend" if opts.from_log is not None else
                 "the vLLM to launch is the CPU build (vllm-cpu)" if distribution == "vllm-cpu" else "--device cpu")
        raise PlannerError(f"--gpu {opts.gpu}: {where}, which runs on this host's CPU, not on a {gpu.id}",
                           code="gpu_with_cpu_backend",
                           hint="drop --gpu, or point --vllm-env/--vllm-cmd at a CUDA build of vLLM")
    if device == "cpu":
        total = opts.gpu_memory_gib
        if total is None:
            node = memory.cpu_backend.read_host_cpu().node
            if node is None:
                raise PlannerError("cannot read NUMA node 0's memory", hint="pass --gpu-memory-gib")
            total = node.total / GiB
        return device, gpu_catalog.cpu_device(total)
    if gpu is None:
        raise PlannerError("--gpu is required to predict a GPU run", hint="e.g. --gpu H100, or --device cpu")
    return device, gpu


def _cpu_prelaunch_errors(loaded: Any, resolved: Any, env: dict[str, str], *,
                          this_host: bool) -> list[dict[str, str]]:
    """Findings of vLLM's CPU backend the estimate does not make (planner.memory.cpu_backend): kernels that do
    not exist (vLLM itself only fails on the first request) and, when launching here, this host's
    NUMA-node memory checks."""
    spec = model_spec_from_config(loaded.config, loaded.name)
    cpu = memory.cpu_backend                # loaded on first use (the planner.memory package)
    mla = cpu.uses_mla_backend(loaded.config)
    head = spec.kv_lora_rank + spec.qk_rope_head_dim if mla else spec.head_dim
    found = cpu.cpu_attention_findings(head_size=head, use_mla=mla, kv_cache_dtype=resolved.kv_cache_dtype)
    budget = cpu.cpu_kv_budget_bytes(kv_cache_memory_bytes=resolved.kv_cache_memory_bytes,
                                     gpu_memory_utilization=resolved.gpu_memory_utilization, env=env,
                                     node=cpu.read_host_cpu().node if this_host else None,
                                     startup_footprint_bytes=cpu.cpu_startup_footprint_bytes(env))
    return [{"code": f.code, "message": f.message} for f in (*found, *budget.findings)]


@dataclass(frozen=True)
class Prediction:
    predicted: dict[str, Any]        # estimate JSON with the CPU backend's pre-launch findings added
    resolved: Any                    # the resolved EngineArgs
    serve_model: str                 # what vLLM is pointed at: the repo id or the local folder
    est: Any = None                  # the Estimate (planner.performance predicts the benchmark from it)
    device: str = "cuda"


def serve_model_of(loaded: Any, ref: str) -> str:
    """What vLLM must load for MODEL: a catalog alias ('llama-3.1-8b') means nothing to vLLM, its repo id
    does; a local folder is passed as the path the user gave."""
    if getattr(loaded, "source", None) == "local":
        return ref
    return getattr(loaded, "repo_id", None) or ref


def _revision(passthrough: tuple[tuple[str, str | None], ...]) -> str | None:
    """vLLM's own --revision (given among the serve flags): the planner reads the same revision."""
    return next((v for k, v in passthrough if k == "--revision"), None)


def predict(opts: ValidateOptions, version: str, distribution: str | None) -> Prediction:
    """The prediction for the run, from the same model files vLLM will load (revision, token, offline)."""
    ref, parsed = parse_invocation(list(opts.serve_flags), opts.model, version,
                                   usage="planner validate MODEL [--gpu NAME] [vllm serve flags]")
    sc = parsed
    device, gpu = _device_and_gpu(opts, distribution)
    loaded = load_model(ref, revision=_revision(sc.args.passthrough), offline=opts.offline or None,
                        token=opts.hf_token)
    env = {k: v for k, v in {**os.environ, **sc.env, **opts.env}.items() if k in _ENV_KEYS}
    amx = False
    if device == "cpu":
        amx = memory.cpu_backend.read_host_cpu().amx if opts.from_log is None else False
    est = estimate_from(make_inputs(loaded, gpu, sc.args, vllm_version=version, env=env, cpu_amx=amx))
    predicted = est.to_json()
    if device == "cpu":
        known = {e["code"] for e in predicted["errors"]}
        extra = [e for e in _cpu_prelaunch_errors(loaded, est.resolved, env, this_host=opts.from_log is None)
                 if e["code"] not in known]
        if extra:
            predicted["errors"] = [*predicted["errors"], *extra]
            predicted["fits"] = False
    return Prediction(predicted, est.resolved, serve_model_of(loaded, ref), est, device)


def _launch_argv(opts: ValidateOptions, resolved: Any, version: str, vcmd: Any,
                 port: int, serve_model: str) -> tuple[list[str], str, int]:
    passthrough = list(resolved.passthrough)
    given = {k for k, _ in passthrough}
    host = next((v for k, v in passthrough if k == "--host"), None) or "127.0.0.1"
    port_given = next((v for k, v in passthrough if k == "--port"), None)
    if "--host" not in given:
        passthrough.append(("--host", host))
    if port_given is None:
        passthrough.append(("--port", str(port)))
    elif port_given.isdigit():
        port = int(port_given)
    else:
        raise PlannerError(f"--port: invalid value {port_given!r}: expected an integer")
    serve = to_serve_argv(serve_model, replace(resolved, passthrough=tuple(passthrough)), version)
    return vcmd.argv(serve), host, port


def run_validation(opts: ValidateOptions, *, on_stage: Any = None) -> ValidationResult:
    """Predict, then launch vLLM (or read --from-log), observe and compare."""
    tol = Tolerances.uniform(opts.tolerance) if opts.tolerance is not None else Tolerances()
    if opts.requests < 0 or opts.concurrency < 1:
        raise PlannerError("--requests must be >= 0 and --concurrency >= 1")
    if opts.from_log is not None:
        text = _read(opts.from_log, "--from-log")
        observed = parse_log(text)
        if opts.metrics_file is not None:
            apply_cache_config_info(observed, parse_metric_labels(_read(opts.metrics_file, "--metrics")))
        version = opts.vllm_version or _release(observed.vllm_version) or _latest()
        # vLLM's CPU backend says so in its log ("CPU KV cache size", "... GiB for KV cache on node 0").
        cpu_log = observed.kv_cache.device == "CPU" or "GiB for KV cache on node" in text
        predicted = predict(opts, version, "vllm-cpu" if cpu_log else None).predicted
        return ValidationResult(predicted, observed, compare(predicted, observed, tol), RequestsSummary(),
                                version, None, str(opts.from_log), launched=False)

    vcmd = resolve_vllm_command(vllm_cmd=opts.vllm_cmd, vllm_env=opts.vllm_env, fallback_env=env_dir())
    installed = installed_vllm_version(vcmd.python)
    found: str | None = opts.vllm_version or (installed[0] if installed else None)
    if found is None:
        raise PlannerError("cannot read the version of the vLLM to launch", code="vllm_version_unknown",
                           hint="pass --vllm-version")
    version = found
    pred = predict(opts, version, installed[1] if installed else None)
    predicted = pred.predicted
    argv, host, port = _launch_argv(opts, pred.resolved, version, vcmd, free_port(), pred.serve_model)
    log_dir = opts.log_dir or cache_root() / "logs"
    log_path = log_dir / f"validate-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    cpu_blockers = [e for e in predicted["errors"] if e["code"] in ("unsupported_head_size",
                                                                     "unsupported_kv_cache_dtype")]
    if cpu_blockers:
        # vLLM would start, answer /health, then die on the first request: nothing to learn by launching.
        observed = Observed()
        reason = cpu_blockers[0]["message"]
        return ValidationResult(predicted, observed, compare(predicted, observed, tol), RequestsSummary(),
                                version, argv, None, launched=False, not_launched_reason=reason)
    bench = _bench_plan(opts, pred, vcmd.python)
    observed, requests = _launch_and_observe(opts, argv, host, port, log_path, on_stage, launch_env(opts), bench)
    return ValidationResult(predicted, observed, compare(predicted, observed, tol), requests, version, argv,
                            str(log_path), launched=True)


def launch_env(opts: ValidateOptions) -> dict[str, str]:
    """The vLLM process's extra environment: the token in HF_TOKEN (never in argv, which `ps` and the
    report show) and the Hub switched off under --offline, so vLLM loads what the planner read."""
    env = dict(opts.env)
    if opts.hf_token:
        env["HF_TOKEN"] = opts.hf_token
    if opts.offline:
        env["HF_HUB_OFFLINE"] = "1"
    return env


@dataclass
class BenchPlan:
    """What --bench will run, decided before the launch: the workload, the predicted figures (None where the
    performance model cannot answer, with the reason), and whether vLLM's own `vllm bench serve` is used."""

    workload: Any
    predicted: dict[str, Any] | None
    note: str
    python: str | None               # the vLLM environment's Python when `vllm bench serve` runs
    tokenizer: str
    vocab_size: int


def _bench_plan(opts: ValidateOptions, pred: Prediction, python: str | None) -> BenchPlan | None:
    w = opts.bench
    if w is None:
        return None
    est = pred.est
    predicted: dict[str, Any] | None = None
    note = ""
    if pred.device == "cpu":
        note = ("CPU backend: the performance model covers GPUs, so only the measurement is shown "
                "(compare it with itself across runs)")
    elif est is None or not est.fits:
        note = "the prediction says vLLM would not start: no benchmark figures predicted"
    else:
        try:
            predicted = perf_predict(est, w).benchmark.to_json()
        except ValueError as e:
            note = f"no benchmark prediction: {e}"
    use_vllm = w.dataset_name == "random" and has_vllm_bench(python)
    if not use_vllm:
        note = "; ".join(x for x in (note, "vllm bench serve not available here (or a dataset it needs a file "
                                           "for): measured with the built-in client") if x)
    vocab = int(getattr(est.spec, "vocab_size", 0) or 32000) if est is not None else 32000
    return BenchPlan(w, predicted, note, python if use_vllm else None, pred.serve_model, vocab)


def _launch_and_observe(opts: ValidateOptions, argv: list[str], host: str, port: int, log_path: Path,
                        on_stage: Any, env: dict[str, str],
                        bench: BenchPlan | None = None) -> tuple[Observed, RequestsSummary]:
    requests = RequestsSummary()
    labels: dict[str, str] = {}
    timed_out: str | None = None
    with VllmServer(argv=argv, log_path=log_path, host=host, port=port, env=env,
                    grace_seconds=opts.grace, on_stage=on_stage) as server:
        try:
            ready = server.wait_ready(opts.timeout)
        except StartupTimeout as exc:
            ready, timed_out = False, str(exc)
        if ready:
            labels = parse_metric_labels(http_get_text(server.base_url + "/metrics") or "")
            name = _served_name(server.base_url) or opts.model
            for result in (send_completion(server.base_url, name, max_tokens=opts.max_tokens),
                           send_chat(server.base_url, name, max_tokens=opts.max_tokens)):
                requests.results.append(asdict(result))
                if result.ok:
                    requests.ok += 1
                elif result.skipped:
                    requests.skipped += 1
                else:
                    requests.failed += 1
            if opts.requests > 0:
                load = run_load(server.base_url, name, requests=opts.requests, concurrency=opts.concurrency,
                                max_tokens=opts.max_tokens)
                requests.load = asdict(load)
                requests.ok += load.ok
                requests.failed += load.failed
            if bench is not None:
                requests.bench = run_bench(bench, server.base_url, name, env)
    observed = parse_log(log_path.read_text(errors="replace") if log_path.exists() else "")
    if labels:
        apply_cache_config_info(observed, labels)
    if timed_out:
        observed.started = False
        observed.errors.append(ObservedError("startup_timeout", timed_out))
    elif observed.started is None:
        # No "startup complete" line (e.g. another uvicorn log level): health decides.
        observed.started = bool(labels) or requests.ok > 0
    return observed, requests


def run_bench(plan: BenchPlan, base_url: str, served_name: str, env: dict[str, str]) -> dict[str, Any]:
    """Run the benchmark of `plan` against a started server; the JSON the report carries."""
    if plan.python:
        run = run_vllm_bench(plan.python, base_url, served_name, plan.tokenizer, plan.workload, env=env)
    else:
        run = run_builtin(base_url, served_name, plan.workload, vocab_size=plan.vocab_size)
    w = plan.workload
    return {"tool": run.tool, "workload": asdict(w) | {"request_rate": str(w.request_rate)},
            "measured": run.measured, "predicted": plan.predicted, "note": plan.note, "failed": run.failed,
            "errors": run.errors, "command": run.command}


def _served_name(base_url: str) -> str | None:
    text = http_get_text(base_url + "/v1/models")
    try:
        data = json.loads(text or "")
        return str(data["data"][0]["id"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def _release(version: str | None) -> str | None:
    """'0.10.1.1' -> itself; '0.6.6.post1' / '0.32.0+cpu' -> '0.6.6' / '0.32.0' (what the rules know)."""
    if not version:
        return None

    m = re.match(r"\d+\.\d+(?:\.\d+)*", version)
    return m.group(0) if m else None


def _latest() -> str:
    return LATEST
