"""vLLM's argument groups (issue 15): `planner flags --group ModelConfig`, `--groups`, and `--help=ModelConfig`
on the commands that take vLLM flags, as `vllm serve --help=ModelConfig` lists a group.

The groups are the table's (planner/release/vllm_flags.json, extracted from each release's arg_utils.py by
tools/extract_vllm_flags.py); the expected sets below are read from that table, and the spot facts from
vLLM 0.33.0's source by hand (tests/test_vllm_flags.py checks the extraction itself).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from planner.cli import app, help_redirect
from planner.release.vllm_flags import flags_of, groups_of, resolve_group
from planner.release.vllm_versions import LATEST

DATA = Path(__file__).resolve().parents[1] / "planner" / "release" / "vllm_flags.json"
OFFLINE = {"HF_HUB_OFFLINE": "1", "VLLM_PLANNER_MODEL_CATALOG": None, "VLLM_PLANNER_GPU_CATALOG": None}


def invoke(*args: str) -> Any:
    r = CliRunner().invoke(app, list(args), env={**OFFLINE, "COLUMNS": "80"})
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    return r


def shipped(version: str) -> list[dict[str, Any]]:
    flags: list[dict[str, Any]] = json.loads(DATA.read_text())["snapshots"][version]["flags"]
    return flags


def test_a_group_lists_exactly_the_flags_vllm_registers_in_it() -> None:
    r = invoke("flags", "--group", "ModelConfig", "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["group"] == "ModelConfig"
    names = [f["name"] for f in doc["flags"]]
    expected = sorted(e["options"][0] if e["options"][0].startswith("--") else e["options"][-1]
                      for e in shipped(LATEST) if e.get("group") == "ModelConfig")
    assert names == expected
    assert "--max-model-len" in names and "--gpu-memory-utilization" not in names
    assert all(f["group"] == "ModelConfig" for f in doc["flags"])


def test_groups_cover_every_flag_once() -> None:
    doc = json.loads(invoke("flags", "--groups", "--json").stdout)
    counts = {g["name"]: g["flags"] for g in doc["groups"]}
    assert {"ModelConfig", "CacheConfig", "ParallelConfig", "SchedulerConfig", "Frontend", "options"} <= set(counts)
    assert sum(counts.values()) == len(flags_of(LATEST))
    human = invoke("flags", "--groups").stdout
    assert max(len(line) for line in human.splitlines()) <= 80
    assert any(line.split() == ["CacheConfig", str(counts["CacheConfig"])] for line in human.splitlines())


@pytest.mark.parametrize("spelling", ["ModelConfig", "modelconfig", "MODELCONFIG"])
def test_help_equals_a_group_is_that_group(spelling: str) -> None:
    """vLLM matches `--help=WORD` against group titles in lower case; the listing names the group as vLLM
    titles it."""
    listing = invoke("flags", "--group", "ModelConfig")
    assert listing.exit_code == 0
    assert "in group ModelConfig" in listing.stdout.split("\n\n")[0].replace("\n", " ")
    assert invoke("estimate", f"--help={spelling}").stdout == listing.stdout
    assert invoke("flags", spelling).stdout == listing.stdout
    assert help_redirect(["plan", "llama-3.1-8b", f"--help={spelling}"]) == ["flags", spelling]


def test_a_group_of_an_older_release_is_that_releases() -> None:
    old = json.loads(invoke("flags", "--vllm-version", "0.10.1.1", "--group", "CacheConfig", "--json").stdout)
    names = {f["name"] for f in old["flags"]}
    assert "--swap-space" in names and "--kv-cache-memory-bytes" not in names


def test_the_explanation_names_the_group() -> None:
    out = invoke("flags", "max-model-len").stdout
    assert "\n  group:        ModelConfig\n" in out
    assert json.loads(invoke("flags", "port", "--json").stdout)["flag"]["group"] == "Frontend"


def _one_line_error(r: Any) -> str:
    assert r.exit_code == 2 and r.stdout == "", (r.exit_code, r.stdout)
    lines = r.stderr.splitlines()
    assert len(lines) == 1, lines
    return str(lines[0])


def test_an_unknown_group_is_one_line_exit_2_with_a_suggestion() -> None:
    line = _one_line_error(invoke("flags", "--group", "ModelConfg"))
    assert "ModelConfg" in line and "no flag group" in line and "did you mean ModelConfig" in line
    line = _one_line_error(invoke("estimate", "--help=ModelConfg"))
    assert "did you mean ModelConfig?" in line
    j = invoke("flags", "--group", "ModelConfg", "--json")
    assert j.exit_code == 2 and json.loads(j.stdout)["error"]["code"] == "unknown_group"
    # A flag's typo is still answered as a flag.
    assert "did you mean --max-model-len" in _one_line_error(invoke("flags", "max-model-lenn"))


def test_a_release_without_groups_says_so() -> None:
    assert groups_of("0.6.6.post1") == ()
    line = _one_line_error(invoke("flags", "--vllm-version", "0.6.6.post1", "--group", "ModelConfig"))
    assert "0.6.6.post1 registers no flag groups" in line and "0.8.5.post1" in line
    assert invoke("flags", "--vllm-version", "0.6.6.post1", "--groups").exit_code == 0
    # 0.8.5 had groups, but not yet ModelConfig (its model flags were the parser's own).
    assert resolve_group("ModelConfig", "0.8.5.post1") is None
    assert resolve_group("cacheconfig", "0.8.5.post1") == "CacheConfig"


@pytest.mark.parametrize("args", [("flags", "--group", "ModelConfig"), ("flags", "--groups"),
                                  ("flags", "--group", "Frontend", "--modelled")])
def test_group_listings_fit_80_columns_when_piped(args: tuple[str, ...]) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "80"}
    proc = subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, timeout=120,
                          env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert max(len(line) for line in proc.stdout.splitlines()) <= 80
