"""`planner plan` with a workload: replicas per plan for a request rate and latency targets, from the perf model.

The memory search (planner.planning.recommend) lists every layout that holds the workload's context: each GPU type,
each TP (and, where TP alone cannot fit, PP) size, each weight format allowed. Here each of them gets:

* a cheap upper bound on the rate one replica sustains within the targets (`rate_bound`, a handful of
  step-time evaluations, no simulation): the steady state in which every step decodes B sequences and
  prefills the B / output_len requests that replace the finished ones, B capped by --max-num-seqs, the KV
  cache, the token budget and (under a TPOT target) the largest pure-decode batch whose step fits the
  target; zero where one request alone breaks a target (its prefill against TTFT, one decode step against
  TPOT);
* replicas = ceil(peak / rate), peak = the average rate x --peak-to-average, and the objective (total
  GPUs, or $/h) over all replicas;
* the exact rate (planner.performance.capacity.max_sustainable_rate: simulated `vllm bench serve` runs) for the
  layouts whose bound could still beat the best exact answer, in the order of their bound: a layout whose
  bound already needs more GPUs (or dollars) than a plan found is not simulated;
* for the best plans, when vLLM's batch defaults break the TTFT target (the capacity search stops at the
  TTFT target, or no rate meets it), a few other --max-num-batched-tokens / --max-num-seqs values
  (BATCH_VARIANTS), keeping the one that carries the most requests per second. A variant's search stops as
  soon as a probe at or below 1.02 x the best rate so far fails (its answer lies below every failed probe,
  so it cannot win: capacity.max_sustainable_rate's must_beat), and a simulation that is provably the same
  run as one already made (a max_num_seqs or KV cache size no run reaches: predict's memo) is reused; the
  answer is the one the full searches give (tests/test_plan_pruning.py).

Ranking: plans that meet the targets first, then the objective (GPUs or $/h in all), then the headroom
over the peak. Everything is deterministic: the simulations use the shape's seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from planner.memory.estimator import Estimate, estimate
from planner.performance.calibration import DEFAULT
from planner.performance.capacity import LoadShape, Outrun, Slo, max_sustainable_rate, replicas_for
from planner.performance.predict import SimMemo, _regime, cost_of
from planner.performance.step_time import hardware, step_time
from planner.planning.recommend import Plan, PlanResult
from planner.release.engine_args import EngineArgs
from planner.release.vllm_versions import cudagraph_max_capture

# The context a workload needs: its longest request with this margin (chat templates, system prompts and
# lengths that drift from the benchmark's), rounded up to CONTEXT_ROUND tokens.
CONTEXT_MARGIN = 1.25
CONTEXT_ROUND = 1024
# vLLM's ShareGPT filter (is_valid_sequence): prompt <= 1024 and prompt + output <= 2048 tokens.
SHAREGPT_LONGEST = 2048
# The bound is an idealised steady state (no queueing, every step alike), not the simulation: the
# simulated rate came out up to 1.88 x the unslackened figure (llama-3.3-70b, ShareGPT, 8 x L40S: 14.0
# req/s simulated, 7.5 from the steady state; over the two examples on H100, A100, L40S at TP
# 1-8 the ratio ranged 0.38-1.88), so the figure is doubled before it prunes anything.
BOUND_SLACK = 2.0
# Layouts simulated exactly at most (the rest are pruned by their bound, or reported as not sized).
MAX_EXACT = 8
# Batch limits tried for a plan whose defaults break the TTFT target: multiples of the default token
# budget (more prompt tokens per step: a prompt's prefill takes fewer steps) and of max_num_seqs.
BATCH_VARIANTS: tuple[tuple[float, float], ...] = ((1.0, 2.0), (1.0, 4.0), (0.5, 1.0))
TUNE_PLANS = 2                   # plans whose batch limits are tuned
MAX_BUDGET = 65536               # a --max-num-batched-tokens the planner writes at most


@dataclass(frozen=True)
class Load:
    """The traffic to size for: an average rate, how peaky it is, the request lengths and the targets."""

    rate: float                      # average requests/s
    rate_text: str                   # as the user wrote it
    peak_to_average: float
    shape: LoadShape
    slo: Slo | None

    @property
    def peak(self) -> float:
        return self.rate * self.peak_to_average

    def longest(self) -> int:
        """The longest request (prompt + output tokens) the workload sends."""
        s = self.shape
        if s.dataset_name == "sharegpt":
            return SHAREGPT_LONGEST
        r = s.random_range_ratio
        return math.ceil(s.random_input_len * (1 + r)) + max(1, math.ceil(s.random_output_len * (1 + r)))

    def context(self) -> int:
        """--max-model-len for the workload: the longest request with CONTEXT_MARGIN, rounded up."""
        need = math.ceil(self.longest() * CONTEXT_MARGIN)
        return max(CONTEXT_ROUND, -(-need // CONTEXT_ROUND) * CONTEXT_ROUND)

    def context_why(self, context: int, model_max: int) -> str:
        s = self.shape
        what = ("ShareGPT requests (vLLM keeps prompt + output <= 2,048 tokens)" if s.dataset_name == "sharegpt"
                else f"requests of up to {self.longest():,} tokens (prompt + output)")
        return (f"what the workload needs: {what}, with {CONTEXT_MARGIN - 1:.0%} margin, rounded up to "
                f"{CONTEXT_ROUND:,}; the model's maximum {model_max:,} would only hold memory the batch can use "
                "(give --context for longer requests)")

    def to_json(self) -> dict[str, Any]:
        return {"request_rate": round(self.rate, 6), "request_rate_given": self.rate_text,
                "peak_to_average": self.peak_to_average, "peak_request_rate": round(self.peak, 6),
                "shape": self.shape.to_json(), "slo": self.slo.to_json() if self.slo else None}


@dataclass(frozen=True)
class LoadFit:
    """One plan sized for the load."""

    load: Load
    bound: float                     # rate_bound: req/s one replica cannot exceed within the targets
    bound_reason: str = ""           # when the bound is 0: the target one request alone breaks
    capacity: Any = None             # planner.performance.capacity.Capacity (None: pruned, not simulated)
    replicas: int = 0
    gpus_per_replica: int = 1
    price_per_gpu_hour: float | None = None
    tuning: str = ""                 # why --max-num-seqs / --max-num-batched-tokens differ from the defaults
    defaults_rate: float | None = None  # the rate at vLLM's batch defaults, when tuning changed them
    context_why: str = ""

    @property
    def sized(self) -> bool:
        return self.capacity is not None

    @property
    def met(self) -> bool:
        return self.capacity is not None and self.capacity.met

    @property
    def rate(self) -> float:
        return self.capacity.request_rate if self.capacity is not None else 0.0

    @property
    def min_replicas(self) -> int:
        """The fewest replicas the bound allows (a pruned plan needs at least these)."""
        return replicas_for(self.load.peak, self.bound) if self.bound > 0 else 0

    @property
    def gpus_total(self) -> int:
        return self.replicas * self.gpus_per_replica

    @property
    def cost_per_hour(self) -> float | None:
        p = self.price_per_gpu_hour
        return None if p is None or not self.replicas else p * self.gpus_total

    @property
    def headroom(self) -> float:
        """Share of the planned capacity above the peak: replicas x rate / peak - 1."""
        return self.replicas * self.rate / self.load.peak - 1 if self.met and self.load.peak > 0 else 0.0

    def per_million(self, tokens_per_request: float) -> float | None:
        """$ per 1M tokens at the average rate (what the GPUs, paid for every hour, serve on average)."""
        c = self.cost_per_hour
        per_hour = self.load.rate * 3600 * tokens_per_request
        return None if c is None or per_hour <= 0 else c / per_hour * 1e6

    @property
    def cost_per_million_output(self) -> float | None:
        return self.per_million(self.load.shape.mean_output_len)

    @property
    def cost_per_million_tokens(self) -> float | None:
        return self.per_million(self.load.shape.mean_input_len + self.load.shape.mean_output_len)

    def to_json(self) -> dict[str, Any]:
        cap = self.capacity
        load = self.load
        return {
            "sized": self.sized,
            "met": self.met,
            "replicas": self.replicas if self.sized and self.met else None,
            "gpus_per_replica": self.gpus_per_replica,
            "gpus_total": self.gpus_total if self.sized and self.met else None,
            "per_replica_request_rate": round(self.rate, 4) if self.sized else None,
            "per_replica_rate_bound": round(self.bound, 4),
            "request_rate": round(load.rate, 6),
            "peak_request_rate": round(load.peak, 6),
            "peak_to_average": load.peak_to_average,
            "headroom": round(self.headroom, 4) if self.met else None,
            "slo": load.slo.to_json() if load.slo else None,
            "limit": cap.limit if cap is not None else "pruned",
            "reason": cap.reason if cap is not None else (
                f"not simulated: its bound ({self.bound:.3g} req/s per replica) already needs at least "
                f"{self.min_replicas} replicas" if self.bound > 0 else f"not simulated: {self.bound_reason}"),
            "predicted": cap.benchmark if cap is not None else None,
            "cost_per_hour_usd": _r(self.cost_per_hour) if self.met else None,
            "cost_per_million_output_tokens_usd": _r(self.cost_per_million_output) if self.met else None,
            "cost_per_million_tokens_usd": _r(self.cost_per_million_tokens) if self.met else None,
            "tuning": self.tuning or None,
        }


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


# ------------------------------------------------------------------------------------------------ the bound


def rate_bound(est: Estimate, shape: LoadShape, slo: Slo | None) -> float:
    """An upper bound (req/s) on what one replica of `est` sustains on `shape` within `slo` (module doc)."""
    return bound_and_reason(est, shape, slo)[0]


def bound_and_reason(est: Estimate, shape: LoadShape, slo: Slo | None) -> tuple[float, str]:
    """rate_bound, and when it is 0 the target one request alone breaks."""
    r = est.resolved
    try:
        cost = cost_of(est)
        hw = hardware(est.gpu, est.quant)
    except ValueError as e:
        return 0.0, f"the perf model cannot size it: {e}"
    cal = DEFAULT
    mns, mnbt = int(r.max_num_seqs or 1), int(r.max_num_batched_tokens or 1)
    cap = 0 if r.enforce_eager else cudagraph_max_capture(
        est.rules, max_num_seqs=mns, mnbt=mnbt, cc=est.gpu.cc, user_max=r.max_cudagraph_capture_size,
        performance_mode=r.performance_mode)
    reg = _regime(est, cal, cap)
    n_in, n_out = max(1.0, shape.mean_input_len), max(1.0, shape.mean_output_len)
    resident = n_in + n_out / 2

    def decode(b: float) -> float:
        n = max(1, round(b))
        return step_time(cost, hw, cal, reg, num_decode=n, decode_ctx=int(n * resident), prefill_tokens=0,
                         prefill_pairs=0.0).total

    def mixed(b: float) -> float:
        n = max(1, round(b))
        arrivals = b / n_out                       # requests that start (and finish) per step
        ptok = max(1, round(arrivals * n_in))
        return step_time(cost, hw, cal, reg, num_decode=n, decode_ctx=int(n * resident), prefill_tokens=ptok,
                         prefill_pairs=arrivals * n_in * n_in / 2, num_prefill=max(1, round(arrivals))).total

    targets = slo.targets() if slo is not None else {}
    first = 0.0
    left = int(n_in)
    while left > 0:                                # one prompt alone, in chunks of the token budget
        c = min(left, mnbt)
        first += step_time(cost, hw, cal, reg, num_decode=0, decode_ctx=0, prefill_tokens=c,
                           prefill_pairs=c * c / 2 + c * (n_in - left), prefill_ctx=int(n_in - left),
                           num_prefill=1).total
        left -= c
    one = decode(1)
    where = f"on {est.resolved.world_size} x {est.gpu.id}"
    if "ttft" in targets and first * 1000 > targets["ttft"]:
        return 0.0, (f"one request alone takes {first * 1000:.1f} ms to prefill {n_in:,.0f} prompt tokens {where}, "
                     f"above the {targets['ttft']:g} ms TTFT target")
    if "tpot" in targets and one * 1000 > targets["tpot"]:
        return 0.0, (f"one decode step of a single request takes {one * 1000:.2f} ms {where}, above the "
                     f"{targets['tpot']:g} ms TPOT target")
    if "e2el" in targets and (first + (n_out - 1) * one) * 1000 > targets["e2el"]:
        return 0.0, (f"one request alone takes {(first + (n_out - 1) * one) * 1000:.0f} ms end to end {where}, "
                     f"above the {targets['e2el']:g} ms target")
    top = max(1.0, min(float(mns), est.kv_cache.tokens / resident, mnbt / (1 + n_in / n_out)))
    if "tpot" in targets:
        lo, hi = 1.0, top
        if decode(hi) * 1000 > targets["tpot"]:
            for _ in range(20):                    # the largest pure-decode batch within the TPOT target
                mid = (lo + hi) / 2
                if decode(mid) * 1000 <= targets["tpot"]:
                    lo = mid
                else:
                    hi = mid
            top = lo
    # The rate is not monotone in the batch (a decode batch above the largest CUDA graph runs eagerly):
    # the best of a few batch sizes up to the cap.
    sizes = {top, min(top, float(reg.max_graph_batch)), top / 2, top / 4, top / 8}
    return max(b / n_out / mixed(b) for b in sizes if b >= 1) * BOUND_SLACK, ""


# ------------------------------------------------------------------------------------------------ the search


@dataclass
class _Cache:
    """Estimates and capacities by (plan identity, batch limits): variants and re-rankings reuse them."""

    estimates: dict[tuple[Any, ...], Estimate] = field(default_factory=dict)
    capacities: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    simulated: int = 0
    runs: SimMemo = field(default_factory=dict)   # predict's memo: identical simulations run once


def _key(p: Plan, args: EngineArgs) -> tuple[Any, ...]:
    return (p.gpu.id, p.candidate.serve_model, p.candidate.scheme, args)


def _objective(fit: LoadFit, objective: str) -> tuple[float, ...]:
    gpus = float(fit.gpus_total)
    cost = fit.cost_per_hour if fit.cost_per_hour is not None else math.inf
    if objective == "cost":
        return (cost, gpus, -fit.headroom)
    return (gpus, cost, -fit.headroom)


def _bound_objective(fit: LoadFit, objective: str) -> float:
    if fit.bound <= 0:
        return math.inf
    gpus = fit.min_replicas * fit.gpus_per_replica
    if objective == "cost":
        return gpus * fit.price_per_gpu_hour if fit.price_per_gpu_hour is not None else math.inf
    return float(gpus)


def _capacity(p: Plan, args: EngineArgs, est: Estimate, load: Load, cache: _Cache,
              must_beat: float | None = None) -> Any:
    """The capacity of `p` at `args` (cached); with `must_beat`, None where it provably cannot exceed that
    rate (max_sustainable_rate stopped early: capacity.Outrun), which is not cached."""
    k = _key(p, args)
    if k not in cache.capacities:
        cache.simulated += 1
        try:
            cache.capacities[k] = max_sustainable_rate(est, load.shape, load.slo, must_beat=must_beat,
                                                       memo=cache.runs)
        except Outrun:
            return None
    return cache.capacities[k]


def _with_fit(p: Plan, fit: LoadFit) -> Plan:
    rate = fit.rate
    replicas = replicas_for(fit.load.peak, rate) if rate > 0 else 0
    return replace(p, load=replace(fit, replicas=replicas))


def _tune(p: Plan, load: Load, cache: _Cache, version: str, env: dict[str, str]) -> Plan:
    """Other batch limits for a plan whose vLLM defaults break the TTFT target (BATCH_VARIANTS)."""
    fit: LoadFit = p.load
    cap = fit.capacity
    if cap is None or load.slo is None or load.slo.ttft_ms is None or cap.limit not in ("ttft", "floor"):
        return p
    if cap.limit == "floor" and "TTFT" not in cap.reason:
        return p
    r = p.est.resolved
    mns, mnbt = int(r.max_num_seqs or 1), int(r.max_num_batched_tokens or 1)
    best_p, best_rate = p, fit.rate
    # A variant wins only with a rate above best_rate x 1.02, so its search stops (None) as soon as that is
    # out of reach (max_sustainable_rate's must_beat); the rates of the stopped ones are only needed for
    # the note, so they are finished only when a variant wins. The choice is the same as finishing them all.
    tried: list[tuple[int, int, Plan, EngineArgs, Estimate, Any]] = []
    for fs, fb in BATCH_VARIANTS:
        seqs = max(1, int(mns * fs))
        budget = min(MAX_BUDGET, max(seqs, int(mnbt * fb)))
        if (seqs, budget) == (mns, mnbt):
            continue
        args = p.args.with_(max_num_seqs=seqs, max_num_batched_tokens=budget)
        est = estimate(p.candidate.model, p.gpu, args, vllm_version=version, env=env)
        if not est.fits:
            continue
        c = _capacity(p, args, est, load, cache, must_beat=best_rate * 1.02)
        tried.append((seqs, budget, p, args, est, c))
        if c is not None and c.request_rate > best_rate * 1.02:
            q = replace(p, args=args, est=est)
            best_p = _with_fit(q, replace(fit, capacity=c))
            best_rate = c.request_rate
    if best_p is p:
        return p
    rates = [f"{seqs}/{budget:,}: {(c or _capacity(tp, args, est, load, cache)).request_rate:.3g} req/s"
             for seqs, budget, tp, args, est, c in tried]
    br = best_p.est.resolved
    why = (f"vLLM's defaults ({mns} sequences, {mnbt:,} tokens per step) break the TTFT target "
           f"({fit.capacity.reason}); tried max_num_seqs/max_num_batched_tokens " + "; ".join(rates)
           + f": {br.max_num_seqs}/{br.max_num_batched_tokens:,} carries the most within the targets "
           f"({best_rate:.3g} req/s per replica, {fit.rate:.3g} at the defaults)")
    assert best_p.load is not None
    return replace(best_p, load=replace(best_p.load, tuning=why, defaults_rate=fit.rate))


@dataclass(frozen=True)
class Sizing:
    """What the load search did, for the notes and the JSON."""

    candidates: int
    simulated: int
    pruned: int
    met: int


def size(result: PlanResult, load: Load, *, model_max_len: int) -> tuple[PlanResult, Sizing]:
    """The memory search's plans sized for `load`, ranked: the chosen one meets the targets (else None)."""
    req = result.request
    objective = req.objective if req.objective in ("gpus", "cost") else "gpus"
    cache = _Cache()
    ctx_why = load.context_why(req.context or 0, model_max_len)
    fits: list[tuple[Plan, LoadFit]] = []
    for p in result.plans:
        b, why = bound_and_reason(p.est, load.shape, load.slo)
        fits.append((p, LoadFit(load=load, bound=b, bound_reason=why, gpus_per_replica=p.count,
                                price_per_gpu_hour=p.gpu.price_per_hour_usd, context_why=ctx_why)))
    order = sorted(fits, key=lambda pf: (_bound_objective(pf[1], objective), -pf[1].bound, pf[0].gpu.id,
                                         pf[0].count))
    done: list[Plan] = []
    pruned: list[Plan] = []
    best: tuple[float, ...] | None = None
    for p, fit in order:
        lb = _bound_objective(fit, objective)
        if math.isinf(lb) or (best is not None and lb > best[0]) or len(done) >= MAX_EXACT:
            pruned.append(replace(p, load=fit))
            continue
        cap = _capacity(p, p.args, p.est, load, cache)
        q = _with_fit(p, replace(fit, capacity=cap))
        done.append(q)
        if q.load.met:
            key = _objective(q.load, objective)
            best = key if best is None or key < best else best
    rank = sorted(done, key=lambda q: (not q.load.met, *_objective(q.load, objective), q.gpu.id, q.count))
    tuned = [_tune(q, load, cache, req.vllm_version, req.env) if i < TUNE_PLANS else q for i, q in enumerate(rank)]
    rank = sorted(tuned, key=lambda q: (not q.load.met, *_objective(q.load, objective), q.gpu.id, q.count))
    pruned.sort(key=lambda q: (_bound_objective(q.load, objective), q.gpu.id, q.count))
    plans = tuple(rank + pruned)
    met = [q for q in rank if q.load.met]
    chosen = met[0] if met else None
    notes = list(result.notes)
    notes.append(f"sized for {load.rate:.4g} req/s on average, {load.peak:.4g} at the peak "
                 f"(--peak-to-average {load.peak_to_average:g}: traffic is not flat)")
    if pruned:
        notes.append(f"{len(done)} of {len(fits)} layouts simulated; {len(pruned)} not, their bound on the rate "
                     "already needing more " + ("$/h" if objective == "cost" else "GPUs") + " than plan 1"
                     if chosen is not None else f"{len(done)} of {len(fits)} layouts simulated")
    suggestions: tuple[str, ...] = result.suggestions
    if chosen is None:
        suggestions = (*suggestions, *_why_none(rank, pruned))
    out = replace(result, plans=plans, chosen=chosen, notes=tuple(notes), suggestions=suggestions,
                  closest=result.closest if chosen is None else None)
    return out, Sizing(candidates=len(fits), simulated=cache.simulated, pruned=len(pruned), met=len(met))


def _why_none(rank: list[Plan], pruned: list[Plan]) -> list[str]:
    """Why no plan meets the targets: the simulated plans' reasons, else those of the bound (best first)."""
    out = []
    for q in [*rank, *pruned][:3]:
        par = f"TP {q.tp}" + (f" x PP {q.pp}" if q.pp > 1 else "")
        why = q.load.capacity.reason if q.load.capacity is not None else q.load.bound_reason
        out.append(f"{q.count} x {q.gpu.id} ({par}): {why or 'its bound meets no rate'}")
    return out
