#!/usr/bin/env python3
"""Cold-start benchmark of an installed `planner` (issues 7 and 12); writes docs/performance.md.

    python bench/bench.py [--runs 15] [--venv DIR] [--output docs/performance.md] [--no-write] [--source DIR]

What it does, in order:
1. Builds (first run) or reuses a venv (default ~/.cache/vllm-planner/bench-venv) holding the project's
   runtime dependencies, and installs the current source tree into it as a regular, non-editable
   install (copied to a temp dir first so nothing is written into the repository). pip compiles the
   .pyc files; the script checks they exist, because this machine sets PYTHONDONTWRITEBYTECODE=1 and a
   benchmark without bytecode would measure the compiler, not the CLI.
2. Runs every command once (warm-up; also tells an unimplemented command from a working one), then
   measures `--runs` rounds of fresh processes, interleaving the commands round by round so that load
   from other processes on the machine spreads evenly over all figures. Reports the median.
3. Compares each figure with two floors measured in the same rounds: `python -c pass` and an empty
   typer app with one command, and checks the budgets of issue 7.
4. Explains where the time goes: `python -X importtime` of the catalog plan path, grouped by top-level
   package, and a cProfile of the `--gpu any` search.

The whole run takes about a minute at 15 rounds (plus the one-time venv build).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vllm-planner" / "bench-venv"
# What a pip install of the project needs from the source tree (pyproject's package-data and readme).
SOURCE_ITEMS = ("pyproject.toml", "README.md", "planner", "gpu_catalog", "model_catalog")
# A real config.json shipped with the tests (copied from the Hub; see tests/data/validation/README.md).
LOCAL_CONFIG = REPO / "tests" / "data" / "validation" / "model-configs" / "meta-llama__Llama-3.1-8B-Instruct.json"
N_MANIFESTS = 200
# What the fast paths must not import (issue 7); tests/test_imports.py asserts it module by module.
HEAVY = ("transformers", "torch", "vllm", "yaml", "pydantic", "huggingface_hub", "httpx", "requests", "numpy")
SLOW_TIMEOUT_S = 30.0

FLOOR_TYPER = '''\
import typer

app = typer.Typer()


@app.command()
def main(name: str = "world") -> None:
    """One command, no work: what any typer CLI pays to start."""


if __name__ == "__main__":
    app()
'''


@dataclass
class Case:
    key: str
    label: str                  # what docs/performance.md shows
    argv: list[str]
    floor: str | None = None    # "typer" when a budget is relative to the typer floor
    budget_s: float | None = None
    absolute: bool = False      # budget is an absolute time, not a margin over the floor
    times: list[float] = field(default_factory=list)
    status: str = "ok"          # ok | not implemented | broken
    note: str = ""
    exit_code: int | None = None
    env: dict[str, str] | None = None   # the process environment, when not the bench's own


def sh(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload]


def bench_env(tmp: Path) -> dict[str, str]:
    """The environment of every measured process: the user's, minus PYTHONDONTWRITEBYTECODE (so the
    installed .pyc files are used), with Hub access off so no command can wait on the network."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
    env.update(HF_HUB_OFFLINE="1", NO_COLOR="1", COLUMNS="120", HOME=str(tmp / "home"))
    return env


def runtime_deps() -> list[str]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]


def ensure_venv(venv: Path, env: dict[str, str]) -> Path:
    """The venv's python, with the runtime deps installed (rebuilt when pyproject's deps change)."""
    py = venv / "bin" / "python"
    deps = [*runtime_deps(), "setuptools>=68", "wheel"]
    stamp = venv / ".deps-hash"
    want = hashlib.sha256("\n".join(deps).encode()).hexdigest()
    if not (py.exists() and stamp.exists() and stamp.read_text() == want):
        shutil.rmtree(venv, ignore_errors=True)
        print(f"building {venv} (one time) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", *deps],
                       check=True, env=env)
        stamp.write_text(want)
    return py


def install_project(py: Path, tmp: Path, env: dict[str, str], source: Path) -> tuple[Path, list[str]]:
    """Install the source tree (not editable): (its site-packages, package-data gaps patched)."""
    src = tmp / "src"
    src.mkdir()
    for item in SOURCE_ITEMS:
        p = source / item
        if p.is_dir():
            shutil.copytree(p, src / item, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif p.exists():
            shutil.copy2(p, src / item)

    def pip_install() -> Path:
        # No build isolation: setuptools is in the venv, and the build must not need the network.
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                        "--no-build-isolation", "--force-reinstall", str(src)], check=True, env=env,
                       cwd=tmp, stdout=subprocess.DEVNULL)
        out = sh([str(py), "-c", "import planner; print(planner.__file__)"], env=env, cwd=tmp)
        if str(source) in out.stdout or not out.stdout.strip():
            raise SystemExit(f"bench: the venv does not import the installed copy ({out.stdout.strip()})")
        return Path(out.stdout.strip()).parent.parent

    site = pip_install()
    gaps = package_data_gaps(site, source)
    if gaps:
        patch_package_data(src, gaps)
        site = pip_install()
    return site, gaps


def package_data_gaps(site: Path, source: Path) -> list[str]:
    """Data files the packages read at run time that the repository has and the install lacks.

    A gap is a packaging defect (pyproject's [tool.setuptools.package-data]): the command that reads the
    file crashes for every user of a wheel, while working from a checkout."""
    gaps = []
    for pkg in SOURCE_ITEMS:
        root = source / pkg
        if not root.is_dir():
            continue
        for f in sorted(root.rglob("*")):
            if f.is_file() and f.suffix not in (".py", ".pyc") and "__pycache__" not in f.parts:
                rel = f.relative_to(source)
                if not (site / rel).exists():
                    gaps.append(str(rel))
    return gaps


def patch_package_data(src: Path, gaps: list[str]) -> None:
    """Add the missing files to the temp copy's package-data, so the figures measure working commands.
    The report lists every file added this way as a defect to fix in pyproject.toml."""
    text = (src / "pyproject.toml").read_text()
    pkg_data = {k: list(v) for k, v in tomllib.loads(text)["tool"]["setuptools"]["package-data"].items()}
    for rel in gaps:
        pkg, _, inner = rel.partition("/")
        pkg_data.setdefault(pkg, []).append(inner)
    section = re.search(r"^\[tool\.setuptools\.package-data\]\n(?:[^\[].*\n|\n)*", text, re.M)
    if section is None:
        raise SystemExit("bench: pyproject.toml has no [tool.setuptools.package-data]")
    body = "".join(f"{k} = {json.dumps(v)}\n" for k, v in pkg_data.items())
    (src / "pyproject.toml").write_text(text[:section.start()] + "[tool.setuptools.package-data]\n" + body
                                        + "\n" + text[section.end():])


def check_bytecode(site: Path) -> list[str]:
    """Modules on the measured paths that have no compiled bytecode (should be none)."""
    tag = sys.implementation.cache_tag
    wanted = ["planner/cli.py", "planner/memory/estimator.py", "planner/commands/estimate.py",
              "gpu_catalog/__init__.py",
              "model_catalog/__init__.py", "typer/main.py", "click/core.py", "rich/console.py"]
    missing = []
    for rel in wanted:
        p = site / rel
        if p.exists() and not (p.parent / "__pycache__" / f"{p.stem}.{tag}.pyc").exists():
            missing.append(rel)
    return missing


def write_manifests(folder: Path, n: int) -> None:
    """n Kubernetes Deployments of `vllm serve` with varied models, GPUs and flags (deterministic)."""
    models = ["meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-32B-Instruct",
              "mistralai/Mistral-7B-Instruct-v0.3", "meta-llama/Llama-3.1-70B-Instruct", "google/gemma-2-9b-it",
              "Qwen/Qwen3-32B", "microsoft/phi-4"]
    gpus = [("NVIDIA-H100-80GB-HBM3", 1), ("NVIDIA-A100-SXM4-80GB", 2), ("NVIDIA-L4", 1), ("NVIDIA-H100-80GB-HBM3", 4)]
    folder.mkdir(parents=True)
    for i in range(n):
        model = models[i % len(models)]
        label, tp = gpus[(i // len(models)) % len(gpus)]
        max_len = (4096, 8192, 16384, 32768)[i % 4]
        util = ("0.85", "0.9", "0.92")[i % 3]
        (folder / f"deploy-{i:03d}.yaml").write_text(f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: vllm-{i}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: vllm-{i}}}
  template:
    metadata:
      labels: {{app: vllm-{i}}}
    spec:
      nodeSelector:
        nvidia.com/gpu.product: {label}
      containers:
        - name: vllm
          image: vllm/vllm-openai:v0.33.0
          command: ["vllm", "serve"]
          args: ["{model}", "--tensor-parallel-size", "{tp}", "--max-model-len", "{max_len}",
                 "--gpu-memory-utilization", "{util}"]
          resources:
            limits:
              nvidia.com/gpu: "{tp}"
""")


def cases(venv: Path, tmp: Path) -> list[Case]:
    py, planner = str(venv / "bin" / "python"), str(venv / "bin" / "planner")
    cfg = tmp / "llama-3.1-8b-local"
    return [
        Case("python", "`python -c pass`", [py, "-c", "pass"]),
        Case("typer", "empty typer app, one command", [py, str(tmp / "floor_typer.py")]),
        Case("help", "`planner --help`", [planner, "--help"], "typer", 0.050),
        Case("estimate", f"`planner estimate {cfg.name} --gpu H100` (local folder)",
             [planner, "estimate", str(cfg), "--gpu", "H100"], "typer", 0.100),
        Case("plan", "`planner plan llama-3.1-70b --gpu H100 --quant awq`",
             [planner, "plan", "llama-3.1-70b", "--gpu", "H100", "--quant", "awq"], "typer", 0.100),
        Case("plan_any", "`planner plan qwen3-32b --gpu any --quant auto`",
             [planner, "plan", "qwen3-32b", "--gpu", "any", "--quant", "auto"], "typer", 0.700),
        # Issue 11: a TTFT target below one request alone is refused without a capacity search.
        Case("plan_slo", "`planner plan llama-3.1-8b --gpu H100 --request-rate 2 --slo-ttft-ms 16` (unreachable)",
             [planner, "plan", "llama-3.1-8b", "--gpu", "H100", "--request-rate", "2", "--slo-ttft-ms", "16"],
             None, 1.0, absolute=True),
        # Issue 11: every input in under 5 s. A TTFT target just above one request alone: 10 capacity searches
        # (4 layouts, 6 batch-tuning variants, which stop once they cannot beat the defaults' rate).
        Case("plan_slo_search", "`planner plan llama-3.1-8b --gpu H100 --request-rate 2 --slo-ttft-ms 25`",
             [planner, "plan", "llama-3.1-8b", "--gpu", "H100", "--request-rate", "2", "--slo-ttft-ms", "25"],
             None, 5.0, absolute=True),
        Case("check", f"`planner check` over {N_MANIFESTS} manifests",
             [planner, "check", str(tmp / "manifests")], None, 2.0, absolute=True),
        # Issue 12: a 1,000-prompt ShareGPT prediction within 1 s of the typer floor, and a 9-point sweep
        # within 3 s.
        Case("perf", "`planner perf qwen3-8b --gpu H100 --dataset-name sharegpt --num-prompts 1000`",
             [planner, "perf", "qwen3-8b", "--gpu", "H100", "--dataset-name", "sharegpt", "--num-prompts", "1000"],
             "typer", 1.0),
        Case("perf_sweep", "`planner perf qwen3-8b --gpu H100 --num-prompts 500 --random-input-len 1024 "
             "--random-output-len 256 --sweep max-concurrency=1,2,...,256` (9 points)",
             [planner, "perf", "qwen3-8b", "--gpu", "H100", "--num-prompts", "500", "--random-input-len", "1024",
              "--random-output-len", "256", "--sweep", "max-concurrency=1,2,4,8,16,32,64,128,256"],
             None, 3.0, absolute=True),
    ]


def editable_cases(venv: Path, tmp: Path, env: dict[str, str]) -> list[Case]:
    """The install the README's Quickstart makes (`pip install -e .` then `compileall`), measured two ways.
    Budgeted: with bytecode compiled, which is what the Quickstart leaves (it runs compileall, as a regular
    pip install does), so that is what its user's every run costs. Shown without a budget: on a machine with
    PYTHONDONTWRITEBYTECODE=1 (this one; many container images set it) and no compileall, Python compiles
    every planner module a plain plan imports (about 550 KB of source) on every run; that cost is the
    compiler's, proportional to the source read, and no import path change within +100 ms could remove it."""
    py, planner = str(venv / "bin" / "python"), str(venv / "bin" / "planner")
    plan = [planner, "plan", "llama-3.1-70b", "--gpu", "H100", "--quant", "awq"]
    nobc = {**env, "PYTHONDONTWRITEBYTECODE": "1"}
    return [
        Case("typer_e", "empty typer app (editable rounds)", [py, str(tmp / "floor_typer.py")], env=nobc),
        Case("plan_editable_nobc", "`planner plan ...` from `pip install -e .` without compileall, "
             "PYTHONDONTWRITEBYTECODE=1 (no budget: every run compiles the source)", plan, "typer_e", None,
             env=nobc),
        Case("plan_editable", "`planner plan ...` from `pip install -e .`, bytecode compiled", plan, "typer_e",
             0.100, env=nobc),
    ]


def install_editable(py: Path, src: Path, env: dict[str, str]) -> None:
    """`pip install -e` of the temp copy, as the Quickstart does; its __pycache__ folders removed."""
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                    "--no-build-isolation", "-e", str(src)], check=True, env=env, cwd=src.parent,
                   stdout=subprocess.DEVNULL)
    for cache in list(src.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)


def measure_editable(py: Path, venv: Path, tmp: Path, env: dict[str, str], runs: int) -> list[Case]:
    """Both editable figures, each with its floor in the same rounds."""
    src = tmp / "src"
    install_editable(py, src, {**env, "HOME": str(Path.home())})
    floor, nobc, compiled = editable_cases(venv, tmp, env)
    for c in (floor, nobc):
        probe(c, c.env or env, tmp)
    measure([floor, nobc], runs, env, tmp)
    # Bytecode written once, explicitly (py_compile writes whatever PYTHONDONTWRITEBYTECODE says).
    sh([str(py), "-m", "compileall", "-q", *(str(src / p) for p in ("planner", "gpu_catalog", "model_catalog"))],
       env=env, cwd=tmp)
    probe(compiled, compiled.env or env, tmp)
    floor2 = Case("typer_e2", "empty typer app (editable rounds, bytecode)", floor.argv, env=floor.env)
    compiled.floor = "typer_e2"
    measure([floor2, compiled], runs, env, tmp)
    return [floor, nobc, floor2, compiled]


def probe(case: Case, env: dict[str, str], cwd: Path) -> None:
    """Warm-up run: classify the command as working, not implemented, or broken (never faked).

    A command still being written has a stub whose help says "not implemented"."""
    stub = False
    if Path(case.argv[0]).name == "planner" and len(case.argv) > 1 and not case.argv[1].startswith("-"):
        helped = sh([case.argv[0], case.argv[1], "--help"], env=env, cwd=cwd, timeout=SLOW_TIMEOUT_S)
        stub = "not implemented" in helped.stdout.lower()
    try:
        r = sh(case.argv, env=env, cwd=cwd, timeout=SLOW_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        case.status, case.note = "broken", f"did not finish in {SLOW_TIMEOUT_S:.0f} s"
        return
    case.exit_code = r.returncode
    text = (r.stderr + r.stdout).strip()
    if stub:
        case.status, case.note = "not implemented", f"`planner {case.argv[1]} --help` says so"
    elif r.returncode not in (0, 1) or "Traceback" in r.stderr:
        last = text.splitlines()[-1][:160] if text else ""
        case.status, case.note = "broken", f"exit {r.returncode}: {last}"


def measure(all_cases: list[Case], runs: int, env: dict[str, str], cwd: Path) -> None:
    live = [c for c in all_cases if c.status == "ok"]
    for _ in range(runs):
        for c in live:
            # No timeout here: with one, Popen.wait polls with sleeps of up to 50 ms and every figure would
            # be rounded up to that grid. The warm-up probe already bounded each command's time.
            t0 = time.perf_counter()
            subprocess.run(c.argv, env=c.env or env, cwd=cwd, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
            c.times.append(time.perf_counter() - t0)


def importtime(py: Path, argv: list[str], env: dict[str, str],
               cwd: Path) -> tuple[float, list[tuple[str, float, float]]]:
    """(total import seconds, [(top-level package, self s, share)]) from `python -X importtime`."""
    r = sh([str(py), "-X", "importtime", *argv], env=env, cwd=cwd)
    by_pkg: dict[str, int] = {}
    total = 0
    for line in r.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
        if not m:
            continue
        self_us, name = int(m.group(1)), m.group(4)
        pkg = name.split(".")[0]
        by_pkg[pkg] = by_pkg.get(pkg, 0) + self_us
        total += self_us
    rows = sorted(by_pkg.items(), key=lambda kv: -kv[1])
    return total / 1e6, [(p, us / 1e6, us / total if total else 0.0) for p, us in rows]


# `python -m cProfile script` writes nothing when the script calls sys.exit, which every CLI does: this
# driver profiles the whole command (imports of planner.cli included) and saves the stats regardless.
PROFILE_DRIVER = """\
import cProfile, sys
out, sys.argv = sys.argv[1], ["planner", *sys.argv[2:]]
prof = cProfile.Profile()
prof.enable()
try:
    from planner.cli import main
    main()
except SystemExit:
    pass
finally:
    prof.disable()
    prof.dump_stats(out)
"""


def profile(py: Path, args: list[str], env: dict[str, str], cwd: Path) -> list[tuple[str, int, float, float]]:
    """Top functions by cumulative time in one run of `planner ARGS` under cProfile:
    (function, calls, tottime, cumtime)."""
    out = cwd / "profile.out"
    sh([str(py), "-c", PROFILE_DRIVER, str(out), *args], env=env, cwd=cwd, timeout=120)
    if not out.exists():
        return []
    stats = pstats.Stats(str(out))
    rows = []
    for (filename, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = filename
        for marker in ("site-packages/", "lib/python"):
            if marker in where:
                where = where.split(marker, 1)[1]
                break
        # Our own code (and what it calls directly) is what can be changed; the import machinery is
        # reported by importtime above.
        if not any(where.startswith(p) for p in ("planner/", "gpu_catalog/", "model_catalog/")):
            continue
        rows.append((f"{where}:{line} {func}", nc, tt, ct))
    rows.sort(key=lambda r: -r[3])
    return rows[:15]


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {"cpu": model, "cores": str(os.cpu_count()), "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}", "load": load}


def ms(s: float) -> str:
    return f"{s * 1000:.0f} ms"


def report(all_cases: list[Case], info: dict[str, str], runs: int,
           imports: tuple[str, float, list[tuple[str, float, float]], set[str]],
           prof: tuple[str, list[tuple[str, int, float, float]]],
           load_after: str, bytecode_missing: list[str], gaps: list[str]) -> tuple[str, bool]:
    med = {c.key: statistics.median(c.times) for c in all_cases if c.times}
    floor_py, floor_typer = med.get("python", 0.0), med.get("typer", 0.0)
    lines = [
        "# Performance",
        "",
        "Written by `python bench/bench.py` (issue 7); rerun it after changing a command's import path.",
        f"Median of {runs} cold processes of an installed copy (pip install of this tree into a venv, "
        "compiled bytecode, `PYTHONDONTWRITEBYTECODE` unset), commands interleaved round by round so that "
        "load from other processes spreads evenly; the two floors were measured in the same rounds.",
        "",
        "## Machine",
        "",
        f"- CPU: {info['cpu']}, {info['cores']} cores",
        f"- Python {info['python']}, {info['os']}",
        f"- load average (1, 5, 15 min) before: {info['load']}; after: {load_after} "
        "(the machine is shared, so absolute figures move; the margins over the floors move less)",
        "",
        "## Figures",
        "",
        "| command | median | min | max | over `python -c pass` | over typer floor | budget | result |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    all_pass = True
    for c in all_cases:
        if c.status != "ok":
            lines.append(f"| {c.label} | {c.status} | | | | | {budget_text(c)} | {c.status}: {c.note} |")
            if c.budget_s is not None:
                all_pass = False
            continue
        m = med[c.key]
        verdict = ""
        floor = med.get(c.floor or "typer", floor_typer)     # the floor measured in the same rounds
        if c.budget_s is not None:
            over = m if c.absolute else m - floor
            ok = over <= c.budget_s
            all_pass &= ok
            verdict = "pass" if ok else "FAIL"
        over_typer = "" if c.key in ("python", "typer", "typer_e", "typer_e2") else f"{(m - floor) * 1000:+.0f} ms"
        over_py = "" if c.key == "python" else f"{(m - floor_py) * 1000:+.0f} ms"
        lines.append(f"| {c.label} | {ms(m)} | {ms(min(c.times))} | {ms(max(c.times))} | {over_py} | "
                     f"{over_typer} | {budget_text(c)} | {verdict} |")
    lines += ["", f"All budgets met: **{'yes' if all_pass else 'no'}**.", "",
              "Reading the figures: a planner command can come in under the typer floor. The floor runs a "
              "command, and typer (>= 0.2x) builds a pydantic TypeAdapter for each of its parameters to run it "
              "(the first one imports pydantic's type machinery); the planner builds one only for a value typer "
              "must convert (planner/cli_params.py): `--help`, and a catalog plan whose values are all strings, "
              "import no pydantic at all. "
              "Each process is timed with a blocking wait: `subprocess.run(..., timeout=...)` polls with sleeps "
              "of up to 50 ms and would round every figure up to that grid.", ""]
    if bytecode_missing:
        lines += [f"Warning: no bytecode found for {', '.join(bytecode_missing)}.", ""]
    if gaps:
        lines += ["**Packaging defect**: a pip install of this tree lacks "
                  + ", ".join(f"`{g}`" for g in gaps)
                  + " (missing from `[tool.setuptools.package-data]` in pyproject.toml), so commands reading "
                  "them crash for every installed user. The figures above were measured with them added to the "
                  "package data of the benchmark's copy.", ""]
    all_pass &= not gaps
    what, total, rows, floor_pkgs = imports
    lines += [
        "## Where the time goes",
        "",
        f"### Imports of {what}",
        "",
        f"`python -X importtime`: {ms(total)} of imports in one run (self time, grouped by top-level package; "
        "importtime's own overhead inflates it). \"typer floor\" marks packages the empty typer app imports "
        "too (typer brings click, and pydantic for its parameter adapters): those are not ours to remove.",
        "",
        "| package | self | share | typer floor |",
        "|---|---:|---:|---|",
    ]
    lines += [f"| {p} | {s * 1000:.1f} ms | {share:.0%} | {'yes' if p in floor_pkgs else ''} |"
              for p, s, share in rows[:15]]
    heavy = [p for p, _s, _sh in rows if p in HEAVY and p not in floor_pkgs]
    lines += ["", "Heavy packages this path adds to the typer floor: " + (", ".join(heavy) if heavy else "none")
              + f" (checked: {', '.join(HEAVY)}).", ""]
    pwhat, prows = prof
    lines += [f"### Profile of {pwhat}", "",
              "cProfile of one run, the project's own functions by cumulative time (imports included "
              "where a function imports lazily):", "",
              "| function | calls | own | cumulative |", "|---|---:|---:|---:|"]
    lines += [f"| `{f}` | {n} | {tt * 1000:.1f} ms | {ct * 1000:.1f} ms |" for f, n, tt, ct in prows]
    if not prows:
        lines.append("| (no profile: command not available) | | | |")
    lines.append("")
    return "\n".join(lines), all_pass


def budget_text(c: Case) -> str:
    if c.budget_s is None:
        return ""
    if c.absolute:
        return f"< {c.budget_s:.0f} s"
    return f"floor + {c.budget_s * 1000:.0f} ms"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=15, help="cold processes per command (>= 10)")
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    ap.add_argument("--output", type=Path, default=REPO / "docs" / "performance.md")
    ap.add_argument("--no-write", action="store_true", help="print the report instead of writing it")
    ap.add_argument("--no-editable", action="store_true",
                    help="skip the editable-install (Quickstart) figures")
    ap.add_argument("--source", type=Path, default=REPO,
                    help="the tree to install and measure (default: this repository)")
    opts = ap.parse_args()
    if opts.runs < 10:
        ap.error("--runs must be at least 10")
    info = machine()
    with tempfile.TemporaryDirectory(prefix="planner-bench-") as t:
        tmp = Path(t)
        (tmp / "home").mkdir()
        env = bench_env(tmp)
        py = ensure_venv(opts.venv, {**env, "HOME": str(Path.home())})
        site, gaps = install_project(py, tmp, {**env, "HOME": str(Path.home())}, opts.source.resolve())
        missing = check_bytecode(site)
        (tmp / "floor_typer.py").write_text(FLOOR_TYPER)
        cfg = tmp / "llama-3.1-8b-local"
        cfg.mkdir()
        shutil.copy2(LOCAL_CONFIG, cfg / "config.json")
        write_manifests(tmp / "manifests", N_MANIFESTS)
        all_cases = cases(opts.venv, tmp)
        for c in all_cases:
            probe(c, env, tmp)
            print(f"{c.key:10s} {c.status} {c.note}", file=sys.stderr)
        t0 = time.perf_counter()
        measure(all_cases, opts.runs, env, tmp)
        print(f"measured in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        by = {c.key: c for c in all_cases}
        path = by["plan"] if by["plan"].status == "ok" else by["estimate"]
        total, rows = importtime(py, path.argv, env, tmp)
        floor_pkgs = {p for p, _s, _sh in importtime(py, by["typer"].argv[1:], env, tmp)[1]}
        heavy = by["plan_any"] if by["plan_any"].status == "ok" else by["estimate"]
        prof = profile(py, heavy.argv[1:], env, tmp)
        if not opts.no_editable:   # last: it replaces the regular install in the venv
            all_cases += measure_editable(py, opts.venv, tmp, env, opts.runs)
        load_after = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        text, ok = report(all_cases, info, opts.runs, (path.label, total, rows, floor_pkgs), (heavy.label, prof),
                          load_after, missing, gaps)
    if opts.no_write:
        print(text)
    else:
        opts.output.write_text(text)
        print(f"wrote {opts.output}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
