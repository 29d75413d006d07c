"""A `vllm bench serve` load against the vLLM that `planner validate` launched, in the benchmark's keys.

Two ways to measure, the first that the environment allows:

* `vllm bench serve` itself, where the vLLM environment has it (vllm.benchmarks.serve importable) and the
  dataset is random: its `--save-result` JSON is read back as it is.
* a small built-in client (stdlib only) otherwise: it sends the same requests the prediction simulates
  (planner.performance.workload: lengths and arrival times for the seed), prompts as token ids so that a prompt
  is exactly its length without a tokenizer, `ignore_eos` so that every request generates its length,
  streamed from /v1/completions; each chunk is timed the way vllm/benchmarks/lib/endpoint_request_func.py
  times it (TTFT at the first chunk, one ITL per later chunk, latency at the last), and the statistics
  are planner.performance.metrics' (vllm/benchmarks/serve.py calculate_metrics). It keeps at most
  MAX_IN_FLIGHT requests in flight (a thread each).

`side_by_side(predicted, measured)` lines both up in the keys of `vllm bench serve --save-result`.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import random
import subprocess
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.performance.metrics import summarize
from planner.performance.types import Request, RequestTiming, SimResult, Workload
from planner.performance.workload import generate

MAX_IN_FLIGHT = 256
# The keys shown side by side, in `vllm bench serve`'s order (all of them are in --save-result's JSON).
KEYS = ("completed", "duration", "request_throughput", "output_throughput", "total_token_throughput",
        "mean_ttft_ms", "median_ttft_ms", "p99_ttft_ms", "mean_tpot_ms", "median_tpot_ms", "p99_tpot_ms",
        "mean_itl_ms", "median_itl_ms", "p99_itl_ms", "mean_e2el_ms", "median_e2el_ms", "p99_e2el_ms")


@dataclass
class BenchRun:
    tool: str                                   # "vllm bench serve" | "built-in client"
    measured: dict[str, Any]                    # the benchmark's keys
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    command: list[str] | None = None


def prompt_ids(n: int, vocab: int, rng: random.Random) -> list[int]:
    """n token ids away from both ends of the vocabulary (where the special tokens usually are)."""
    lo, hi = min(100, vocab // 4), max(min(100, vocab // 4) + 1, vocab - 100)
    return [rng.randrange(lo, hi) for _ in range(n)]


def stream_completion(base_url: str, model: str, prompt: list[int] | str, max_tokens: int, *,
                      timeout: float = 600.0) -> tuple[float | None, list[float], float | None, int | None, str]:
    """POST a streamed completion; (ttft seconds, ITLs, latency seconds, completion tokens, error).
    Times are measured as vLLM's benchmark client does: from just before the request is sent."""
    u = urllib.parse.urlsplit(base_url)
    conn_cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
    body = json.dumps({"model": model, "prompt": prompt, "max_tokens": max_tokens, "min_tokens": max_tokens,
                       "ignore_eos": True, "temperature": 0.0, "stream": True,
                       "stream_options": {"include_usage": True}}).encode()
    path = (u.path.rstrip("/") or "") + "/v1/completions"
    ttft: float | None = None
    itl: list[float] = []
    tokens: int | None = None
    conn = conn_cls(u.hostname or "127.0.0.1", u.port, timeout=timeout)
    try:
        st = time.perf_counter()
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        if resp.status != 200:
            return None, [], None, None, f"HTTP {resp.status}: {resp.read(300).decode('utf-8', 'replace')}"
        last = st
        while True:
            line = resp.readline()
            if not line:
                break
            text = line.decode("utf-8", "replace").strip()
            if not text.startswith("data:"):
                continue
            payload = text[5:].strip()
            if payload == "[DONE]":
                break
            try:
                data = json.loads(payload)
            except ValueError:
                continue
            if data.get("choices"):
                now = time.perf_counter()
                if ttft is None:
                    ttft = now - st
                else:
                    itl.append(now - last)
                last = now
            usage = data.get("usage")
            if isinstance(usage, dict) and usage.get("completion_tokens") is not None:
                tokens = int(usage["completion_tokens"])
        if ttft is None:
            return None, [], None, tokens, "no token streamed"
        return ttft, itl, last - st, tokens, ""
    except (OSError, http.client.HTTPException) as e:
        return None, [], None, None, f"{type(e).__name__}: {e}"
    finally:
        conn.close()


def run_builtin(base_url: str, model: str, workload: Workload, *, vocab_size: int,
                timeout: float = 600.0) -> BenchRun:
    """The workload's requests against base_url, timed per chunk; statistics as `vllm bench serve`'s."""
    requests = generate(workload)
    rng = random.Random(workload.seed)
    prompts = [prompt_ids(r.input_len, vocab_size, rng) for r in requests]
    cap = min(len(requests), workload.max_concurrency or len(requests), MAX_IN_FLIGHT)
    slots = threading.Semaphore(cap)
    lock = threading.Lock()
    timings: list[RequestTiming] = []
    errors: list[str] = []
    in_flight = 0
    peak = 0
    t0 = time.perf_counter()

    def one(r: Request) -> None:
        nonlocal in_flight, peak
        try:
            sent = time.perf_counter() - t0
            ttft, itl, latency, tokens, err = stream_completion(base_url, model, prompts[r.id], r.output_len,
                                                                timeout=timeout)
            with lock:
                if err or ttft is None or latency is None:
                    errors.append(err or "no answer")
                else:
                    done = Request(r.id, r.arrival_s, r.input_len, tokens if tokens else r.output_len)
                    timings.append(RequestTiming(done, sent, sent + ttft, sent + latency, tuple(itl)))
        finally:
            with lock:
                in_flight -= 1
            slots.release()

    with ThreadPoolExecutor(max_workers=cap) as pool:
        for r in requests:
            wait = r.arrival_s - (time.perf_counter() - t0)
            if wait > 0:
                time.sleep(wait)
            slots.acquire()
            with lock:
                in_flight += 1
                peak = max(peak, in_flight)
            pool.submit(one, r)
    timings.sort(key=lambda t: t.request.id)
    if timings:
        start = min(t.sent_s for t in timings)
        duration = max(t.finish_s for t in timings) - start
    else:
        duration = 0.0
    measured = summarize(SimResult(tuple(timings), duration_s=duration, max_concurrent_requests=peak)).to_json()
    return BenchRun("built-in client", measured, failed=len(errors), errors=sorted(set(errors))[:5])


def has_vllm_bench(python: str | None) -> bool:
    """Whether that Python's vLLM has `vllm bench serve` (vllm.benchmarks.serve, 0.9 and later)."""
    if not python:
        return False
    try:
        return subprocess.run([python, "-c", "import vllm.benchmarks.serve"], capture_output=True,
                              timeout=120).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def vllm_bench_argv(python: str, base_url: str, model: str, tokenizer: str, workload: Workload,
                    result_dir: str) -> list[str]:
    w = workload
    argv = [python, "-m", "vllm.entrypoints.cli.main", "bench", "serve", "--backend", "vllm",
            "--base-url", base_url, "--model", model, "--tokenizer", tokenizer,
            "--dataset-name", "random", "--random-input-len", str(w.random_input_len),
            "--random-output-len", str(w.random_output_len), "--random-range-ratio", str(w.random_range_ratio),
            "--num-prompts", str(w.num_prompts),
            "--request-rate", "inf" if math.isinf(w.request_rate) else str(w.request_rate),
            "--burstiness", str(w.burstiness), "--seed", str(w.seed), "--ignore-eos",
            "--save-result", "--result-dir", result_dir, "--result-filename", "bench.json"]
    if w.max_concurrency:
        argv += ["--max-concurrency", str(w.max_concurrency)]
    return argv


def run_vllm_bench(python: str, base_url: str, model: str, tokenizer: str, workload: Workload, *,
                   env: dict[str, str] | None = None, timeout: float = 3600.0) -> BenchRun:
    with tempfile.TemporaryDirectory(prefix="planner-bench-") as tmp:
        argv = vllm_bench_argv(python, base_url, model, tokenizer, workload, tmp)
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                  env={**os.environ, **(env or {})})
        except (OSError, subprocess.SubprocessError) as e:
            return BenchRun("vllm bench serve", {}, errors=[f"{type(e).__name__}: {e}"], command=argv)
        path = Path(tmp) / "bench.json"
        if proc.returncode != 0 or not path.is_file():
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
            return BenchRun("vllm bench serve", {}, errors=[f"exit {proc.returncode}: " + " | ".join(tail)],
                            command=argv)
        data = json.loads(path.read_text())
    measured = {k: data[k] for k in (*KEYS, "total_input_tokens", "total_output_tokens", "max_concurrent_requests",
                                     "std_ttft_ms", "p95_ttft_ms", "std_tpot_ms", "p95_tpot_ms", "std_itl_ms",
                                     "p95_itl_ms", "std_e2el_ms", "p95_e2el_ms") if k in data}
    failed = int(data.get("num_prompts", workload.num_prompts)) - int(data.get("completed", 0) or 0)
    return BenchRun("vllm bench serve", measured, failed=max(0, failed), command=argv)


@dataclass(frozen=True)
class Row:
    key: str
    predicted: float | None
    measured: float | None

    @property
    def error(self) -> float | None:
        if self.predicted is None or not self.measured:
            return None
        return (self.predicted - self.measured) / self.measured


def side_by_side(predicted: dict[str, Any] | None, measured: dict[str, Any]) -> list[Row]:
    """One row per benchmark key that either side has, in `vllm bench serve`'s order."""
    rows = []
    for k in KEYS:
        p = predicted.get(k) if predicted else None
        m = measured.get(k)
        if p is None and m is None:
            continue
        rows.append(Row(k, None if p is None else float(p), None if m is None else float(m)))
    return rows


def render_rows(rows: list[Row], *, with_prediction: bool) -> list[str]:
    """Plain-text table of the rows (the command prints it; tests read it)."""
    def num(v: float | None) -> str:
        if v is None:
            return "-"
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.2f}"

    width = max([len(r.key) for r in rows] + [10])
    if with_prediction:
        lines = [f"{'key':{width}}  {'predicted':>12}  {'measured':>12}  {'error':>8}"]
        for r in rows:
            err = "-" if r.error is None else f"{100 * r.error:+.1f}%"
            lines.append(f"{r.key:{width}}  {num(r.predicted):>12}  {num(r.measured):>12}  {err:>8}")
    else:
        lines = [f"{'key':{width}}  {'measured':>12}"]
        lines += [f"{r.key:{width}}  {num(r.measured):>12}" for r in rows]
    return lines
