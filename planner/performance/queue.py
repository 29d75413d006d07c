"""The queue depth at which a deployment's TTFT target starts to break: the autoscaler's target.

vLLM's gauge `vllm:num_requests_waiting` counts the requests in the scheduler's WAITING queue: they have
reached the server and are not yet in the running batch (vllm/v1/core/sched/scheduler.py, 0.33: a request
waits while max_num_seqs are running, while the step's token budget is spent, or while the KV cache has no
blocks for it; a preempted request waits again). A request's time to first token is its time in that
queue plus its prefill, so the queue's length is what an autoscaler can watch for the TTFT target before
users feel it. `queue_depth_target` finds the per-replica value where the perf model says the target
breaks:

1. The bracket: predict() with every request sent at once gives the rate the deployment completes
   requests at when it is never idle, X (the burst's drain lowers it a little below what a long run
   sustains).
2. Bisection, on a log scale, over (X/64, 2X] for the highest request rate r* at which the simulated TTFT
   at the target's percentile is within the target. A run of N prompts at rate r is a burst of N/r
   seconds: below X the TTFT grows as more requests share each step's token budget; above X the queue
   grows for as long as the burst lasts. Six halvings leave r* within 8% of the crossing.
3. The target is the time-average length of the waiting queue in the run at r*: the simulation's
   request-seconds in WAITING over its duration (Little's law, L = lambda x W, exact on one sample
   path).

The answer depends on N where the target breaks above X (a longer burst queues more at the same rate): for
Qwen3-8B on one H100 at 1000 prompt and 200 output tokens (max_model_len 4096) and a 500 ms p95 target, the
queue found is 1.0 waiting requests with 200 prompts, 1.2 with 300 and 1.8 with 400. Use ~300 prompts;
each predict() of them takes well under a second. Deterministic (the workload's seed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal

from planner.performance.calibration import DEFAULT, Calibration
from planner.performance.metrics import percentile
from planner.performance.predict import Prediction, predict
from planner.performance.types import Workload

# The rates tried, as fractions of the saturation rate X, and the bisection's halvings of log(128).
_LOW_FRACTION = 1 / 64
_HIGH_FRACTION = 2.0
_HALVINGS = 6


@dataclass(frozen=True)
class QueueDepth:
    """Where the TTFT target breaks for one replica, and the waiting queue there."""

    # "breaks": the target breaks between `rate` and the next rate tried; "holds": it holds even at 2X, the
    # highest rate tried (the TTFT is not what limits this replica); "unmet": it is missed at X/64 already
    # (a lone request's prefill is too slow: no number of replicas meets it).
    status: Literal["breaks", "holds", "unmet"]
    waiting_per_pod: float | None   # time-average of vllm:num_requests_waiting at `rate` (None when unmet)
    rate: float                     # highest req/s found within the target (X/64 when unmet)
    ttft_ms: float                  # the TTFT at `percentile` there
    saturation_rate: float          # req/s completed with every request sent at once (X)
    percentile: float
    target_ms: float
    calls: int                      # predict() runs made

    def to_json(self) -> dict[str, Any]:
        waiting = None if self.waiting_per_pod is None else round(self.waiting_per_pod, 3)
        return {"status": self.status, "waiting_per_pod": waiting,
                "rate": round(self.rate, 4), "ttft_ms": round(self.ttft_ms, 2),
                "saturation_rate": round(self.saturation_rate, 4), "percentile": self.percentile,
                "target_ms": self.target_ms, "calls": self.calls}


def ttft_percentile_ms(p: Prediction, q: float) -> float:
    """The `q`th percentile of the simulated TTFTs (as `vllm bench serve` computes it), in ms."""
    return percentile(sorted(t.first_token_s - t.sent_s for t in p.sim.timings), q) * 1000


def mean_waiting(p: Prediction) -> float:
    """Time-average number of requests in the engine's waiting queue over the run."""
    d = p.sim.duration_s
    return p.sim.queued_request_s / d if d > 0 else 0.0


def queue_depth_target(est: Any, workload: Workload, *, ttft_ms: float, percentile_q: float = 95.0,
                       cal: Calibration = DEFAULT) -> QueueDepth:
    """The waiting requests per replica at which the TTFT target starts to break (module docstring).

    `est` is a deployment that starts (planner.memory.estimator.Estimate with fits True); `workload` gives the
    lengths, the prompt count (a few hundred is enough) and the seed: its request rate is replaced.
    Raises ValueError as predict() does (a deployment that would not start, requests longer than
    max_model_len) and for a target or percentile out of range.
    """
    if not ttft_ms > 0 or math.isinf(ttft_ms):
        raise ValueError(f"the TTFT target must be a positive number of ms, got {ttft_ms}")
    if not 0 < percentile_q <= 100:
        raise ValueError(f"the percentile must be in (0, 100], got {percentile_q}")
    base = replace(workload, offline_batch=False, max_concurrency=None)
    calls = 0

    def run(rate: float) -> Prediction:
        nonlocal calls
        calls += 1
        return predict(est, replace(base, request_rate=rate), cal)

    burst = run(math.inf).benchmark
    x = burst.request_throughput
    if not x > 0:
        raise ValueError("the simulated deployment completed no request")

    def result(rate: float, p: Prediction, status: Literal["breaks", "holds", "unmet"]) -> QueueDepth:
        return QueueDepth(status=status, waiting_per_pod=None if status == "unmet" else mean_waiting(p),
                          rate=rate, ttft_ms=ttft_percentile_ms(p, percentile_q), saturation_rate=x,
                          percentile=percentile_q, target_ms=ttft_ms, calls=calls)

    lo = x * _LOW_FRACTION
    p_lo = run(lo)
    if ttft_percentile_ms(p_lo, percentile_q) > ttft_ms:
        return result(lo, p_lo, "unmet")
    hi = x * _HIGH_FRACTION
    p_hi = run(hi)
    if ttft_percentile_ms(p_hi, percentile_q) <= ttft_ms:
        return result(hi, p_hi, "holds")
    for _ in range(_HALVINGS):
        mid = math.sqrt(lo * hi)
        p_mid = run(mid)
        if ttft_percentile_ms(p_mid, percentile_q) <= ttft_ms:
            lo, p_lo = mid, p_mid
        else:
            hi = mid
    return result(lo, p_lo, "breaks")
