"""planner.performance.scheduler follows vLLM's scheduler: budgets, caps, blocks, preemption, the client's semaphore."""

from __future__ import annotations

import itertools
import math

import pytest

from planner.performance.scheduler import SchedulerConfig, simulate
from planner.performance.step_time import StepTime
from planner.performance.types import Request


class Recorder:
    """A step function of fixed cost per step plus per token, remembering each step's batch."""

    def __init__(self, base: float = 0.01, per_token: float = 0.0) -> None:
        self.base, self.per_token = base, per_token
        self.batches: list[tuple[int, int, int]] = []    # (num_decode, prefill_tokens, num_prefill sampling)

    def __call__(self, nd: int, dctx: int, ptok: int, pairs: float, pctx: int, npf: int) -> StepTime:
        self.batches.append((nd, ptok, npf))
        t = self.base + self.per_token * (nd + ptok)
        return StepTime(t, t, 0.0, 0.0, 0.0, 0.0)


def cfg(**kw: object) -> SchedulerConfig:
    base: dict[str, object] = {"max_num_seqs": 256, "max_num_batched_tokens": 2048, "num_blocks": 100000,
                               "block_size": 16}
    base.update(kw)
    return SchedulerConfig(**base)  # type: ignore[arg-type]


def burst(n: int, inp: int = 100, out: int = 10) -> list[Request]:
    return [Request(i, 0.0, inp, out) for i in range(n)]


def test_concurrency_one_runs_requests_back_to_back() -> None:
    rec = Recorder(base=0.01)
    sim = simulate(burst(5, 100, 10), cfg(max_concurrency=1), rec)
    # each request: one prefill step (its first token) + 9 decode steps, nothing overlaps
    assert sim.steps == 5 * 10 and math.isclose(sim.duration_s, 5 * 10 * 0.01)
    assert sim.max_concurrent_requests == 1
    for t in sim.timings:
        assert math.isclose(t.finish_s - t.sent_s, 0.10) and len(t.itl_s) == 9
        assert all(math.isclose(g, 0.01) for g in t.itl_s)
    assert max(nd + npf for nd, _, npf in rec.batches) == 1


def test_burst_batches_continuously_and_decodes_go_first() -> None:
    rec = Recorder()
    sim = simulate(burst(8, 100, 5), cfg(), rec)
    assert rec.batches[0] == (0, 800, 8)          # all eight prompts fit the 2048-token budget in one step
    assert all(b == (8, 0, 0) for b in rec.batches[1:])
    assert sim.steps == 5 and sim.max_concurrent_requests == 8


def test_max_num_seqs_caps_the_running_batch() -> None:
    rec = Recorder()
    simulate(burst(40, 50, 20), cfg(max_num_seqs=8), rec)
    assert max(nd + (1 if ptok else 0) * npf for nd, ptok, npf in rec.batches) <= 8
    assert max(nd for nd, _, _ in rec.batches) == 8


def test_chunked_prefill_splits_a_long_prompt_over_the_budget() -> None:
    rec = Recorder()
    sim = simulate([Request(0, 0.0, 5000, 3)], cfg(max_num_batched_tokens=2048), rec)
    assert [b[1] for b in rec.batches[:3]] == [2048, 2048, 904] and rec.batches[2][2] == 1
    assert sim.steps == 3 + 2


def test_no_chunked_prefill_waits_for_a_budget_that_holds_the_prompt() -> None:
    rec = Recorder()
    simulate(burst(3, 1500, 2), cfg(chunked_prefill=False, max_num_batched_tokens=2048), rec)
    assert [b[1] for b in rec.batches if b[1]] == [1500, 1500, 1500]    # one whole prompt per step


def test_v0_prefill_first_never_mixes_prefill_and_decode() -> None:
    rec = Recorder()
    reqs = [Request(i, 0.05 * i, 200, 30) for i in range(10)]
    simulate(reqs, cfg(prefill_first=True, chunked_prefill=False), rec)
    assert all(not (nd and ptok) for nd, ptok, _ in rec.batches)
    assert sum(1 for _, ptok, _ in rec.batches if ptok) >= 2


def test_running_out_of_blocks_preempts_and_still_finishes() -> None:
    # 4 requests growing to 16 + 64 tokens = 5 blocks each; 12 blocks cannot hold them all at the end
    sim = simulate(burst(4, 16, 64), cfg(num_blocks=12), Recorder())
    assert sim.preemptions > 0 and len(sim.timings) == 4
    assert sim.bound_seconds["kv_capacity"] > 0
    roomy = simulate(burst(4, 16, 64), cfg(num_blocks=1000), Recorder())
    assert roomy.preemptions == 0 and roomy.duration_s < sim.duration_s


def test_max_concurrency_holds_requests_at_the_client() -> None:
    sim = simulate(burst(10, 50, 10), cfg(max_concurrency=3), Recorder())
    assert sim.max_concurrent_requests == 3
    sent = sorted(t.sent_s for t in sim.timings)
    assert sent[:3] == [0.0, 0.0, 0.0] and sent[3] > 0
    assert sim.bound_seconds["queueing"] > 0


def test_arrivals_wait_for_their_time_and_request_overhead_delays_ttft() -> None:
    reqs = [Request(0, 0.0, 10, 2), Request(1, 5.0, 10, 2)]
    sim = simulate(reqs, cfg(request_overhead_s=0.2), Recorder(base=0.01))
    t1 = sim.timings[1]
    assert t1.sent_s == 5.0 and math.isclose(t1.first_token_s - t1.sent_s, 0.21)
    assert math.isclose(sim.duration_s, 5.0 + 0.22)


def _varied_step(nd: int, dctx: int, ptok: int, pairs: float, pctx: int, npf: int) -> StepTime:
    t = 0.002 + 3e-5 * nd + 1e-8 * dctx + 2e-6 * ptok + 1e-10 * pairs
    return StepTime(t, t, 0.0, 0.0, 0.0, 0.0)


def _mixed(n: int, seed: int, rate: float | None) -> list[Request]:
    import random

    rng = random.Random(seed)
    t = 0.0
    out = []
    for i in range(n):
        if rate:
            t += rng.expovariate(rate)
        out.append(Request(i, t, rng.randint(5, 900), rng.randint(1, 300)))
    return out


@pytest.mark.parametrize("kw", [
    {}, {"max_num_seqs": 16}, {"num_blocks": 600}, {"num_blocks": 300, "max_num_seqs": 64},
    {"max_concurrency": 7}, {"chunked_prefill": False}, {"prefill_first": True, "chunked_prefill": False},
    {"prefill_first": True, "chunked_prefill": False, "num_blocks": 500}, {"max_num_batched_tokens": 512},
    {"request_overhead_s": 0.01, "per_prompt_token_s": 1e-5},
    {"frontend_request_s": 0.002, "frontend_token_s": 1e-4, "max_concurrency": 30, "ramp_up_s": 1.0},
    {"num_blocks": 300, "prefix_caching": True}, {"num_blocks": 600, "prefix_caching": True, "max_num_seqs": 32},
    {"prefill_first": True, "chunked_prefill": False, "num_scheduler_steps": 8},
    {"prefill_first": True, "chunked_prefill": False, "num_scheduler_steps": 4, "max_num_seqs": 16,
     "multi_step_stream_outputs": False},
    {"chunked_prefill": False, "num_scheduler_steps": 6, "max_concurrency": 9},
])
@pytest.mark.parametrize("rate", [None, 40.0])
def test_fast_forward_gives_the_same_run_as_the_step_loop(kw: dict[str, object], rate: float | None) -> None:
    reqs = _mixed(120, 3, rate)
    fast = simulate(reqs, cfg(**kw), _varied_step)
    slow = simulate(reqs, cfg(fast_forward=False, **kw), _varied_step)
    assert fast.steps == slow.steps and fast.preemptions == slow.preemptions
    assert fast.duration_s == slow.duration_s and fast.max_concurrent_requests == slow.max_concurrent_requests
    assert fast.timings == slow.timings
    assert fast.bound_seconds == pytest.approx(slow.bound_seconds, rel=1e-9, abs=1e-12)
    assert fast.itl_counts == slow.itl_counts
    # the pooled {gap: count} gives the same ITL statistics as every request's gaps listed out
    from dataclasses import replace

    from planner.performance.metrics import summarize

    a, b = summarize(fast), summarize(replace(fast, itl_counts=None))
    for stat in ("mean", "median", "std", "p95", "p99"):
        assert getattr(a, f"{stat}_itl_ms") == pytest.approx(getattr(b, f"{stat}_itl_ms"), rel=1e-9, abs=1e-9)


def test_fast_forward_does_not_take_a_prompt_one_token_short_for_a_decode() -> None:
    # a 2049-token prompt leaves exactly one prompt token for its second chunk
    reqs = [Request(0, 0.0, 2049, 5)] + [Request(i, 0.0, 30, 40) for i in range(1, 6)]
    fast = simulate(reqs, cfg(), _varied_step)
    slow = simulate(reqs, cfg(fast_forward=False), _varied_step)
    assert fast.timings == slow.timings and fast.steps == slow.steps


def test_the_api_server_works_through_a_burst_one_request_at_a_time() -> None:
    # 50 requests at t=0, 10 ms of API-server work each: the engine sees them 10 ms apart
    sim = simulate(burst(50, 20, 5), cfg(frontend_request_s=0.01), Recorder(base=0.001))
    firsts = sorted(t.first_token_s for t in sim.timings)
    assert firsts[0] >= 0.01 and firsts[-1] >= 50 * 0.01
    assert all(b - a >= 0.01 - 1e-9 for a, b in itertools.pairwise(firsts))
    # ... and streams each request's tokens as they come (a step apart), not held behind the input queue
    assert all(g > 0 for t in sim.timings for g in t.itl_s) and all(len(t.itl_s) == 4 for t in sim.timings)


def test_a_slow_api_server_streams_several_steps_per_chunk() -> None:
    quick = simulate(burst(64, 20, 40), cfg(), Recorder(base=0.002))
    slow = simulate(burst(64, 20, 40), cfg(frontend_token_s=1e-4), Recorder(base=0.002))
    # 64 chunks x 0.1 ms > a 2 ms step: the server merges steps, the client sees fewer, longer gaps
    assert sum(len(t.itl_s) for t in slow.timings) < sum(len(t.itl_s) for t in quick.timings)
    assert sum(slow.itl_counts.values()) == sum(len(t.itl_s) for t in slow.timings)   # type: ignore[union-attr]
    assert slow.steps == quick.steps     # the engine does not wait for the server


def test_closed_loop_ramp_up_staggers_the_first_requests() -> None:
    sim = simulate(burst(12, 50, 100), cfg(max_concurrency=4, ramp_up_s=2.0), Recorder())
    sent = {round(t.sent_s, 9) for t in sim.timings}
    # worker k starts at k x 0.5 s; each request takes 1 s
    assert sorted(sent)[:4] == [0.0, 0.5, 1.0, 1.5]


def test_a_preempted_request_finds_its_blocks_in_the_prefix_cache() -> None:
    # KV for about two and a half of the requests at their end: preemptions, whose recompute the
    # prefix cache (V1's default) mostly saves
    reqs = burst(6, 200, 300)
    cold = simulate(reqs, cfg(num_blocks=80), Recorder(per_token=1e-5))
    warm = simulate(reqs, cfg(num_blocks=80, prefix_caching=True), Recorder(per_token=1e-5))
    assert cold.preemptions > 0 and warm.preemptions > 0
    assert warm.duration_s < cold.duration_s


def test_multi_step_admits_new_prompts_only_at_window_boundaries() -> None:
    # V0 multi-step (--num-scheduler-steps 8): the scheduler runs once per 8 decode steps; a prompt that
    # arrives mid-window waits for the window's end, and a prefill step is a window of its own
    n_ms = 8
    rec = Recorder(base=0.01)
    reqs = [Request(0, 0.0, 100, 40), Request(1, 0.025, 100, 5)]
    sim = simulate(reqs, cfg(prefill_first=True, chunked_prefill=False, num_scheduler_steps=n_ms), rec)
    kinds = ["p" if ptok else "d" for _, ptok, _ in rec.batches]
    assert kinds[0] == "p" and kinds[1:1 + n_ms] == ["d"] * n_ms and kinds[1 + n_ms] == "p"
    # the second request reached the engine in the first window (t=0.025) but starts after it (t=0.09)
    assert math.isclose(sim.timings[1].first_token_s, 0.01 * (2 + n_ms))
    single = simulate(reqs, cfg(prefill_first=True, chunked_prefill=False), Recorder(base=0.01))
    assert single.timings[1].first_token_s < sim.timings[1].first_token_s
    # between prefills the decode steps come in whole windows (the last one cut short when all finish)
    runs = "".join(kinds).split("p")
    assert all(len(r) % n_ms == 0 for r in runs[1:-1])


def test_multi_step_without_streaming_delivers_one_chunk_per_window() -> None:
    # 0.6.0-0.6.2: request outputs are created at the window's last step: one ITL per window
    sim = simulate(burst(1, 50, 33), cfg(prefill_first=True, chunked_prefill=False, num_scheduler_steps=8,
                                         multi_step_stream_outputs=False), Recorder(base=0.01))
    t = sim.timings[0]
    assert len(t.itl_s) == 4 and all(math.isclose(g, 0.08) for g in t.itl_s)
    streamed = simulate(burst(1, 50, 33), cfg(prefill_first=True, chunked_prefill=False, num_scheduler_steps=8),
                        Recorder(base=0.01))
    assert len(streamed.timings[0].itl_s) == 32 and math.isclose(streamed.duration_s, sim.duration_s)


def test_one_scheduler_step_is_the_plain_scheduler() -> None:
    reqs = _mixed(80, 5, 30.0)
    for kw in ({"prefill_first": True, "chunked_prefill": False}, {}):
        a = simulate(reqs, cfg(**kw), _varied_step)
        b = simulate(reqs, cfg(num_scheduler_steps=1, multi_step_stream_outputs=False, **kw), _varied_step)
        assert a.timings == b.timings and a.steps == b.steps
