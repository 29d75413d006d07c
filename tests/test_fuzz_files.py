"""Paths that are not plain readable files, given as MODEL or to `planner check` (issue 7, limits).

Symlink loops, dangling links, FIFOs, character devices that never end (/dev/zero), directories where a
file is expected, unreadable files: each must be reported in one line with exit 2, within a few seconds,
and without reading without bound. Cases that could hang or eat memory when broken run in a real
subprocess with a timeout and an address-space limit, so a regression fails the test instead of the
machine.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

CONFIG = Path(__file__).parent / "data" / "validation" / "model-configs" / "Qwen__Qwen3-8B.json"
TIMEOUT_S = 10
MEMORY_LIMIT = 1 << 30     # 1 GiB of address space is plenty for the CLI and stops a runaway read


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def planner(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HOME": str(cwd)}
    try:
        return subprocess.run([sys.executable, "-m", "planner", *args], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=TIMEOUT_S, check=False, preexec_fn=_limit_memory)
    except subprocess.TimeoutExpired:
        pytest.fail(f"planner {' '.join(args)} did not finish in {TIMEOUT_S} s")


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("planner: error: "), proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def make_model_paths(tmp: Path) -> dict[str, tuple[Path, str]]:
    """{case: (path given as MODEL, a word the error must contain)}."""
    loop = tmp / "links"
    loop.mkdir()
    (loop / "a").symlink_to(loop / "b")
    (loop / "b").symlink_to(loop / "a")
    dangling = tmp / "dangling"
    dangling.mkdir()
    (dangling / "config.json").symlink_to(tmp / "nowhere.json")
    cfg_dir = tmp / "cfg-is-dir"
    (cfg_dir / "config.json").mkdir(parents=True)
    fifo = tmp / "fifo-model"
    fifo.mkdir()
    os.mkfifo(fifo / "config.json")
    return {
        "symlink loop": (loop / "a", "symbolic links"),   # ELOOP's strerror, not "no such file"
        "config.json is a dangling link": (dangling, "config.json"),
        "config.json is a folder": (cfg_dir, "config.json"),
        "config.json is a FIFO": (fifo, "config.json"),
        "a FIFO as MODEL": (fifo / "config.json", "config.json"),
        "/dev/zero as MODEL": (Path("/dev/zero"), "/dev/zero"),
    }


CASES = ["symlink loop", "config.json is a dangling link", "config.json is a folder", "config.json is a FIFO",
         "a FIFO as MODEL", "/dev/zero as MODEL"]


@pytest.mark.parametrize("case", CASES)
def test_estimate_on_odd_paths(tmp_path: Path, case: str) -> None:
    path, needle = make_model_paths(tmp_path)[case]
    proc = planner(["estimate", str(path), "--gpu", "H100", "--json"], tmp_path)
    assert_one_line_error(proc, needle)
    assert json.loads(proc.stdout)["error"]["message"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_estimate_on_an_unreadable_config(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text(CONFIG.read_text())
    (model / "config.json").chmod(0)
    assert_one_line_error(planner(["estimate", str(model), "--gpu", "H100"], tmp_path), "permission denied")


def test_unreadable_safetensors_next_to_a_good_config(tmp_path: Path) -> None:
    """A weights file that is a FIFO must not block the estimate (only its header is ever read)."""
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text(CONFIG.read_text())
    os.mkfifo(model / "model.safetensors")
    proc = planner(["estimate", str(model), "--gpu", "H100", "--json"], tmp_path)
    assert proc.returncode in (0, 1, 2)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr


def make_check_tree(tmp: Path) -> Path:
    """A folder with one good manifest and every kind of odd entry next to it."""
    root = tmp / "deploy"
    root.mkdir()
    (root / "good.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: v}\nspec:\n  containers:\n    - name: vllm\n"
        "      image: vllm/vllm-openai:v0.33.0\n"
        "      command: [vllm, serve, Qwen/Qwen3-8B, --max-model-len, '8192']\n"
        "      resources: {limits: {nvidia.com/gpu: '1'}}\n")
    (root / "loop-a.yaml").symlink_to(root / "loop-b.yaml")
    (root / "loop-b.yaml").symlink_to(root / "loop-a.yaml")
    (root / "dangling.yaml").symlink_to(tmp / "nowhere.yaml")
    (root / "self").symlink_to(root)                        # a directory loop for a walker that follows links
    os.mkfifo(root / "pipe.yaml")
    return root


def test_check_walks_a_tree_with_loops_fifos_and_dangling_links(tmp_path: Path) -> None:
    root = make_check_tree(tmp_path)
    proc = planner(["check", str(root), "--format", "json"], tmp_path)
    assert proc.returncode in (0, 1, 2), proc.stderr
    assert "internal error" not in proc.stderr + proc.stdout
    report = json.loads(proc.stdout)
    paths = {Path(f["path"]).name for f in report["files"]}
    assert "good.yaml" in paths                            # the good file is still checked


@pytest.mark.parametrize("name", ["loop-a.yaml", "dangling.yaml", "pipe.yaml"])
def test_check_names_an_odd_file_as_unreadable(tmp_path: Path, name: str) -> None:
    root = make_check_tree(tmp_path)
    proc = planner(["check", str(root / name), str(root / "good.yaml"), "--format", "json"], tmp_path)
    assert proc.returncode == 2, proc.stderr
    report = json.loads(proc.stdout)
    odd = next(f for f in report["files"] if f["path"].endswith(name))
    assert odd["status"] == "unreadable" and odd["reason"]
    good = next(f for f in report["files"] if f["path"].endswith("good.yaml"))
    assert good["status"] == "checked"


def test_check_on_dev_zero_is_bounded(tmp_path: Path) -> None:
    proc = planner(["check", "/dev/zero", "--format", "json"], tmp_path)
    assert proc.returncode == 2
    assert "internal error" not in proc.stderr + proc.stdout
    assert json.loads(proc.stdout)["files"][0]["status"] == "unreadable"


@pytest.mark.parametrize("kind", ["fifo", "deep json", "dev zero"])
def test_user_model_catalog_that_is_not_a_plain_json_file(tmp_path: Path, kind: str) -> None:
    """`planner models --catalog FILE` (and $VLLM_PLANNER_MODEL_CATALOG) reads a user file: same limits."""
    if kind == "fifo":
        catalog = tmp_path / "catalog.json"
        os.mkfifo(catalog)
    elif kind == "deep json":
        catalog = tmp_path / "catalog.json"
        catalog.write_text("[" * 100_000 + "]" * 100_000)
    else:
        catalog = Path("/dev/zero")
    assert_one_line_error(planner(["models", "--catalog", str(catalog)], tmp_path), str(catalog))
