"""`planner plan` with a workload (issue 13): replicas for a request rate within latency targets, and the
defaults without a workload that published deployments contradict.

The check of a capacity plan is the one a user would make: run `planner perf` on the emitted `vllm serve`
command at the per-replica rate (the same workload the plan simulated) and read the targets off its
benchmark keys; and replicas x per-replica rate must cover the peak. Runs offline from the catalogs.
"""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.contract import ANSWERS, json_schema
from planner.performance.capacity import parse_rate
from planner.release.serve_args import parse_serve_argv

EXAMPLE_SLO = ["qwen3-8b", "--gpu", "L40S,H100", "--request-rate", "40", "--random-input-len", "1000",
               "--random-output-len", "200", "--slo-ttft-ms", "500", "--slo-tpot-ms", "40"]
EXAMPLE_COST = ["llama-3.3-70b", "--gpu", "any", "--request-rate", "1000/min", "--dataset-name", "sharegpt",
                "--objective", "cost"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("VLLM_PLANNER_GPU_CATALOG", raising=False)
    monkeypatch.delenv("VLLM_PLANNER_MODEL_CATALOG", raising=False)


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, list(args))
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr


_CACHE: dict[tuple[str, ...], tuple[int, dict[str, Any]]] = {}


def plan_json(*argv: str) -> tuple[int, dict[str, Any]]:
    """`planner plan ... --json`, once per argv for the module (each example simulates a few seconds)."""
    if argv not in _CACHE:
        code, out, _ = run("plan", *argv, "--json")
        _CACHE[argv] = (code, json.loads(out))
    return _CACHE[argv]


def _valid(doc: dict[str, Any]) -> None:
    import jsonschema

    ANSWERS["plan"].model_validate(doc)
    schema = json_schema()
    jsonschema.validate(doc, {**schema, "$ref": schema["answers"]["plan"]["$ref"]})


def perf_of(doc: dict[str, Any]) -> dict[str, Any]:
    """`planner perf` of the emitted command at the chosen plan's per-replica rate, as JSON."""
    top = doc["plans"][0]
    cap = top["capacity"]
    pred = cap["predicted"]
    shape = doc["plan"]["load"]["shape"]
    # A plan over several nodes: node 0's command (the head, serving the API) is the one perf predicts.
    text = doc["commands"].get("node-0", doc["commands"]["vllm"])
    serve = shlex.split(text.replace("\\\n", " "))
    assert serve[:2] == ["vllm", "serve"]
    argv = ["perf", "--gpu", top["gpu"], "--json", "--request-rate", repr(pred["request_rate"]),
            "--num-prompts", str(pred["num_prompts"]), "--dataset-name", shape["dataset_name"],
            "--seed", str(shape["seed"])]
    if shape["dataset_name"] == "random":
        argv += ["--random-input-len", str(shape["random_input_len"]), "--random-output-len",
                 str(shape["random_output_len"])]
    code, out, err = run(*argv, "--", *serve)
    assert code == 0, err
    bench: dict[str, Any] = json.loads(out)["benchmark"]
    return bench


# ---------------------------------------------------------------------------------------------- the examples


def test_slo_example_meets_its_targets_by_planner_perf() -> None:
    code, doc = plan_json(*EXAMPLE_SLO)
    assert code == 0, doc.get("error")
    _valid(doc)
    top = doc["plans"][0]
    cap = top["capacity"]
    assert cap["met"] is True and cap["replicas"] >= 1
    # replicas x per-replica rate covers the peak (40 req/s x the default peak-to-average 2)
    assert doc["plan"]["load"]["peak_to_average"] == 2.0
    assert cap["peak_request_rate"] == pytest.approx(80.0)
    assert cap["replicas"] * cap["per_replica_request_rate"] >= 80.0
    assert cap["gpus_total"] == cap["replicas"] * top["count"]
    # the emitted command, predicted by `planner perf` at the per-replica rate, meets p95 TTFT and TPOT
    bench = perf_of(doc)
    assert bench["p95_ttft_ms"] <= 500 and bench["p95_tpot_ms"] <= 40
    assert bench["p95_ttft_ms"] == pytest.approx(cap["predicted"]["p95_ttft_ms"], abs=0.01)
    # the context is what the workload needs (1,200 tokens + margin), not the model's 40,960
    assert top["max_model_len"] == 2048
    assert parse_serve_argv(doc["commands"]["vllm"]).args.max_model_len == 2048


def test_slo_example_compares_tensor_parallel_sizes() -> None:
    _, doc = plan_json(*EXAMPLE_SLO)
    sized = [p for p in doc["plans"] if p["capacity"]["sized"] and p["capacity"]["met"]]
    assert len({p["tensor_parallel_size"] for p in sized}) > 1      # several TP sizes were sized
    totals = [p["capacity"]["gpus_total"] for p in sized]
    assert totals == sorted(totals) and totals[0] == doc["plans"][0]["capacity"]["gpus_total"]
    why = {d["flag"]: d["why"] for d in doc["plan"]["decisions"]}
    assert "for the load" in why["--tensor-parallel-size"] and "against TP" in why["--tensor-parallel-size"]
    # a pruned layout's bound really needs more GPUs than the chosen plan
    for p in doc["plans"]:
        c = p["capacity"]
        if not c["sized"] and c["per_replica_rate_bound"] > 0:
            need = math.ceil(80.0 / c["per_replica_rate_bound"] - 1e-9) * p["count"]
            assert need > doc["plans"][0]["capacity"]["gpus_total"]


def test_cost_example_ranks_by_cost_and_covers_the_peak() -> None:
    code, doc = plan_json(*EXAMPLE_COST)
    assert code == 0, doc.get("error")
    _valid(doc)
    load = doc["plan"]["load"]
    assert load["request_rate"] == pytest.approx(1000 / 60) and load["shape"]["dataset_name"] == "sharegpt"
    top = doc["plans"][0]["capacity"]
    assert top["cost_per_hour_usd"] > 0 and top["cost_per_million_output_tokens_usd"] > 0
    assert top["replicas"] * top["per_replica_request_rate"] >= load["peak_request_rate"]
    met = [p["capacity"]["cost_per_hour_usd"] for p in doc["plans"] if p["capacity"]["met"]]
    assert met == sorted(met)
    # ShareGPT keeps prompt + output within 2,048 tokens: the context is that with the margin
    assert doc["plans"][0]["max_model_len"] == 3072
    # no targets: the capacity is the highest rate with a bounded queue; perf of the command agrees
    bench = perf_of(doc)
    assert bench["p95_ttft_ms"] == pytest.approx(top["predicted"]["p95_ttft_ms"], abs=0.01)


def test_human_output_has_the_capacity_block() -> None:
    code, out, _ = run("plan", *EXAMPLE_SLO)
    assert code == 0
    block = out[out.index("Capacity: "):out.index("Why\n")]
    for needle in (" replica", "at the peak (peak-to-average 2)", "one replica sustains", "TTFT p50",
                   "TPOT p50", "/h (", "per 1M output tokens"):
        assert needle in block, needle
    body = out[: out.rfind("vllm serve ")]
    assert not [line for line in body.split("\n") if len(line) > 80]
    assert out.rstrip("\n").split("\n")[-1].startswith("  --")


def test_an_impossible_target_exits_1_with_the_reason() -> None:
    argv = ["qwen3-8b", "--gpu", "H100", "--request-rate", "10", "--random-input-len", "1000",
            "--random-output-len", "200", "--slo-ttft-ms", "1"]
    code, doc = plan_json(*argv)
    assert code == 1 and doc["fits"] is False and doc["commands"] == {}
    _valid(doc)
    assert doc["plan"]["chosen"] is None
    assert any("1 ms TTFT target" in s for s in doc["plan"]["suggestions"])
    code, out, _ = run("plan", *argv)
    assert code == 1 and "No plan meets the targets" in out and "TTFT target" in out and "vllm serve" not in out


def test_rate_forms() -> None:
    assert parse_rate("1000/min") == pytest.approx(1000 / 60)
    assert parse_rate("40") == 40.0
    assert parse_rate("5m/month") == pytest.approx(5e6 / (720 * 3600))


@pytest.mark.parametrize("argv,needle", [
    (["qwen3-8b", "--gpu", "H100", "--slo-ttft-ms", "500"], "--request-rate"),
    (["qwen3-8b", "--gpu", "H100", "--request-rate", "lots"], "--request-rate"),
    (["qwen3-8b", "--gpu", "H100", "--request-rate", "10", "--objective", "kv"], "--objective kv"),
    (["qwen3-8b", "--gpu", "H100", "--request-rate", "10", "--slo-ttft-ms", "-5"], "--slo-ttft-ms"),
    (["qwen3-8b", "--gpu", "H100", "--request-rate", "10", "--peak-to-average", "0.5"], "--peak-to-average"),
    (["qwen3-8b", "--gpu", "H100", "--request-rate", "10", "--dataset-name", "sonnet"], "--dataset-name"),
    (["qwen3-8b", "--gpu", "H100", "--request-rate", "10", "--random-input-len", "60000"], "maximum context"),
])
def test_bad_workload_input_is_exit_2_one_line(argv: list[str], needle: str) -> None:
    code, out, err = run("plan", *argv)
    assert code == 2, (out, err)
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------------------------------------- no workload


def test_scout_is_not_planned_on_eight_gpus_for_its_maximum_context() -> None:
    code, out, _ = run("plan", "llama-4-scout", "--gpu", "H100", "--json")
    doc = json.loads(out)
    assert code == 0
    top = doc["plans"][0]
    assert top["count"] < 8 and top["max_model_len"] >= 32768 and top["full_context"] is False
    why = {d["flag"]: d["why"] for d in doc["plan"]["decisions"]}
    assert "Give --context" in why["--max-model-len"]


def test_an_8b_model_on_a_24gb_card_is_not_doubled_for_128k() -> None:
    code, out, _ = run("plan", "llama-3.1-8b", "--gpu", "L4", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["plans"][0]["count"] == 1 and doc["plans"][0]["max_model_len"] >= 32768
    # and the full context is one flag away, on the GPUs it needs
    code, out, _ = run("plan", "llama-3.1-8b", "--gpu", "L4", "--context", "131072", "--json")
    assert code == 0 and json.loads(out)["plans"][0]["count"] == 2


def test_memory_utilization_is_vllms_default_where_the_plan_holds() -> None:
    # vLLM's gpt-oss recipe: 0.95 ran out of memory on 2 x H100; the plan writes the default there
    code, out, _ = run("plan", "gpt-oss-120b", "--gpu", "H100", "--num-gpus", "2", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["vllm"]["args"]["gpu_memory_utilization"] == 0.92
    why = {d["flag"]: d["why"] for d in doc["plan"]["decisions"]}
    assert "default" in why["--gpu-memory-utilization"] and "profile run" in why["--gpu-memory-utilization"]


def test_batch_limits_are_tuned_when_the_defaults_break_ttft() -> None:
    # Long prompts on an L40S: vLLM's 2,048-token budget makes a 6,000-token prefill take several steps.
    argv = ("qwen3-8b", "--gpu", "L40S", "--request-rate", "4", "--random-input-len", "6000",
            "--random-output-len", "100", "--slo-ttft-ms", "700")
    code, doc = plan_json(*argv)
    assert code == 0
    top = doc["plans"][0]
    cap = top["capacity"]
    assert cap["tuning"] and "break the TTFT target" in cap["tuning"]
    args = parse_serve_argv(doc["commands"]["vllm"]).args
    assert args.max_num_batched_tokens is not None and args.max_num_batched_tokens != 2048
    why = {d["flag"]: d["why"] for d in doc["plan"]["decisions"]}
    assert why["--max-num-batched-tokens"] == cap["tuning"]
    bench = perf_of(doc)
    assert bench["p95_ttft_ms"] <= 700
    assert cap["replicas"] * cap["per_replica_request_rate"] >= cap["peak_request_rate"]
