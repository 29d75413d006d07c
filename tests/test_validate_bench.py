"""planner.validate.bench: the built-in benchmark client against a tiny local server that speaks the OpenAI
completions streaming API, the `vllm bench serve` command it would run instead, and the side-by-side
rendering of measured and predicted figures. Nothing here launches vLLM; no assertion is on timing."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from planner.commands.validate import bench_lines
from planner.performance.types import Workload
from planner.validate.bench import (
    KEYS,
    prompt_ids,
    render_rows,
    run_builtin,
    side_by_side,
    stream_completion,
    vllm_bench_argv,
)


class _Completions(BaseHTTPRequestHandler):
    """POST /v1/completions with stream=true: one SSE chunk per token, a usage chunk, [DONE]."""

    protocol_version = "HTTP/1.0"
    seen: ClassVar[list[dict[str, object]]] = []

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(body)
        if self.path != "/v1/completions" or body.get("model") != "tiny":
            self.send_response(404)
            self.end_headers()
            self.wfile.write(b'{"error": "no such model"}')
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        n = int(body["max_tokens"])
        for k in range(n):
            chunk = {"choices": [{"index": 0, "text": f" t{k}"}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        usage = {"choices": [], "usage": {"prompt_tokens": len(body["prompt"]), "completion_tokens": n}}
        self.wfile.write(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())


@pytest.fixture
def server() -> Iterator[str]:
    _Completions.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Completions)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_one_streamed_completion_is_timed_per_chunk(server: str) -> None:
    ttft, itl, latency, tokens, err = stream_completion(server, "tiny", [5, 6, 7], 4)
    assert err == "" and tokens == 4 and len(itl) == 3
    assert ttft is not None and latency is not None and latency >= ttft >= 0
    sent = _Completions.seen[-1]
    assert sent["ignore_eos"] is True and sent["stream"] is True and sent["prompt"] == [5, 6, 7]


def test_a_failed_request_says_why(server: str) -> None:
    ttft, _, _, _, err = stream_completion(server, "other", [1], 2)
    assert ttft is None and err.startswith("HTTP 404")


def test_the_builtin_client_sends_the_simulated_requests_and_reports_the_benchmark_keys(server: str) -> None:
    w = Workload(random_input_len=8, random_output_len=5, random_range_ratio=0.5, num_prompts=12,
                 max_concurrency=3, seed=1)
    run = run_builtin(server, "tiny", w, vocab_size=1000)
    m = run.measured
    assert run.tool == "built-in client" and run.failed == 0
    assert m["completed"] == 12 and set(KEYS) <= set(m)
    from planner.performance.workload import generate

    want = generate(w)
    assert m["total_input_tokens"] == sum(r.input_len for r in want)
    assert m["total_output_tokens"] == sum(r.output_len for r in want)
    # every prompt is the simulated request's length, in token ids inside the vocabulary
    assert sorted(len(b["prompt"]) for b in _Completions.seen) == sorted(r.input_len for r in want)  # type: ignore[arg-type]
    assert all(0 <= t < 1000 for b in _Completions.seen for t in b["prompt"])  # type: ignore[attr-defined]
    assert m["max_concurrent_requests"] <= 3


def test_prompt_ids_stay_inside_small_vocabularies() -> None:
    import random

    ids = prompt_ids(50, 10, random.Random(0))
    assert len(ids) == 50 and all(0 <= i < 10 for i in ids)


def test_vllm_bench_serve_is_run_with_the_same_workload() -> None:
    w = Workload(random_input_len=256, random_output_len=32, num_prompts=50, max_concurrency=8, seed=3)
    argv = vllm_bench_argv("/venv/bin/python", "http://127.0.0.1:8000", "served", "org/model", w, "/tmp/r")
    text = " ".join(argv)
    assert argv[:5] == ["/venv/bin/python", "-m", "vllm.entrypoints.cli.main", "bench", "serve"]
    for flag in ("--dataset-name random", "--random-input-len 256", "--random-output-len 32", "--num-prompts 50",
                 "--request-rate inf", "--max-concurrency 8", "--seed 3", "--ignore-eos", "--save-result",
                 "--tokenizer org/model", "--model served"):
        assert flag in text


def test_side_by_side_lines_up_predicted_and_measured_in_the_benchmark_keys() -> None:
    predicted = {"completed": 100, "output_throughput": 1100.0, "median_ttft_ms": 90.0, "median_tpot_ms": 12.0}
    measured = {"completed": 100, "output_throughput": 1000.0, "median_ttft_ms": 100.0, "p99_itl_ms": 30.0}
    rows = side_by_side(predicted, measured)
    by = {r.key: r for r in rows}
    assert [r.key for r in rows] == [k for k in KEYS if k in by]       # the benchmark's order
    assert by["output_throughput"].error == pytest.approx(0.10)
    assert by["median_ttft_ms"].error == pytest.approx(-0.10)
    assert by["median_tpot_ms"].measured is None and by["median_tpot_ms"].error is None
    lines = render_rows(rows, with_prediction=True)
    assert lines[0].split() == ["key", "predicted", "measured", "error"]
    assert any(ln.split()[0] == "output_throughput" and ln.split()[-1] == "+10.0%" for ln in lines)
    only = render_rows(side_by_side(None, measured), with_prediction=False)
    assert only[0].split() == ["key", "measured"] and all(len(ln.split()) == 2 for ln in only)


def test_the_report_block_says_when_only_the_measurement_is_shown() -> None:
    bench = {"tool": "built-in client", "measured": {"completed": 10, "output_throughput": 50.0},
             "predicted": None, "failed": 1, "errors": ["HTTP 500: boom"],
             "note": "CPU backend: the performance model covers GPUs, so only the measurement is shown",
             "workload": {"dataset_name": "random", "random_input_len": 64, "random_output_len": 16,
                          "num_prompts": 10, "request_rate": "inf", "max_concurrency": 2}}
    lines = bench_lines(bench)
    assert lines[0].startswith("benchmark (built-in client): random 64 in / 16 out, 10 prompts")
    assert "max concurrency 2" in lines[0]
    assert lines[1].split() == ["key", "measured"]
    assert any("1 requests failed: HTTP 500: boom" in ln for ln in lines)
    assert lines[-1].startswith("note: CPU backend")


def test_workload_flags_without_bench_are_refused() -> None:
    logs = Path(__file__).parent / "data" / "logs"
    proc = subprocess.run([sys.executable, "-m", "planner", "validate", str(logs / "tiny-llama-gqa"),
                           "--num-prompts", "10"], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and "--num-prompts is a --bench workload flag; add --bench" in proc.stderr
