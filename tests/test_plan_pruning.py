"""The capacity searches of `planner plan` skip work only where the answer cannot change (issue 11: every input
in under 5 s): a batch-tuning variant's search stops once it provably cannot beat the best rate found
(max_sustainable_rate's must_beat), and a simulation is reused only where it is provably the same run
(predict's memo). Each test compares against the search without the shortcut: answers, not time."""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import gpu_catalog
from planner.cli import app
from planner.memory.estimator import Estimate, estimate
from planner.performance.calibration import DEFAULT
from planner.performance.capacity import LoadShape, Outrun, Slo, max_sustainable_rate
from planner.performance.predict import SimMemo, _engine, _simulate
from planner.performance.scheduler import simulate
from planner.performance.workload import generate
from planner.planning import sizing
from planner.release.engine_args import EngineArgs
from planner.sourcing.loader import load_model

SHAPE = LoadShape(random_input_len=256, random_output_len=32)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("VLLM_PLANNER_GPU_CATALOG", raising=False)
    monkeypatch.delenv("VLLM_PLANNER_MODEL_CATALOG", raising=False)


@functools.cache
def _est(max_num_seqs: int | None = None) -> Estimate:
    return estimate(load_model("qwen3-8b", offline=True), gpu_catalog.resolve("L40S"),
                    EngineArgs(max_model_len=4096, max_num_seqs=max_num_seqs))


@pytest.mark.parametrize("slo", [Slo(ttft_ms=60.0), Slo(ttft_ms=200.0, tpot_ms=30.0), None])
def test_must_beat_stops_only_where_the_answer_cannot_beat_it(slo: Slo | None) -> None:
    full = max_sustainable_rate(_est(), SHAPE, slo)
    assert full.probes
    # at every probe's rate (the edges of the rule), just below it, and around the answer
    marks = {0.0, full.request_rate, full.request_rate * 0.99, full.request_rate * 1.02}
    marks |= {p.rate for p in full.probes} | {p.rate * (1 - 1e-9) for p in full.probes}
    stopped = 0
    for m in sorted(marks):
        try:
            got = max_sustainable_rate(_est(), SHAPE, slo, must_beat=m)
        except Outrun:
            stopped += 1
            assert full.request_rate <= m, f"stopped at must_beat={m} but the answer {full.request_rate} beats it"
            continue
        assert got == full, f"must_beat={m} changed the answer"
    assert stopped, "no mark stopped the search: the test checks nothing"


def test_a_memo_reuses_a_run_only_where_no_cap_was_reached() -> None:
    est = _est()
    w = SHAPE.workload(40.0, num_prompts=300)
    cfg, step, decode, _cost, _hw, inputs = _engine(est, w, DEFAULT)
    reqs = generate(w)
    memo: SimMemo = {}
    first = _simulate(reqs, cfg, step, decode, (w, inputs), memo)
    peak = first.max_concurrent_requests
    assert 4 < peak < cfg.max_num_seqs
    for m in (cfg.max_num_seqs * 2, peak + 1, peak, peak - 1, 4):
        c = replace(cfg, max_num_seqs=m)
        got = _simulate(reqs, c, step, decode, (w, inputs), memo)
        assert got == simulate(reqs, c, step, decode), f"max_num_seqs={m}: the memo's run is not the run"
        assert (got is first) == (m > peak)       # reused exactly where the cap was never reached
    most = max(-(-(r.input_len + r.output_len) // cfg.block_size) for r in reqs)
    assert peak * most < cfg.num_blocks
    for b in (cfg.num_blocks * 2, peak * most, peak * most - 1, peak * most // 3):
        c = replace(cfg, num_blocks=b)
        got = _simulate(reqs, c, step, decode, (w, inputs), memo)
        assert got == simulate(reqs, c, step, decode), f"num_blocks={b}: the memo's run is not the run"
        assert (got is first) == (b >= peak * most)


def test_a_memo_never_mixes_different_deployments() -> None:
    memo: SimMemo = {}
    a = max_sustainable_rate(_est(), SHAPE, Slo(ttft_ms=60.0), memo=memo)
    b = max_sustainable_rate(_est(max_num_seqs=8), SHAPE, Slo(ttft_ms=60.0), memo=memo)
    assert a == max_sustainable_rate(_est(), SHAPE, Slo(ttft_ms=60.0))
    assert b == max_sustainable_rate(_est(max_num_seqs=8), SHAPE, Slo(ttft_ms=60.0))


def _plan(argv: tuple[str, ...]) -> dict[str, Any]:
    r = CliRunner().invoke(app, ["plan", *argv, "--json"])
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    doc: dict[str, Any] = json.loads(r.stdout)
    return doc


@pytest.mark.parametrize("argv", [
    # the defaults win: every variant's search is stopped or reuses the defaults' runs (issue 11's 6.7 s plan)
    ("llama-3.1-8b", "--gpu", "H100", "--request-rate", "2", "--slo-ttft-ms", "25"),
    # a variant wins: the stopped ones are finished for the note
    ("qwen3-8b", "--gpu", "L40S", "--request-rate", "4", "--random-input-len", "6000", "--random-output-len",
     "100", "--slo-ttft-ms", "700"),
])
def test_plans_are_the_same_as_without_the_shortcuts(argv: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
                                                     ) -> None:
    fast = _plan(argv)
    full_search = sizing.max_sustainable_rate

    def unpruned(est: Any, shape: Any, slo: Any = None, **_: Any) -> Any:
        return full_search(est, shape, slo)           # no must_beat, no memo: every search to its end

    monkeypatch.setattr(sizing, "max_sustainable_rate", unpruned)
    assert fast == _plan(argv)

