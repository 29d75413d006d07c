"""Golden texts of every emitted form (tests/golden/emit/).

Compared byte for byte; regenerate after an intended change with
`VLLM_PLANNER_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_emit_golden.py` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_emit_cases import cases, ops_cases

from planner.emit import emit, render_all

GOLDEN = Path(__file__).parent / "golden" / "emit"
UPDATE = os.environ.get("VLLM_PLANNER_UPDATE_GOLDEN", "") not in ("", "0")
_SUFFIX = {"vllm": "vllm.txt", "docker": "docker.txt", "compose": "compose.yaml", "k8s": "k8s.yaml",
           "hpa": "hpa.yaml", "alerts": "alerts.rules.yaml", "prometheus-rule": "prometheus-rule.yaml",
           "dashboard": "grafana-dashboard.json", "litellm": "litellm-config.yaml"}


def _check(path: Path, text: str) -> None:
    if UPDATE:
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: run with VLLM_PLANNER_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), f"{path.name} differs from the golden text"


@pytest.mark.parametrize("form", list(_SUFFIX))
@pytest.mark.parametrize("case", list(cases()))
def test_golden_form(case: str, form: str) -> None:
    text = emit(cases()[case], form, ops_cases()[case])
    # Files end with a newline; the commands themselves have none (they are printed verbatim).
    _check(GOLDEN / f"{case}.{_SUFFIX[form]}", text if text.endswith("\n") else text + "\n")


@pytest.mark.parametrize("case", list(cases()))
def test_golden_folder_readme(case: str) -> None:
    _check(GOLDEN / f"{case}.README.md", render_all(cases()[case], ops_cases()[case])["README.md"])


def test_no_stale_golden_files() -> None:
    expected = {f"{c}.{s}" for c in cases() for s in [*_SUFFIX.values(), "README.md"]}
    present = {p.name for p in GOLDEN.iterdir() if p.is_file() and p.name != "README.md"}
    assert present - expected == set(), "golden files without a test"
