"""The values that pass between the workload generators, the scheduler simulation and the metrics.

Frozen dataclasses: a 1,000-prompt simulation creates these by the thousand, and pydantic's validation
belongs at the boundary (the Workload a user asks for), not in the inner loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Request:
    """One prompt as the benchmark client would send it."""

    id: int
    arrival_s: float      # when the client's request generator releases it (0.0 for a burst)
    input_len: int        # prompt tokens
    output_len: int       # tokens to generate (the benchmark sets ignore_eos, so exactly this many)
    # The first `prefix_len` prompt tokens are the same in every request of `prefix_group` (-1: none):
    # --random-prefix-len and the prefix_repetition dataset. Only these can hit another's cached blocks.
    prefix_group: int = -1
    prefix_len: int = 0


@dataclass(frozen=True)
class Workload:
    """A `vllm bench serve` (or, with offline_batch, `vllm bench throughput`) run, in its own flag names."""

    dataset_name: Literal["random", "sharegpt", "prefix_repetition"] = "random"
    random_input_len: int = 1024
    random_output_len: int = 128
    random_range_ratio: float = 0.0
    random_prefix_len: int = 0        # random: tokens of one fixed prefix before every prompt
    # prefix_repetition: num_prefixes prefixes, num_prompts // num_prefixes prompts each (vLLM's defaults)
    prefix_repetition_prefix_len: int = 256
    prefix_repetition_suffix_len: int = 256
    prefix_repetition_num_prefixes: int = 10
    prefix_repetition_output_len: int = 128
    num_prompts: int = 1000
    request_rate: float = math.inf    # req/s; inf sends every request at t=0
    burstiness: float = 1.0           # gamma shape of the inter-arrival times (1.0 = Poisson)
    max_concurrency: int | None = None
    offline_batch: bool = False       # `vllm bench throughput`: all prompts handed to the engine at once
    seed: int = 0
    # Closed-loop clients that start their max_concurrency workers one by one over this many seconds
    # (no `vllm bench serve` flag: its workers all start at once; tools/perf_fidelity.py uses it).
    ramp_up_s: float = 0.0


@dataclass(frozen=True)
class RequestTiming:
    """What the benchmark client records for one request (absolute seconds since the run began)."""

    request: Request
    sent_s: float                     # when the client actually sent it (after --max-concurrency)
    first_token_s: float
    finish_s: float
    itl_s: tuple[float, ...] = ()     # gaps between successive output tokens (output_len - 1 of them)


@dataclass(frozen=True)
class SimResult:
    """The scheduler simulation's answer for one workload."""

    timings: tuple[RequestTiming, ...]
    duration_s: float                 # first send to last finish, as the benchmark times it
    max_concurrent_requests: int      # most requests in flight at once (the client's view)
    preemptions: int = 0
    steps: int = 0
    # Seconds of simulated time attributed to each limit ("weights", "kv_reads", "compute",
    # "communication", "overhead", "kv_capacity", "max_num_seqs", "queueing"): what bounds this deployment.
    bound_seconds: dict[str, float] = field(default_factory=dict)
    # Every inter-token gap of every request pooled as {gap seconds: how many}: the simulator's steps
    # repeat the same gap for the whole batch, so the benchmark's ITL statistics come from this instead
    # of a list as long as the output. None: use the timings' itl_s.
    itl_counts: dict[float, int] | None = None
    # Request-seconds spent in the engine's WAITING queue (from reaching the server, or from a preemption,
    # until admitted to the batch), summed over requests. Over duration_s it is the time-average of the
    # queue's length, the quantity vLLM's `vllm:num_requests_waiting` gauge samples (Little's law).
    queued_request_s: float = 0.0
    # Prompt tokens found in the prefix cache from other requests' shared prefixes (not prefilled), and
    # cached prefix blocks evicted to make room (planner.performance.prefix_cache).
    prefix_hit_tokens: int = 0
    prefix_evictions: int = 0
