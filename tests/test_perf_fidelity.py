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
# kernel floor, V1's slowest-rank wait; layer_kernel_s, linear_kernel_s, tp_worker_overhead_s refitted):
# throughput 13.5 % / 46.0 %, TPOT 10.7 % / 42.4 %, TTFT 27.6 % / 142.8 %, 296/317 answered
# (2026-12-04: 13.9 % / 46.2 %, 11.0 % / 42.8 %, 27.0 % / 142.4 %)
POOLED = {"output_throughput": (0.14, 0.49), "tpot": (0.115, 0.45), "ttft": (0.29, 1.50)}
# V1 (vLLM 0.8 and later), measured: 9.4 % / 38.7 %, 10.9 % / 45.6 %, 23.0 % / 88.7 %
# (2026-12-04: 9.3 % / 37.9 %, 12.2 % / 46.9 %, 22.7 % / 88.3 %)
V1 = {"output_throughput": (0.10, 0.41), "tpot": (0.12, 0.48), "ttft": (0.245, 0.95)}
# V0 (before 0.8), measured: throughput 24.9 % / 54.8 %, TPOT 9.1 % / 27.4 %, TTFT 64.8 % / 274.3 % (the TTFT
# p90 was 97.6 % before 2026-12-04: p241-p243, newly answered then, miss by +312 to +951 %)
V0 = {"output_throughput": (0.27, 0.58), "tpot": (0.10, 0.29), "ttft": (0.66, 3.0)}
ANSWERED = 0.93
# median over sources of each source's median, measured: 10.3 %, 9.1 %, 34.2 % (V1: 6.7 %, 9.1 %, 29.3 %).
# Throughput was 9.6 %: it is the mean of IOG's (7.1 %, was 6.4 %) and sariekr's (13.5 %, was 12.6 %)
# medians; sariekr's gpt-oss-20b runs at concurrency 1-16 on H100/H200 came closer with the smaller
# per-layer floor while its B200 and MI300X runs, already over-predicted, went further up.
SOURCE_MEDIANS = {"output_throughput": 0.105, "tpot": 0.10, "ttft": 0.35}
SOURCE_MEDIANS_V1 = {"output_throughput": 0.07, "tpot": 0.10, "ttft": 0.30}


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
