"""`planner plan` never falls over: random workloads, GPU lists, quantizations and vLLM flags end in a plan
(exit 0), nothing-fits (exit 1) or one clean error (exit 2), as JSON, within a second each."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_plan import app
from typer.testing import CliRunner

from planner.release.serve_args import parse_serve_argv

MODELS = ["qwen3-8b", "llama-3.1-70b", "gpt-oss-20b", "deepseek-r1", "gemma-3-27b", "phi-4", "mixtral-8x7b"]
GPUS = ["H100", "L4", "T4", "A100-SXM-80GB", "B200-180GB", "MI300X-192GB", "RTX-4090-24GB", "GH200-96GB"]
QUANTS = [None, "auto", "fp8", "awq", "gptq", "int8", "nvfp4", "fp8,awq", "none", "bogus"]
FLAGS = [[], ["-tp", "2"], ["-tp", "3"], ["--pipeline-parallel-size", "2"], ["--kv-cache-dtype", "fp8"],
         ["--max-num-seqs", "7"], ["--gpu-memory-utilization", "0.5"], ["--enforce-eager"],
         ["--max-model-len", "4096"], ["--cpu-offload-gb", "10"], ["--dtype", "float16"], ["--swap-space", "4"],
         ["--max-num-batched-tokens", "1"]]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    # Load the catalogs and the lazily imported modules once, so the per-example time is the plan's own.
    CliRunner().invoke(app, ["plan", "qwen3-8b", "--gpu", "H100,L4"])
    CliRunner().invoke(app, ["plan", "qwen3-8b", "--gpu", "H100", "--json"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(model=st.sampled_from(MODELS),
       gpus=st.lists(st.sampled_from(GPUS), min_size=1, max_size=3, unique=True),
       quant=st.sampled_from(QUANTS),
       objective=st.sampled_from(["gpus", "cost", "kv"]),
       context=st.one_of(st.none(), st.sampled_from(["1", "512", "8k", "32K", "1000000", "0"])),
       concurrency=st.one_of(st.none(), st.integers(min_value=-1, max_value=5000)),
       num_gpus=st.one_of(st.none(), st.integers(min_value=0, max_value=9)),
       flags=st.lists(st.sampled_from(FLAGS), max_size=3))
def test_random_requests_end_cleanly(model: str, gpus: list[str], quant: str | None, objective: str,
                                     context: str | None, concurrency: int | None, num_gpus: int | None,
                                     flags: list[list[str]]) -> None:
    argv = ["plan", model, "--gpu", ",".join(gpus), "--objective", objective, "--json"]
    for opt, value in (("--quant", quant), ("--context", context), ("--concurrency", concurrency),
                       ("--num-gpus", num_gpus)):
        if value is not None:
            argv += [opt, str(value)]
    for f in flags:
        argv += f
    # CPU time of this process: the bound is on the plan's own work, not on what else the machine runs.
    # The contract is "every input ends within a few seconds"; the tighter speed budgets live in bench/.
    t0 = time.process_time()
    r = CliRunner().invoke(app, argv)
    assert time.process_time() - t0 < 5.0, argv
    assert r.exit_code in (0, 1, 2), (argv, r.exit_code, r.output[-500:])
    doc = json.loads(r.stdout)
    if r.exit_code == 2:
        assert "error" in doc and "Traceback" not in r.stderr and "internal error" not in r.stderr, (argv, r.stderr)
        return
    assert doc["fits"] is (r.exit_code == 0)
    if r.exit_code == 0:
        parsed = parse_serve_argv(doc["commands"]["vllm"], version="0.33.0")
        assert all(f.status == "ok" for f in parsed.flags)
        assert parsed.args.tensor_parallel_size == doc["plans"][0]["tensor_parallel_size"]
