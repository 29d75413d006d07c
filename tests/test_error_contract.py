"""The bad-input contract of every command (issue 7): exit 2, one short stderr line that names the input
and what is wrong (with a did-you-mean where one exists), the same error as JSON on stdout under --json,
and no traceback unless --debug.

The cases run in-process through the same entry point `python -m planner` uses (`planner.cli.app`, whose
group `main` applies the contract), with click's runner capturing stdout, stderr and the exit status
separately: one process per case cost a second of imports each. A few smoke tests at the end still run
`python -m planner` in a real subprocess, for what only a process shows: the traceback under --debug, a
closed pipe, the terminal width. Nothing here launches vLLM or reaches the network (validate cases fail on
their inputs first; HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from planner.cli import app

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


@dataclass(frozen=True)
class Proc:
    """What a user of the command sees: exit status, stdout, stderr."""

    returncode: int
    stdout: str
    stderr: str


RUNNER = CliRunner()


def run(args: tuple[str, ...], cwd: Path) -> Proc:
    """`planner ARGS` in this process, in `cwd`, offline, with HOME and the catalog env var as a fresh shell
    would have them (the `workdir` fixture sets cwd and the environment)."""
    assert Path.cwd() == cwd
    res = RUNNER.invoke(app, list(args), env={"HF_HUB_OFFLINE": "1", "HOME": str(cwd), "NO_COLOR": "1",
                                              "VLLM_PLANNER_MODEL_CATALOG": None})
    # An exception that escaped the contract (anything but the SystemExit of the group's main) is a bug.
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    return Proc(res.exit_code, res.stdout, res.stderr)


def run_process(args: tuple[str, ...], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HOME": str(cwd), "NO_COLOR": "1"}
    env.pop("VLLM_PLANNER_MODEL_CATALOG", None)
    return subprocess.run([sys.executable, "-m", "planner", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cwd with the files some cases point at: a vLLM log, a malformed catalog, an empty deploy folder."""
    monkeypatch.chdir(tmp_path)
    # huggingface_hub reads HF_HUB_OFFLINE once, at import: when an earlier test imported it, pin it here.
    hf_constants = sys.modules.get("huggingface_hub.constants")
    if hf_constants is not None:
        monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    (tmp_path / "vllm.log").write_text("INFO 01-01 00:00:00 [loader.py:1] Model loading took 1.0 GiB\n")
    (tmp_path / "bad.json").write_text("[{oops")
    return tmp_path


def assert_error_line(proc: Proc | subprocess.CompletedProcess[str], needles: tuple[str, ...]) -> str:
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
    proc = run_process(("estimate", "qwen3-8b", "--gpu", "H10", "--debug"), workdir)
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


# --- the same contract through a real process (smoke tests) -------------------------------------------


@pytest.mark.parametrize("name", ["estimate unknown GPU", "plan typer-parsed option of the wrong type",
                                  "models malformed user catalog"])
def test_a_real_process_keeps_the_contract(name: str, workdir: Path) -> None:
    """A plain error, a click usage error and a file error, each with and without --json, from
    `python -m planner`: the in-process runner above must not hide what a process would print."""
    case = CASES[name]
    proc = run_process(case.args, workdir)
    assert_error_line(proc, case.needles)
    assert proc.stdout == ""
    proc = run_process((*case.args, *case.json_flag), workdir)
    line = assert_error_line(proc, case.needles)
    assert json.loads(proc.stdout)["error"]["message"].rstrip(".")[:60] in line


# ---------------------------------------------------------------------------------------------- generated
# Every option of every command, given a value of the wrong type or misspelt; every command with a bad
# argument; unknown commands and options at each level. Run in process through the real app (the same
# _PlannerGroup and run_command as `planner`), so the whole class is covered without a process per case.

PYDANTIC_WORDING = ("Input should be", "pydantic", "validation error", "type=", "input_value")


def _commands() -> dict[str, Any]:
    from typer.main import get_command

    from planner.cli import app

    root = get_command(app)
    out: dict[str, Any] = {}

    def walk(cmd: Any, path: tuple[str, ...]) -> None:
        out[" ".join(path)] = cmd
        for name, sub in (getattr(cmd, "commands", None) or {}).items():
            walk(sub, (*path, name))
    walk(root, ())
    return out


def _generated_cases() -> list[tuple[str, ...]]:
    cases: list[tuple[str, ...]] = [("nosuchcommand",), ("--bogus",)]
    # arguments that make each command run far enough to parse its options, and fail on nothing else
    base = {"estimate": ("qwen3-8b", "--gpu", "H100"), "plan": ("qwen3-8b", "--gpu", "H100"),
            "validate": ("qwen3-8b", "--gpu", "H100", "--from-log", "vllm.log"), "check": (".",)}
    for path, cmd in _commands().items():
        if not path:
            continue
        words = tuple(path.split())
        args = base.get(path, ())
        cases.append((*words, *args, "--no-such-option-here"))
        for p in cmd.params:
            opts = [o for o in getattr(p, "opts", ()) if o.startswith("--")]
            if not opts or getattr(p, "is_flag", False) or p.name in ("help",):
                continue
            desc = getattr(p, "type_descriptor", None)
            kind = str(getattr(desc, "annotation", getattr(getattr(p, "type", None), "name", "")))
            if "int" in kind or "float" in kind or "integer" in kind:
                cases.append((*words, *args, opts[0], "not-a-number"))
            typo = opts[0][:-2] + opts[0][-1]            # one letter dropped: --concurency
            if len(opts[0]) > 6:
                cases.append((*words, *args, typo, "1"))
    return cases


GENERATED = _generated_cases()


@pytest.fixture(scope="module")
def inproc_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("gen")
    (d / "vllm.log").write_text("INFO 01-01 00:00:00 [loader.py:1] Model loading took 1.0 GiB\n")
    return d


@pytest.mark.parametrize("args", GENERATED, ids=lambda a: " ".join(a)[:80])
def test_every_command_error_is_one_plain_line_with_one_prefix(args: tuple[str, ...], inproc_dir: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from planner.cli import app

    monkeypatch.chdir(inproc_dir)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HOME", str(inproc_dir))
    r = CliRunner().invoke(app, list(args))
    lines = r.stderr.strip().splitlines()
    if r.exit_code != 2:
        # a misspelling that is itself an accepted spelling (a vLLM flag, a prefix) may run: not an error
        assert r.exit_code in (0, 1), (args, r.exit_code, r.stderr[-300:])
        return
    assert len(lines) == 1, (args, r.stderr)
    line = lines[0]
    assert line.startswith("planner: error: "), line
    rest = line[len("planner: error: "):]
    assert not rest.startswith(("planner:", "error:", "planner error", "Error:")), line   # one prefix
    assert not any(w in line for w in PYDANTIC_WORDING), line
    assert "internal error" not in line and "Traceback" not in r.stderr, line


@pytest.mark.parametrize("path", ["estimate", "plan", "validate"])
def test_a_misspelt_planner_option_suggests_the_planner_option(path: str, inproc_dir: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Options of these commands that are not vLLM's, one letter dropped: the suggestion is the command's
    own option, not a vLLM flag that happens to be near."""
    from typer.testing import CliRunner

    from planner.cli import app
    from planner.release.vllm_flags import known_flags

    monkeypatch.chdir(inproc_dir)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cmd = _commands()[path]
    vllm = known_flags()
    base = {"estimate": ["qwen3-8b", "--gpu", "H100"], "plan": ["qwen3-8b", "--gpu", "H100"],
            "validate": ["qwen3-8b", "--gpu", "H100", "--from-log", "vllm.log"]}[path]
    tried = 0
    for p in cmd.params:
        for o in getattr(p, "opts", ()):
            if not o.startswith("--") or o in vllm or len(o) < 8 or o == "--help":
                continue
            typo = o[:4] + o[5:]                          # --concurrency -> --concurrency minus a letter
            if typo in vllm:
                continue
            r = CliRunner().invoke(app, [path, *base, typo, "1"])
            assert r.exit_code == 2, (typo, r.stdout[-200:], r.stderr)
            assert f"did you mean {o}" in r.stderr, (typo, r.stderr)
            tried += 1
    assert tried >= 2


@pytest.mark.parametrize("args", [("estimate", "qwen3-8b", "--gpu", "T4"), ("plan", "qwen3-8b", "--gpu", "T4")])
def test_warnings_go_to_stderr_in_every_command(args: tuple[str, ...], workdir: Path) -> None:
    """A T4 has no bfloat16: both commands warn (vLLM downcasts), on stderr only."""
    proc = run(args, workdir)
    assert proc.returncode in (0, 1)                # a verdict either way, with the full report on stdout
    assert "dtype_downcast" in proc.stderr and "warning" not in proc.stdout.lower()
