"""planner.cli_params: typer's coercion is built only for the parameters a command line gives a value.

What the user sees must be what typer's own eager coercion gives: every command's bad-input contract
cases, bad option values and plain runs are run twice, with the deferral and with it switched off.
"""

from __future__ import annotations

from typing import Any

import pytest
import typer
from test_error_contract import CASES
from typer.testing import CliRunner

from planner import cli_help
from planner.cli import COMMANDS, app_for
from planner.cli_params import DeferredCoercion, build_runtime_param

pytestmark = pytest.mark.skipif(build_runtime_param is None, reason="this typer coerces without adapters")

BAD_VALUES = [["plan", "llama-3.1-70b", "--gpu", "H100", "--num-gpus", "two"],
              ["plan", "llama-3.1-70b", "--gpu", "H100", "--num-gpus", "2.5"],
              ["plan", "llama-3.1-70b", "--gpu", "H100", "--gpu-memory-gib", "lots"],
              ["estimate", "qwen3-8b", "--gpu", "H100", "--gpu-memory-gib", "nan"],
              ["plan", "llama-3.1-70b", "--gpu", "H100", "--concurrency", ""],
              ["plan", "llama-3.1-70b", "--gpu", "H100", "--concurrency"]]
RUNS = [["plan", "llama-3.1-70b", "--gpu", "H100", "--quant", "awq"],
        ["plan", "llama-3.1-70b", "--gpu", "H100", "--quant", "awq", "--json"],
        ["plan", "qwen3-8b", "--gpu", "H100", "--num-gpus", "2", "--concurrency", "8", "--one-line"],
        ["estimate", "qwen3-8b", "--gpu", "H100", "--gpu-memory-gib", "40"],
        ["gpus", "--json"], ["models", "list"], ["flags", "block-size"]]
ARGVS = [a for a in [*BAD_VALUES, *RUNS, *([*c.args] for c in CASES.values())] if a and a[0] in COMMANDS]


def _run(argv: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(app_for(argv), argv, prog_name="planner", env={"HF_HUB_OFFLINE": "1"})
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("argv", ARGVS, ids=lambda a: " ".join(a)[:60])
def test_deferred_coercion_answers_as_typer(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    deferred = _run(argv)
    monkeypatch.setattr(cli_help, "defer_coercion", lambda params: None)
    assert deferred == _run(argv)


def _plan_params(argv: list[str]) -> dict[str, Any]:
    group = typer.main.get_command(app_for(argv))
    command = group.commands["plan"]  # type: ignore[attr-defined]
    assert group.main(args=argv, prog_name="planner", standalone_mode=False) == 0
    return {p.name: p._runtime_param for p in command.params}


def test_only_the_given_options_build_an_adapter(capsys: pytest.CaptureFixture[str]) -> None:
    params = _plan_params(["plan", "llama-3.1-70b", "--gpu", "H100", "--quant", "awq"])
    assert "vllm serve" in capsys.readouterr().out
    built = sorted(n for n, rp in params.items() if rp is not None and not isinstance(rp, DeferredCoercion))
    assert built == ["gpu", "objective", "quant"]                 # --objective has a default
    assert sum(isinstance(rp, DeferredCoercion) for rp in params.values()) >= 20
    assert isinstance(params["num_gpus"], DeferredCoercion) and isinstance(params["slo_ttft_ms"], DeferredCoercion)
