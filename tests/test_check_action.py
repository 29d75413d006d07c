"""action.yml and .pre-commit-hooks.yaml: well formed, and the action's script runs planner check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "check"


def _check_step() -> dict[str, object]:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    return next(s for s in action["runs"]["steps"] if s.get("name") == "planner check")


def _run_step(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the action's script as GitHub would (bash, inputs in the environment)."""
    step = _check_step()
    planner = Path(sys.executable).parent / "planner"
    if not planner.exists():
        pytest.skip("the planner console script is not installed in this environment")
    variables = {k: "" for k in step["env"]}  # type: ignore[union-attr]
    variables.update(env)
    return subprocess.run(["bash", "-e", "-c", str(step["run"])], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={**os.environ, "PATH": f"{planner.parent}:{os.environ['PATH']}",
                                             **variables})


def test_action_inputs_reach_the_script_through_env_only() -> None:
    step = _check_step()
    assert "${{" not in str(step["run"])           # no expression splicing into the shell script
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert set(action["inputs"]) == {"paths", "gpu", "vllm-version", "strict", "junit", "python-version"}


def test_action_script_passes_and_fails(tmp_path: Path) -> None:
    good = _run_step(tmp_path, PLANNER_PATHS=str(DATA / "good"), PLANNER_STRICT="false")
    assert good.returncode == 0, good.stderr
    bad = _run_step(tmp_path, PLANNER_PATHS=f"{DATA / 'broken' / 'start.sh'} {DATA / 'good' / 'serve.sh'}",
                    PLANNER_JUNIT="report.xml")
    assert bad.returncode == 1
    assert "::error file=" in bad.stdout and (tmp_path / "report.xml").read_text().startswith("<?xml")


def test_action_gpu_and_strict_inputs(tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\nvllm serve meta-llama/Llama-3.1-8B-Instruct --max-model-len 131072\n")
    assert _run_step(tmp_path, PLANNER_PATHS=str(script)).returncode == 0           # gpu-unknown: a warning
    assert _run_step(tmp_path, PLANNER_PATHS=str(script), PLANNER_STRICT="true").returncode == 1
    with_gpu = _run_step(tmp_path, PLANNER_PATHS=str(script), PLANNER_GPU="L4")
    assert with_gpu.returncode == 1 and "title=kv-cache-too-small" in with_gpu.stdout


def test_pre_commit_hook() -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "planner-check" and hook["entry"] == "planner check" and hook["language"] == "python"
    assert set(hook["types_or"]) == {"yaml", "dockerfile", "shell"}
