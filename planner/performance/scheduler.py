"""A discrete-time simulation of vLLM's scheduler over engine steps, and the benchmark client around it.

Follows vllm/v1/core/sched/scheduler.py (0.33) `Scheduler.schedule`:
* one token budget per step (max_num_batched_tokens); the RUNNING requests are scheduled first, in order,
  each asking for its remaining tokens (1 when decoding, the rest of its prompt when prefilling, cut to
  the budget: chunked prefill), then WAITING requests while the budget lasts and fewer than
  max_num_seqs are running (without chunked prefill a prompt that does not fit the budget waits);
* KV blocks: a request holds ceil(computed tokens / block_size) blocks of est.kv_cache.num_blocks; when
  a running request cannot get its next block, the lowest-priority running request (the last one
  admitted) is preempted: its blocks are freed and it goes back to the front of WAITING to be
  recomputed (prompt + the tokens it had generated). No new request is admitted in a step that
  preempted. Random prompts share no prefix, so prefix caching never hits (a preempted request's own
  freed blocks may in reality still hit; not modelled: recompute is the pessimistic case);
* a request whose computed tokens reach its length samples a token at the end of that step (the first
  token ends the prefill); it finishes when it has `output_len` tokens (the benchmark sets ignore_eos).

V0 without chunked prefill (before 0.8, or V0 with short contexts) schedules prefill first: a step runs
either waiting prompts (whole, as many as fit the budget and max_num_seqs) or every running decode, never
both. V0 with chunked prefill mixes them like V1.

The client (vllm/benchmarks/serve.py): requests are released at their arrival times (workload.py); with
--max-concurrency a semaphore holds a request until one in flight finishes. The server sees a request
`request_overhead_s + per_prompt_token_s x prompt` after it is sent (HTTP, tokenization); an offline batch
(`vllm bench throughput`) hands every prompt to the engine at t=0 with no such overhead.

Cost: Python work per step is proportional to the running batch, so a run costs about one loop
iteration per generated token.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from planner.performance.step_time import StepTime
from planner.performance.types import Request, RequestTiming, SimResult

StepFn = Callable[[int, int, int, float, int, int], StepTime]


@dataclass(frozen=True)
class SchedulerConfig:
    max_num_seqs: int
    max_num_batched_tokens: int
    num_blocks: int
    block_size: int
    chunked_prefill: bool = True
    prefill_first: bool = False          # V0 without chunked prefill
    max_concurrency: int | None = None   # client semaphore
    request_overhead_s: float = 0.0      # client/API server delay before the engine sees a request
    per_prompt_token_s: float = 0.0
    max_model_len: int = 1 << 30


def simulate(requests: Sequence[Request], cfg: SchedulerConfig, step: StepFn) -> SimResult:
    """Run the requests through the scheduler; `step(num_decode, decode_ctx, prefill_tokens, prefill_pairs,
    prefill_ctx, num_prefill)` gives each step's time."""
    n = len(requests)
    bs = max(1, cfg.block_size)
    in_len = [r.input_len for r in requests]
    out_len = [max(1, r.output_len) for r in requests]
    computed = [0] * n
    generated = [0] * n
    blocks = [0] * n
    runs: list[list[int]] = [[] for _ in range(n)]   # flat [start, end, start, end, ...] of emitting steps
    first_step = [-1] * n
    finish_step = [-1] * n
    sent = [0.0] * n
    # Time each request last entered WAITING (at the server, or on preemption), and request-seconds spent
    # there in all (the time integral of the waiting queue's length, what vllm:num_requests_waiting gauges).
    wait_since = [0.0] * n
    queued = 0.0
    times: list[float] = []                            # end time of each step
    free = cfg.num_blocks
    cap = cfg.max_concurrency if cfg.max_concurrency else n
    mns = cfg.max_num_seqs
    budget0 = cfg.max_num_batched_tokens

    # client: requests in arrival order; each takes a semaphore slot, free from the time it was released
    pending = deque(sorted(range(n), key=lambda i: (requests[i].arrival_s, i)))
    slots = [0.0] * min(cap, n)
    max_in_flight = 0
    inbox: list[tuple[float, int]] = []                # (time the engine sees it, id)
    waiting: deque[int] = deque()
    running: list[int] = []
    now = 0.0
    done = 0
    preemptions = 0
    bounds = dict.fromkeys(("weights", "kv_reads", "compute", "communication", "overhead", "kv_capacity",
                            "max_num_seqs", "queueing"), 0.0)
    delay = cfg.request_overhead_s
    per_tok = cfg.per_prompt_token_s

    def release(t: float) -> None:
        nonlocal max_in_flight
        while pending and slots and max(requests[pending[0]].arrival_s, slots[0]) <= t:
            i = pending.popleft()
            s = max(requests[i].arrival_s, heapq.heappop(slots))
            sent[i] = s
            heapq.heappush(inbox, (s + delay + per_tok * in_len[i], i))
        max_in_flight = max(max_in_flight, n - len(pending) - done)

    steps = 0
    while done < n:
        while inbox and inbox[0][0] <= now:
            seen, j = heapq.heappop(inbox)
            wait_since[j] = seen
            waiting.append(j)
        if not running and not waiting:
            # idle engine: jump to the next arrival (at the server, or at the client)
            nxt = inbox[0][0] if inbox else math.inf
            if pending and slots:
                nxt_client = max(requests[pending[0]].arrival_s, slots[0])
                if nxt_client < nxt:
                    release(nxt_client)
                    now = max(now, nxt_client)
                    continue
            if nxt == math.inf:
                raise RuntimeError("scheduler stalled with requests left")  # pragma: no cover
            now = max(now, nxt)
            continue
        budget = budget0
        sched: list[tuple[int, int]] = []
        preempted = False
        kv_blocked = False
        if cfg.prefill_first and waiting and len(running) < mns:
            # V0: a prefill-only step if any waiting prompt can start
            while waiting and len(running) < mns:
                i = waiting[0]
                need = in_len[i] + generated[i]
                if need > budget:
                    break
                nb = -(-need // bs)
                if nb > free:
                    kv_blocked = True
                    break
                waiting.popleft()
                queued += now - wait_since[i]
                free -= nb
                blocks[i] = nb
                running.append(i)
                sched.append((i, need))
                budget -= need
        if not sched:
            k = 0
            while k < len(running):
                i = running[k]
                total = in_len[i] + generated[i]
                want = total - computed[i]
                if cfg.prefill_first and want > 1:
                    k += 1
                    continue
                ntok = want if want <= budget else budget
                if ntok <= 0:
                    k += 1
                    continue
                nb = -(-(computed[i] + ntok) // bs) - blocks[i]
                while nb > free:
                    victim = running.pop()
                    free += blocks[victim]
                    blocks[victim] = 0
                    computed[victim] = 0
                    waiting.appendleft(victim)
                    wait_since[victim] = now
                    preemptions += 1
                    preempted = True
                    if victim == i:
                        break
                if k >= len(running) or running[k] != i:
                    break
                free -= nb
                blocks[i] += nb
                sched.append((i, ntok))
                budget -= ntok
                k += 1
            if not preempted and not cfg.prefill_first:
                while waiting and budget > 0 and len(running) < mns:
                    i = waiting[0]
                    want = in_len[i] + generated[i] - computed[i]
                    if not cfg.chunked_prefill and want > budget:
                        break
                    ntok = want if want <= budget else budget
                    nb = -(-(computed[i] + ntok) // bs) - blocks[i]
                    if nb > free:
                        kv_blocked = True
                        break
                    waiting.popleft()
                    queued += now - wait_since[i]
                    free -= nb
                    blocks[i] += nb
                    running.append(i)
                    sched.append((i, ntok))
                    budget -= ntok
        if not sched:
            if preempted or kv_blocked:
                # nothing fits even alone: the request can never run (vLLM would reject it at admission)
                raise RuntimeError("a request needs more KV blocks than the cache holds")
            nxt = inbox[0][0] if inbox else now + 1e-3
            now = max(now, nxt)
            continue
        nd = dctx = ptok = pctx = npf = 0
        pairs = 0.0
        for i, ntok in sched:
            c = computed[i]
            if ntok == 1 and c >= in_len[i]:
                nd += 1
                dctx += c + 1
            else:
                ptok += ntok
                pctx += c
                pairs += ntok * c + ntok * (ntok + 1) / 2
                if c + ntok == in_len[i] + generated[i]:
                    npf += 1
        st = step(nd, dctx, ptok, pairs, pctx, npf)
        dt = st.total
        now += dt
        times.append(now)
        bounds["weights"] += st.weights
        bounds["kv_reads"] += st.kv_reads
        bounds["compute"] += st.compute
        bounds["communication"] += st.communication
        bounds["overhead"] += st.overhead
        if waiting:
            if kv_blocked or preempted:
                bounds["kv_capacity"] += dt
            elif len(running) >= mns:
                bounds["max_num_seqs"] += dt
        if pending and not slots and requests[pending[0]].arrival_s <= now:
            bounds["queueing"] += dt
        finished: list[int] = []
        for i, ntok in sched:
            computed[i] += ntok
            if computed[i] >= in_len[i] + generated[i]:
                generated[i] += 1
                r = runs[i]
                if r and r[-1] == steps - 1:
                    r[-1] = steps
                else:
                    r.append(steps)
                    r.append(steps)
                if first_step[i] < 0:
                    first_step[i] = steps
                if generated[i] >= out_len[i]:
                    finish_step[i] = steps
                    finished.append(i)
        steps += 1
        if finished:
            fin = set(finished)
            running = [i for i in running if i not in fin]
            for i in finished:
                free += blocks[i]
                blocks[i] = 0
            done += len(finished)
            for _ in finished:
                heapq.heappush(slots, now)
        if pending:
            release(now)

    timings = []
    for i in range(n):
        r = runs[i]
        tok_times: list[float] = []
        for a, b in zip(r[::2], r[1::2], strict=True):
            tok_times.extend(times[a:b + 1])
        itl = tuple(tok_times[k + 1] - tok_times[k] for k in range(len(tok_times) - 1))
        timings.append(RequestTiming(request=requests[i], sent_s=sent[i], first_token_s=times[first_step[i]],
                                     finish_s=times[finish_step[i]], itl_s=itl))
    start = min(sent) if n else 0.0
    duration = (max(t.finish_s for t in timings) - start) if n else 0.0
    return SimResult(timings=tuple(timings), duration_s=duration, max_concurrent_requests=max_in_flight,
                     preemptions=preemptions, steps=steps, bound_seconds=bounds, queued_request_s=queued)
