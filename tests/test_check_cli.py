"""`planner check` on the command line: formats, exit codes, stdin, --strict, --gpu, bad options."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from typer.testing import CliRunner

from planner.cli import app

DATA = Path(__file__).parent / "data" / "check"
runner = CliRunner()


def _run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["check", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_good_folder_exits_0() -> None:
    code, out, _ = _run(str(DATA / "good"))
    assert code == 0
    assert "7 file(s), 7 vLLM invocation(s): 0 error(s), 0 warning(s)" in out


def test_broken_exits_1_grouped_by_file_with_hints() -> None:
    code, out, _ = _run(str(DATA / "broken" / "start.sh"))
    assert code == 1
    assert "broken/start.sh (shell, 1 vLLM invocation(s)): fail" in out
    assert "flag-removed" in out and "fix: drop it" in out


def test_unreadable_exits_2_and_still_reports_the_rest() -> None:
    code, out, _ = _run(str(DATA / "malformed"), str(DATA / "broken" / "start.sh"))
    assert code == 2
    assert "cannot read " in out and "bad.yaml: not valid YAML" in out and "flag-renamed" in out


def test_json_schema() -> None:
    code, out, _ = _run(str(DATA / "broken" / "start.sh"), str(DATA / "malformed"), "--format", "json")
    assert code == 2
    doc = json.loads(out)
    assert doc["schema_version"] == 1 and doc["exit_code"] == 2
    assert set(doc["summary"]) == {"files", "invocations", "errors", "warnings", "unreadable"}
    script = next(f for f in doc["files"] if f["path"].endswith("start.sh"))
    assert script["kind"] == "shell" and script["status"] == "checked"
    finding = next(f for f in script["findings"] if f["rule"] == "flag-removed")
    assert finding == {"file": script["path"], "line": 4, "rule": "flag-removed", "severity": "error",
                       "message": "--calculate-kv-scales was removed in vLLM 0.28.0", "hint": "drop it",
                       "where": "script"}
    inv = script["invocations"][0]
    assert inv["model"] == "Qwen/Qwen3-8B" and inv["gpu"] == "T4-16GB" and inv["vllm_version"] == "0.33.0"
    bad = next(f for f in doc["files"] if f["status"] == "unreadable")
    assert "not valid YAML" in bad["reason"]


def test_github_annotations() -> None:
    code, out, _ = _run(str(DATA / "broken" / "start.sh"), "--format", "github")
    assert code == 1
    lines = out.splitlines()
    assert any(line.startswith("::error file=") and ",line=4,title=flag-removed::" in line for line in lines)
    assert any(line.startswith("::warning file=") and "title=dtype-downcast" in line for line in lines)


def test_github_escapes_newlines_and_commas(tmp_path: Path) -> None:
    from planner.gate.model import FileResult, Finding, Report
    from planner.gate.report import to_github

    report = Report([FileResult("a,b.yaml", findings=[Finding("a,b.yaml", 3, "r", "error", "x\ny 100%")])])
    assert "::error file=a%2Cb.yaml,line=3,title=r::x%0Ay 100%25." in to_github(report)


def test_junit(tmp_path: Path) -> None:
    target = tmp_path / "report.xml"
    code, out, _ = _run(str(DATA / "broken" / "start.sh"), str(DATA / "good" / "serve.sh"), str(DATA / "malformed"),
                        "--format", "junit", "--output", str(target))
    assert code == 2 and out == ""
    suite = ET.parse(target).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = {c.get("name", "").rsplit("/", 1)[-1]: c for c in suite.iter("testcase")}
    assert cases["start.sh"].find("failure") is not None and cases["serve.sh"].find("failure") is None
    assert cases["bad.yaml"].find("error") is not None


def test_stdin_helm_output() -> None:
    text = (DATA / "broken" / "k8s-multi.yaml").read_text()
    code, out, _ = _run("-", "--format", "json", stdin=text)
    assert code == 1
    assert json.loads(out)["files"][0]["path"] == "<stdin>"


def test_strict_and_gpu_option(tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\nvllm serve meta-llama/Llama-3.1-8B-Instruct --max-model-len 8192\n")
    assert _run(str(script))[0] == 0                 # only a gpu-unknown warning
    assert _run(str(script), "--strict")[0] == 1
    code, out, _ = _run(str(script), "--gpu", "L4", "--format", "json")
    assert code == 0 and json.loads(out)["files"][0]["invocations"][0]["memory"]["gpu"] == "L4-24GB"


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--format", "xml"], "--format: invalid choice"), (["--gpu", "H1000"], "H1000"),
     (["--vllm-version", "latest"], "invalid vLLM version")],
)
def test_bad_options_exit_2_with_one_line(args: list[str], message: str) -> None:
    code, _out, err = _run(str(DATA / "good" / "serve.sh"), *args)
    assert code == 2
    assert message in err and err.count("\n") == 1


def test_installed_entry_point_runs_as_a_process() -> None:
    """The real process: exit code and output of `python -m planner check` (as CI runs it)."""
    proc = subprocess.run([sys.executable, "-m", "planner", "check", str(DATA / "broken" / "Dockerfile"),
                           "--format", "github"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "title=heads-not-divisible" in proc.stdout and proc.stderr == ""


@pytest.mark.parametrize("fmt", ["human", "json", "github", "junit"])
def test_output_to_a_folder_is_one_line_and_exit_2(tmp_path: Path, fmt: str) -> None:
    result = runner.invoke(app, ["check", str(DATA / "good" / "serve.sh"), "--format", fmt, "--output",
                                 str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"planner: error: cannot write {tmp_path}: is a directory "
                                                  "(name a file, e.g. --output report.json)"] or fmt == "json"
    assert "Traceback" not in result.output and list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_output_to_a_full_disk_is_one_line_and_exit_2() -> None:
    result = runner.invoke(app, ["check", str(DATA / "good" / "serve.sh"), "--output", "/dev/full"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "planner: error: cannot write /dev/full: No space left on device"


def test_output_is_never_half_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that fails midway (the disk fills) leaves the previous report, and no temporary file."""
    import os

    from planner.errors import PlannerError
    from planner.gate.output import write_report

    target = tmp_path / "report.json"
    target.write_text("previous report\n")
    real_fsync = os.fsync

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(PlannerError, match=r"cannot write .*No space left on device"):
        write_report(target, "new report\n" * 1000)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert target.read_text() == "previous report\n" and sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
    write_report(target, "new report\n")
    assert target.read_text() == "new report\n"


def test_human_output_file_has_the_cannot_read_line(tmp_path: Path) -> None:
    out = tmp_path / "r.txt"
    result = runner.invoke(app, ["check", str(DATA / "malformed"), "--output", str(out)])
    assert result.exit_code == 2 and result.stdout == ""
    assert f"cannot read {DATA / 'malformed' / 'bad.yaml'}: not valid YAML" in out.read_text()
