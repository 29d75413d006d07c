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
# measured 2026-12-07, main after merging v0sched (V0 multi-step, V0 per-sequence CPU split) and gpustack (MLA
# multi-head prefill, DeepSeek-V3.2 sparse attention, per-GEMM kernel floor, V1 slowest-rank wait, fp8
# fused-MoE efficiency) and refitting the V0 CPU coefficients on the merged model (calibration.py):
# throughput 10.6 % / 43.9 %, TPOT 11.1 % / 39.4 %, TTFT 23.3 % / 132.7 %, 296/317 answered
# (2026-12-04: 13.9 % / 46.2 %, 11.0 % / 42.8 %, 27.0 % / 142.4 %)
POOLED = {"output_throughput": (0.11, 0.45), "tpot": (0.115, 0.41), "ttft": (0.24, 1.40)}
# V1 (vLLM 0.8 and later), measured: 9.1 % / 37.1 %, 10.7 % / 41.3 %, 22.5 % / 88.5 %
# (2026-12-04: 9.3 % / 37.9 %, 12.2 % / 46.9 %, 22.7 % / 88.3 %)
V1 = {"output_throughput": (0.095, 0.38), "tpot": (0.11, 0.42), "ttft": (0.23, 0.90)}
# V0 (before 0.8), measured: throughput 18.4 % / 59.4 %, TPOT 11.4 % / 30.9 %, TTFT 51.5 % / 318.1 %
# (2026-12-04: 25.4 % / 54.5 %, 9.4 % / 27.1 %, 63.6 % / 282.7 %). Worse: the throughput p90 (dstack's MI300X
# --num-scheduler-steps 15 runs p253-p255, already over-predicted, are faster as multi-step: +160 % and more;
# their measured ITL says the 0.6.3 ROCm decode step, not the scheduler, is off), the TPOT median (the same
# runs, and dstack's DeepSeek-R1 MI300X runs +9..+12 % with the fp8 fused-MoE efficiency, a mechanism shared
# by both eras), and the TTFT p90 (p241-p243: the source had prefix caching on, which the 0.7.3 its date
# gives turns off for MLA; +455..+1315 %).
V0 = {"output_throughput": (0.19, 0.60), "tpot": (0.12, 0.315), "ttft": (0.53, 3.25)}
ANSWERED = 0.93
# median over sources of each source's median, measured: 10.3 %, 11.2 %, 34.2 % (V1: 6.7 %, 8.7 %, 28.4 %),
# unchanged by the V0 refit after the merge.
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


def test_multi_step_gains_follow_lambdas_steps_1_vs_10_tables() -> None:
    """LambdaLabsML's 0.6.0 tables (p391-p398, GPU not stated, so unscored) ran each model with
    --num-scheduler-steps 1 and 10: throughput x2.04 (8B), x1.55 (70B TP4), x1.29 (405B FP8 TP8), and an ITL
    of a whole window (0.6.0 creates request outputs at a window's last step). Modelled on the H100 SXM the
    report covers, the gains are within 25 % of those and the ITL becomes a window's. (20 % with the
    v0sched coefficients: x1.73 / x1.54 / x1.43; the V0 refit after the gpustack merge, which halved
    step_overhead_v0_s on the scored cases, gives x1.58 / x1.43 / x1.36, the 8B one 23 % short: V0's per-step
    CPU is what multi-step amortises, and these unscored tables say it is larger on small models than the
    scored cases let the fit make it.)"""
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
        assert abs(pred / obs - 1) <= 0.25, (one, ten, pred, obs)
        assert got[1].median_itl_ms > 4 * got[0].median_itl_ms
