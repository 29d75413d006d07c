"""`planner cost`: self-hosting against a hosted API through the CLI, the hand comparison reproduced exactly,
the issue's two examples, the JSON answer, and the error contract."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.performance.capacity import HOURS_PER_MONTH

runner = CliRunner()
# qwen3-8b from the catalog on one H100; max_model_len bounded so that the estimate is quick and certain.
BASE = ["cost", "qwen3-8b", "--gpu", "H100", "--offline", "--max-model-len", "4096"]


def _ok(*args: str) -> Any:
    r = runner.invoke(app, list(args))
    assert r.exit_code == 0, (r.stdout[-800:], r.stderr[-800:])
    return r


def _json(*args: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(_ok(*args, "--json").stdout)
    return doc


def _one_error_line(*args: str) -> str:
    r = runner.invoke(app, list(args))
    assert r.exit_code == 2, (r.exit_code, r.stdout[-300:], r.stderr[-300:])
    assert "Traceback" not in r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("planner: error: "), r.stderr
    assert "internal error" not in lines[0]
    return lines[0]


HAND = [*BASE, "--requests-per-month", "100000", "--input-len", "700", "--output-len", "100",
        "--api-price", "2.5,10", "--gpu-price", "1", "--fixed-monthly", "7"]


def test_the_hand_comparison_is_reproduced_exactly() -> None:
    # One replica at $1/GPU-hour x 720 h + $7 fixed = $727 a month; the API at 700 x $2.5/M + 100 x $10/M =
    # $0.00275 a request: they break even at 727 / 0.00275 = 264,363.6 -> 264,364 requests a month.
    doc = _json(*HAND)
    c = doc["cost"]
    assert c["self_hosted_monthly_usd"] == 727.0 and c["replicas"] == 1 and c["gpus"] == 1
    assert math.isclose(c["api_usd_per_request"], 0.00275)
    assert c["api_monthly_usd"] == 275.0 and c["savings_monthly_usd"] == -452.0
    assert c["break_even_requests_per_month"] == 264_364
    assert c["self_hosted_annual_usd"] == 727.0 * 12 and c["api_annual_usd"] == 275.0 * 12
    assert c["gpu_hourly_usd"] == 1.0 and "given" in c["gpu_price_source"] and "given" in c["api_price_source"]
    # $ per 1M output tokens both ways: 727 / (100,000 x 100) x 1e6 and 275 / 1e7 x 1e6
    assert c["cost_per_million_output_tokens_usd"] == 72.7 and c["api_cost_per_million_output_tokens_usd"] == 27.5
    assert c["cost_per_million_tokens_usd"] == round(727 / 8e7 * 1e6, 4)
    # the break-even volume is in the table, with one replica (it carries far more than that at the peak)
    row = next(v for v in c["volumes"] if v["requests_per_month"] == 264_364)
    assert row["replicas"] == 1 and row["api_monthly_usd"] >= row["self_hosted_monthly_usd"]
    assert [v["requests_per_month"] for v in c["volumes"]] == sorted(v["requests_per_month"] for v in c["volumes"])
    # the per-replica rate is the perf model's bounded-queue rate
    cap = doc["capacity"]
    assert cap["criterion"] == "bounded_queue" and cap["per_replica_request_rate"] > 0
    assert c["per_replica_request_rate"] == cap["per_replica_request_rate"] and cap["predicted"]["completed"] > 0
    assert set(doc) == {"schema_version", "cost", "capacity", "notes", "estimate"} and doc["schema_version"] == 1


def test_the_human_form_says_both_ways_and_which_prices() -> None:
    out = _ok(*HAND).stdout
    assert "$727.00" in out and "$8,724.00" in out and "264,364 requests/month" in out
    assert "peak-to-average 2" in out and "--gpu-price" in out and "per 1M output tok" in out
    assert "by volume:" in out and "<- break-even" in out and "<- yours" in out


def test_replicas_follow_the_peak_and_the_rate() -> None:
    # a measured rate (--per-replica-rate) skips the search: 300/min = 5 req/s per replica
    one = math.floor(5 * HOURS_PER_MONTH * 3600 / 2.0)   # what one replica carries at the peak, a month
    args = [*BASE, "--input-len", "700", "--output-len", "100", "--api-price", "2.5,10", "--gpu-price", "1",
            "--per-replica-rate", "300/min"]
    doc = _json(*args, "--requests-per-month", str(one * 3 + 1000))
    assert doc["cost"]["replicas"] == 4 and doc["capacity"]["replicas"] == 4
    assert doc["capacity"]["criterion"] == "given" and doc["cost"]["per_replica_request_rate"] == 5
    assert _json(*args, "--requests-per-month", str(one * 3))["cost"]["replicas"] == 3
    assert _json(*args, "--requests-per-month", str(one * 3 + 1000), "--peak-to-average", "1")["cost"]["replicas"] == 2


def test_an_slo_sizes_a_smaller_replica() -> None:
    free = _json(*HAND)["capacity"]["per_replica_request_rate"]
    doc = _json(*HAND, "--slo-ttft-ms", "200", "--slo-tpot-ms", "20")
    cap = doc["capacity"]
    assert cap["criterion"] == "slo" and cap["slo"]["ttft_ms"] == 200
    assert 0 < cap["per_replica_request_rate"] <= free
    assert cap["predicted"]["p95_ttft_ms"] <= 200 and cap["predicted"]["p95_tpot_ms"] <= 20


def test_issue_example_mistral_on_a10g_against_gpt_4o() -> None:
    # The A10G has no published tensor TFLOPS (gpu_catalog says so), so the perf model cannot size it:
    line = _one_error_line("cost", "mistral-7b", "--gpu", "A10G", "--requests-per-month", "500k", "--input-len",
                           "700", "--output-len", "100", "--api", "gpt-4o", "--offline")
    assert "A10G" in line and "--per-replica-rate" in line
    # ... with a measured rate it runs, at the catalog's A10G and gpt-4o prices, with their dates
    out = _ok("cost", "mistral-7b", "--gpu", "A10G", "--requests-per-month", "500k", "--input-len", "700",
              "--output-len", "100", "--api", "gpt-4o", "--offline", "--per-replica-rate", "2").stdout
    assert "500,000 requests/month" in out and "$1.006/GPU-hour" in out and "2026-06" in out
    assert "OpenAI gpt-4o" in out and "2026-08-05" in out and "$1,375.00" in out   # 500k x $0.00275
    # ... and on the A10 (same memory, published peaks) the perf model sizes it
    doc = _json("cost", "mistral-7b", "--gpu", "A10", "--requests-per-month", "500k", "--input-len", "700",
                "--output-len", "100", "--api", "gpt-4o", "--offline")
    assert doc["cost"]["api_monthly_usd"] == 1375.0 and doc["capacity"]["per_replica_request_rate"] > 0
    assert doc["cost"]["gpu_price_date"] == "2026-09-25"


def test_issue_example_llama_70b_fp8_on_h100_json() -> None:
    doc = _json("cost", "llama-3.3-70b", "--gpu", "H100", "--quant", "fp8", "--requests-per-month", "2M",
                "--input-len", "2000", "--output-len", "300", "--api-price", "0.40,1.60", "--gpu-price", "2.49",
                "--fixed-monthly", "270", "--offline")
    c = doc["cost"]
    for key in ("api_monthly_usd", "self_hosted_monthly_usd", "savings_monthly_usd", "break_even_requests_per_month",
                "replicas", "gpus", "gpu_hourly_usd", "gpu_price_source", "api_price_source",
                "cost_per_million_output_tokens_usd", "volumes"):
        assert key in c
    assert c["requests_per_month"] == 2 * 2**20          # vLLM's binary M
    # 70B in fp8 does not start on one H100: the smallest TP that starts is chosen, and said so
    assert c["gpus_per_replica"] == 2 and any("--tensor-parallel-size 2" in n for n in doc["notes"])
    assert c["self_hosted_monthly_usd"] == round(c["replicas"] * 2 * 2.49 * 720 + 270, 2)
    assert math.isclose(c["api_usd_per_request"], (2000 * 0.40 + 300 * 1.60) / 1e6)
    assert doc["estimate"]["fits"] is True


def test_a_catalog_gpu_price_by_provider() -> None:
    args = [*BASE, "--requests-per-month", "1m", "--input-len", "700", "--output-len", "100", "--api", "gpt-4o-mini",
            "--per-replica-rate", "10"]
    c = _json(*args, "--provider", "runpod")["cost"]
    assert c["gpu_hourly_usd"] == 2.69 and "RunPod" in c["gpu_price_source"]
    assert c["api_price_source"].startswith("OpenAI gpt-4o-mini") and c["api_price_date"] == "2026-08-05"
    median = _json(*args)["cost"]
    assert "median" in median["gpu_price_source"] and "https://" in median["gpu_price_source"]


def test_a_deployment_that_would_not_start_exits_1() -> None:
    r = runner.invoke(app, ["cost", "qwen3-8b", "--gpu", "H100", "--offline", "-tp", "1", "--max-model-len", "40960",
                            "--gpu-memory-utilization", "0.2", "--requests-per-month", "1m", "--input-len", "700",
                            "--output-len", "100", "--api", "gpt-4o", "--json"])
    assert r.exit_code == 1, r.stderr
    doc = json.loads(r.stdout)
    assert doc["cost"] is None and doc["estimate"]["fits"] is False


REQ = ["--requests-per-month", "1m", "--input-len", "700", "--output-len", "100"]


@pytest.mark.parametrize(("extra", "says"), [
    (["--api", "gpt4o"], "gpt-4o"),                                  # unknown name, with a suggestion
    (["--api-price", "0.4"], "IN,OUT"),
    (["--api-price", "a,b"], "IN,OUT"),
    (["--api-price", "-1,2"], "non-negative"),
    (["--api-price", "0,0"], "not both 0"),
    ([], "--api"),
    (["--api", "gpt-4o", "--api-price", "1,2"], "one of them"),
    (["--api", "gpt-4o", "--gpu-price", "-1"], "--gpu-price"),
    (["--api", "gpt-4o", "--gpu-price", "nan"], "--gpu-price"),
    (["--api", "gpt-4o", "--fixed-monthly", "-5"], "--fixed-monthly"),
    (["--api", "gpt-4o", "--hours-per-month", "0"], "--hours-per-month"),
    (["--api", "gpt-4o", "--hours-per-month", "800"], "--hours-per-month"),
    (["--api", "gpt-4o", "--peak-to-average", "0.5"], "--peak-to-average"),
    (["--api", "gpt-4o", "--slo-ttft-ms", "-1"], "--slo-ttft-ms"),
    (["--api", "gpt-4o", "--slo-percentile", "0"], "--slo-percentile"),
    (["--api", "gpt-4o", "--price-kind", "cheap"], "--price-kind"),
    (["--api", "gpt-4o", "--gpu-price", "2", "--provider", "RunPod"], "one or the other"),
    (["--api", "gpt-4o", "--provider", "Nobody"], "no Nobody on-demand price"),
    (["--api", "gpt-4o", "--per-replica-rate", "fast"], "--per-replica-rate"),
    (["--api", "gpt-4o", "--per-replica-rate", "2", "--slo-ttft-ms", "100"], "one or the other"),
    (["--api", "gpt-4o", "--slo-ttft-ms", "0.001"], "no request rate meets the targets"),
])
def test_bad_input_is_one_line_and_exit_2(extra: list[str], says: str) -> None:
    assert says in _one_error_line(*BASE, *REQ, *extra)


@pytest.mark.parametrize(("args", "says"), [
    (["--requests-per-month", "0", "--input-len", "700", "--output-len", "100"], "--requests-per-month"),
    (["--requests-per-month", "lots", "--input-len", "700", "--output-len", "100"], "--requests-per-month"),
    (["--requests-per-month", "-5", "--input-len", "700", "--output-len", "100"], "--requests-per-month"),
    (["--input-len", "700", "--output-len", "100"], "--requests-per-month is required"),
    (["--requests-per-month", "1m", "--output-len", "100"], "--input-len"),
    (["--requests-per-month", "1m", "--input-len", "0", "--output-len", "100"], "--input-len"),
    (["--requests-per-month", "1m", "--input-len", "700", "--output-len", "many"], "--output-len"),
])
def test_bad_volume_and_lengths(args: list[str], says: str) -> None:
    assert says in _one_error_line(*BASE, *args, "--api", "gpt-4o")


def test_bad_input_under_json_is_the_error_object() -> None:
    r = runner.invoke(app, [*BASE, *REQ, "--api", "gpt4o", "--json"])
    assert r.exit_code == 2
    doc = json.loads(r.stdout)
    assert doc["error"]["code"] == "unknown_api" and "gpt-4o" in doc["error"].get("hint", "")
