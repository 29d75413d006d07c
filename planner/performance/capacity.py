"""How much load one replica carries: the highest Poisson request rate it sustains, from the perf model.

Pure: no I/O. The deployment is a planner.memory.estimator.Estimate that starts (`est.fits`); the load is a
LoadShape (the `vllm bench serve` random/sharegpt lengths); the answer is a Capacity. docs/capacity.md
describes the method and its limits; in short:

* a probe at rate r simulates a `vllm bench serve --request-rate r` run (Poisson arrivals, burstiness 1)
  with planner.performance.predict: `probe_prompts(shape, r)` prompts, at least the shape's num_prompts and enough
  that the arrivals span PROBE_SECONDS of simulated time (a queue that grows needs time to show it),
  within PROBE_TOKENS simulated output tokens (the simulation costs about one loop per output token);
* the queue is bounded at r when the time to first token does not grow across the run: the least-squares
  slope of TTFT against the send time, over the second half of the requests, is at most GROWTH_MAX
  seconds per second. An overloaded engine that serves mu requests/s of r builds its queue at r - mu, so
  every request waits (1 - mu / r) s longer than the one sent 1 s before it: the slope estimates
  1 - mu / r, and GROWTH_MAX = 0.02 accepts a rate the engine serves at 98 % or more;
* with an Slo, the rate must also keep the predicted p<percentile> TTFT, TPOT and E2E latency (vLLM's
  definitions, planner.performance.metrics) within the targets;
* the search starts from the offline-batch throughput of the shape's prompts (burst_rate: `vllm bench
  throughput` up to its 90th-percentile finish). That is not an upper bound here: a burst admits its
  prompts together and they decode in lockstep, while Poisson arrivals interleave prefills with decodes
  and keep more requests in flight. The search moves up or down by factors of 2 to bracket the answer,
  then bisects geometrically until the bracket is within REL_TOL. The answer is the highest rate a probe
  found feasible, so it is deterministic for a seed, and a looser Slo (pointwise a larger feasible set)
  never lowers it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from planner.errors import PlannerError
from planner.performance.calibration import DEFAULT, Calibration
from planner.performance.metrics import percentile
from planner.performance.predict import Prediction, SimMemo, first_token_alone_s, predict
from planner.performance.step_time import hardware
from planner.performance.types import Workload
from planner.performance.workload import SHAREGPT_MEAN_IN, SHAREGPT_MEAN_OUT, SHAREGPT_MIN_PROMPT
from planner.release.engine_args import parse_human_int

HOURS_PER_MONTH = 720.0          # 30 days, the month of cloud price sheets; --hours-per-month overrides
PEAK_TO_AVERAGE = 2.0            # traffic is not flat: replicas are sized for the peak
SEARCH_PROMPTS = 200             # the fewest prompts a probe simulates (LoadShape's default)
PROBE_SECONDS = 20.0             # a probe's arrivals span at least this much simulated time ...
PROBE_TOKENS = 50_000            # ... within this many simulated output tokens
PROBE_MAX_PROMPTS = 2_000
GROWTH_MAX = 0.02                # s of TTFT growth per s of run accepted as a bounded queue
REL_TOL = 0.03                   # the bisection stops when hi / lo <= 1 + REL_TOL
MAX_STEPS = 12                   # doublings or halvings while bracketing
FLOOR_FACTOR = 1e-3              # the "rate -> 0" probe runs at this fraction of the starting rate

_UNIT_SECONDS = {"s": 1.0, "sec": 1.0, "second": 1.0, "min": 60.0, "minute": 60.0, "h": 3600.0, "hr": 3600.0,
                 "hour": 3600.0, "day": 86400.0, "d": 86400.0}
RATE_FORMS = ("40", "0.5", "1000/min", "3600/h", "20k/day", "5M/month", "500k/month")
MAX_RATE = 1e6                   # req/s


def _number(text: str, flag: str) -> float:
    """A plain decimal (40, 0.5) or one of vLLM's human-readable integers (500k = 500,000; 5M = 5 x 2**20)."""
    s = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?|\.\d+", s):
        return float(s)
    return float(parse_human_int(s, flag=flag))


def parse_count(text: str, *, flag: str = "--requests-per-month") -> int:
    """A request count in vLLM's human-readable integers (vllm/utils/argparse_utils.py human_readable_int):
    `500000`, `500k` (lower-case suffixes are powers of 1000: k m g t), `2M` (upper-case are powers of 1024:
    2M = 2,097,152, as vLLM reads it; write 2m for 2,000,000). Must be positive."""
    s = str(text).strip()
    try:
        n = parse_human_int(s, flag=flag)
    except PlannerError:
        raise PlannerError(f"{flag}: invalid count {s[:40]!r}", hint="e.g. 500000, 500k (= 500,000), 2m "
                           "(= 2,000,000) or 2M (= 2,097,152, vLLM's binary M)") from None
    if n <= 0:
        raise PlannerError(f"{flag} must be positive, got {s!r}")
    return n


def parse_rate(text: str, *, flag: str = "--request-rate", hours_per_month: float = HOURS_PER_MONTH) -> float:
    """Requests per second from `40`, `0.5`, `N/s`, `N/min`, `N/h`, `N/day` or `N/month` (a month is
    `hours_per_month` hours, 720 unless told otherwise); N in vLLM's human-readable numbers (`5M/month` is
    5 x 2**20 requests a month, `5m/month` 5,000,000). Bad text raises PlannerError with the accepted forms."""
    s = str(text).strip()
    forms = "accepted: " + ", ".join(RATE_FORMS) + " (k/m = x1000/x1e6, K/M = x1024/x2**20 as in vLLM)"
    num, _, unit = s.partition("/")
    unit = unit.strip().lower()
    if unit.endswith("s") and unit[:-1] in _UNIT_SECONDS:
        unit = unit[:-1]
    if unit in ("month", "mo"):
        if not (hours_per_month > 0 and math.isfinite(hours_per_month)):
            raise PlannerError(f"hours per month must be positive, got {hours_per_month}")
        seconds = hours_per_month * 3600.0
    elif unit in _UNIT_SECONDS:
        seconds = _UNIT_SECONDS[unit]
    elif not unit and "/" not in s:
        seconds = 1.0
    else:
        raise PlannerError(f"{flag}: invalid rate {s[:40]!r}", hint=forms)
    try:
        n = _number(num, flag)
    except PlannerError:
        raise PlannerError(f"{flag}: invalid rate {s[:40]!r}", hint=forms) from None
    rate = n / seconds
    if not rate > 0:
        raise PlannerError(f"{flag} must be positive, got {s!r}", hint=forms)
    if rate > MAX_RATE:
        raise PlannerError(f"{flag} must be at most {MAX_RATE:,.0f} requests/s, got {s!r}")
    return rate


@dataclass(frozen=True)
class Slo:
    """Latency targets at a percentile of the benchmark's per-request figures (vLLM's TTFT, TPOT, E2EL)."""

    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2el_ms: float | None = None
    percentile: float = 95.0

    def __post_init__(self) -> None:
        for name in ("ttft_ms", "tpot_ms", "e2el_ms"):
            v = getattr(self, name)
            if v is not None and not (v > 0 and math.isfinite(v)):
                raise PlannerError(f"--slo-{name.replace('_', '-')} must be a positive number of ms, got {v}")
        if not (0 < self.percentile <= 100):
            raise PlannerError(f"--slo-percentile must be in (0, 100], got {self.percentile}")

    @property
    def empty(self) -> bool:
        return self.ttft_ms is None and self.tpot_ms is None and self.e2el_ms is None

    def targets(self) -> dict[str, float]:
        return {k: v for k, v in (("ttft", self.ttft_ms), ("tpot", self.tpot_ms), ("e2el", self.e2el_ms))
                if v is not None}

    def to_json(self) -> dict[str, Any]:
        return {"ttft_ms": self.ttft_ms, "tpot_ms": self.tpot_ms, "e2el_ms": self.e2el_ms,
                "percentile": self.percentile}


@dataclass(frozen=True)
class LoadShape:
    """The request lengths of the load, in `vllm bench serve`'s flag names; the rate is the search's."""

    dataset_name: Literal["random", "sharegpt"] = "random"
    random_input_len: int = 1024
    random_output_len: int = 128
    random_range_ratio: float = 0.0
    num_prompts: int = SEARCH_PROMPTS
    seed: int = 0

    def workload(self, request_rate: float, *, num_prompts: int | None = None) -> Workload:
        """The Poisson `vllm bench serve` run of this shape at `request_rate` (inf: an offline batch)."""
        n = self.num_prompts if num_prompts is None else num_prompts
        offline = math.isinf(request_rate)
        return Workload(dataset_name=self.dataset_name, random_input_len=self.random_input_len,
                        random_output_len=self.random_output_len, random_range_ratio=self.random_range_ratio,
                        num_prompts=n, request_rate=request_rate, burstiness=1.0, offline_batch=offline,
                        seed=self.seed)

    @property
    def mean_input_len(self) -> float:
        return SHAREGPT_MEAN_IN if self.dataset_name == "sharegpt" else float(self.random_input_len)

    @property
    def mean_output_len(self) -> float:
        return SHAREGPT_MEAN_OUT if self.dataset_name == "sharegpt" else float(self.random_output_len)

    def to_json(self) -> dict[str, Any]:
        return {"dataset_name": self.dataset_name, "random_input_len": self.random_input_len,
                "random_output_len": self.random_output_len, "random_range_ratio": self.random_range_ratio,
                "num_prompts": self.num_prompts, "seed": self.seed}


def probe_prompts(shape: LoadShape, rate: float) -> int:
    """Prompts simulated by a probe at `rate`: the shape's num_prompts, raised so that the arrivals span
    PROBE_SECONDS, within PROBE_TOKENS output tokens and PROBE_MAX_PROMPTS."""
    base = shape.num_prompts
    want = math.ceil(rate * PROBE_SECONDS) if math.isfinite(rate) else base
    cap = max(base, min(PROBE_MAX_PROMPTS, int(PROBE_TOKENS // max(1.0, shape.mean_output_len))))
    return max(base, min(want, cap))


@dataclass(frozen=True)
class Probe:
    """One simulated run of the search."""

    rate: float
    num_prompts: int
    growth: float                    # fitted s of TTFT per s of run (second half)
    bounded: bool
    figures: dict[str, float]        # p<percentile> ttft/tpot/e2el in ms (the Slo's percentile, else 95)
    met: bool                        # bounded and every target met

    def to_json(self) -> dict[str, Any]:
        return {"rate": round(self.rate, 4), "num_prompts": self.num_prompts, "growth": round(self.growth, 4),
                "bounded": self.bounded, "figures_ms": {k: round(v, 2) for k, v in self.figures.items()},
                "met": self.met}


@dataclass(frozen=True)
class Capacity:
    """The highest Poisson rate one replica sustains (0.0 when none meets the targets), and why."""

    request_rate: float              # req/s per replica
    slo: Slo | None
    shape: LoadShape
    workload: Workload | None        # the probe at request_rate (predict(est, workload) reproduces it)
    benchmark: dict[str, Any] | None  # the perf benchmark keys at request_rate
    limit: str                       # what stops a higher rate: "queue", "ttft", "tpot", "e2el", "bound", "floor"
    reason: str                      # one sentence for humans
    start_rate: float                # where the search started (burst_rate of the offline batch)
    probes: tuple[Probe, ...] = field(default=())

    @property
    def met(self) -> bool:
        return self.request_rate > 0

    @property
    def output_tokens_per_s(self) -> float:
        return self.request_rate * self.shape.mean_output_len

    def to_json(self) -> dict[str, Any]:
        return {"per_replica_request_rate": round(self.request_rate, 4), "met": self.met, "limit": self.limit,
                "reason": self.reason, "slo": self.slo.to_json() if self.slo else None,
                "criterion": "slo" if self.slo and not self.slo.empty else "bounded_queue",
                "shape": self.shape.to_json(), "start_rate": round(self.start_rate, 4),
                "num_prompts": self.workload.num_prompts if self.workload else None,
                "predicted": self.benchmark, "probes": [p.to_json() for p in self.probes]}


def _slope(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = math.fsum(xs) / n, math.fsum(ys) / n
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    if sxx <= 0:
        return 0.0
    return math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def ttft_growth(pred: Prediction) -> float:
    """Least-squares slope of TTFT (s) against send time (s) over the second half of the requests."""
    ts = sorted(pred.sim.timings, key=lambda t: (t.sent_s, t.request.id))
    half = ts[len(ts) // 2:]
    return _slope([t.sent_s for t in half], [t.first_token_s - t.sent_s for t in half])


def slo_figures(pred: Prediction, q: float) -> dict[str, float]:
    """The q-th percentile of TTFT, TPOT and E2E latency in ms, as vLLM's calculate_metrics computes them."""
    ttft, tpot, e2el = [], [], []
    for t in pred.sim.timings:
        f = t.first_token_s - t.sent_s
        lat = t.finish_s - t.sent_s
        ttft.append(f)
        e2el.append(lat)
        if t.request.output_len > 1:
            tpot.append((lat - f) / (t.request.output_len - 1))
    return {k: percentile(sorted(v), q) * 1000 for k, v in (("ttft", ttft), ("tpot", tpot), ("e2el", e2el))}


def burst_rate(pred: Prediction) -> float:
    """Where the search starts: the offline batch's throughput up to its 90th-percentile finish (requests/s).

    The whole batch's throughput (`vllm bench throughput`) waits for its longest request, which with
    ShareGPT-like lengths is many times the typical one; the first 90 % of completions are what the
    engine's batch carries."""
    finish = sorted(t.finish_s for t in pred.sim.timings)
    if not finish:
        return 1e-6
    k = max(1, math.ceil(0.9 * len(finish)))
    return max(k / finish[k - 1], 1e-6) if finish[k - 1] > 0 else max(pred.benchmark.request_throughput, 1e-6)


def _benchmark_json(pred: Prediction) -> dict[str, Any]:
    out: dict[str, Any] = dict(pred.benchmark.to_json())
    out["failed"] = 0
    out["request_rate"] = pred.workload.request_rate
    out["num_prompts"] = pred.workload.num_prompts
    return out


def _check(est: Any, shape: LoadShape) -> None:
    if not est.fits:
        raise ValueError("the deployment would not start (est.fits is False)")
    try:
        hardware(est.gpu, est.quant)
    except ValueError as e:
        raise PlannerError(f"{e}, so the perf model cannot size a replica on it", code="no_perf_model",
                           hint="pick another GPU, or give a measured rate with --per-replica-rate") from None
    mml = int(est.resolved.max_model_len)
    if shape.dataset_name == "random":
        longest = (math.ceil(shape.random_input_len * (1 + shape.random_range_ratio))
                   + max(1, math.ceil(shape.random_output_len * (1 + shape.random_range_ratio))))
        if longest > mml:
            raise PlannerError(f"a request of up to {longest:,} tokens exceeds max_model_len {mml:,}; vLLM would "
                               "reject it", hint="lower the lengths or raise --max-model-len")


def evaluate(est: Any, shape: LoadShape, rate: float, slo: Slo | None = None, *,
             calibration: Calibration = DEFAULT, memo: SimMemo | None = None) -> tuple[Probe, Prediction]:
    """One probe of the search: the Poisson run of `shape` at `rate` (probe_prompts(shape, rate) prompts),
    whether its queue is bounded, its p<percentile> figures, and whether it meets `slo`. `memo`: predict's."""
    targets = slo.targets() if slo is not None else {}
    q = slo.percentile if slo is not None else 95.0
    w = shape.workload(rate, num_prompts=probe_prompts(shape, rate))
    try:
        p = predict(est, w, calibration, memo=memo)
    except ValueError as e:
        raise PlannerError(str(e)) from None
    g = ttft_growth(p)
    figs = slo_figures(p, q)
    bounded = g <= GROWTH_MAX
    met = bounded and all(figs[k] <= v for k, v in targets.items())
    return Probe(rate, w.num_prompts, g, bounded, figs, met), p


def shortest_prompt(shape: LoadShape) -> int:
    """The fewest prompt tokens a request of `shape` has (workload.random_lengths; vLLM's ShareGPT filter
    keeps prompts of at least SHAREGPT_MIN_PROMPT tokens)."""
    if shape.dataset_name == "sharegpt":
        return SHAREGPT_MIN_PROMPT
    return max(1, math.floor(shape.random_input_len * (1 - shape.random_range_ratio)))


def ttft_unreachable(est: Any, shape: LoadShape, slo: Slo | None, *, calibration: Calibration = DEFAULT) -> str:
    """Why no rate meets `slo`'s TTFT target, when one request of the shape's shortest prompt, sent alone
    to an idle server, already takes longer to its first token (predict.first_token_alone_s: no request
    of a run does better, so every percentile is above the target); "" when it does not. Saves the
    search's simulations, which could only end at the floor."""
    if slo is None or slo.ttft_ms is None:
        return ""
    n = shortest_prompt(shape)
    try:
        alone_ms = first_token_alone_s(est, n, calibration) * 1000
    except ValueError as e:
        raise PlannerError(str(e)) from None
    if alone_ms <= slo.ttft_ms:
        return ""
    which = "" if shape.dataset_name == "random" and shape.random_range_ratio == 0 else " (the shortest the load sends)"
    return (f"no rate meets the targets: one request of {n:,} prompt tokens{which} sent alone to an idle server "
            f"already has a TTFT of {alone_ms:.1f} ms, above the {slo.ttft_ms:g} ms target (queueing and "
            "batching only add to it)")


class Outrun(Exception):
    """max_sustainable_rate(..., must_beat=x) stopped: a probe at a rate of at most x failed, so the answer
    (below every rate a probe found infeasible) cannot exceed x."""


def max_sustainable_rate(est: Any, shape: LoadShape, slo: Slo | None = None, *,
                         calibration: Calibration = DEFAULT, must_beat: float | None = None,
                         memo: SimMemo | None = None) -> Capacity:
    """The highest Poisson request rate one replica of `est` sustains on `shape`: within `slo` when given
    (every target at its percentile, with a bounded queue), else with a bounded queue. See the module doc.

    `must_beat`: the caller only wants the answer when it exceeds this rate. The answer is always below the
    rate of every probe that failed (the bracket's hi only falls, its lo stays under it), so as soon as a
    probe at a rate <= must_beat fails the search raises Outrun instead of finishing; otherwise it runs the
    same probes and returns the same Capacity as without it. `memo`: predict's (the same runs, reused where
    they are provably identical, e.g. across a max_num_seqs that no run reaches)."""
    _check(est, shape)
    targets = slo.targets() if slo is not None else {}
    q = slo.percentile if slo is not None else 95.0
    probes: list[Probe] = []
    preds: dict[float, Prediction] = {}

    def probe(rate: float) -> Probe:
        pr, p = evaluate(est, shape, rate, slo, calibration=calibration, memo=memo)
        if must_beat is not None and not pr.met and rate <= must_beat:
            raise Outrun(f"a probe at {rate:.4g} req/s failed: the answer is below {must_beat:.4g} req/s")
        probes.append(pr)
        preds[rate] = p
        return pr

    def broken(pr: Probe) -> str:
        if not pr.bounded:
            return "queue"
        return next(k for k, v in targets.items() if pr.figures[k] > v)

    unreachable = ttft_unreachable(est, shape, slo, calibration=calibration)
    if unreachable:
        if must_beat is not None and must_beat >= 0:
            raise Outrun(unreachable)
        return Capacity(0.0, slo, shape, None, None, "floor", unreachable, 0.0, ())
    try:
        start = burst_rate(predict(est, shape.workload(math.inf), calibration, memo=memo))
    except ValueError as e:
        raise PlannerError(str(e)) from None
    first = probe(start)
    lo: Probe | None = None
    hi: Probe | None = None
    if first.met:
        lo = first
        for _ in range(MAX_STEPS):
            nxt = probe(lo.rate * 2)
            if not nxt.met:
                hi = nxt
                break
            lo = nxt
    else:
        hi = first
        floor = probe(start * FLOOR_FACTOR)
        if not floor.met:
            k = broken(floor)
            unit = "ms"
            reason = (f"no rate meets the targets: at {floor.rate:.3g} req/s (requests do not overlap) the "
                      f"p{q:g} {k.upper()} is already {floor.figures[k]:.1f} {unit}, above the "
                      f"{targets[k]:g} {unit} target") if k != "queue" else \
                     "no rate keeps the queue bounded"
            return Capacity(0.0, slo, shape, None, None, "floor", reason, start, tuple(probes))
        rate = start
        for _ in range(MAX_STEPS):
            rate /= 2
            if rate <= floor.rate:
                lo = floor
                break
            nxt = probe(rate)
            if nxt.met:
                lo = nxt
                break
            hi = nxt
        if lo is None:
            lo = floor
    if hi is not None:
        while hi.rate / lo.rate > 1 + REL_TOL:
            mid = probe(math.sqrt(lo.rate * hi.rate))
            if mid.met:
                lo = mid
            else:
                hi = mid
    best = preds[lo.rate]
    if hi is None:
        limit, reason = "bound", (f"the search stopped at {lo.rate:.3g} req/s ({MAX_STEPS} doublings of the "
                                  "offline-batch throughput) with every target still met")
    else:
        limit = broken(hi)
        if limit == "queue":
            reason = (f"at {hi.rate:.3g} req/s the queue grows (TTFT rises {hi.growth:.3f} s per s of run): "
                      f"the replica serves fewer requests than arrive")
        else:
            reason = (f"at {hi.rate:.3g} req/s the p{q:g} {limit.upper()} would be {hi.figures[limit]:.1f} ms, "
                      f"above the {targets[limit]:g} ms target")
    return Capacity(lo.rate, slo, shape, best.workload, _benchmark_json(best), limit, reason, start,
                    tuple(probes))


def peak_rate(average_rate: float, peak_to_average: float = PEAK_TO_AVERAGE) -> float:
    """The rate to size for: the average times the peak-to-average ratio."""
    if not (peak_to_average >= 1 and math.isfinite(peak_to_average)):
        raise PlannerError(f"--peak-to-average must be at least 1, got {peak_to_average}")
    return average_rate * peak_to_average


def replicas_for(peak: float, per_replica_rate: float) -> int:
    """Replicas that carry `peak` req/s at `per_replica_rate` each (at least one)."""
    if not per_replica_rate > 0:
        raise ValueError("per_replica_rate must be positive")
    return max(1, math.ceil(peak / per_replica_rate - 1e-9))


def with_num_prompts(shape: LoadShape, n: int) -> LoadShape:
    return replace(shape, num_prompts=n)
