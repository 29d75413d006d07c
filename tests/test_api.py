"""The Python API (`from planner import estimate, plan, perf, cost, check`) answers what the CLI prints."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import planner
from planner.contract import CheckDoc, CostDoc, EstimateDoc, PerfDoc, PlanDoc
from planner.errors import PlannerError

ROOT = Path(__file__).resolve().parents[1]


def _cli(*argv: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "planner", *argv], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=120, check=False)
    return json.loads(proc.stdout)


def test_the_names_are_functions_even_after_the_whole_planner_is_imported() -> None:
    import planner.cli
    from planner import check, cost, estimate, perf, plan

    for fn in (estimate, plan, perf, cost, check):
        assert callable(fn) and fn.__module__ == "planner.api"
    assert callable(planner.estimate) and callable(planner.plan)


def test_estimate_is_the_cli_answer() -> None:
    doc = planner.estimate("qwen3-8b", gpu="H100", flags=["--max-model-len", "32768"], offline=True)
    assert isinstance(doc, EstimateDoc)
    cli = _cli("estimate", "qwen3-8b", "--gpu", "H100", "--max-model-len", "32768", "--offline", "--json")
    assert doc.model_dump(exclude_none=True) == EstimateDoc.model_validate(cli).model_dump(exclude_none=True)


def test_a_pasted_command_and_flags_agree() -> None:
    a = planner.estimate("qwen3-8b", gpu="H100", flags=["--max-model-len", "8192"], offline=True)
    b = planner.estimate(gpu="H100", command="vllm serve Qwen/Qwen3-8B --max-model-len 8192", offline=True)
    assert a.kv_cache is not None and b.kv_cache is not None
    assert a.kv_cache.tokens == b.kv_cache.tokens


def test_a_refusal_is_an_answer_not_an_exception() -> None:
    doc = planner.estimate("llama-3.1-70b", gpu="L4", offline=True)
    assert doc.fits is False and doc.errors


def test_bad_input_raises_the_cli_error() -> None:
    with pytest.raises(PlannerError) as info:
        planner.estimate("qwen3-8b", gpu="H10")
    assert info.value.code == "gpu_not_found" and "H100" in (info.value.hint or "")
    with pytest.raises(PlannerError):
        planner.estimate()
    with pytest.raises(PlannerError):
        planner.check()


def test_plan_perf_cost_check_return_contract_models() -> None:
    p = planner.plan("llama-3.1-70b", gpu="H100", quant="awq", offline=True)
    assert isinstance(p, PlanDoc) and p.commands["vllm"].startswith("vllm serve ")
    b = planner.perf("qwen3-8b", gpu="H100", num_prompts=50, max_concurrency=8, offline=True)
    assert isinstance(b, PerfDoc) and b.benchmark is not None and b.benchmark.completed == 50
    c = planner.cost("qwen3-8b", gpu="H100", requests_per_month=100000, input_len=700, output_len=100,
                     api_price=(2.5, 10.0), gpu_price=1.0, fixed_monthly=7, flags=["--max-model-len", "4096"],
                     offline=True)
    assert isinstance(c, CostDoc) and c.cost is not None
    assert c.cost.self_hosted_monthly_usd == 727.0 and c.cost.break_even_requests_per_month == 264364
    k = planner.check(str(ROOT / "tests/data/check/broken"))
    assert isinstance(k, CheckDoc) and k.exit_code == 1 and k.summary.errors > 0


def test_the_documented_example_runs(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "python-api.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks
    script = tmp_path / "example.py"
    script.write_text("\n".join(blocks))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("True ") and lines[-1].startswith("gpu_not_found ")
