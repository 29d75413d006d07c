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
# measured 2026-12-04 (perf-acc: a burst's TTFT floor is the queue of cold prefills; p241-p243 answered;
# V0 CPU overheads refitted, ampere_host_cpu_factor): throughput 13.9 % / 46.2 %, TPOT 11.0 % / 42.8 %,
# TTFT 27.0 % / 142.4 %, 296/317 answered
# 2026-12-07 (v0sched: V0 multi-step modelled, p253-p255 mapped with the chunked prefill they turn off, V0
# per-sequence CPU refitted): throughput 13.3 % / 46.3 %, TPOT 11.5 % / 44.9 %, TTFT 27.0 % / 142.4 %. The TPOT
# median rose 0.5 points: dstack's three MI300X --num-scheduler-steps 15 runs (p253-p255), now modelled as
# multi-step, move from +4/-25/-6 % to -32/-51/-19 % (their ITL is 222 ms against 127 ms predicted: the MI300X
# 0.6.3 step, not the scheduler, is what is off; docs/perf-model.md)
POOLED = {"output_throughput": (0.137, 0.48), "tpot": (0.12, 0.46), "ttft": (0.29, 1.50)}
# V1 (vLLM 0.8 and later), measured: 9.3 % / 37.9 %, 12.2 % / 46.9 %, 22.7 % / 88.3 %
V1 = {"output_throughput": (0.10, 0.41), "tpot": (0.13, 0.49), "ttft": (0.245, 0.95)}
# V0 (before 0.8), measured: throughput 25.4 % / 54.5 %, TPOT 9.4 % / 27.1 %, TTFT 63.6 % / 282.7 % (the TTFT
# p90 was 97.6 %: p241-p243, newly answered, miss by +312 to +951 %, and the lower V0 per-sequence cost)
# 2026-12-07 (v0sched): throughput 24.1 % / 52.4 %, TPOT 9.6 % / 28.3 %, TTFT 61.5 % / 296.2 %
V0 = {"output_throughput": (0.25, 0.55), "tpot": (0.10, 0.29), "ttft": (0.64, 3.0)}
ANSWERED = 0.93
# median over sources of each source's median, measured: 9.6 %, 9.4 %, 33.4 % (V1: 6.5 %, 9.2 %, 28.8 %)
SOURCE_MEDIANS = {"output_throughput": 0.10, "tpot": 0.10, "ttft": 0.35}
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


def test_multi_step_gains_follow_lambdas_steps_1_vs_10_tables() -> None:
    """LambdaLabsML's 0.6.0 tables (p391-p398, GPU not stated, so unscored) ran each model with
    --num-scheduler-steps 1 and 10: throughput x2.04 (8B), x1.55 (70B TP4), x1.29 (405B FP8 TP8), and an ITL
    of a whole window (0.6.0 creates request outputs at a window's last step). Modelled on the H100 SXM the
    report covers, the gains are within 20 % of those and the ITL becomes a window's."""
    path = fidelity.find_data(None)
    cases = {c["id"]: c for c in fidelity.load_cases(path)}
    docs = fidelity.doc_versions(list(cases.values()))
    for one, ten in (("p391", "p392"), ("p394", "p395"), ("p397", "p398")):
        got = []
        for cid in (one, ten):
            c = {**cases[cid], "gpu": "NVIDIA H100 80GB SXM"}
            b = fidelity.build_case(c, path.parent, docs)
            got.append(fidelity.predict(b.est, b.workload, link=b.link, release=b.release).benchmark)
        obs = cases[ten]["observed"]["output_tok_s"] / cases[one]["observed"]["output_tok_s"]
        pred = got[1].output_throughput / got[0].output_throughput
        assert abs(pred / obs - 1) <= 0.2, (one, ten, pred, obs)
        assert got[1].median_itl_ms > 4 * got[0].median_itl_ms
