"""The `vllm bench serve` flags `planner perf` takes, read into a Workload (and a sweep of Workloads).

The flags keep vLLM's spellings and defaults (vllm/benchmarks/serve.py and datasets/datasets.py in 0.33), so
a user can paste them. Values arrive as the words the user typed and are checked here, not by click: every
bad value is one PlannerError that names the flag, and nothing slow starts before the checks pass.

Limits beyond vLLM's own (a range ratio in [0, 1), a burstiness above 0) keep one invocation to a few
seconds: the scheduler simulation keeps every output token's timing, so the number of simulated requests and
output tokens is bounded per invocation (all sweep points together).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from planner.errors import PlannerError
from planner.performance.types import Workload

DATASETS = ("random", "sharegpt", "prefix_repetition")
# What vLLM's --dataset-name also accepts, which perf does not model (its lengths come from files or the Hub).
OTHER_VLLM_DATASETS = ("burstgpt", "sonnet", "random-mm", "random-rerank", "hf", "custom", "spec_bench",
                       "txt-slices")
MAX_NUM_PROMPTS = 10_000
MAX_LEN = 1 << 20                  # tokens per prompt or per output (max_model_len is checked after the estimate)
MAX_CONCURRENCY = 100_000
MAX_REQUEST_RATE = 1e6             # req/s; above this every request is sent at once anyway: use inf
# req/s (one request in 11.6 days): below it every request runs alone, as at this rate; far below it the
# arrival times leave the floats (1e-308 req/s put every arrival at infinity and stalled the simulation).
MIN_REQUEST_RATE = 1e-6
BURSTINESS_RANGE = (0.01, 1000.0)  # the gamma shape; vLLM takes any value above 0
MAX_SEED = 2**32 - 1               # numpy's seed range (vLLM seeds numpy and random with it)
MAX_SWEEP_POINTS = 32
MAX_REQUESTS = 20_000              # simulated requests per invocation (num_prompts x sweep points)
MAX_OUTPUT_TOKENS = 1_200_000      # simulated output tokens per invocation (random dataset, upper bound)
SWEEP_PARAMETERS = ("max-concurrency", "request-rate")
_SHOWN = 40                        # characters of a bad value echoed back


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN - 3] + "...")


def parse_int(flag: str, text: str, lo: int, hi: int) -> int:
    word = text.strip()
    # int() of a 5,000-digit word is slow and raises past 4,300 digits: anything longer than 20 characters
    # is out of range before it is parsed.
    try:
        value = int(word) if len(word) <= 20 else None
    except ValueError:
        value = None
    if value is None and len(word) > 20 and word.lstrip("+-").isdigit():
        raise PlannerError(f"{flag} must be an integer from {lo:,} to {hi:,}, got a {len(word)}-digit number")
    if value is None:
        raise PlannerError(f"{flag} must be an integer, got {_shown(text)}")
    if not lo <= value <= hi:
        raise PlannerError(f"{flag} must be an integer from {lo:,} to {hi:,}, got {value}")
    return value


def parse_float(flag: str, text: str, *, lo: float, hi: float, lo_open: bool = False, hi_open: bool = False,
                allow_inf: bool = False) -> float:
    word = text.strip()
    try:
        value = float(word) if len(word) <= 40 else math.nan
    except ValueError:
        raise PlannerError(f"{flag} must be a number, got {_shown(text)}") from None
    if math.isnan(value):
        raise PlannerError(f"{flag} must be a number, got {_shown(text)}")
    if math.isinf(value) and value > 0 and allow_inf:
        return value
    low_ok = value > lo if lo_open else value >= lo
    high_ok = value < hi if hi_open else value <= hi
    if not (low_ok and high_ok):
        interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        extra = " or inf" if allow_inf else ""
        raise PlannerError(f"{flag} must be in {interval}{extra}, got {value:g}")
    return value


def parse_request_rate(flag: str, text: str) -> float:
    return parse_float(flag, text, lo=MIN_REQUEST_RATE, hi=MAX_REQUEST_RATE, allow_inf=True)


def parse_max_concurrency(flag: str, text: str) -> int:
    return parse_int(flag, text, 1, MAX_CONCURRENCY)


@dataclass(frozen=True)
class Sweep:
    """`--sweep PARAM=V1,V2,...`: one prediction per value, in the order given."""

    parameter: Literal["max-concurrency", "request-rate"]
    values: tuple[float, ...]

    def workloads(self, base: Workload) -> list[Workload]:
        if self.parameter == "max-concurrency":
            return [replace(base, max_concurrency=int(v)) for v in self.values]
        return [replace(base, request_rate=v) for v in self.values]

    def to_json(self) -> dict[str, object]:
        return {"parameter": self.parameter,
                "values": [json_number(v) for v in self.values]}


def json_number(v: float) -> float | int | str:
    """A value as vLLM's --save-result writes it: integers as integers, an infinite rate as "inf"."""
    if math.isinf(v):
        return "inf"
    return int(v) if float(v).is_integer() else v


def parse_sweep(text: str) -> Sweep:
    name, eq, values = text.partition("=")
    name = name.strip().lstrip("-").replace("_", "-")
    if not eq:
        raise PlannerError(f"--sweep must be PARAM=V1,V2,..., got {_shown(text)}",
                           hint="e.g. --sweep max-concurrency=1,2,4,8")
    if name not in SWEEP_PARAMETERS:
        raise PlannerError(f"--sweep parameter must be max-concurrency or request-rate, got {_shown(name)}")
    words = values.split(",")
    if len(words) > MAX_SWEEP_POINTS:
        raise PlannerError(f"--sweep takes at most {MAX_SWEEP_POINTS} values, got {len(words)}")
    parsed: list[float] = []
    for w in words:
        if not w.strip():
            raise PlannerError(f"--sweep {name}: an empty value in {_shown(values)}")
        v: float = parse_max_concurrency(f"--sweep {name}", w) if name == "max-concurrency" \
            else parse_request_rate(f"--sweep {name}", w)
        if v in parsed:
            raise PlannerError(f"--sweep {name}: the value {json_number(v)} is given twice")
        parsed.append(v)
    return Sweep(parameter=name, values=tuple(parsed))  # type: ignore[arg-type]


@dataclass(frozen=True)
class WorkloadFlags:
    """The workload options as typed (None where the user did not give one)."""

    dataset_name: str | None = None
    random_input_len: str | None = None
    random_output_len: str | None = None
    random_range_ratio: str | None = None
    num_prompts: str | None = None
    request_rate: str | None = None
    burstiness: str | None = None
    max_concurrency: str | None = None
    seed: str | None = None
    offline_batch: bool = False
    sweep: str | None = None
    random_prefix_len: str | None = None
    prefix_repetition_prefix_len: str | None = None
    prefix_repetition_suffix_len: str | None = None
    prefix_repetition_num_prefixes: str | None = None
    prefix_repetition_output_len: str | None = None


def parse_workload(flags: WorkloadFlags) -> tuple[Workload, Sweep | None]:
    """The Workload (the base of the sweep, when there is one), every value checked."""
    f = flags
    dataset = "random" if f.dataset_name is None else f.dataset_name.strip()
    if dataset not in DATASETS:
        why = "is a vllm bench serve dataset that perf does not model" if dataset in OTHER_VLLM_DATASETS \
            else "is not a dataset"
        raise PlannerError(f"--dataset-name {_shown(dataset)} {why}; choose random, sharegpt or prefix_repetition")
    pr = {"--prefix-repetition-prefix-len": f.prefix_repetition_prefix_len,
          "--prefix-repetition-suffix-len": f.prefix_repetition_suffix_len,
          "--prefix-repetition-num-prefixes": f.prefix_repetition_num_prefixes,
          "--prefix-repetition-output-len": f.prefix_repetition_output_len}
    if dataset != "prefix_repetition":
        given_pr = [k for k, v in pr.items() if v is not None]
        if given_pr:
            raise PlannerError(f"{given_pr[0]} applies to --dataset-name prefix_repetition")
    if f.random_prefix_len is not None and dataset != "random":
        raise PlannerError("--random-prefix-len applies to --dataset-name random")

    def opt_int(flag: str, text: str | None, lo: int, default: int) -> int:
        return parse_int(flag, text, lo, MAX_LEN) if text is not None else default
    w = Workload(
        dataset_name=dataset,  # type: ignore[arg-type]
        random_input_len=parse_int("--random-input-len", f.random_input_len, 1, MAX_LEN)
        if f.random_input_len is not None else 1024,
        random_output_len=parse_int("--random-output-len", f.random_output_len, 1, MAX_LEN)
        if f.random_output_len is not None else 128,
        random_range_ratio=parse_float("--random-range-ratio", f.random_range_ratio, lo=0.0, hi=1.0, hi_open=True)
        if f.random_range_ratio is not None else 0.0,
        num_prompts=parse_int("--num-prompts", f.num_prompts, 1, MAX_NUM_PROMPTS)
        if f.num_prompts is not None else 1000,
        request_rate=parse_request_rate("--request-rate", f.request_rate)
        if f.request_rate is not None else math.inf,
        burstiness=parse_float("--burstiness", f.burstiness, lo=BURSTINESS_RANGE[0], hi=BURSTINESS_RANGE[1])
        if f.burstiness is not None else 1.0,
        max_concurrency=parse_max_concurrency("--max-concurrency", f.max_concurrency)
        if f.max_concurrency is not None else None,
        offline_batch=f.offline_batch,
        seed=parse_int("--seed", f.seed, 0, MAX_SEED) if f.seed is not None else 0,
        random_prefix_len=opt_int("--random-prefix-len", f.random_prefix_len, 0, 0),
        prefix_repetition_prefix_len=opt_int("--prefix-repetition-prefix-len", f.prefix_repetition_prefix_len, 0,
                                             256),
        prefix_repetition_suffix_len=opt_int("--prefix-repetition-suffix-len", f.prefix_repetition_suffix_len, 0,
                                             256),
        prefix_repetition_num_prefixes=opt_int("--prefix-repetition-num-prefixes",
                                               f.prefix_repetition_num_prefixes, 1, 10),
        prefix_repetition_output_len=opt_int("--prefix-repetition-output-len", f.prefix_repetition_output_len, 1,
                                             128),
    )
    if dataset == "prefix_repetition":
        if w.num_prompts < w.prefix_repetition_num_prefixes:
            raise PlannerError(f"--num-prompts ({w.num_prompts}) must be greater than or equal to "
                               f"--prefix-repetition-num-prefixes ({w.prefix_repetition_num_prefixes})")
        if w.prefix_repetition_prefix_len + w.prefix_repetition_suffix_len < 1:
            raise PlannerError("--prefix-repetition-prefix-len + --prefix-repetition-suffix-len must be at least 1")
    if f.offline_batch:
        # `vllm bench throughput` hands every prompt to the engine at once: no client, no rate.
        for flag, given in (("--request-rate", f.request_rate), ("--burstiness", f.burstiness),
                            ("--max-concurrency", f.max_concurrency), ("--sweep", f.sweep)):
            if given is not None:
                raise PlannerError(f"{flag} does not apply to --offline-batch (vllm bench throughput sends every "
                                   "prompt at once)")
    sweep = parse_sweep(f.sweep) if f.sweep is not None else None
    if sweep is not None:
        clash = {"max-concurrency": f.max_concurrency, "request-rate": f.request_rate}[sweep.parameter]
        if clash is not None:
            raise PlannerError(f"--{sweep.parameter} and --sweep {sweep.parameter}=... are both given; keep one")
    points = len(sweep.values) if sweep else 1
    if w.num_prompts * points > MAX_REQUESTS:
        raise PlannerError(f"--num-prompts {w.num_prompts:,} x {points} sweep points is more than "
                           f"{MAX_REQUESTS:,} simulated requests; lower --num-prompts or the sweep")
    if w.dataset_name in ("random", "prefix_repetition"):
        out_tokens = w.num_prompts * points * max_output_len(w)
        if out_tokens > MAX_OUTPUT_TOKENS:
            raise PlannerError(f"{out_tokens:,} output tokens to simulate (--num-prompts x --random-output-len "
                               f"x sweep points) is more than {MAX_OUTPUT_TOKENS:,}; lower one of them")
    return w, sweep


def max_input_len(w: Workload) -> int:
    """The longest prompt the random dataset draws (vLLM: ceil(len * (1 + range_ratio)))."""
    if w.dataset_name == "prefix_repetition":
        return w.prefix_repetition_prefix_len + w.prefix_repetition_suffix_len
    return w.random_prefix_len + math.ceil(w.random_input_len * (1 + w.random_range_ratio))


def max_output_len(w: Workload) -> int:
    if w.dataset_name == "prefix_repetition":
        return w.prefix_repetition_output_len
    return max(1, math.ceil(w.random_output_len * (1 + w.random_range_ratio)))
