"""Issue 10: the default vLLM release is written in one module (planner/release/vllm_versions.py, `LATEST`).
Any other .py file of the shipped packages that spells it would go stale on the next release."""

from __future__ import annotations

import re
from pathlib import Path

from planner.release.vllm_versions import LATEST

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / "planner" / "release" / "vllm_versions.py"


def test_latest_release_is_spelled_in_one_module() -> None:
    literal = re.compile(r"""["']""" + re.escape(LATEST) + r"""["']""")
    spelled = [p.relative_to(ROOT).as_posix()
               for pkg in ("planner", "gpu_catalog", "model_catalog")
               for p in sorted((ROOT / pkg).rglob("*.py"))
               if literal.search(p.read_text(encoding="utf-8"))]
    assert spelled == [HOME.relative_to(ROOT).as_posix()]
