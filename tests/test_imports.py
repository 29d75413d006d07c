"""Which modules the fast paths import (issue 7).

`planner plan` from the catalog and `planner estimate` on a local folder must start in about the time
typer itself takes: no transformers, torch, vllm, the Hub's HTTP stack, yaml or pydantic beyond what
typer itself loads. Each case runs the real CLI in a fresh interpreter and reads `sys.modules` at the
end, so a lazy import that sneaks back to module level fails here before it shows in the benchmark.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFIGS = Path(__file__).parent / "data" / "validation" / "model-configs"

# Imported by nothing on the fast paths. Prefixes: `torch` also forbids `torch.cuda`, etc.
HEAVY = ("transformers", "torch", "vllm", "numpy", "safetensors", "tokenizers", "yaml",
         "huggingface_hub", "httpx", "httpcore", "requests", "urllib3", "aiohttp", "hf_xet", "jsonschema",
         "kubernetes_validate")
# Our own modules that belong to other commands; loading them means a top-level import crept in.
OTHER_COMMANDS = ("planner.gate", "planner.validate", "planner.emit", "planner.sourcing.hub", "planner.contract")

# Our own modules a plain catalog plan (no --emit, no LoRA, no speculative decoding, no CPU backend, no MIG
# slice) must not import: each loads on first use (issue 11: PEP 562 __getattr__ in planner.emit and
# planner.memory, import_module in gpu_catalog). One of them on the list below means an import crept back.
NOT_ON_A_PLAIN_PLAN = ("planner.emit.forms", "planner.emit.ops", "planner.emit.alert_rules", "planner.emit.grafana",
                       "planner.emit.autoscaling", "planner.emit.gateway", "planner.emit.manifests",
                       "planner.emit.multinode", "planner.emit.folder", "planner.pricing.prices",
                       "planner.memory.lora", "planner.memory.spec_decode", "planner.memory.cpu_backend",
                       "gpu_catalog.mig", "rich")

# Runs the CLI in-process inside a fresh interpreter and records every module it loaded, and those an
# empty typer app loads (the floor).
PROBE = """
import json, sys
out, args = sys.argv[1], sys.argv[2:]
import typer

# The floor: an empty typer app with one command, run once. Whatever typer loads to build and run a
# command (click, rich, and pydantic in typer >= 0.2x) is not ours to remove.
floor_app = typer.Typer()
floor_app.command()(lambda name="x": None)
floor_app([], standalone_mode=False)
floor = set(sys.modules)
from planner.cli import app
try:
    app(args, prog_name="planner")
except SystemExit as exc:
    code = exc.code
with open(out, "w") as fh:
    json.dump({"code": code, "modules": sorted(sys.modules), "floor": sorted(floor)}, fh)
"""


def run_probe(args: list[str], tmp_path: Path) -> tuple[int, set[str], set[str]]:
    out = tmp_path / "modules.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", PROBE, str(out), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert out.exists(), proc.stderr[-2000:]
    data = json.loads(out.read_text())
    return data["code"], set(data["modules"]), set(data["floor"])


def heavy_modules(modules: set[str], floor: set[str], allow: tuple[str, ...] = ()) -> list[str]:
    """Loaded modules that are heavy or belong to another command, and that typer did not load itself."""
    prefixes = tuple(p for p in (*HEAVY, *OTHER_COMMANDS) if p not in allow)
    return sorted(m for m in modules - floor if any(m == p or m.startswith(p + ".") for p in prefixes))


@pytest.fixture
def local_model(tmp_path: Path) -> Path:
    folder = tmp_path / "llama-8b"
    folder.mkdir()
    (folder / "config.json").write_text((CONFIGS / "meta-llama__Llama-3.1-8B-Instruct.json").read_text())
    return folder


def test_estimate_on_a_local_folder_imports_nothing_heavy(local_model: Path, tmp_path: Path) -> None:
    code, modules, floor = run_probe(["estimate", str(local_model), "--gpu", "H100", "--max-model-len", "8192"],
                                     tmp_path)
    assert code in (0, 1)
    assert "planner.memory.estimator" in modules          # the probe did run the memory model
    assert heavy_modules(modules, floor) == []
    # pydantic is allowed only because typer loads it; planner itself adds none of its modules.
    assert sorted(m for m in modules - floor if m.startswith("pydantic")) == []


def test_estimate_json_imports_nothing_heavy(local_model: Path, tmp_path: Path) -> None:
    code, modules, floor = run_probe(["estimate", str(local_model), "--gpu", "H100", "--json"], tmp_path)
    assert code in (0, 1)
    assert heavy_modules(modules, floor) == []
    assert sorted(m for m in modules - floor if m.startswith("pydantic")) == []


def test_estimate_of_a_catalog_alias_imports_nothing_heavy(tmp_path: Path) -> None:
    code, modules, floor = run_probe(["estimate", "llama-3.1-70b", "--gpu", "H100", "--quant", "awq"], tmp_path)
    assert code in (0, 1)
    assert "model_catalog" in modules
    assert heavy_modules(modules, floor) == []


def test_help_imports_no_command_code(tmp_path: Path) -> None:
    code, modules, floor = run_probe(["--help"], tmp_path)
    assert code == 0
    assert heavy_modules(modules, floor) == []
    assert "planner.memory.estimator" not in modules and "model_catalog" not in modules


@pytest.mark.parametrize("args", [
    ["plan", "llama-3.1-70b", "--gpu", "H100", "--quant", "awq"],
    ["plan", "qwen3-32b", "--gpu", "any", "--quant", "auto"],
])
def test_catalog_plan_imports_nothing_heavy(args: list[str], tmp_path: Path) -> None:
    code, modules, floor = run_probe(args, tmp_path)
    assert code in (0, 1)
    assert "model_catalog" in modules and "planner.planning.recommend" in modules
    # A plan ends with the `vllm serve` command, so the emitters are part of its path.
    assert heavy_modules(modules, floor, allow=("planner.emit",)) == []
    assert sorted(m for m in modules - floor if m.startswith("pydantic")) == []
    # The report goes to a pipe here: planner.rendering.textout writes it without rich (rich only for a terminal).
    assert sorted(m for m in modules - floor if m == "rich" or m.startswith("rich.")) == []


@pytest.mark.parametrize("args", [
    ["plan", "llama-3.1-70b", "--gpu", "H100", "--quant", "awq"],
    ["estimate", "llama-3.1-70b", "--gpu", "H100", "--quant", "awq"],
])
def test_a_plain_catalog_plan_loads_no_feature_module(args: list[str], tmp_path: Path) -> None:
    code, modules, floor = run_probe(args, tmp_path)
    assert code in (0, 1)
    assert "planner.memory.estimator" in modules
    loaded = sorted(m for m in modules - floor if any(m == p or m.startswith(p + ".") for p in NOT_ON_A_PLAIN_PLAN))
    assert loaded == []


def test_the_feature_modules_load_when_asked_for(tmp_path: Path) -> None:
    """The check can fail: --enable-lora and --emit compose do load what the plain plan leaves out."""
    _, modules, _ = run_probe(["plan", "llama-3.1-8b", "--gpu", "H100", "--enable-lora", "--emit", "compose"],
                              tmp_path)
    assert {"planner.memory.lora", "planner.emit.forms", "planner.emit.manifests"} <= modules


def test_the_probe_sees_a_heavy_import(tmp_path: Path) -> None:
    """The check itself works: a module the fast path must not load is caught when something loads it."""
    probe = PROBE.replace("from planner.cli import app", "import yaml\nfrom planner.cli import app")
    out = tmp_path / "modules.json"
    subprocess.run([sys.executable, "-c", probe, str(out), "--help"], cwd=tmp_path, capture_output=True,
                   timeout=60, check=False)
    data = json.loads(out.read_text())
    assert "yaml" in heavy_modules(set(data["modules"]), set(data["floor"]))
