"""predict(): what `vllm bench serve` (or `vllm bench throughput`) would measure for an estimated deployment.

Ties the memory model's answer (planner.memory.estimator.Estimate: resolved batch limits, KV blocks, quantization,
GPU) to the step-time model and the scheduler simulation, then computes the benchmark's statistics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from planner.performance.calibration import DEFAULT, Calibration, host_cpu_factor
from planner.performance.metrics import BenchmarkResult, summarize
from planner.performance.scheduler import SchedulerConfig, StepFn, simulate
from planner.performance.spec_decode import SpecSteps, spec_of
from planner.performance.step_time import (
    DecodeSteps,
    Hardware,
    ModelCost,
    Regime,
    StepTime,
    hardware,
    model_cost,
    step_time,
    weight_floor_s,
)
from planner.performance.types import Request, SimResult, Workload
from planner.performance.workload import generate
from planner.release.vllm_versions import cudagraph_max_capture, release_at_least

DecodeFn = Callable[[int, int], StepTime]

_LABELS = {
    "weights": "reading the weights (memory bandwidth)",
    "kv_reads": "reading the KV cache (memory bandwidth)",
    "compute": "compute (GEMM and attention FLOPs)",
    "communication": "tensor/pipeline-parallel communication",
    "overhead": "per-step CPU overhead (scheduling, sampling, launches)",
}


@dataclass(frozen=True)
class Bounds:
    """What limits the deployment on this workload: shares of GPU step time per cause, and the time
    requests spent held back by the KV cache's capacity, the max_num_seqs cap or the client's queue."""

    step_shares: dict[str, float]      # share of engine busy time per cause (sums to 1)
    busy_s: float                      # engine time spent in steps
    duration_s: float
    kv_capacity_s: float               # step time with requests waiting for KV blocks (or preempting)
    max_num_seqs_s: float              # step time with requests waiting because max_num_seqs were running
    queueing_s: float                  # step time with requests held by the client's --max-concurrency
    preemptions: int
    max_num_seqs: int
    num_blocks: int
    weight_floor_ms: float             # one decode step can never be faster than this
    steps: int

    def dominant(self) -> str:
        return max(self.step_shares, key=lambda k: self.step_shares[k]) if self.step_shares else "overhead"

    def to_json(self) -> dict[str, Any]:
        return {"dominant": self.dominant(),
                "step_shares": {k: round(v, 4) for k, v in self.step_shares.items()},
                "busy_s": round(self.busy_s, 3), "duration_s": round(self.duration_s, 3),
                "kv_capacity_s": round(self.kv_capacity_s, 3), "max_num_seqs_s": round(self.max_num_seqs_s, 3),
                "queueing_s": round(self.queueing_s, 3), "preemptions": self.preemptions,
                "max_num_seqs": self.max_num_seqs, "num_blocks": self.num_blocks,
                "weight_floor_ms": round(self.weight_floor_ms, 4), "steps": self.steps}

    def lines(self) -> list[str]:
        out = []
        for k, v in sorted(self.step_shares.items(), key=lambda kv: -kv[1]):
            if v >= 0.05:
                out.append(f"{v:.0%} of engine time is {_LABELS.get(k, k)}")
        out.append(f"a decode step cannot beat {self.weight_floor_ms:.2f} ms (one read of the weights at peak "
                   "bandwidth)")
        d = self.duration_s or 1.0
        if self.preemptions:
            out.append(f"the KV cache ({self.num_blocks} blocks) ran out: {self.preemptions} preemptions "
                       f"(recompute), requests waited for blocks {self.kv_capacity_s / d:.0%} of the run")
        elif self.kv_capacity_s > 0.01 * d:
            out.append(f"the KV cache ({self.num_blocks} blocks) held requests back {self.kv_capacity_s / d:.0%} "
                       "of the run")
        if self.max_num_seqs_s > 0.01 * d:
            out.append(f"--max-num-seqs {self.max_num_seqs} capped the batch {self.max_num_seqs_s / d:.0%} of the "
                       "run")
        if self.queueing_s > 0.01 * d:
            out.append(f"requests queued at the client (--max-concurrency) {self.queueing_s / d:.0%} of the run")
        return out


@dataclass(frozen=True)
class Prediction:
    workload: Workload
    benchmark: BenchmarkResult
    bounds: Bounds
    sim: SimResult


def scheduler_steps(est: Any, num_scheduler_steps: int | None = None) -> int:
    """V0's multi-step scheduling window: `num_scheduler_steps` where given, else --num-scheduler-steps as the
    deployment's flags carry it (EngineArgs.passthrough); 1 on V1 (the flag was removed with V0) and where
    unset."""
    if est.rules.engine != "v0":
        return 1
    n = num_scheduler_steps
    if n is None:
        for k, v in getattr(est.args, "passthrough", ()):
            if k in ("--num-scheduler-steps", "--num-scheduler-step") and v is not None and str(v).isdigit():
                n = int(v)
    return max(1, int(n or 1))


def _regime(est: Any, cal: Calibration, max_capture: int, release: str | None = None,
            num_scheduler_steps: int = 1) -> Regime:
    """The release's step overheads. V0 from 0.6.0 processes step n's outputs while step n+1 runs on the
    GPU (async output processing, on by default), so its per-sequence work overlaps the step as V1's does
    under async scheduling; before 0.6 it ran between the steps. `release`: the vLLM release the run used
    where it is older than the rules the estimate was made with (tools/perf_fidelity.py: 0.5.x runs)."""
    rules = est.rules
    r = est.resolved
    async_on = r.async_scheduling if r.async_scheduling is not None else rules.async_scheduling
    v0_async_output = rules.engine == "v0" and release_at_least(release or rules.version, "0.6.0")
    workers = max(0, int(r.tensor_parallel_size) * int(r.pipeline_parallel_size) - 1)
    per_seq = cal.per_seq_overhead_s
    serial = 0.0
    if rules.engine == "v0":
        base = cal.step_overhead_v0_s + cal.tp_worker_overhead_v0_s * workers
        per_seq = cal.per_seq_overhead_v0_s
        serial = cal.per_seq_serial_v0_s
    else:
        # V1's executor broadcasts a step once over a shared-memory queue that every worker reads at once,
        # and waits for rank 0's reply alone (MultiprocExecutor.collective_rpc, 0.13): not one hand-off per
        # worker as V0's broadcast. The step waits for the slowest of the ranks' input preparation: with
        # independent exponential delays of mean tp_worker_overhead_s, the expected maximum of n exceeds
        # one rank's by tp_worker_overhead_s x (1/2 + ... + 1/n).
        wait = cal.tp_worker_overhead_s * sum(1.0 / k for k in range(2, workers + 2))
        base = (cal.step_overhead_async_s if async_on else cal.step_overhead_v1_s) + wait
    host = host_cpu_factor(est.gpu, cal)
    # V0 multi-step: scheduling, input preparation and the broadcast to the workers once per window of N
    # decode steps (vllm/engine/llm_engine.py step(): Scheduler.schedule only when the cached batch has no
    # steps left; vllm/worker/multi_step_worker.py prepares and broadcasts the inputs on the first step
    # only, the others advance them on the GPU); the per-sequence output processing still runs every step.
    n_ms = max(1, num_scheduler_steps)
    return Regime(step_overhead_s=base * host, per_seq_overhead_s=per_seq * host, eager=bool(r.enforce_eager),
                  max_graph_batch=max_capture if max_capture > 0 else 512,
                  cpu_overlap=(rules.engine == "v1" and bool(async_on)) or v0_async_output,
                  decode_step_overhead_s=base * host / n_ms if n_ms > 1 else None,
                  per_seq_serial_s=serial * host,
                  decode_per_seq_serial_s=serial * host / n_ms if n_ms > 1 else None)


def cost_of(est: Any) -> ModelCost:
    spec = est.spec
    if spec is None:
        raise ValueError("this Estimate carries no ModelSpec (made by an older planner.memory.estimator)")
    r = est.resolved
    act = 4 if r.dtype == "float32" else 2
    kvb = 1 if str(r.kv_cache_dtype).startswith("fp8") else act
    ep = bool(r.enable_expert_parallel and spec.is_moe)
    lay = getattr(est, "layout", None)
    nodes = lay.nodes(est.gpu.gpus_per_node) if lay is not None else 1
    return model_cost(spec, est.quant, tp=r.tensor_parallel_size, pp=r.pipeline_parallel_size, act_bytes=act,
                      kv_bytes=kvb, ep=ep, nodes=nodes)


def _engine(est: Any, workload: Workload, cal: Calibration, *, link: str | None = None,
            release: str | None = None, num_scheduler_steps: int | None = None,
            ) -> tuple[SchedulerConfig, StepFn, DecodeFn, ModelCost, Hardware, tuple[Any, ...]]:
    """The scheduler's configuration and step-time functions for `workload` on `est` (what predict runs),
    and what the step functions are made of (they depend on nothing else)."""
    r = est.resolved
    cost = cost_of(est)
    hw = hardware(est.gpu, est.quant, link=link)
    mns, mnbt = int(r.max_num_seqs), int(r.max_num_batched_tokens)
    sd = spec_of(est)
    cap = 0 if r.enforce_eager else cudagraph_max_capture(
        est.rules, max_num_seqs=mns, mnbt=mnbt, cc=est.gpu.cc, user_max=r.max_cudagraph_capture_size,
        performance_mode=r.performance_mode, num_speculative_tokens=sd.k if sd is not None else 0)
    n_ms = scheduler_steps(est, num_scheduler_steps)
    reg = _regime(est, cal, cap, release, n_ms)
    host = host_cpu_factor(est.gpu, cal)
    offline = workload.offline_batch
    chunked = bool(r.enable_chunked_prefill)
    if n_ms > 1 and chunked:
        # Multi-step with chunked prefill does not chunk prompts (SchedulerConfig, vllm/config.py 0.6.3): the
        # default budget becomes max(max_model_len, 2048) and prefills mix with the decodes whole
        chunked = False
        if getattr(est.args, "max_num_batched_tokens", None) is None:
            mnbt = max(int(r.max_model_len), 2048)
    cfg = SchedulerConfig(
        max_num_seqs=mns, max_num_batched_tokens=mnbt, num_blocks=int(est.kv_cache.num_blocks),
        block_size=int(est.kv_cache.block_size), chunked_prefill=chunked,
        num_scheduler_steps=n_ms,
        # --multi-step-stream-outputs: added in 0.6.2 (off by default), on by default from 0.6.3
        # (vllm/engine/arg_utils.py of each release); 0.6.0-0.6.2 create request outputs at a window's end
        multi_step_stream_outputs=release_at_least(release or est.rules.version, "0.6.3"),
        prefill_first=est.rules.engine == "v0" and not r.enable_chunked_prefill,
        max_concurrency=None if offline else workload.max_concurrency,
        request_overhead_s=0.0 if offline else cal.request_overhead_s,
        frontend_request_s=0.0 if offline else cal.frontend_request_s * host,
        per_prompt_token_s=0.0 if offline else cal.per_prompt_token_s * host,
        frontend_token_s=0.0 if offline else cal.frontend_token_s * host, max_model_len=int(r.max_model_len),
        ramp_up_s=0.0 if offline or not workload.max_concurrency else workload.ramp_up_s,
        # the effective value, as the estimate resolved it (VersionRules.prefix_caching_default where
        # the command does not set it, and the release's rules where vLLM overrides it)
        prefix_caching=bool(r.enable_prefix_caching))
    decode: DecodeFn = DecodeSteps(cost, hw, cal, reg)

    def step(nd: int, dctx: int, ptok: int, pairs: float, pctx: int, npf: int) -> StepTime:
        if not ptok and not npf:
            return decode(nd, dctx)
        return step_time(cost, hw, cal, reg, num_decode=nd, decode_ctx=dctx, prefill_tokens=ptok,
                         prefill_pairs=pairs, prefill_ctx=pctx, num_prefill=npf)

    if sd is not None:
        spec = SpecSteps(sd, cost, hw, cal, reg)
        decode, step = spec.decode, spec.step

    return cfg, step, decode, cost, hw, (cost, hw, cal, reg, sd)


# Simulations already run, for predict(..., memo=): (workload, step inputs, SchedulerConfig with
# max_num_seqs and num_blocks 0) -> [(max_num_seqs, num_blocks, SimResult)]. See _simulate.
SimMemo = dict[tuple[Any, ...], list[tuple[int, int, SimResult]]]


def _simulate(requests: list[Request], cfg: SchedulerConfig, step: StepFn, decode: DecodeFn,
              inputs: tuple[Any, ...], memo: SimMemo | None) -> SimResult:
    """simulate(), or a run already in `memo` that is the same run: the same requests (the workload makes
    them), step functions (made from `inputs`' cost, hardware, calibration, regime and speculative
    decoding alone) and scheduler config, except for caps neither run reaches:

    * max_num_seqs: the scheduler reads it only in comparisons of the running (or decoding) requests
      against it, and those are never more than the requests in flight; so when the run's most requests in
      flight (SimResult.max_concurrent_requests, F) is below both caps every comparison comes out the same;
    * num_blocks, where no request shares a prefix (no prefix cache groups), without V0 multi-step or
      speculative decoding (both allocate ahead): the blocks held are those of
      the running requests, at most ceil((prompt + output) / block_size) each, so when F times the largest
      of these is within both caches no allocation ever fails (no preemption, no KV wait) and every
      comparison of the free blocks comes out the same.
    By induction over the steps the two runs then take the same steps at the same times."""
    if memo is None:
        return simulate(requests, cfg, step, decode)
    key = (*inputs, replace(cfg, max_num_seqs=0, num_blocks=0))
    try:
        runs = memo.setdefault(key, [])
    except TypeError:              # an unhashable input: no reuse
        return simulate(requests, cfg, step, decode)
    mns, nb = cfg.max_num_seqs, cfg.num_blocks
    bs = max(1, cfg.block_size)
    # (V0 multi-step and speculative decoding are left out of the second rule: they take blocks ahead)
    exact_blocks = (any(r.prefix_group >= 0 for r in requests) or cfg.num_scheduler_steps > 1
                    or inputs[-1][-1] is not None)
    most = max((-(-(r.input_len + max(1, r.output_len)) // bs) for r in requests), default=0)
    for m, b, sim in runs:
        peak = sim.max_concurrent_requests
        if peak < min(m, mns) and (b == nb or (not exact_blocks and peak * most <= min(b, nb))):
            return sim
    sim = simulate(requests, cfg, step, decode)
    runs.append((mns, nb, sim))
    return sim


def predict(est: Any, workload: Workload, cal: Calibration = DEFAULT, *, link: str | None = None,
            release: str | None = None, num_scheduler_steps: int | None = None,
            memo: SimMemo | None = None) -> Prediction:
    """Simulate `workload` on the deployment `est` (planner.memory.estimator.Estimate). `link="network"`: the
    tensor-parallel ranks are in separate pods or nodes and all-reduce over a host network. `release`:
    the vLLM release that ran, where it predates the rules `est` was made with (see _regime).
    `num_scheduler_steps`: V0's --num-scheduler-steps (multi-step scheduling) where the deployment's
    flags do not carry it (scheduler_steps).

    The deployment must start: callers check `est.fits` first (the CLI exits 1 with est.errors when it
    does not); predict raises ValueError when `est.fits` is False, or when the GPU catalog lacks the peak
    figures the step model needs. `memo`: reuse the simulations of earlier calls given the same dict
    where they are provably the same run (_simulate).
    """
    if not est.fits:
        raise ValueError("the deployment would not start (est.fits is False): " +
                         "; ".join(e.message for e in est.errors))

    cfg, step, decode, cost, hw, step_inputs = _engine(est, workload, cal, link=link, release=release,
                                                       num_scheduler_steps=num_scheduler_steps)
    r = est.resolved
    mns, mnbt = int(r.max_num_seqs), cfg.max_num_batched_tokens
    requests = generate(workload)
    mml = int(r.max_model_len)
    too_long = [q for q in requests if q.input_len + q.output_len > mml]
    if too_long:
        raise ValueError(f"{len(too_long)} of the {len(requests)} requests are longer than max_model_len "
                         f"{mml} (vLLM rejects them)")
    if est.rules.engine == "v0" and not r.enable_chunked_prefill and min(mml, mnbt) < mml:
        # V0 without chunked prefill ignores a prompt over min(max_model_len, max_num_batched_tokens)
        # (Scheduler._get_prompt_limit, FINISHED_IGNORED): the benchmark would time empty answers. Only
        # reachable where vLLM switches chunked prefill off after checking the limits (MLA, 0.7.1-0.7.3).
        limit = min(mml, mnbt)
        over = [q for q in requests if q.input_len > limit]
        if over:
            raise ValueError(f"{len(over)} of the {len(requests)} prompts are longer than {limit} tokens, the most "
                             f"vLLM {est.rules.version} (V0) accepts without chunked prefill "
                             "(min(max_model_len, max_num_batched_tokens)): it ignores them")

    try:
        sim = _simulate(requests, cfg, step, decode, (workload, step_inputs), memo)
    except RuntimeError as e:      # a request that can never get its blocks
        raise ValueError(str(e)) from None
    bench = summarize(sim)
    b = sim.bound_seconds
    parts = {k: b.get(k, 0.0) for k in _LABELS}
    busy = sum(parts.values())
    shares = {k: (v / busy if busy else 0.0) for k, v in parts.items()}
    bounds = Bounds(step_shares=shares, busy_s=busy, duration_s=sim.duration_s,
                    kv_capacity_s=b.get("kv_capacity", 0.0), max_num_seqs_s=b.get("max_num_seqs", 0.0),
                    queueing_s=b.get("queueing", 0.0), preemptions=sim.preemptions, max_num_seqs=mns,
                    num_blocks=int(est.kv_cache.num_blocks), weight_floor_ms=weight_floor_s(cost, hw) * 1000,
                    steps=sim.steps)
    return Prediction(workload=workload, benchmark=bench, bounds=bounds, sim=sim)


def first_token_alone_s(est: Any, input_len: int, cal: Calibration = DEFAULT) -> float:
    """The time to first token of one request of `input_len` prompt tokens sent to an idle server: the
    same client, API server and engine steps as predict's `vllm bench serve` runs, with nothing else in
    flight. No request of such a run gets its first token sooner: the server's input queue, a busy engine
    (a step already running, decodes sharing the prefill's step, a prompt cut into more chunks) and the
    streaming rounds only add time, and random prompts share no prefix (tests/test_capacity.py checks it
    on generated runs). So a TTFT target below it is unreachable at every request rate."""
    w = Workload(random_input_len=input_len, random_output_len=1, num_prompts=1, request_rate=1.0)
    cfg, step, decode, _cost, _hw, _inputs = _engine(est, w, cal)
    t = simulate([Request(id=0, arrival_s=0.0, input_len=input_len, output_len=1)], cfg, step, decode).timings[0]
    return t.first_token_s - t.sent_s
