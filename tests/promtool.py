"""`promtool` (Prometheus's rule checker) for the tests, from Debian's `prometheus` package.

Looked up in order: $VLLM_PLANNER_PROMTOOL, `promtool` on PATH, the cache ~/.cache/vllm-planner/promtool/,
else fetched into that cache with `apt-get download prometheus` (run `apt-get update` first when the package
lists are empty) and `dpkg-deb -x`, keeping usr/bin/promtool alone (a static Go binary). `promtool_or_skip()`
fails the test under CI (env CI set) when none can be had, and skips it elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import NoReturn

import pytest

CACHE = Path.home() / ".cache" / "vllm-planner" / "promtool"


def _works(path: str | os.PathLike[str]) -> bool:
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30)
    except OSError:
        return False
    return out.returncode == 0 and "promtool" in (out.stdout + out.stderr)


def _fetch() -> Path:
    """Download Debian's prometheus package and keep its promtool in CACHE; raises RuntimeError."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise RuntimeError("apt-get and dpkg-deb are needed to fetch Debian's prometheus package")
    with tempfile.TemporaryDirectory() as tmp:
        def download() -> subprocess.CompletedProcess[str]:
            return subprocess.run(["apt-get", "download", "prometheus"], cwd=tmp, capture_output=True, text=True,
                                  timeout=300)

        got = download()
        if got.returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True, timeout=300)
            got = download()
        debs = sorted(Path(tmp).glob("prometheus_*.deb"))
        if got.returncode != 0 or not debs:
            raise RuntimeError(f"apt-get download prometheus failed: {(got.stderr or got.stdout).strip()[-300:]}")
        x = Path(tmp) / "x"
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(x)], check=True, capture_output=True, timeout=300)
        binary = x / "usr" / "bin" / "promtool"
        if not binary.exists():
            raise RuntimeError(f"{debs[0].name} has no usr/bin/promtool")
        CACHE.mkdir(parents=True, exist_ok=True)
        part = CACHE / "promtool.part"
        shutil.copy2(binary, part)
        part.chmod(0o755)
        os.replace(part, CACHE / "promtool")        # atomic: a concurrent run sees the whole file or none
    return CACHE / "promtool"


def find_promtool() -> Path:
    """A working promtool (module docstring); raises RuntimeError when none can be had."""
    for candidate in (os.environ.get("VLLM_PLANNER_PROMTOOL"), shutil.which("promtool"), str(CACHE / "promtool")):
        if candidate and Path(candidate).exists() and _works(candidate):
            return Path(candidate)
    path = _fetch()
    if not _works(path):
        raise RuntimeError(f"{path} does not run")
    return path


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"promtool unavailable under CI: {reason}")
    pytest.skip(f"promtool unavailable: {reason}")


def promtool_or_skip() -> Path:
    try:
        return find_promtool()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        _unavailable(str(exc))
