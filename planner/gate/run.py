"""Walk the inputs, extract invocations, apply the rules: `check_paths(...) -> Report`."""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from planner.gate.extract import deployment_name, extract_file, is_planner_name, mentions_vllm
from planner.gate.model import FileResult, Report
from planner.gate.rules import Settings, check_invocation
from planner.gate.yamlsrc import MAX_BYTES

# Folders that never hold deployment files and can be huge.
_SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".tox", ".mypy_cache",
              ".pytest_cache", ".ruff_cache", "site-packages"}
STDIN = "-"


def _worth_reading(text: str, path: str) -> bool:
    """Cheap content test: only files that mention vLLM, look like a planner.yaml or are named
    planner.yaml are parsed.

    Unrelated files (other YAML, docs, code) are ignored silently however they are written, whether
    found by walking a folder or passed by name (as pre-commit passes every changed file).
    """
    low = text.lower()
    return ("vllm" in low or "planner" in low or ("model:" in low and ("requirements:" in low or "gpu:" in low))
            or is_planner_name(path))


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


# How much of a file a folder walk looks at to decide whether a file it will not read mattered.
_PEEK = 64 * 1024


@dataclass
class _Read:
    text: str | None = None
    unreadable: str | None = None       # a named file that cannot be read (exit 2)
    skipped: str | None = None          # a file a walk found and did not read, said in the report


def _read(path: str, explicit: bool, stdin_text: str | None) -> _Read:
    """The text of a file, or why not. A folder walk skips what it cannot read: in silence for what
    is clearly not a deployment file (weights, binaries, sockets), with a stated reason for a file of
    a kind it reads or one that mentions vLLM; a file named explicitly is unreadable instead."""
    if path == STDIN:
        return _Read(stdin_text or "")

    def skip(reason: str, relevant: bool = True) -> _Read:
        if explicit:
            return _Read(unreadable=reason)
        return _Read(skipped=reason) if relevant else _Read()

    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return skip(f"a dangling symbolic link (to {os.readlink(path)})")
        return skip("no such file or folder")
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return skip("a symbolic link loop")
        return skip(f"cannot read: {exc.strerror or exc}")
    if stat.S_ISDIR(st.st_mode):
        return skip("is a directory")
    if not stat.S_ISREG(st.st_mode):
        # FIFOs block open() and devices never end: a folder walk skips them, a named one is reported.
        return skip("not a regular file", deployment_name(path))
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1 if explicit or st.st_size <= MAX_BYTES else _PEEK)
    except IsADirectoryError:
        return skip("is a directory")
    except PermissionError:
        return skip("permission denied", deployment_name(path))
    except OSError as exc:
        return skip(f"cannot read: {exc.strerror or exc}", deployment_name(path))
    if b"\0" in data[:8192]:
        return skip("binary file", False)
    relevant = deployment_name(path) or b"vllm" in data[:_PEEK].lower() or data.startswith(b"#!")
    if len(data) > MAX_BYTES or st.st_size > MAX_BYTES:
        return skip(f"larger than {MAX_BYTES >> 20} MiB (the limit for a deployment file)", relevant)
    try:
        return _Read(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        return skip(f"not UTF-8 text ({exc.reason} at byte {exc.start})", relevant)


def check_paths(paths: list[str], *, stdin_text: str | None = None, settings: Settings | None = None,
                strict: bool = False) -> Report:
    settings = settings or Settings()
    results: list[FileResult] = []
    for path, explicit in _discover(paths):
        shown = "<stdin>" if path == STDIN else path
        got = _read(path, explicit, stdin_text)
        if got.unreadable is not None or got.skipped is not None:
            results.append(FileResult(shown, unreadable=got.unreadable, skipped=got.skipped))
            continue
        text = got.text
        if text is None or not _worth_reading(text, path):
            continue
        result = extract_file(shown, text, explicit=explicit)
        if not (result.invocations or result.unreadable or result.skipped or result.findings):
            # Nothing launches vLLM here. A file named explicitly of a kind this reads that mentions
            # vLLM (a Service, a ConfigMap) is listed as checked, so the run does not look empty.
            if not (explicit and result.kind and mentions_vllm(text)):
                continue
        for inv in result.invocations:
            result.findings.extend(check_invocation(inv, settings))
        result.findings.sort(key=lambda f: (f.line, f.rule))
        results.append(result)
    return Report(results, strict=strict)
