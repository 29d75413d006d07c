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
# measured 2026-12-04 (perf-fit + perf-cover merged): throughput 13.5 % / 49.5 %, TPOT 12.4 % / 43.3 %,
# TTFT 28.6 % / 185.0 %, 293/317 answered (p007 MTP newly answered;
# p241-p243 refused: prompts over 0.7.3 V0 MLA's limit)
POOLED = {"output_throughput": (0.14, 0.53), "tpot": (0.135, 0.45), "ttft": (0.31, 2.05)}
# V1 (vLLM 0.8 and later), measured: 10.0 % / 38.6 %, 12.4 % / 46.9 %, 24.8 % / 195.9 %
V1 = {"output_throughput": (0.11, 0.42), "tpot": (0.135, 0.49), "ttft": (0.27, 2.20)}
# V0 (before 0.8), measured: throughput 26.3 % / 62.7 %, TPOT 10.8 % / 31.8 %, TTFT 61.2 % / 97.6 %
V0 = {"output_throughput": (0.29, 0.70), "tpot": (0.12, 0.35), "ttft": (0.66, 1.05)}
ANSWERED = 0.92
# median over sources of each source's median, measured: 10.2 %, 10.8 %, 33.4 % (V1: 7.1 %, 9.9 %, 28.7 %)
SOURCE_MEDIANS = {"output_throughput": 0.115, "tpot": 0.125, "ttft": 0.37}
SOURCE_MEDIANS_V1 = {"output_throughput": 0.08, "tpot": 0.11, "ttft": 0.32}


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
