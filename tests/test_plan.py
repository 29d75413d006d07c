"""`planner plan`: the search's decisions, the output contract, and the emitted command.

Everything runs offline from the bundled catalogs (HF_HUB_OFFLINE=1, an empty HF_HOME). Expected values
are derived from the memory model itself (planner.memory.estimator), never typed in: a test states a rule
("the chosen TP is the smallest that fits") and checks it against estimates of the alternatives.
Golden texts: regenerate with `VLLM_PLANNER_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_plan.py`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import gpu_catalog
from planner.commands import plan as plan_cmd
from planner.memory.estimator import CONTEXT_GIB, NCCL_GIB, estimate
from planner.planning.recommend import (
    LOSS_TIER,
    UTIL_HEADROOM_GIB,
    Candidate,
    online_fp8_flag,
    scheme_order,
    utilization,
)
from planner.release.engine_args import EngineArgs
from planner.release.serve_args import parse_serve_argv
from planner.release.vllm_flags import flag_status
from planner.sourcing.loader import from_catalog, load_model

GOLDEN = Path(__file__).parent / "golden" / "plan"
UPDATE = os.environ.get("VLLM_PLANNER_UPDATE_GOLDEN", "") not in ("", "0")

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
# The registration the CLI needs: vLLM flags after MODEL are passed through (as for `estimate`).
app.command("plan", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
            help=plan_cmd.HELP)(plan_cmd.command)


@app.command("version")
def _version() -> None:      # a second command, so `plan` stays a subcommand as in the real CLI
    """Unused."""


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("VLLM_PLANNER_GPU_CATALOG", raising=False)
    monkeypatch.delenv("VLLM_PLANNER_MODEL_CATALOG", raising=False)


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, ["plan", *args])
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr


def run_json(*args: str) -> tuple[int, dict]:
    code, out, _ = run(*args, "--json")
    return code, json.loads(out)


def command_of(out: str) -> str:
    """The trailing `vllm serve` command of the human output (its ` \\` continuation lines)."""
    lines = out.rstrip("\n").split("\n")
    start = max(i for i, line in enumerate(lines) if line.startswith("vllm serve "))
    return "\n".join(lines[start:])


# ---------------------------------------------------------------------------------------------- examples

EXAMPLES = [
    ["llama-3.1-70b", "--gpu", "H100", "--quant", "awq"],
    ["qwen3-32b", "--gpu", "any", "--context", "32k", "--concurrency", "64"],
    ["deepseek-r1", "--gpu", "H200", "--num-gpus", "8"],
    ["mistral-small-24b", "--gpu", "L40S,A100-SXM-80GB", "--objective", "cost"],
]


@pytest.mark.parametrize("argv", EXAMPLES, ids=lambda a: a[0])
def test_issue_examples_plan_and_end_with_the_command(argv: list[str]) -> None:
    code, out, err = run(*argv)
    assert code == 0, err
    cmd = command_of(out)
    assert out.endswith(cmd + "\n")
    parsed = parse_serve_argv(cmd, version="0.33.0")
    assert all(f.status == "ok" for f in parsed.flags)
    for flag in ("--tensor-parallel-size", "--gpu-memory-utilization", "--max-model-len", "--max-num-seqs"):
        assert flag in cmd
    # never coloured or boxed
    assert "\x1b[" not in out and "│" not in cmd


def test_issue_examples_json() -> None:
    code, doc = run_json("deepseek-r1", "--gpu", "H200", "--num-gpus", "8")
    assert code == 0
    # the estimate contract of the chosen plan ...
    for key in ("schema_version", "fits", "model", "gpu", "vllm", "per_gpu", "kv_cache", "errors", "warnings"):
        assert key in doc
    assert doc["fits"] is True and doc["gpu"]["count"] == 8 and doc["gpu"]["id"] == "H200-141GB"
    # ... plus the ranked plans and every emitted form
    assert doc["plans"][0]["rank"] == 1 and doc["plans"][0]["count"] == 8
    assert set(doc["commands"]) == {"vllm", "docker", "compose", "k8s"}
    assert doc["commands"]["vllm"].startswith("vllm serve deepseek-ai/DeepSeek-R1")
    assert doc["vllm"]["given"] == []                 # nothing was given: every flag was decided
    flags = [d["flag"] for d in doc["plan"]["decisions"]]
    assert flags[:2] == ["MODEL", "--tensor-parallel-size"] and "--max-model-len" in flags


def test_examples_are_fast_in_process() -> None:
    run("llama-3.1-70b", "--gpu", "H100", "--quant", "awq")          # warm the catalogs
    # CPU time of this process: what the plan costs, whatever else the machine runs.
    t0 = time.process_time()
    run_json("llama-3.1-70b", "--gpu", "H100", "--quant", "awq")
    one = time.process_time() - t0
    t0 = time.process_time()
    run_json("qwen3-32b", "--gpu", "any", "--quant", "auto")
    whole = time.process_time() - t0
    # Issue 7's budgets are 0.1 s and 0.7 s over the empty typer app for a cold process (bench/ measures
    # those); in process, with the catalogs loaded, the search alone must be well inside them.
    assert one < 0.1 and whole < 0.6, (one, whole)


def test_catalog_plan_imports_no_heavy_module(tmp_path: Path) -> None:
    # The human path of `planner plan llama-3.1-70b --gpu H100 --quant awq` (issue 7's benchmark): rich
    # renders it; nothing else heavy. (--json also renders compose/k8s, which need yaml.)
    code = ("import sys, json\n"
            "from planner.commands.plan import build_plan, deployment\n"
            "from planner.rendering.plan import render_plan\n"
            "from planner.emit import vllm_serve\n"
            "r, m = build_plan([], model='llama-3.1-70b', gpu='H100', quant='awq')\n"
            "render_plan(r, m, vllm_serve(deployment(r, m)))\n"
            "heavy = {'pydantic', 'yaml', 'transformers', 'torch', 'vllm', 'httpx', 'requests', 'huggingface_hub'}\n"
            "top = {k.split('.')[0] for k in sys.modules}\n"
            "sys.stderr.write(json.dumps(sorted(top & heavy)))\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stderr) == []
    assert out.stdout.rstrip().endswith("--kv-cache-dtype fp8")


# ---------------------------------------------------------------------------------------------- decisions


def test_tp_is_the_smallest_that_fits() -> None:
    code, doc = run_json("llama-3.1-70b", "--gpu", "H100")
    assert code == 0
    p = doc["plans"][0]
    tp = p["tensor_parallel_size"]
    assert tp > 1 and p["pipeline_parallel_size"] == 1 and p["quantization"] == "none"
    model = load_model("llama-3.1-70b")
    h100 = gpu_catalog.resolve("H100")
    for smaller in range(1, tp):
        for kv in ("auto", "fp8"):
            for eager in (False, True):
                est = estimate(model, h100, EngineArgs(tensor_parallel_size=smaller, kv_cache_dtype=kv,
                                                       enforce_eager=eager, max_model_len=p["max_model_len"],
                                                       gpu_memory_utilization=utilization(h100, smaller, "0.33.0")))
                assert not est.fits, (smaller, kv, eager)


def test_quant_auto_takes_the_least_lossy_scheme_that_fits() -> None:
    code, doc = run_json("llama-3.1-70b", "--gpu", "H100", "--quant", "auto", "--num-gpus", "1")
    assert code == 0
    chosen = doc["plans"][0]
    assert chosen["quantization"] != "none"
    # no less lossy scheme fits one H100 with the same context (with any lever)
    _, plain = run_json("llama-3.1-70b", "--gpu", "H100", "--num-gpus", "1", "--context",
                        str(chosen["max_model_len"]))
    assert plain["fits"] is False
    if LOSS_TIER[chosen["quantization"]] > LOSS_TIER["fp8"]:
        code8, _ = run_json("llama-3.1-70b", "--gpu", "H100", "--num-gpus", "1", "--quant", "fp8",
                            "--context", str(chosen["max_model_len"]))
        assert code8 == 1


def test_quant_auto_prefers_what_the_gpu_runs_natively() -> None:
    cands = tuple(Candidate(scheme=s, model=None, serve_model="m", quantization=None, origin="catalog", note="")
                  for s in ("none", "awq", "fp8", "int8"))
    a100, h100 = gpu_catalog.resolve("A100-SXM-80GB"), gpu_catalog.resolve("H100")
    assert [c.scheme for c, _ in scheme_order(cands, a100)] == ["none", "int8", "fp8", "awq"]
    assert [c.scheme for c, _ in scheme_order(cands, h100)] == ["none", "fp8", "int8", "awq"]
    # on an A100 the catalog's int8 (W8A8) checkpoint is chosen over fp8, which would run as Marlin
    code, doc = run_json("llama-3.1-70b", "--gpu", "A100-SXM-80GB", "--quant", "fp8,int8", "--num-gpus", "2")
    assert code == 0 and doc["plans"][0]["quantization"] == "int8"
    assert doc["plan"]["model"] == "RedHatAI/Meta-Llama-3.1-70B-Instruct-quantized.w8a8"


def test_fp8_below_89_says_marlin() -> None:
    code, out, _ = run("qwen3-32b", "--gpu", "A100-SXM-80GB", "--quant", "fp8", "--num-gpus", "1")
    assert code == 0
    assert "weight-only Marlin" in out


def test_no_quantization_when_it_fits_without() -> None:
    code, doc = run_json("qwen3-8b", "--gpu", "H100", "--quant", "auto")
    assert code == 0 and doc["plans"][0]["quantization"] == "none"
    assert "--quantization" not in doc["commands"]["vllm"]


def test_pipeline_parallel_only_when_tp_alone_cannot_fit() -> None:
    # phi-4: 10 KV heads, so TP 3 and 4 are refused, and on T4s TP 2 leaves no KV memory: within four
    # GPUs only pipeline parallelism fits.
    code, _ = run_json("phi-4", "--gpu", "T4", "--max-gpus", "4", "--pipeline-parallel-size", "1")
    assert code == 1
    code, doc = run_json("phi-4", "--gpu", "T4", "--max-gpus", "4")
    assert code == 0
    p = doc["plans"][0]
    assert p["pipeline_parallel_size"] > 1 and all(q["pipeline_parallel_size"] > 1 for q in doc["plans"])
    assert f"--pipeline-parallel-size {p['pipeline_parallel_size']}" in doc["commands"]["vllm"]
    # with room for TP alone (TP 5 is accepted: 40 heads, 10 KV heads) no plan uses PP
    code, doc = run_json("phi-4", "--gpu", "T4")
    assert code == 0 and all(q["pipeline_parallel_size"] == 1 for q in doc["plans"])


def test_online_fp8_flag_follows_the_version() -> None:
    assert online_fp8_flag("0.33.0") == "fp8_per_tensor"
    assert online_fp8_flag("0.32.0") == "fp8_per_tensor"
    assert online_fp8_flag("0.10.1.1") == "fp8"
    # mistral-7b has no fp8 checkpoint in the catalog: vLLM quantizes the bf16 weights at load time
    code, doc = run_json("mistral-7b", "--gpu", "L4", "--quant", "fp8")
    assert code == 0
    assert doc["plan"]["model"] == "mistralai/Mistral-7B-Instruct-v0.3"
    assert "--quantization fp8_per_tensor" in doc["commands"]["vllm"]
    code, doc = run_json("mistral-7b", "--gpu", "L4", "--quant", "fp8", "--vllm-version", "0.10.1.1")
    assert code == 0 and "--quantization fp8 " in doc["commands"]["vllm"] + " "


def test_prequantized_scheme_serves_the_catalog_checkpoint() -> None:
    code, doc = run_json("llama-3.1-70b", "--gpu", "H100", "--quant", "awq")
    assert code == 0
    assert doc["plan"]["model"] == "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4"
    # vLLM reads the checkpoint's quantization_config; naming --quantization awq would disable awq_marlin
    assert "--quantization" not in doc["commands"]["vllm"]
    assert doc["quantization"]["scheme"] == "awq"


def test_missing_prequantized_checkpoint_is_a_clear_error() -> None:
    code, _, err = run("mistral-7b", "--gpu", "H100", "--quant", "awq")
    assert code == 2
    assert "awq" in err and "no pre-quantized awq checkpoint" in err and "Traceback" not in err


def test_enforce_eager_only_when_decisive() -> None:
    import model_catalog

    repo = "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4"
    model = from_catalog(model_catalog.lookup(repo), repo)
    h100 = gpu_catalog.resolve("H100")
    util = utilization(h100, 1, "0.33.0")
    graphs = estimate(model, h100, EngineArgs(gpu_memory_utilization=util, max_model_len=1024))
    eager = estimate(model, h100, EngineArgs(gpu_memory_utilization=util, max_model_len=1024, enforce_eager=True))
    assert graphs.per_gpu.cudagraph_gib > 0 and eager.per_gpu.cudagraph_gib == 0
    per_token = graphs.kv_cache.bytes_per_token
    # a context the KV cache holds only without the CUDA-graph reservation
    fits_graphs = int(graphs.per_gpu.kv_cache_gib * 2**30 // per_token)
    fits_eager = int(eager.per_gpu.kv_cache_gib * 2**30 // per_token)
    assert fits_eager - fits_graphs > 4096
    between = (fits_graphs + fits_eager) // 2
    base = ["llama-3.1-70b", "--gpu", "H100", "--quant", "awq", "--num-gpus", "1", "--kv-cache-dtype", "auto"]
    code, doc = run_json(*base, "--context", str(between))
    assert code == 0 and doc["plans"][0]["enforce_eager"] is True
    assert "--enforce-eager" in doc["commands"]["vllm"]
    assert any(d["flag"] == "--enforce-eager" for d in doc["plan"]["decisions"])
    code, doc = run_json(*base, "--context", str(fits_graphs - 4096))
    assert code == 0 and doc["plans"][0]["enforce_eager"] is False
    assert "--enforce-eager" not in doc["commands"]["vllm"]


def test_kv_fp8_only_when_it_makes_it_fit() -> None:
    code, doc = run_json("llama-3.1-70b", "--gpu", "H100", "--quant", "awq")
    p = doc["plans"][0]
    assert code == 0 and p["count"] == 1 and p["kv_cache_dtype"] == "fp8"
    _, auto = run_json("llama-3.1-70b", "--gpu", "H100", "--quant", "awq", "--num-gpus", "1",
                       "--kv-cache-dtype", "auto")
    assert auto["fits"] is True and auto["plans"][0]["full_context"] is False   # only a shorter context fits
    code, doc = run_json("qwen3-8b", "--gpu", "H100")
    assert code == 0 and doc["plans"][0]["kv_cache_dtype"] == "auto"


def test_utilization_leaves_headroom_outside_the_budget() -> None:
    for gid in ("H100", "T4", "L4", "RTX-4090-24GB", "B200-180GB"):
        g = gpu_catalog.resolve(gid)
        for world in (1, 8):
            u = utilization(g, world, "0.33.0")
            outside = CONTEXT_GIB + (NCCL_GIB if world > 1 else 0) + UTIL_HEADROOM_GIB
            assert g.total_gib * (1 - u) >= outside - 1e-9 and u <= 0.95
    code, doc = run_json("qwen3-8b", "--gpu", "L4")
    assert code == 0
    assert not any(e["code"] == "insufficient_free_memory" for e in doc["errors"])
    # The plan holds at vLLM's own default, so that is what it writes (not the ceiling): the server
    # allocates beyond the profile run, and a KV cache the plan does not need is not worth that headroom.
    assert doc["vllm"]["args"]["gpu_memory_utilization"] == 0.92 < utilization(gpu_catalog.resolve("L4"), 1, "0.33.0")


def test_user_flags_are_kept() -> None:
    code, doc = run_json("qwen3-32b", "--gpu", "H100", "-tp", "4", "--gpu-memory-utilization", "0.8",
                         "--max-num-seqs", "17", "--served-model-name", "my model", "--port", "9000")
    assert code == 0
    cmd = doc["commands"]["vllm"]
    parsed = parse_serve_argv(cmd)
    assert parsed.args.tensor_parallel_size == 4
    assert parsed.args.gpu_memory_utilization == 0.8
    assert parsed.args.max_num_seqs == 17
    assert dict(parsed.args.passthrough)["--port"] == "9000"
    assert "'my model'" in cmd
    assert sorted(doc["vllm"]["given"]) == ["gpu_memory_utilization", "max_num_seqs", "tensor_parallel_size"]
    why = {d["flag"]: d["why"] for d in doc["plan"]["decisions"]}
    assert why["--max-num-seqs"] == why["--gpu-memory-utilization"] == "kept as given"


def test_concurrency_sets_max_num_seqs_and_shrinks_the_context() -> None:
    code, doc = run_json("qwen3-32b", "--gpu", "H100", "--num-gpus", "1", "--concurrency", "16")
    assert code == 0
    p = doc["plans"][0]
    assert p["max_num_seqs"] == 16 and p["max_concurrency"] >= 16
    assert p["full_context"] is False and p["max_model_len"] % 1024 == 0
    # one more step of context would not hold 16 sequences
    _, longer = run_json("qwen3-32b", "--gpu", "H100", "--num-gpus", "1", "--concurrency", "16",
                         "--context", str(p["max_model_len"] + 1024), "--kv-cache-dtype", p["kv_cache_dtype"],
                         "--no-enforce-eager")
    assert longer["fits"] is False


def test_objective_cost_and_kv() -> None:
    code, doc = run_json("mistral-small-24b", "--gpu", "L40S,A100-SXM-80GB", "--objective", "cost")
    assert code == 0
    costs = [p["cost_per_hour_usd"] for p in doc["plans"]]
    assert costs == sorted(costs)
    code, doc = run_json("mistral-small-24b", "--gpu", "L40S,A100-SXM-80GB", "--objective", "kv", "--max-gpus", "2")
    assert code == 0
    tokens = [p["kv_tokens"] for p in doc["plans"] if p["full_context"]]
    assert tokens == sorted(tokens, reverse=True)


def test_nothing_fits_exits_1_with_closest_miss_and_suggestions() -> None:
    code, out, _ = run("llama-3.1-70b", "--gpu", "L4", "--num-gpus", "2")
    assert code == 1
    assert "Nothing fits" in out and "Closest: 2 x L4-24GB" in out
    assert "more GPUs:" in out and "a quantization:" in out and "a bigger GPU:" in out
    code, doc = run_json("llama-3.1-70b", "--gpu", "H100", "--num-gpus", "2", "--context", "128k",
                         "--concurrency", "8", "--quant", "fp8")
    assert code == 1 and doc["fits"] is False and doc["commands"] == {}
    tips = doc["plan"]["suggestions"]
    assert any(t.startswith("more GPUs:") for t in tips)
    assert any(t.startswith("a smaller context: --context") for t in tips)
    assert doc["plan"]["closest_miss"]["count"] == 2


@pytest.mark.parametrize("argv,needle", [
    (["qwen3-8b", "--gpu", "H100", "--objective", "speed"], "--objective"),
    (["qwen3-8b", "--gpu", "H1000"], "H1000"),
    (["qwen3-8b"], "--gpu is required"),
    (["qwen3-8b", "--gpu", "H100", "--emit", "all"], "--out"),
    (["qwen3-8b", "--gpu", "H100", "--emit", "helm"], "helm"),
    (["qwen3-8b", "--gpu", "H100", "--swap-space", "4"], "--swap-space"),
    (["qwen3-8b", "--gpu", "H100", "--quant", "int3"], "int3"),
    (["qwen3-8b", "--gpu", "H100", "--context", "lots"], "--context"),
    (["qwen3-8b", "--gpu", "H100", "--context", "9" * 5000], "5000 characters"),
    (["qwen3-8b", "--gpu", "H100", "--num-gpus", "0"], "--num-gpus"),
    (["qwen3-8b", "--gpu", "T4", "--objective", "cost", "--vllm-version", "9.1"], "9.1"),
])
def test_bad_input_is_exit_2_one_line(argv: list[str], needle: str) -> None:
    code, out, err = run(*argv)
    assert code == 2, (out, err)
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_input_json_error() -> None:
    code, out, _ = run("qwen3-8b", "--gpu", "H100", "--objective", "speed", "--json")
    assert code == 2 and json.loads(out)["error"]["message"].startswith("--objective")


# ---------------------------------------------------------------------------------------------- emitted


@pytest.mark.parametrize("argv", [*EXAMPLES, ["mistral-7b", "--gpu", "L4", "--quant", "fp8"],
                                  ["phi-4", "--gpu", "T4", "--max-gpus", "4"],
                                  ["qwen3-8b", "--gpu", "L4", "--vllm-version", "0.32.0", "--concurrency", "300"]],
                         ids=lambda a: "-".join(a[:3]))
def test_emitted_command_parses_back_to_the_plan(argv: list[str]) -> None:
    from planner.commands.plan import build_plan, deployment
    from planner.emit import vllm_serve

    opts = dict(zip(argv[1::2], argv[2::2], strict=False))
    version = opts.get("--vllm-version", "0.33.0")
    result, loaded = build_plan([], model=argv[0], gpu=opts["--gpu"], quant=opts.get("--quant"),
                                objective=opts.get("--objective", "gpus"), context=opts.get("--context"),
                                concurrency=int(opts["--concurrency"]) if "--concurrency" in opts else None,
                                num_gpus=int(opts["--num-gpus"]) if "--num-gpus" in opts else None,
                                max_gpus=int(opts["--max-gpus"]) if "--max-gpus" in opts else None,
                                vllm_version=version)
    d = deployment(result, loaded)
    text = vllm_serve(d)
    parsed = parse_serve_argv(text, version=version)
    assert parsed.model == result.chosen.candidate.serve_model
    assert parsed.args == result.chosen.args
    for f in parsed.flags:
        assert flag_status(f.spelling, version) == "ok", f.written
    # and the estimate of the parsed command is the chosen plan's
    again = estimate(result.chosen.candidate.model, result.chosen.gpu, parsed.args, vllm_version=version)
    assert again.fits and again.kv_cache == result.chosen.est.kv_cache


def test_concurrency_above_the_token_budget_raises_it() -> None:
    # an L4's default token budget is 2048 per step (vLLM's tier below 70 GiB)
    code, doc = run_json("qwen3-0.6b", "--gpu", "L4", "--concurrency", "2100", "--context", "64")
    assert code == 0
    args = parse_serve_argv(doc["commands"]["vllm"]).args
    assert args.max_num_seqs == 2100 and args.max_num_batched_tokens == 2100
    assert any(d["flag"] == "--max-num-batched-tokens" for d in doc["plan"]["decisions"])


def _parses_as(form: str, text: str, tmp_path: Path) -> None:
    """`text` is a valid document of `form`, alone: YAML the schema accepts, or a script bash accepts."""
    import shutil

    if form in ("vllm", "docker"):
        bash = shutil.which("bash")
        assert bash is not None
        script = tmp_path / "form.sh"
        script.write_text(text)
        syntax = subprocess.run([bash, "-n", str(script)], capture_output=True, text=True, check=False)
        assert syntax.returncode == 0, syntax.stderr
        first = text.lstrip().split()[0]
        assert first == ("vllm" if form == "vllm" else "docker"), text[:200]
        return
    import yaml

    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    if form == "compose":
        from test_emit_schema import _compose_validator

        assert len(docs) == 1
        assert not [e.message for e in _compose_validator().iter_errors(docs[0])]
    else:
        import kubernetes_validate
        from kubernetes_validate import utils as kv_utils

        assert docs and all(isinstance(d, dict) and "kind" in d for d in docs)
        for d in docs:
            kubernetes_validate.validate(d, kv_utils.latest_version(), strict=True)


@pytest.mark.parametrize("form", ["vllm", "docker", "compose", "k8s"])
def test_emit_form_is_stdout_alone(form: str, tmp_path: Path) -> None:
    """`plan --emit FORM > file` or `| kubectl apply -f -`: stdout is the form and nothing else; the report
    (and every warning) is on stderr."""
    from planner.commands.plan import build_plan, deployment
    from planner.emit import emit, vllm_serve

    for model, gpu in (("qwen3-8b", "L4"), ("llama-3.1-70b", "H100")):
        code, out, err = run(model, "--gpu", gpu, "--emit", form)
        assert code == 0, err
        r, m = build_plan([], model=model, gpu=gpu)
        d = deployment(r, m)
        want = vllm_serve(d) if form == "vllm" else emit(d, form)
        assert out == want.rstrip("\n") + "\n"
        _parses_as(form, out, tmp_path)
        assert "Plan 1" in err and "Why" in err          # the report went to stderr, not away


def test_without_emit_the_report_and_the_command_are_on_stdout() -> None:
    code, out, err = run("qwen3-8b", "--gpu", "L4")
    assert code == 0
    assert "Plan 1" in out and out.rstrip("\n").split("\n")[-1].startswith("  --")
    assert "Plan 1" not in err


def test_nothing_fits_with_emit_leaves_stdout_empty() -> None:
    code, out, err = run("llama-3.1-70b", "--gpu", "L4", "--num-gpus", "2", "--emit", "k8s")
    assert code == 1 and out == "" and "Nothing fits" in err


def test_warnings_go_to_stderr() -> None:
    # A T4 has no bfloat16: vLLM downcasts, and the plan warns about it (on stderr, also without --emit).
    for extra in ([], ["--emit", "vllm"]):
        code, out, err = run("qwen3-8b", "--gpu", "T4", *extra)
        assert code == 0
        assert "dtype_downcast" in err
        assert "warning" not in out.lower()


def test_emit_all_writes_the_folder(tmp_path: Path) -> None:
    target = tmp_path / "deploy"
    code, out, _ = run("qwen3-8b", "--gpu", "L4", "--emit", "all", "--out", str(target))
    assert code == 0
    from planner.emit import FILES

    assert sorted(p.name for p in target.iterdir()) == sorted(FILES)
    assert out.rstrip("\n").split("\n")[-1].startswith("  --") or "vllm serve" in out.rsplit("wrote", 1)[1]


def test_one_line_command() -> None:
    code, out, _ = run("qwen3-8b", "--gpu", "L4", "--one-line")
    assert code == 0
    last = out.rstrip("\n").split("\n")[-1]
    assert last.startswith("vllm serve Qwen/Qwen3-8B ") and "\\" not in last


# ---------------------------------------------------------------------------------------------- rendering


def test_reads_well_in_80_columns() -> None:
    for argv in [*EXAMPLES, ["llama-3.1-70b", "--gpu", "L4", "--num-gpus", "2"]]:
        code, out, _ = run(*argv)
        body = out[: out.rfind("vllm serve ")] if code == 0 else out
        too_wide = [line for line in body.split("\n") if len(line) > 80]
        assert not too_wide, (argv, too_wide)


GOLDEN_CASES = {
    "llama-3.1-70b-h100-awq": ["llama-3.1-70b", "--gpu", "H100", "--quant", "awq"],
    "mistral-small-24b-cost": ["mistral-small-24b", "--gpu", "L40S,A100-SXM-80GB", "--objective", "cost"],
    "llama-3.1-70b-l4-nothing-fits": ["llama-3.1-70b", "--gpu", "L4", "--num-gpus", "2"],
}


@pytest.mark.parametrize("case", list(GOLDEN_CASES))
def test_golden_human_output(case: str) -> None:
    _, out, _ = run(*GOLDEN_CASES[case])
    path = GOLDEN / f"{case}.txt"
    if UPDATE:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_text(out, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: run with VLLM_PLANNER_UPDATE_GOLDEN=1 to create it"
    assert out == path.read_text(encoding="utf-8"), f"{path.name} differs (VLLM_PLANNER_UPDATE_GOLDEN=1 to update)"


def test_why_has_one_line_per_stated_flag() -> None:
    code, out, _ = run("llama-3.1-70b", "--gpu", "H100", "--quant", "awq")
    assert code == 0
    why = out[out.index("Why\n"):out.rfind("vllm serve ")]
    for flag in re.findall(r"(--[a-z-]+)", command_of(out)):
        assert f"  {flag} " in why, flag


@pytest.mark.parametrize("dp", [1, 2, 4])
@pytest.mark.parametrize("argv", [["llama-3.1-70b", "--gpu", "H100"], ["qwen3-8b", "--gpu", "L4"],
                                  ["llama-3.1-70b", "--gpu", "H100", "--num-gpus", "8"]], ids=lambda a: "-".join(a))
def test_data_parallel_counts_every_replica(argv: list[str], dp: int) -> None:
    """-dp N: the serve's GPUs are TP x PP x DP; each replica is the plan of TP x PP (same memory per GPU)."""
    if "--num-gpus" in argv and 8 % dp:
        pytest.skip("not a multiple")
    code, doc = run_json(*argv, "-dp", str(dp))
    assert code == 0, doc.get("error")
    top = doc["plans"][0]
    assert top["count"] == top["tensor_parallel_size"] * top["pipeline_parallel_size"] * dp
    assert top["data_parallel_size"] == dp and doc["gpu"]["count"] in (top["count"], top["count"] // dp)
    if "--num-gpus" in argv:
        assert top["count"] == 8
    args = parse_serve_argv(doc["commands"]["vllm"]).args
    assert args.data_parallel_size == dp and args.tensor_parallel_size == top["tensor_parallel_size"]
    import yaml

    gpus = [c["resources"]["limits"]["nvidia.com/gpu"] for d in yaml.safe_load_all(doc["commands"]["k8s"])
            if d and d.get("kind") == "Deployment" for c in d["spec"]["template"]["spec"]["containers"]]
    assert [int(g) for g in gpus] == [top["count"]]
    # one replica's rank: the same memory as the TP x PP plan without data parallelism
    single = [*argv, "--tensor-parallel-size", str(top["tensor_parallel_size"]), "--pipeline-parallel-size",
              str(top["pipeline_parallel_size"])]
    single = [a for i, a in enumerate(single) if a != "--num-gpus" and (i == 0 or single[i - 1] != "--num-gpus")]
    _, one = run_json(*single)
    assert one["per_gpu"]["weights_gib"] == doc["per_gpu"]["weights_gib"]


def test_num_gpus_not_a_multiple_of_dp_is_exit_2() -> None:
    code, out, err = run("llama-3.1-70b", "--gpu", "H100", "-dp", "2", "--num-gpus", "3")
    assert code == 2 and "multiple of --data-parallel-size 2" in err and out == ""
