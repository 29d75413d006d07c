"""The bad-input contract of every command (issue 7): exit 2, one short stderr line that names the input
and what is wrong (with a did-you-mean where one exists), the same error as JSON on stdout under --json,
and no traceback unless --debug.

Each case is run through the real entry point in a subprocess (`python -m planner`), because the
contract is about what a user sees: stderr, stdout and the exit status of a process. Nothing here
launches vLLM or reaches the network (validate cases fail on their inputs first; HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

MAX_LINE = 400          # "short": a pasted 5,000-character value must be named, not echoed


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    needles: tuple[str, ...]          # what the error line must contain (input named, problem, suggestion)
    json_flag: tuple[str, ...] = ("--json",)


CASES: dict[str, Case] = {
    # estimate
    "estimate unknown GPU": Case(("estimate", "qwen3-8b", "--gpu", "H10"), ("H10", "did you mean", "H100")),
    "estimate unknown model": Case(("estimate", "qwen3-8bb", "--gpu", "H100"),
                                   ("qwen3-8bb", "did you mean", "qwen3-8b")),
    "estimate bad flag value": Case(("estimate", "qwen3-8b", "--gpu", "H100", "--max-model-len", "abc"),
                                    ("--max-model-len", "abc")),
    "estimate unknown vllm flag": Case(("estimate", "qwen3-8b", "--gpu", "H100", "--max-model-lenn", "4096"),
                                       ("--max-model-lenn",)),
    "estimate no GPU": Case(("estimate", "qwen3-8b"), ("--gpu",)),
    "estimate missing folder": Case(("estimate", "./no/such/folder", "--gpu", "H100"), ("./no/such/folder",)),
    "estimate utilization out of range": Case(("estimate", "qwen3-8b", "--gpu", "H100", "--gpu-memory-utilization",
                                               "1.5"), ("--gpu-memory-utilization", "1.5")),
    "estimate typer-parsed option of the wrong type": Case(("estimate", "qwen3-8b", "--gpu", "H100",
                                                            "--gpu-memory-gib", "lots"), ("--gpu-memory-gib",)),
    # plan
    "plan unknown GPU": Case(("plan", "qwen3-8b", "--gpu", "H10"), ("H10", "did you mean", "H100")),
    "plan unknown model": Case(("plan", "qwen3-8bb", "--gpu", "H100"), ("qwen3-8bb", "did you mean", "qwen3-8b")),
    "plan unknown quantization": Case(("plan", "qwen3-8b", "--gpu", "H100", "--quant", "awqq"), ("awqq", "awq")),
    "plan unknown objective": Case(("plan", "qwen3-8b", "--gpu", "H100", "--objective", "speed"), ("speed",)),
    "plan bad context": Case(("plan", "qwen3-8b", "--gpu", "H100", "--context", "lots"), ("--context", "lots")),
    "plan no model": Case(("plan", "--gpu", "H100"), ("MODEL",)),
    "plan typer-parsed option of the wrong type": Case(("plan", "qwen3-8b", "--gpu", "H100", "--concurrency", "many"),
                                                       ("--concurrency",)),
    # perf
    "perf zero prompts": Case(("perf", "qwen3-8b", "--gpu", "H100", "--num-prompts", "0"), ("--num-prompts", "0")),
    "perf bad sweep parameter": Case(("perf", "qwen3-8b", "--gpu", "H100", "--sweep", "batch=1,2"),
                                     ("--sweep", "batch")),
    "perf plot into a missing folder": Case(("perf", "qwen3-8b", "--gpu", "H100", "--sweep", "max-concurrency=1,2",
                                             "--plot", "no/such/dir/p.svg"), ("--plot", "does not exist")),
    # check
    "check unknown format": Case(("check", ".", "--format", "xml"), ("--format", "xml", "json"), ()),
    "check unknown GPU": Case(("check", ".", "--gpu", "H10"), ("H10", "did you mean", "H100"), ("--format", "json")),
    "check bad vllm version": Case(("check", ".", "--vllm-version", "nine"), ("nine",), ("--format", "json")),
    # validate (fails on its inputs before anything is launched)
    "validate missing log": Case(("validate", "qwen3-8b", "--gpu", "H100", "--from-log", "missing.log"),
                                 ("missing.log",)),
    "validate unknown GPU": Case(("validate", "qwen3-8b", "--gpu", "H10", "--from-log", "vllm.log"),
                                 ("H10", "did you mean")),
    "validate unknown model": Case(("validate", "qwen3-8bb", "--gpu", "H100", "--from-log", "vllm.log"),
                                   ("qwen3-8bb", "did you mean")),
    # models
    "models show unknown alias": Case(("models", "show", "llama-3.1-7b"), ("llama-3.1-7b", "did you mean")),
    "models missing user catalog": Case(("models", "--catalog", "missing.json"), ("missing.json",)),
    "models malformed user catalog": Case(("models", "--catalog", "bad.json"), ("bad.json", "JSON")),
}


def run(args: tuple[str, ...], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HOME": str(cwd), "NO_COLOR": "1"}
    env.pop("VLLM_PLANNER_MODEL_CATALOG", None)
    return subprocess.run([sys.executable, "-m", "planner", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A cwd with the files some cases point at: a vLLM log, a malformed catalog, an empty deploy folder."""
    (tmp_path / "vllm.log").write_text("INFO 01-01 00:00:00 [loader.py:1] Model loading took 1.0 GiB\n")
    (tmp_path / "bad.json").write_text("[{oops")
    return tmp_path


def assert_error_line(proc: subprocess.CompletedProcess[str], needles: tuple[str, ...]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-300:], proc.stderr[-300:])
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("planner: error: "), line
    assert "internal error" not in line, line
    assert len(line) <= MAX_LINE, len(line)
    for n in needles:
        assert n in line, (n, line)
    return line


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_line_on_stderr(name: str, workdir: Path) -> None:
    case = CASES[name]
    proc = run(case.args, workdir)
    assert_error_line(proc, case.needles)
    assert proc.stdout == ""                   # nothing half-printed before the error


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.json_flag))
def test_json_mode_puts_the_error_on_stdout_too(name: str, workdir: Path) -> None:
    case = CASES[name]
    proc = run((*case.args, *case.json_flag), workdir)
    line = assert_error_line(proc, case.needles)
    out = json.loads(proc.stdout)
    assert out["schema_version"] == 1
    err = out["error"]
    assert err["code"] and err["message"]
    assert err["message"].rstrip(".")[:60] in line      # the same error, not a different one
    if "did you mean" in case.needles:
        assert "did you mean" in err.get("hint", "")


@pytest.mark.parametrize("args", [
    ("estimate", "qwen3-8b", "--gpu", "H100", "--max-model-len", "9" * 5000),
    ("estimate", "m" * 5000, "--gpu", "H100"),
    ("estimate", "qwen3-8b", "--gpu", "H" * 5000),
    ("plan", "qwen3-8b", "--gpu", "H100", "--context", "9" * 5000),
    ("estimate", "qwen3-8b", "--gpu", "H100", "--hf-overrides", "[" * 5000),
])
def test_a_huge_value_is_named_not_echoed(args: tuple[str, ...], workdir: Path) -> None:
    assert_error_line(run(args, workdir), ())


def test_debug_shows_the_traceback(workdir: Path) -> None:
    proc = run(("estimate", "qwen3-8b", "--gpu", "H10", "--debug"), workdir)
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "PlannerError" in proc.stderr


def test_exit_codes_for_verdicts_are_not_errors(workdir: Path) -> None:
    """0 fits, 1 would fail: both print the full report on stdout and nothing on stderr."""
    fits = run(("estimate", "qwen3-8b", "--gpu", "H100", "--max-model-len", "8192", "--json"), workdir)
    assert fits.returncode == 0 and json.loads(fits.stdout)["fits"] is True
    fails = run(("estimate", "llama-3.1-405b", "--gpu", "L4", "--json"), workdir)
    assert fails.returncode == 1 and json.loads(fails.stdout)["fits"] is False
    assert "error:" not in fits.stderr + fails.stderr


def test_a_closed_pipe_is_not_a_traceback(tmp_path: Path) -> None:
    """`planner ... | head -1`: the reader goes away mid-output; the planner stops without a traceback."""
    proc = subprocess.run(f"{sys.executable} -m planner gpus | head -1", shell=True, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.stdout.count("\n") == 1
    assert "Traceback" not in proc.stderr, proc.stderr


def test_long_paths_do_not_wrap_the_check_verdict(tmp_path: Path) -> None:
    src = Path(__file__).parent / "data" / "check" / "broken" / "start.sh"
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    (deep / "start.sh").write_text(src.read_text())
    proc = subprocess.run([sys.executable, "-m", "planner", "check", str(deep / "start.sh")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "80"})
    assert proc.returncode == 1
    assert f"{deep / 'start.sh'} (shell, 1 vLLM invocation(s)): fail" in proc.stdout
