"""The memory model against real vLLM startups (tests/data/validation/vllm-runs.jsonl, with sources).

Thresholds are issue #2's. They hold on the cases vLLM's arithmetic can explain; each case set aside is
listed in planner.fidelity.KNOWN_UNEXPLAINED with its reason and still appears in the pooled table.
"""

from __future__ import annotations

import pytest

from planner import fidelity


@pytest.fixture(scope="module")
def run():
    return fidelity.run_all()


def test_weights(run):
    _, s = run
    w = s["explained"]["weights"]
    assert w["n"] >= 15
    assert w["median"] <= 0.01 and w["p90"] <= 0.03


def test_available_kv_memory_end_to_end(run):
    _, s = run
    kv = s["explained"]["end_to_end_kv_gib"]
    assert kv["n"] >= 15
    assert kv["median"] <= 0.03 and kv["p90"] <= 0.08


def test_tokens_from_pinned_kv_memory(run):
    _, s = run
    f = s["explained"]["kv_formula"]
    assert f["n"] >= 15
    assert f["median"] <= 0.001 and f["p90"] <= 0.005


def test_fit_verdicts_and_every_failure_foreseen(run):
    _, s = run
    fv = s["fit_verdict"]
    assert fv["share"] >= 0.95
    assert fv["failures"], "the data has failed startups"
    assert sorted(fv["failures_foreseen"]) == sorted(fv["failures"])


def test_unexplained_cases_are_listed_not_dropped(run):
    results, s = run
    ids = {r.id for r in results}
    for cid in fidelity.KNOWN_UNEXPLAINED:
        assert cid in ids
        assert s["unexplained_cases"][cid]
    text = fidelity.render(results, s)
    for cid in fidelity.KNOWN_UNEXPLAINED:
        assert cid in text
    # every case appears in the table, assessed or with the reason it is not
    for cid in ids:
        assert cid in text
