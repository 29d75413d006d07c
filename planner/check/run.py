"""Walk the inputs, extract invocations, apply the rules: `check_paths(...) -> Report`."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from planner.check.extract import extract_file
from planner.check.model import FileResult, Report
from planner.check.rules import Settings, check_invocation
from planner.check.yamlsrc import MAX_BYTES

# Folders that never hold deployment files and can be huge.
_SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".tox", ".mypy_cache",
              ".pytest_cache", ".ruff_cache", "site-packages"}
STDIN = "-"


def _worth_reading(text: str) -> bool:
    """Cheap content test: only files that mention vLLM or look like a planner.yaml are parsed.

    Unrelated files (other YAML, docs, code) are ignored silently however they are written, whether
    found by walking a folder or passed by name (as pre-commit passes every changed file); a malformed
    file that mentions vLLM is reported (exit 2).
    """
    low = text.lower()
    return "vllm" in low or "planner" in low or ("model:" in low and ("requirements:" in low or "gpu:" in low))


def _discover(paths: list[str]) -> list[tuple[str, bool]]:
    """[(path, named explicitly)] in a stable order."""
    out: list[tuple[str, bool]] = []
    for p in paths:
        if p == STDIN:
            out.append((p, True))
            continue
        path = Path(p)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
                for name in sorted(files):
                    out.append((str(Path(root) / name), False))
        else:
            out.append((p, True))
    return out


def _read(path: str, explicit: bool, stdin_text: str | None) -> tuple[str | None, str | None]:
    """(text, None) or (None, reason unreadable) or (None, None) for a file to skip silently."""
    if path == STDIN:
        return (stdin_text or ""), None
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            # FIFOs block open() and devices never end: a folder walk skips them, a named one is reported.
            return (None, "not a regular file") if explicit else (None, None)
        if st.st_size > MAX_BYTES:
            return (None, f"larger than {MAX_BYTES >> 20} MiB") if explicit else (None, None)
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return None, "no such file or folder"
    except IsADirectoryError:
        return None, "is a directory"
    except PermissionError:
        return None, "permission denied"
    except OSError as exc:
        return None, f"cannot read: {exc.strerror or exc}"
    if b"\0" in data[:8192]:
        return (None, "binary file") if explicit else (None, None)
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        return (None, f"not UTF-8 text ({exc.reason} at byte {exc.start})") if explicit else (None, None)


def check_paths(paths: list[str], *, stdin_text: str | None = None, settings: Settings | None = None,
                strict: bool = False) -> Report:
    settings = settings or Settings()
    results: list[FileResult] = []
    for path, explicit in _discover(paths):
        shown = "<stdin>" if path == STDIN else path
        text, problem = _read(path, explicit, stdin_text)
        if problem is not None:
            results.append(FileResult(shown, unreadable=problem))
            continue
        if text is None or not _worth_reading(text):
            continue
        result = extract_file(shown, text)
        if not result.invocations and not result.unreadable and not result.skipped:
            continue                              # not a vLLM file: ignored silently
        for inv in result.invocations:
            result.findings.extend(check_invocation(inv, settings))
        result.findings.sort(key=lambda f: (f.line, f.rule))
        results.append(result)
    return Report(results, strict=strict)
