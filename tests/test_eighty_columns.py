"""At COLUMNS=80, piped, what a person reads fits 80 columns, and vLLM's own KV line is printed exactly as
vLLM logs it (issue 15). Runs the real CLI on catalog models in a fresh process."""

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


def run(args: list[str], tmp_path: Path) -> str:
    env = {**os.environ, "COLUMNS": "80", "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path), "NO_COLOR": "1"}
    proc = subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120, check=False)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    return proc.stdout


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
