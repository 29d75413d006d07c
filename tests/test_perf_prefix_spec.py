"""Shared-prefix workloads, prefix-cache hits with LRU eviction in the scheduler, and speculative decoding's
tokens per step (planner/performance/workload.py, prefix_cache.py, scheduler.py, spec_decode.py)."""

from __future__ import annotations

import math

import pytest

from planner.errors import PlannerError
from planner.performance.bench_flags import WorkloadFlags, parse_workload
from planner.performance.prefix_cache import PrefixCache
from planner.performance.scheduler import SchedulerConfig, simulate
from planner.performance.spec_decode import expected_accepted_length
from planner.performance.step_time import StepTime
from planner.performance.types import Request, Workload
from planner.performance.workload import generate


class Recorder:
    def __init__(self) -> None:
        self.prefill: list[int] = []

    def __call__(self, nd: int, dctx: int, ptok: int, pairs: float, pctx: int, npf: int) -> StepTime:
        self.prefill.append(ptok)
        return StepTime(0.01, 0.01, 0.0, 0.0, 0.0, 0.0)


def cfg(**kw: object) -> SchedulerConfig:
    base: dict[str, object] = {"max_num_seqs": 256, "max_num_batched_tokens": 2048, "num_blocks": 1000,
                               "block_size": 16, "prefix_caching": True}
    base.update(kw)
    return SchedulerConfig(**base)  # type: ignore[arg-type]


def test_shared_prefix_blocks_are_prefilled_once() -> None:
    # four 100-token prompts one second apart sharing a 70-token prefix: 70 // 16 = 4 full blocks (64
    # tokens) are cached by the first and hit by the three others
    reqs = [Request(i, float(i), 100, 5, prefix_group=0, prefix_len=70) for i in range(4)]
    on, off = Recorder(), Recorder()
    sim = simulate(reqs, cfg(), on)
    simulate(reqs, cfg(prefix_caching=False), off)
    assert sum(off.prefill) == 400
    assert sum(on.prefill) == 400 - 3 * 64 and sim.prefix_hit_tokens == 3 * 64


def test_a_hit_leaves_one_token_to_compute() -> None:
    # the whole 32-token prompt is the prefix: the second request may hit only (32 - 1) // 16 = 1 block
    reqs = [Request(i, float(i), 32, 3, prefix_group=0, prefix_len=32) for i in range(2)]
    rec = Recorder()
    simulate(reqs, cfg(), rec)
    assert [p for p in rec.prefill if p] == [32, 16]


def test_other_groups_and_random_prompts_do_not_hit() -> None:
    reqs = [Request(i, float(i), 100, 5, prefix_group=i, prefix_len=64) for i in range(3)]
    assert simulate(reqs, cfg(), Recorder()).prefix_hit_tokens == 0
    random_reqs = generate(Workload(random_input_len=200, random_output_len=4, num_prompts=20, request_rate=5.0))
    assert all(r.prefix_group == -1 for r in random_reqs)
    rec = Recorder()
    sim = simulate(random_reqs, cfg(), rec)
    assert sim.prefix_hit_tokens == 0 and sum(rec.prefill) == sum(r.input_len for r in random_reqs)


def test_lru_eviction_of_free_cached_blocks() -> None:
    pc = PrefixCache(4)
    assert pc.register(0, 0) and pc.register(0, 1) and not pc.register(0, 0)
    # the request (2 shared blocks, 1 other full block, no partial) finishes: its other block first, then
    # block 1, then block 0 at the end of the queue (behind 4 - 3 = ... the never-used block)
    free = 1 + pc.release(0, 2, 1, 0, alloc_total=3)
    assert free == 4 and pc.lookup(0, 9, alloc_total=3) == (2, 2)
    # two new blocks: the never-used one and the other full block go first; the prefix survives
    assert pc.lookup(0, 9, alloc_total=5) == (2, 2) and pc.evictions == 0
    # a third pops block 1 (the deeper prefix block, freed first): only block 0 is left to hit
    assert pc.lookup(0, 9, alloc_total=6) == (1, 1) and pc.evictions == 1


def test_eviction_in_the_scheduler_when_the_cache_runs_out() -> None:
    # one 64-block cache; group 0's prefix is cached, then prompts of other groups fill it: group 0's
    # next request finds its prefix evicted
    reqs = [Request(0, 0.0, 320, 2, prefix_group=0, prefix_len=320)]
    reqs += [Request(1 + i, 1.0 + i, 600, 2, prefix_group=1 + i, prefix_len=0) for i in range(3)]
    reqs += [Request(4, 10.0, 320, 2, prefix_group=0, prefix_len=320)]
    sim = simulate(reqs, cfg(num_blocks=64), Recorder())
    assert sim.prefix_hit_tokens == 0 and sim.prefix_evictions > 0
    roomy = simulate(reqs, cfg(num_blocks=1000), Recorder())
    assert roomy.prefix_hit_tokens == (320 - 1) // 16 * 16


def test_prefix_repetition_generator_as_vllm_builds_it() -> None:
    w = Workload(dataset_name="prefix_repetition", num_prompts=25, prefix_repetition_prefix_len=100,
                 prefix_repetition_suffix_len=50, prefix_repetition_num_prefixes=4, prefix_repetition_output_len=7)
    reqs = generate(w)
    assert len(reqs) == 24                                         # 4 x (25 // 4)
    assert {r.input_len for r in reqs} == {150} and {r.output_len for r in reqs} == {7}
    assert sorted(r.prefix_group for r in reqs) == sorted([g for g in range(4) for _ in range(6)])
    assert [r.prefix_group for r in reqs] != sorted(r.prefix_group for r in reqs)   # shuffled
    assert [r.prefix_group for r in generate(w)] == [r.prefix_group for r in reqs]   # seeded
    pre = generate(Workload(random_input_len=100, random_output_len=5, num_prompts=3, random_prefix_len=40))
    assert all(r.input_len == 140 and r.prefix_len == 40 and r.prefix_group == 0 for r in pre)


def test_flags_parsed_with_vllm_spellings_and_defaults() -> None:
    w, _ = parse_workload(WorkloadFlags(dataset_name="prefix_repetition", num_prompts="20"))
    assert (w.prefix_repetition_prefix_len, w.prefix_repetition_suffix_len, w.prefix_repetition_num_prefixes,
            w.prefix_repetition_output_len) == (256, 256, 10, 128)
    w, _ = parse_workload(WorkloadFlags(random_prefix_len="512"))
    assert w.random_prefix_len == 512
    with pytest.raises(PlannerError, match="--prefix-repetition-prefix-len applies"):
        parse_workload(WorkloadFlags(prefix_repetition_prefix_len="5"))
    with pytest.raises(PlannerError, match="greater than or equal"):
        parse_workload(WorkloadFlags(dataset_name="prefix_repetition", num_prompts="5"))


@pytest.mark.parametrize(("a", "k", "want"), [(0.85, 1, 1.85), (0.5, 3, 1.875), (0.0, 4, 1.0), (1.0, 3, 4.0)])
def test_expected_accepted_length(a: float, k: int, want: float) -> None:
    assert math.isclose(expected_accepted_length(a, k), want)


def test_speculative_decoding_speeds_up_decode_on_a_real_estimate() -> None:
    import gpu_catalog
    from planner.memory.estimator import estimate
    from planner.performance.predict import predict
    from planner.release.engine_args import EngineArgs
    from planner.sourcing.loader import load_model

    model = load_model("deepseek-r1", offline=True)
    gpu = gpu_catalog.resolve("H200-141GB")
    w = Workload(dataset_name="random", random_input_len=256, random_output_len=64, num_prompts=16,
                 max_concurrency=4)
    base = estimate(model, gpu, EngineArgs(tensor_parallel_size=8, max_model_len=4096), vllm_version="0.13.0")
    mtp = estimate(model, gpu, EngineArgs(tensor_parallel_size=8, max_model_len=4096,
                                          speculative_config='{"method": "mtp", "num_speculative_tokens": 1}'),
                   vllm_version="0.13.0")
    t0, t1 = predict(base, w).benchmark, predict(mtp, w).benchmark
    # 1.85 tokens per step for a step a little dearer (k + 1 verified tokens, one MTP layer)
    assert 1.2 < t0.median_tpot_ms / t1.median_tpot_ms < 1.85


def test_plan_with_a_load_refuses_prefix_repetition() -> None:
    from planner.commands.plan import parse_load

    with pytest.raises(PlannerError, match="prefix_repetition: plan sizes"):
        parse_load(request_rate="10", dataset_name="prefix_repetition", random_input_len=None,
                   random_output_len=None, peak_to_average=None, slo_ttft_ms=None, slo_tpot_ms=None,
                   slo_e2el_ms=None, slo_percentile=None)
