"""planner.cli_params: typer's coercion is built only for the values a command line gives that typer converts.

What the user sees must be what typer's own eager coercion gives: every command's bad-input contract
cases, bad option values and plain runs are run twice, with the deferral and with it switched off.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from test_error_contract import CASES
from typer.testing import CliRunner

from planner import cli_params
from planner.cli import COMMANDS, app_for
from planner.cli_params import DeferredCoercion, build_runtime_param

pytestmark = pytest.mark.skipif(build_runtime_param is None, reason="this typer coerces without adapters")

BAD_VALUES = [["plan", "llama-3.1-70b", "--gpu", "H100", "--num-gpus", "two"],
              ["plan", "llama-3.1-70b", "--gpu", "H100", "--num-gpus", "2.5"],
              ["plan", "llama-3.1-70b", "--gpu", "H100", "--gpu-memory-gib", "lots"],
              ["estimate", "qwen3-8b", "--gpu", "H100", "--gpu-memory-gib", "nan"],
              ["plan", "llama-3.1-70b", "--gpu", "H100", "--concurrency", ""],
              ["plan", "llama-3.1-70b", "--gpu", "H100", "--concurrency"],
              ["plan", "llama-3.1-70b", "--gpu", ""],
              ["plan", "llama-3.1-70b", "--gpu", "H100", "--quant", "awq", "--objective", "speed"],
              ["plan", "llama-3.1-70b", "--gpu", "H100", "--served-model-name", "a", "--served-model-name", "b"]]
RUNS = [["plan", "llama-3.1-70b", "--gpu", "H100", "--quant", "awq"],
        ["plan", "llama-3.1-70b", "--gpu", "H100", "--quant", "awq", "--json"],
        ["plan", "qwen3-8b", "--gpu", "H100", "--num-gpus", "2", "--concurrency", "8", "--one-line"],
        ["estimate", "qwen3-8b", "--gpu", "H100", "--gpu-memory-gib", "40"],
        ["plan", "llama-3.1-70b", "--gpu", "H100", "--quant", "awq", "--objective", "cost"],
        ["gpus", "--json"], ["models", "list"], ["flags", "block-size"], ["--help"], ["plan", "--help"]]
ARGVS = [a for a in [*BAD_VALUES, *RUNS, *([*c.args] for c in CASES.values())] if a and a[0] in COMMANDS]


def _run(argv: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(app_for(argv), argv, prog_name="planner", env={"HF_HUB_OFFLINE": "1"})
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("argv", ARGVS, ids=lambda a: " ".join(a)[:60])
def test_deferred_coercion_answers_as_typer(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    deferred = _run(argv)
    monkeypatch.setattr(cli_params, "defer_coercion", lambda params: None)
    assert deferred == _run(argv)


def _plan_params(argv: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The runtime parameter of each of the root group's and of `plan`'s parameters after running `argv`."""
    group = typer.main.get_command(app_for(argv))
    command = group.commands["plan"]  # type: ignore[attr-defined]
    assert group.main(args=argv, prog_name="planner", standalone_mode=False) == 0
    def runtime(cmd: Any) -> dict[str, Any]:
        # click keeps the help option it built for the run in `_help_option`
        return {p.name: p._runtime_param for p in [*cmd.params, cmd._help_option] if hasattr(p, "type_descriptor")}
    return runtime(group), runtime(command)


def _built(params: dict[str, Any]) -> list[str]:
    return sorted(n for n, rp in params.items() if rp is not None and not isinstance(rp, DeferredCoercion))


def test_a_catalog_plan_builds_no_adapter(capsys: pytest.CaptureFixture[str]) -> None:
    root, plan = _plan_params(["plan", "llama-3.1-70b", "--gpu", "H100", "--quant", "awq"])
    assert "vllm serve" in capsys.readouterr().out
    # The values are str (the model, --gpu, --quant, --objective's default): typer would hand each back as is.
    assert _built(root) == [] and _built(plan) == []
    assert {"help", "install_completion", "show_completion"} <= set(root)          # typer's own options
    assert isinstance(root["help"], DeferredCoercion) and isinstance(plan["help"], DeferredCoercion)
    assert sum(isinstance(rp, DeferredCoercion) for rp in plan.values()) >= 20


def test_only_values_typer_converts_build_an_adapter(capsys: pytest.CaptureFixture[str]) -> None:
    _, plan = _plan_params(["plan", "llama-3.1-70b", "--gpu", "H100", "--num-gpus", "2", "--gpu-memory-gib", "40"])
    assert "vllm serve" in capsys.readouterr().out
    assert _built(plan) == ["gpu_memory_gib", "num_gpus"]
    assert isinstance(plan["slo_ttft_ms"], DeferredCoercion) and isinstance(plan["gpu"], DeferredCoercion)


def test_a_catalog_plan_imports_no_pydantic(tmp_path: Path) -> None:
    """Without an adapter to build, a catalog plan's process never imports pydantic (typer's adapters do)."""
    probe = ("import json, sys\nfrom planner.cli import app\n"
             "try:\n    app(sys.argv[1:], prog_name='planner')\nexcept SystemExit as exc:\n    code = exc.code\n"
             "print(json.dumps([code, sorted(m for m in sys.modules if m.split('.')[0] in "
             "('pydantic', 'pydantic_core', 'typer') and m.split('.')[-1] in ('pydantic', 'pydantic_core', "
             "'_adapters'))]))")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", probe, "plan", "llama-3.1-70b", "--gpu", "H100", "--quant", "awq"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)
    code, loaded = json.loads(proc.stdout.splitlines()[-1])
    assert (code, loaded) == (0, [])
