"""The rules of `planner check`: from one Invocation to findings.

Flag rules come from planner.release.vllm_flags (the flag table of the target release); memory rules call the
memory model (`planner.memory.estimator.estimate`) and report its startup errors where they point in the file.
Nothing is guessed: what the file does not say (GPU, model, vLLM version) is a warning and the rules
that need it are skipped.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from planner.errors import PlannerError
from planner.gate.extract import image_version, is_vllm_image
from planner.gate.model import Finding, Invocation, Severity
from planner.gate.shell import is_dynamic
from planner.release.serve_args import DEFAULT_VERSION, ServeCommand, parse_serve_argv
from planner.release.vllm_flags import ever_existed
from planner.release.vllm_versions import LATEST, parse_version

if TYPE_CHECKING:
    import gpu_catalog
    import model_catalog
    from gpu_catalog import Gpu
    from planner import resolve
    from planner.memory.estimator import Estimate
    from planner.sourcing import loader
    from planner.sourcing.loader import LoadedModel
else:
    from planner.lazy import lazy

    # The catalogs and the memory model only for a file that names a model or a GPU: a check of files with
    # nothing to estimate does not load them.
    gpu_catalog = lazy("gpu_catalog")
    model_catalog = lazy("model_catalog")
    resolve = lazy("planner.resolve")
    loader = lazy("planner.sourcing.loader")

# Above this, vLLM leaves too little for the CUDA context, NCCL and other processes (issue 5's threshold).
HIGH_UTILIZATION = 0.95
# A model whose derived max_model_len exceeds this, served without --max-model-len, reserves KV for
# very long requests or fails to start: "long context" for the missing-max-model-len warning.
LONG_CONTEXT = 32768
# Which flag a startup error of the memory model is about (for its line in the file).
_ERROR_FLAG = {
    "kv_cache_too_small": "max_model_len", "max_model_len_too_large": "max_model_len",
    "max_model_len_override": "max_model_len", "auto_fit": "max_model_len",
    "heads_not_divisible": "tensor_parallel_size", "kv_heads_not_divisible": "tensor_parallel_size",
    "intermediate_not_divisible": "tensor_parallel_size", "quant_group_not_divisible": "tensor_parallel_size",
    "pp_too_large": "pipeline_parallel_size", "quantization_unsupported": "quantization",
    "quantization_mismatch": "quantization", "quantization_weight_only": "quantization",
    "insufficient_free_memory": "gpu_memory_utilization", "high_utilization": "gpu_memory_utilization",
    "dtype_unsupported": "dtype", "dtype_downcast": "dtype", "batch_limits": "max_num_seqs",
}


@dataclass
class Settings:
    gpu: str | None = None                 # --gpu: used when the file does not say
    vllm_version: str | None = None        # --vllm-version: used when the file does not say
    offline: bool = True                   # resolve models from the cache/catalog only
    # Caches for one run: answers (and errors) per model ref, GPU label and estimate inputs.
    _models: dict[str, LoadedModel | PlannerError] = field(default_factory=dict, init=False, repr=False)
    _estimates: dict[tuple[Any, ...], Estimate | PlannerError] = field(default_factory=dict, init=False, repr=False)
    _gpus: dict[str, Gpu | PlannerError] = field(default_factory=dict, init=False, repr=False)

    def load_model(self, ref: str) -> LoadedModel:
        """Model loads are cached per reference: 200 manifests of one model load it once."""
        if ref not in self._models:
            try:
                hit = None if (not self.offline or os.path.exists(ref)) else model_catalog.lookup(ref)
                # Offline, a catalog hit is the answer load_model would fall back to; going there first
                # keeps the Hub client (and its imports) out of a CI run over known models.
                self._models[ref] = (loader.from_catalog(hit, ref) if hit is not None
                                      else loader.load_model(ref, offline=self.offline))
            except PlannerError as err:
                self._models[ref] = err
        answer = self._models[ref]
        if isinstance(answer, PlannerError):
            raise answer
        return answer

    def resolve_gpu(self, label: str) -> Gpu:
        if label not in self._gpus:
            try:
                self._gpus[label] = gpu_catalog.resolve(label)
            except PlannerError as err:
                self._gpus[label] = err
        hit = self._gpus[label]
        if isinstance(hit, PlannerError):
            raise hit
        return hit

    def estimate(self, ref: str, gpu: Gpu, args: Any, version: str, env: dict[str, str]) -> Estimate:
        # The engine (VLLM_USE_V1 on 0.8-0.10) is chosen by the release rules from the VLLM_* words.
        key = (ref, gpu.id, args.with_(passthrough=()), version, resolve.vllm_env(env))
        if key not in self._estimates:
            try:
                inputs = resolve.make_inputs(self.load_model(ref), gpu, args.with_(passthrough=()),
                                             vllm_version=version, env=env)
                self._estimates[key] = resolve.estimate_from(inputs)
            except PlannerError as err:
                self._estimates[key] = err
        hit = self._estimates[key]
        if isinstance(hit, PlannerError):
            raise hit
        return hit


class _Out:
    """Collects findings for one invocation, honouring `# planner: ignore=...`."""

    def __init__(self, inv: Invocation) -> None:
        self.inv = inv
        self.items: list[Finding] = list(inv.notes)

    def add(self, line: int | None, rule: str, severity: Severity, message: str, hint: str | None = None) -> None:
        if rule in self.inv.ignore:
            return
        self.items.append(Finding(self.inv.file, line or self.inv.line, rule, severity, message, hint,
                                  self.inv.where))


def check_invocation(inv: Invocation, settings: Settings) -> list[Finding]:
    out = _Out(inv)
    version, version_known = _version(inv, settings, out)
    cmd = _parse(inv, version, out)
    _image_rules(inv, out)
    _readiness_rule(inv, out)
    if cmd is None:
        return out.items
    _flag_rules(inv, cmd, version, version_known, out)
    args = cmd.args
    flag_line = _flag_lines(inv, cmd)
    if "config" in flag_line:
        out.add(flag_line["config"], "config-file-not-checked", "warning",
                "flags read from the --config file are not checked (the file is inside the container)",
                "put the flags on the command line, or check the config with a planner.yaml")
    u = args.gpu_memory_utilization
    if u is not None and u > HIGH_UTILIZATION:
        out.add(flag_line.get("gpu_memory_utilization"), "gpu-utilization-high", "warning",
                f"--gpu-memory-utilization {u} leaves less than {1 - HIGH_UTILIZATION:.0%} of the GPU for the "
                "CUDA context, NCCL and anything else on it", "use 0.95 or less (vLLM's default is 0.9/0.92)")
    _gpu_count_rule(inv, cmd, flag_line, out)
    gpu = _gpu(inv, settings, out)
    model = inv.model_override or cmd.model
    if model is None:
        out.add(inv.line, "model-missing", "warning", "the vLLM command names no model; memory rules skipped",
                "give the model as `vllm serve MODEL` or add `# planner: model=ORG/NAME`")
        return out.items
    if is_dynamic(model):
        out.add(inv.line_of_word(cmd.model_index), "model-unknown", "warning",
                f"the model {model!r} is only known at run time; memory rules skipped",
                "add `# planner: model=ORG/NAME` (or a planner.io/model annotation)")
        return out.items
    try:
        settings.load_model(model)
    except PlannerError as err:
        out.add(inv.line_of_word(cmd.model_index), "model-unknown", "warning",
                f"cannot size {model}: {err.message}; memory rules skipped",
                err.hint or "use a catalog alias or repo id (`planner models`), or `# planner: model=...`")
        return out.items
    if gpu is None:
        return out.items
    _memory_rules(inv, cmd, model, gpu, version, version_known, flag_line, settings, out)
    return out.items


def _version(inv: Invocation, settings: Settings, out: _Out) -> tuple[str, bool]:
    raw = inv.vllm_version or settings.vllm_version
    if raw is not None:
        try:
            parse_version(raw)
            return raw, True
        except PlannerError:
            out.add(inv.line, "vllm-version-invalid", "warning", f"vLLM version {raw!r} is not a release number")
    return DEFAULT_VERSION, False


def _image_rules(inv: Invocation, out: _Out) -> None:
    if inv.image is None:
        return
    _version, tag = image_version(inv.image)
    if is_vllm_image(inv.image) and "@" not in inv.image and (not tag or tag in ("latest", "nightly")):
        what = f"tag {tag!r}" if tag else "no tag (latest)"
        out.add(inv.image_line, "image-latest", "warning",
                f"image {inv.image} has {what}: the vLLM version changes under you and cannot be checked",
                f"pin a release, e.g. vllm/vllm-openai:v{LATEST}")


# What a fix asks to be copied into the file as it is: the human report never breaks these inside
# (planner/gate/report.py), a line of their own when they do not fit after the prose.
SNIPPETS = ('test: ["CMD", "curl", "-f", "http://localhost:8000/health"]',
            "HEALTHCHECK CMD curl -f http://localhost:8000/health || exit 1")
_PROBE_FIX = {
    "kubernetes": "add a readinessProbe with httpGet path /health on the server port",
    "compose": f"add a healthcheck, e.g. {SNIPPETS[0]}",
    "dockerfile": f"add {SNIPPETS[1]}",
}


def _readiness_rule(inv: Invocation, out: _Out) -> None:
    if inv.readiness == "missing":
        out.add(inv.readiness_line, "readiness-probe", "warning",
                "no readiness probe: traffic arrives while vLLM is still loading the model (minutes)",
                _PROBE_FIX.get(inv.source, _PROBE_FIX["kubernetes"]))
    elif inv.readiness == "other":
        out.add(inv.readiness_line, "readiness-probe", "warning",
                "the readiness probe does not call /health, the endpoint vLLM serves once the engine is up",
                "use httpGet path /health")


def _parse(inv: Invocation, version: str, out: _Out) -> ServeCommand | None:
    words, lines = _static_words(inv, out)
    inv.words, inv.word_lines = words, lines
    try:
        inv.command = parse_serve_argv(words, version=version)
        return inv.command
    except PlannerError as err:
        inv.parse_error = err.message
        line = inv.line
        m = re.match(r"\s*(-{1,2}[A-Za-z0-9_.-]+)", err.message)
        if m:
            for i, w in enumerate(words):
                if w.split("=", 1)[0] == m.group(1) or (w.startswith("-") and m.group(1).startswith(w)):
                    line = lines[i]
                    break
        rule = "not-vllm" if err.code == "not_vllm" else "flag-value"
        out.add(line, rule, "error", f"vLLM {version} would refuse this command line: {err.message}", err.hint)
        return None


# Multi-node options whose value is each node's own, set at run time by design (the head's address, this
# node's rank, e.g. LeaderWorkerSet's $(LWS_LEADER_ADDRESS) / $(LWS_WORKER_INDEX)): dropped without a warning,
# they do not change what one rank holds.
_PER_NODE_FLAGS = frozenset({"--master-addr", "--node-rank", "-r", "--data-parallel-address", "-dpa",
                             "--data-parallel-start-rank", "-dpr"})


def _static_words(inv: Invocation, out: _Out) -> tuple[list[str], list[int]]:
    """Drop flags whose values are only known at run time ($VAR, $(cmd)): they cannot be checked."""
    words, lines = [], []
    i = 0
    src, src_lines = inv.words, inv.word_lines
    while i < len(src):
        w = src[i]
        line = src_lines[i] if i < len(src_lines) else inv.line
        if w.startswith("-") and "=" in w and is_dynamic(w.split("=", 1)[1]):
            out.add(line, "value-dynamic", "warning",
                    f"{w.split('=', 1)[0]} is set at run time ({w.split('=', 1)[1]}); not checked")
            i += 1
            continue
        if w.startswith("-") and "=" not in w and i + 1 < len(src) and is_dynamic(src[i + 1]) \
                and not src[i + 1].startswith("-"):
            if w not in _PER_NODE_FLAGS:
                out.add(line, "value-dynamic", "warning", f"{w} is set at run time ({src[i + 1]}); not checked")
            i += 2
            continue
        if is_dynamic(w) and w in ('"$@"', "$@", "$*"):
            i += 1
            continue
        words.append(w)
        lines.append(line)
        i += 1
    return words, lines


def _flag_lines(inv: Invocation, cmd: ServeCommand) -> dict[str, int]:
    """vLLM dest -> line of its (last) occurrence."""
    out: dict[str, int] = {}
    for f in cmd.flags:
        if f.dest:
            out[f.dest] = inv.line_of_word(f.index)
    if cmd.model_index is not None:
        out["model"] = inv.line_of_word(cmd.model_index)
    return out


def _flag_rules(inv: Invocation, cmd: ServeCommand, version: str, version_known: bool, out: _Out) -> None:
    for f in cmd.flags:
        line = inv.line_of_word(f.index)
        if f.status == "ok":
            if f.deprecated and not (f.dest == "model" and cmd.launcher != "vllm serve"):
                out.add(line, "flag-deprecated", "warning", f"{f.written}: {f.deprecated}")
            continue
        # Without a known version only "never existed in any release" is certain.
        if not version_known and ever_existed(f.written):
            out.add(line, f"flag-{f.status.replace('_', '-')}", "warning",
                    f"{f.message} (the file does not say which vLLM runs it)",
                    (f"{f.hint}; " if f.hint else "") + "pin the image tag or add `# planner: vllm=X.Y.Z`")
            continue
        rule = {"unknown": "flag-unknown", "removed": "flag-removed", "renamed": "flag-renamed",
                "not_yet": "flag-not-yet"}[f.status]
        out.add(line, rule, "error", f.message + ("" if version_known else f" (checked as vLLM {version})"),
                f.hint)
    for word in cmd.unknown:
        if word.startswith("-"):
            continue                                   # reported above, with its line
        idx = inv.words.index(word) if word in inv.words else None
        if cmd.model is None and cmd.launcher.startswith("python"):
            out.add(inv.line_of_word(idx), "unexpected-argument", "error",
                    f"`{cmd.launcher}` of vLLM {version} takes no positional model: {word!r} is refused as an "
                    "unrecognized argument", f"use --model {word}")
        else:
            out.add(inv.line_of_word(idx), "unexpected-argument", "error",
                    f"unexpected argument {word!r}: vLLM's parser refuses it as an unrecognized argument")


def _gpu_count_rule(inv: Invocation, cmd: ServeCommand, flag_line: dict[str, int], out: _Out) -> None:
    a = cmd.args
    need = a.tensor_parallel_size * a.pipeline_parallel_size * a.data_parallel_size
    line = flag_line.get("tensor_parallel_size") or flag_line.get("pipeline_parallel_size") or inv.line
    if inv.gpu_count is None:
        if inv.source == "kubernetes":
            out.add(inv.line, "gpu-count-missing", "warning",
                    "the container requests no nvidia.com/gpu: it gets no GPU unless the runtime gives all",
                    f"set resources.limits nvidia.com/gpu: {need}")
        return
    have = inv.gpu_count * inv.replicas_per_group
    what = (f"TP {a.tensor_parallel_size} x PP {a.pipeline_parallel_size}"
            + (f" x DP {a.data_parallel_size}" if a.data_parallel_size > 1 else ""))
    group = f" ({inv.gpu_count} per pod x {inv.replicas_per_group} pods)" if inv.replicas_per_group > 1 else ""
    if need > have:
        out.add(line, "parallel-gpu-mismatch", "error",
                f"{what} needs {need} GPUs but {have} are requested{group}: vLLM fails at startup",
                f"request {need} GPUs or lower the parallel sizes")
    elif need < have:
        out.add(line, "parallel-gpu-mismatch", "warning",
                f"{what} uses {need} of the {have} GPUs requested{group}; the rest sit idle",
                f"set --tensor-parallel-size {have // a.pipeline_parallel_size // a.data_parallel_size}"
                if have % (a.pipeline_parallel_size * a.data_parallel_size) == 0 else f"request {need} GPUs")


def _gpu(inv: Invocation, settings: Settings, out: _Out) -> Gpu | None:
    labels = list(inv.gpu_choices) or ([inv.gpu_label] if inv.gpu_label else [])
    source = "the file"
    if not labels and settings.gpu:
        labels, source = [settings.gpu], "--gpu"
    if not labels:
        out.add(inv.line, "gpu-unknown", "warning",
                "the file does not say which GPU runs this; memory rules skipped",
                "add a nodeSelector on nvidia.com/gpu.product, `# planner: gpu=H100-SXM-80GB`, or pass --gpu")
        return None
    gpus = []
    for label in labels:
        try:
            gpus.append(settings.resolve_gpu(label))
        except PlannerError as err:
            out.add(inv.gpu_label_line, "gpu-unknown", "warning",
                    f"GPU {label!r} ({source}) is not in the catalog: {err.message}; memory rules skipped",
                    err.hint)
            return None
        if gpu_catalog.mig_profile(label):
            out.add(inv.gpu_label_line, "gpu-mig", "warning",
                    f"{label} is a MIG slice ({gpu_catalog.mig_profile(label)}): it has a fraction of the "
                    "parent GPU's memory; memory rules skipped", "check with `planner estimate --gpu-memory-gib`")
            return None
    # Several GPU models allowed by an affinity rule: the smallest decides whether it starts everywhere.
    return min(gpus, key=lambda g: g.total_gib)


def _memory_rules(inv: Invocation, cmd: ServeCommand, model: str, gpu: Gpu, version: str, version_known: bool,
                  flag_line: dict[str, int], settings: Settings, out: _Out) -> None:
    args = cmd.args
    env = {**inv.env, **cmd.env}
    try:
        est = settings.estimate(model, gpu, args, version, env)
    except PlannerError as err:
        out.add(flag_line.get("model", inv.line), "estimate-failed", "warning",
                f"cannot estimate {model} on {gpu.id}: {err.message}", err.hint)
        return
    inv.memory = {"gpu": gpu.id, "vllm_version": version, "version_assumed": not version_known,
                  "fits": est.fits, "max_model_len": est.resolved.max_model_len,
                  "kv_cache_tokens": est.kv_cache.tokens, "max_concurrency": round(est.kv_cache.max_concurrency, 2),
                  "kv_cache_gib": round(est.per_gpu.kv_cache_gib, 2)}
    on = f"{gpu.id}" + ("" if version_known else f", assuming vLLM {version}")
    def line_for(code: str) -> int:
        return flag_line.get(_ERROR_FLAG.get(code, "model")) or flag_line.get("model") or inv.line

    for e in est.errors:
        out.add(line_for(e.code), e.code.replace("_", "-"), "error",
                f"would fail at startup on {on}: {e.message}")
    for w in est.warnings:
        if w.code == "high_utilization" and args.gpu_memory_utilization and \
                args.gpu_memory_utilization > HIGH_UTILIZATION:
            continue                                   # already reported by gpu-utilization-high
        out.add(line_for(w.code), w.code.replace("_", "-"), "warning",
                f"on {on}: {w.message}")
    resolved_len = est.resolved.max_model_len
    if args.max_model_len is None and resolved_len is not None and resolved_len > LONG_CONTEXT:
        out.add(flag_line.get("model", inv.line), "max-model-len-missing", "warning",
                f"no --max-model-len: {model} defaults to {resolved_len:,} tokens, so vLLM sizes for requests that "
                "long (startup fails if one does not fit, and fewer requests run at once)",
                "set --max-model-len to the longest request you serve")
    if inv.requirements is not None:
        _requirement_rules(inv, cmd, model, gpu, version, est, env, flag_line, settings, out)


def _requirement_rules(inv: Invocation, cmd: ServeCommand, model: str, gpu: Gpu, version: str, est: Estimate,
                       env: dict[str, str], flag_line: dict[str, int], settings: Settings, out: _Out) -> None:
    req = inv.requirements
    assert req is not None
    resolved_len = est.resolved.max_model_len or 0
    ctx = req.min_context or resolved_len
    if req.min_context is not None and resolved_len < req.min_context:
        out.add(flag_line.get("max_model_len", inv.line), "requirement-context", "error",
                f"max_model_len is {resolved_len:,} but the requirements ask for {req.min_context:,} tokens",
                f"set --max-model-len {req.min_context}")
        return
    if (req.min_concurrency is None and req.min_kv_headroom is None) or not est.fits:
        return                                 # a server that does not start has no capacity to compare
    # Concurrency at the required context, as vLLM computes it for that max_model_len.
    at_ctx = est
    if ctx != resolved_len:
        try:
            at_ctx = settings.estimate(model, gpu, cmd.args.with_(max_model_len=ctx), version, env)
        except PlannerError as err:
            out.add(inv.line, "estimate-failed", "warning", f"cannot estimate at {ctx:,} tokens: {err.message}")
            return
    conc = at_ctx.kv_cache.max_concurrency
    if req.min_concurrency is not None and conc < req.min_concurrency:
        out.add(req.lines.get("min_concurrency"), "requirement-concurrency", "error",
                f"the KV cache holds {conc:.2f} requests of {ctx:,} tokens at once on {gpu.id}; "
                f"the requirements ask for {req.min_concurrency:g}",
                "use more GPUs (tensor parallel), an fp8 KV cache, or a larger GPU")
    if req.min_kv_headroom is not None:
        headroom = conc / (req.min_concurrency or 1) - 1
        if headroom < req.min_kv_headroom:
            out.add(req.lines.get("min_kv_headroom"), "requirement-headroom", "error",
                    f"KV headroom is {headroom:.0%} ({conc:.2f} requests of {ctx:,} tokens against "
                    f"{req.min_concurrency or 1:g} required); the requirements ask for {req.min_kv_headroom:.0%}")
