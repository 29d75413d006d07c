"""The performance model against published vLLM benchmarks (tests/data/validation/vllm-perf.jsonl).

Thresholds are what the model reaches today plus a small margin (measured with
`python -m tools.perf_fidelity`), tight enough that a regression of the step model, the scheduler or the
load shapes fails. Issue 12's targets, not all met yet: output throughput and TPOT median <= 10 % / p90
<= 30 %, TTFT median <= 30 % / p90 <= 100 %, >= 95 % answered, the median over sources held to the same.
"""

from __future__ import annotations

import pytest

from tools import perf_fidelity as fidelity

pytestmark = pytest.mark.slow

# metric -> (median, p90) absolute relative error held, pooled over the answered cases
# measured 2026-12-07 (gpustack: MLA's multi-head prefill, DeepSeek-V3.2's sparse attention, the per-GEMM
# kernel floor, V1's slowest-rank wait, fp8 fused-MoE efficiency; layer_kernel_s, linear_kernel_s,
# tp_worker_overhead_s, moe_fp8_factor fitted): throughput 12.4 % / 45.2 %, TPOT 10.7 % / 39.0 %,
# TTFT 23.3 % / 142.8 %, 296/317 answered (2026-12-04: 13.9 % / 46.2 %, 11.0 % / 42.8 %, 27.0 % / 142.4 %)
POOLED = {"output_throughput": (0.13, 0.48), "tpot": (0.115, 0.42), "ttft": (0.25, 1.50)}
# V1 (vLLM 0.8 and later), measured: 9.1 % / 37.1 %, 10.7 % / 41.3 %, 22.5 % / 88.5 %
# (2026-12-04: 9.3 % / 37.9 %, 12.2 % / 46.9 %, 22.7 % / 88.3 %)
V1 = {"output_throughput": (0.10, 0.40), "tpot": (0.115, 0.44), "ttft": (0.24, 0.95)}
# V0 (before 0.8), measured: throughput 24.5 % / 54.8 %, TPOT 11.4 % / 27.4 %, TTFT 54.6 % / 340.5 %
# (2026-12-04: 25.4 % / 54.5 %, 9.4 % / 27.1 %, 63.6 % / 282.7 %). The TPOT median and the TTFT p90 rose with
# the fp8 fused-MoE efficiency (shared mechanism, fitted on both eras): dstack's DeepSeek-R1 MI300X runs'
# TPOT went from -0..+9 % to +9..+12 %, and p241-p243's TTFT (the p90's cases: the source had prefix caching
# on, which the 0.7.3 its date gives turns off for MLA) from +290..+892 % to +455..+1315 %, while that
# source's TTFT median came from 64.8 % to 54.6 %.
V0 = {"output_throughput": (0.26, 0.58), "tpot": (0.12, 0.29), "ttft": (0.57, 3.6)}
ANSWERED = 0.93
# median over sources of each source's median, measured: 10.3 %, 11.2 %, 34.2 % (V1: 6.7 %, 8.7 %, 28.4 %).
# Throughput was 9.6 %: it is the mean of IOG's (7.1 %, was 6.4 %) and sariekr's (13.5 %, was 12.6 %)
# medians; sariekr's gpt-oss-20b runs at concurrency 1-16 on H100/H200 came closer with the smaller
# per-layer floor while its B200 and MI300X runs, already over-predicted, went further up. TPOT was 9.1 %:
# the median source is now IOG (11.2 %, unchanged) in place of dstack (9.1 % -> 11.4 %, above).
SOURCE_MEDIANS = {"output_throughput": 0.105, "tpot": 0.115, "ttft": 0.35}
SOURCE_MEDIANS_V1 = {"output_throughput": 0.07, "tpot": 0.095, "ttft": 0.29}


@pytest.fixture(scope="module")
def run():  # type: ignore[no-untyped-def]
    return fidelity.run_all()


@pytest.mark.parametrize("metric", sorted(POOLED))
def test_pooled_errors_hold(run, metric: str) -> None:  # type: ignore[no-untyped-def]
    _, s = run
    med, p90 = POOLED[metric]
    got = s["pooled"][metric]
    assert got["n"] >= 150
    assert got["median"] <= med and got["p90"] <= p90


def test_answer_rate_and_every_unanswered_case_has_a_reason(run) -> None:  # type: ignore[no-untyped-def]
    results, s = run
    assert s["answer_rate"] >= ANSWERED
    assert len(results) == 317 and s["answered"] + len(s["unanswered"]) == 317
    assert all(reason for reason in s["unanswered"].values())


def test_no_single_source_carries_the_score(run) -> None:  # type: ignore[no-untyped-def]
    _, s = run
    for metric, limit in SOURCE_MEDIANS.items():
        assert s["median_of_source_medians"][metric] <= limit
    for metric, limit in SOURCE_MEDIANS_V1.items():
        assert s["median_of_source_medians_by_era"]["V1"][metric] <= limit


@pytest.mark.parametrize(("era", "held"), [("V1", V1), ("V0", V0)])
def test_each_engine_era_holds_apart(run, era: str, held: dict[str, tuple[float, float]]) -> None:  # type: ignore[no-untyped-def]
    _, s = run
    for metric, (med, p90) in held.items():
        got = s["by_era"][era][metric]
        assert got["median"] <= med and got["p90"] <= p90, (era, metric, got)


def test_missing_data_file_is_one_clean_line(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert fidelity.main(["--cases", str(tmp_path / "nope.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "vllm-perf.jsonl not found" in err
