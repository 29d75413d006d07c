"""Every `planner` line in README.md and docs/*.md runs as documented, offline, from a clean checkout.

A line in a fenced block whose first word is `planner` (after an optional `$ `) is an example. It runs in
a fresh shell (bash, so pipes and redirections work as written) with the project's `planner` first on
PATH, in an empty folder that sees the repository's `tests/` and `docs/` (the data files the examples
name), with HF_HUB_OFFLINE=1 and an empty Hugging Face cache. Its exit code must be the one the line
documents: 0 unless it ends with a comment `# exit N`.

Not run, and counted: synopsis blocks (fence info `usage`) and blocks that need what this machine lacks
(fence info `launches-vllm`: examples that start a real vLLM server, which the e2e tests cover).
Lines continued with a trailing backslash are joined.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIP_INFO = {"usage", "launches-vllm"}
EXIT = re.compile(r"#\s*exit (\d)\b")


@dataclass(frozen=True)
class Example:
    where: str
    line: str
    exit_code: int


def examples() -> tuple[list[Example], list[str]]:
    found: list[Example] = []
    skipped: list[str] = []
    for doc in DOCS:
        info: str | None = None
        pending = ""
        start = 0
        for no, raw in enumerate(doc.read_text().split("\n"), 1):
            if raw.lstrip().startswith("```"):
                info = raw.strip()[3:].strip() if info is None else None
                continue
            if info is None:
                continue
            text = raw.strip()
            if pending:
                text, pending = pending + " " + text, ""
            elif text.startswith("$ "):
                text = text[2:]
                start = no
            else:
                start = no
            if not text.startswith("planner "):
                continue
            if text.endswith("\\"):
                pending = text[:-1].rstrip()
                continue
            where = f"{doc.relative_to(ROOT)}:{start}"
            if set(info.split()) & SKIP_INFO:
                skipped.append(where)
                continue
            m = EXIT.search(text)
            found.append(Example(where, text, int(m.group(1)) if m else 0))
    return found, skipped


FOUND, SKIPPED = examples()


def test_the_docs_have_examples_and_few_are_skipped() -> None:
    assert len(FOUND) >= 30
    assert len(SKIPPED) <= len(FOUND) // 4, SKIPPED


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    work = tmp_path_factory.mktemp("docs-examples")
    for name in ("tests", "docs"):
        (work / name).symlink_to(ROOT / name)
    hf = work / ".hf-empty"
    hf.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "VLLM_PLANNER"))}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(hf), HF_HUB_CACHE=str(hf / "hub"), NO_COLOR="1", COLUMNS="80",
               XDG_CONFIG_HOME=str(work / ".config"), PATH=f"{Path(sys.executable).parent}{os.pathsep}"
               f"{env.get('PATH', '')}")
    return work, env


@pytest.mark.parametrize("ex", FOUND, ids=[e.where for e in FOUND])
def test_example_runs_as_documented(ex: Example, sandbox: tuple[Path, dict[str, str]]) -> None:
    work, env = sandbox
    proc = subprocess.run(["bash", "-c", ex.line], cwd=work, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == ex.exit_code, f"{ex.where}: {ex.line}\n{proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_relative_links_resolve(doc: Path) -> None:
    missing = [target for target in LINK.findall(doc.read_text())
               if "://" not in target and not (doc.parent / target).exists()]
    assert not missing, f"{doc.relative_to(ROOT)} links to files that do not exist: {missing}"
