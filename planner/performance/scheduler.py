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
  preempted. Requests with a shared prefix (--random-prefix-len, the prefix_repetition dataset) find
  the full blocks of it that earlier requests computed (a block is cached as soon as it is scheduled, as
  vLLM hashes it at allocation) and do not prefill them again; freed prefix blocks stay cached until the
  free queue reaches them (LRU eviction, planner.performance.prefix_cache). In that mode a returning
  preempted request finds only the shared prefix, and recomputes the rest of what it had.
  Random prompts without a prefix share nothing, so prefix caching never hits between requests; but with
  prefix caching on (V1's default) a preempted request's own freed blocks stay cached until they are
  reallocated: vLLM puts freed blocks at the end of its free queue and allocates from the front, so when
  the request returns, the blocks allocated since beyond those that were free before it left are its
  blocks overwritten (the last first), and the rest are prefix-cache hits it does not recompute (at
  least one token is always computed);
* a request whose computed tokens reach its length samples a token at the end of that step (the first
  token ends the prefill); it finishes when it has `output_len` tokens (the benchmark sets ignore_eos).

V0 without chunked prefill (before 0.8, or V0 with short contexts) schedules prefill first: a step runs
either waiting prompts (whole, as many as fit the budget and max_num_seqs) or every running decode, never
both. V0 with chunked prefill mixes them like V1. V0 multi-step (--num-scheduler-steps N): decode steps run
in windows of N scheduled once (LLMEngine.step skips Scheduler.schedule while the cached batch has steps
left), so admissions wait for a window's boundary; before 0.6.3 (multi_step_stream_outputs off) a window's
tokens reach the API server together, at its last step.

The client (vllm/benchmarks/serve.py): requests are released at their arrival times (workload.py); with
--max-concurrency a semaphore holds a request until one in flight finishes. A request reaches the API
server `request_overhead_s` after it is sent. The API server is one process working through a queue: each
request costs it `frontend_request_s + per_prompt_token_s x prompt` on the way in (parsing, chat template,
tokenization) before the engine sees it, and each engine step's output costs it `frontend_token_s` per
request that emitted a token (detokenization, the streamed chunk); when the server falls behind the
engine, it streams the tokens of several steps as one chunk per request (vLLM's output collector merges
them; the benchmark's ITL is per chunk). The engine core, a separate process, does not wait for it.
An offline batch (`vllm bench throughput`) hands every prompt to the engine at t=0, with no server.

Cost: the requests that are decoding are advanced as one group: per step the simulation touches only the
requests that start, finish, prefill or are preempted (and, on a step that preempts, the whole batch, which
is then walked one request at a time exactly as vLLM does), so a run costs a few loop iterations per
request plus one per step, not one per generated token. `fast_forward=False` walks every step request by
request; tests check both give the same run.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from planner.performance.prefix_cache import PrefixCache
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
    request_overhead_s: float = 0.0      # client/network latency before the API server sees a request
    frontend_request_s: float = 0.0      # API server time per request on the way in (a queue)
    per_prompt_token_s: float = 0.0      # ... plus this per prompt token
    frontend_token_s: float = 0.0        # API server time per request per streamed chunk
    ramp_up_s: float = 0.0               # the client's --max-concurrency workers start evenly over this
    # The prefix cache (the effective enable_prefix_caching): a preempted request's freed blocks stay
    # cached until reallocated, so on its return it recomputes only what other requests have overwritten
    # since; requests with a shared prefix (Request.prefix_group) hit each other's full prefix blocks
    # (planner.performance.prefix_cache). See the module docstring.
    prefix_caching: bool = False
    max_model_len: int = 1 << 30
    # V0 multi-step scheduling (--num-scheduler-steps N, 0.5.5-0.7.x): the scheduler runs once per N decode
    # steps and the batch it scheduled runs the N steps back to back (LLMEngine.step skips
    # Scheduler.schedule while the cached batch has steps left), so a prompt that arrives, or a slot that a
    # finished request frees, is taken only at the boundary of a window; a prefill step is a single step
    # (Scheduler._get_num_lookahead_slots gives prefills no lookahead without chunked prefill).
    num_scheduler_steps: int = 1
    # ... and whether the engine hands each step's tokens to the API server (multi_step_stream_outputs, on by
    # default where it exists) or only the window's last step creates request outputs (vLLM 0.6.0-0.6.1):
    # then a client sees one chunk per window.
    multi_step_stream_outputs: bool = True
    # Advance the decoding requests as one group (same steps, same times, far less Python per step);
    # False runs every step through the plain per-request loop, which the tests compare it with.
    fast_forward: bool = True


def simulate(requests: Sequence[Request], cfg: SchedulerConfig, step: StepFn,
             decode: Callable[[int, int], StepTime] | None = None) -> SimResult:
    """Run the requests through the scheduler; `step(num_decode, decode_ctx, prefill_tokens, prefill_pairs,
    prefill_ctx, num_prefill)` gives each step's time; `decode(num_decode, decode_ctx)`, when given, is the
    same for decode-only steps (step_time.DecodeSteps: a faster path to the same figures)."""
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
    lazy = cfg.fast_forward

    # client: requests in arrival order; each takes a semaphore slot, free from the time it was released
    pending = deque(sorted(range(n), key=lambda i: (requests[i].arrival_s, i)))
    n_slots = min(cap, n)
    slots = [cfg.ramp_up_s * k / n_slots for k in range(n_slots)] if cfg.ramp_up_s > 0 else [0.0] * n_slots
    max_in_flight = 0
    inbox: list[tuple[float, int]] = []                # (time the engine sees it, id)
    waiting: deque[int] = deque()
    # The running queue in vLLM's order is `dec` followed by `tail`. `dec` holds decoding requests that
    # are advanced as a group ("ticks": every step that schedules them): for i in dec, computed = cb[i] + G
    # and generated = gb[i] + G, with G the ticks so far; its blocks are ceil(computed / block_size) and
    # cnt[c % block_size] counts them by when they need their next block. `tail` holds the rest (a
    # partial prefill, requests admitted behind it), walked one by one. Without fast_forward everything
    # is in `tail`.
    dec: dict[int, int] = {}                           # id -> tick at which it joined the group
    tail: list[int] = []
    cb = [0] * n
    gb = [0] * n
    cnt = [0] * bs
    fin_at: dict[int, list[int]] = {}                  # tick -> decoders that finish on it
    tick_step: list[int] = []                          # step index of each tick
    g_tick = 0
    ctx_sum = 0                                        # sum of cb over dec
    now = 0.0
    done = 0
    preemptions = 0
    bounds = dict.fromkeys(("weights", "kv_reads", "compute", "communication", "overhead", "kv_capacity",
                            "max_num_seqs", "queueing"), 0.0)
    delay = cfg.request_overhead_s
    per_tok = cfg.per_prompt_token_s
    per_req = cfg.frontend_request_s
    fe_free = 0.0                                      # API server busy with input until then
    emit_n: list[int] = []                             # requests that emitted a token in each step

    def release(t: float) -> None:
        nonlocal max_in_flight, fe_free
        while pending and slots and max(requests[pending[0]].arrival_s, slots[0]) <= t:
            i = pending.popleft()
            s = max(requests[i].arrival_s, heapq.heappop(slots))
            sent[i] = s
            start = max(s + delay, fe_free)
            fe_free = start + per_req + per_tok * in_len[i]
            heapq.heappush(inbox, (fe_free, i))
        max_in_flight = max(max_in_flight, n - len(pending) - done)

    def emit(i: int, a: int, b: int) -> None:
        """Record that request i emitted a token at every step from a to b."""
        r = runs[i]
        if r and r[-1] == a - 1:
            r[-1] = b
        else:
            r.append(a)
            r.append(b)

    def leave(i: int) -> None:
        """Take decoder i out of the group with its exact state (its tokens up to the last tick)."""
        nonlocal ctx_sum
        j0 = dec.pop(i)
        c = cb[i] + g_tick
        computed[i] = c
        generated[i] = gb[i] + g_tick
        blocks[i] = -(-c // bs)
        cnt[cb[i] % bs] -= 1
        ctx_sum -= cb[i]
        if g_tick > j0:
            a, b = tick_step[j0], tick_step[g_tick - 1]
            if b - a == g_tick - 1 - j0:
                emit(i, a, b)
            else:                                       # V0: prefill steps between the ticks
                for k in range(j0, g_tick):
                    emit(i, tick_step[k], tick_step[k])

    def join(i: int) -> None:
        """Put decoding request i (exact state) into the group."""
        nonlocal ctx_sum
        dec[i] = g_tick
        cb[i] = computed[i] - g_tick
        gb[i] = generated[i] - g_tick
        cnt[cb[i] % bs] += 1
        ctx_sum += cb[i]
        fin_at.setdefault(out_len[i] - gb[i] - 1, []).append(i)

    def is_decoding(i: int) -> bool:
        # one token left and it is not a prompt token (a prefill one short of its end is not decoding)
        return generated[i] > 0 and computed[i] == in_len[i] + generated[i] - 1

    alloc_total = 0                                    # blocks allocated so far (the free queue's clock)
    gone_free = [0] * n                                # preempted: free blocks ahead of its own when it left
    gone_alloc = [0] * n                               # ... alloc_total then
    gone_blocks = [0] * n                              # ... and the blocks it left in the cache

    pcache: PrefixCache | None = None
    pgroup = [r.prefix_group for r in requests]
    pblocks = [r.prefix_len // bs if r.prefix_group >= 0 else 0 for r in requests]
    if cfg.prefix_caching and any(pblocks):
        pcache = PrefixCache(cfg.num_blocks)
    shared_held = [0] * n                              # leading prefix blocks a request references
    own_copy = [False] * n                             # it computed a block another had cached first
    prefill_saved = 0                                  # prompt tokens found in the cache, not computed

    def hit(i: int) -> tuple[int, int, int]:
        """(cached tokens, cached blocks, of them in the free queue) a waiting request starts from."""
        if pcache is None:
            hc_, hb_ = resume_hit(i)
            return hc_, hb_, hb_
        if not pblocks[i]:
            return 0, 0, 0
        limit = min(pblocks[i], (in_len[i] + generated[i] - 1) // bs)
        hb_, hf_ = pcache.lookup(pgroup[i], limit, alloc_total)
        return hb_ * bs, hb_, hf_

    def take(i: int, hb_: int) -> None:
        nonlocal prefill_saved
        if pcache is not None and hb_:
            pcache.take(pgroup[i], hb_)
            shared_held[i] = hb_
            prefill_saved += hb_ * bs

    def cache_upto(i: int, tokens: int) -> None:
        """Request i has `tokens` scheduled: the full prefix blocks among them enter the cache."""
        if pcache is None or own_copy[i]:
            return
        top = min(pblocks[i], tokens // bs)
        while shared_held[i] < top:
            if not pcache.register(pgroup[i], shared_held[i]):
                own_copy[i] = True
                return
            shared_held[i] += 1

    def give_back(i: int) -> int:
        """Free request i's blocks; the number that enter the free queue."""
        b = blocks[i]
        if pcache is None:
            return b
        full = min(b, computed[i] // bs)
        held = min(shared_held[i], full)
        shared_held[i] = 0
        own_copy[i] = False
        return pcache.release(pgroup[i], held, full - held, b - full, alloc_total)

    def resume_hit(i: int) -> tuple[int, int]:
        """(cached tokens, cached blocks) a returning preempted request finds in the prefix cache."""
        if not gone_blocks[i]:
            return 0, 0
        overwritten = max(0, alloc_total - gone_alloc[i] - gone_free[i])
        kept = max(0, gone_blocks[i] - overwritten)
        kept = min(kept, (in_len[i] + generated[i] - 1) // bs)
        return kept * bs, kept

    steps = 0
    n_ms = max(1, cfg.num_scheduler_steps)
    ms_left = 0                                        # decode steps left in the current multi-step window
    win = 0                                            # multi-step window of each step (win_of)
    win_of: list[int] = []
    while done < n:
        if ms_left and not dec and not tail:
            ms_left = 0                                # the window's requests are all done
        while inbox and inbox[0][0] <= now:
            seen, j = heapq.heappop(inbox)
            wait_since[j] = seen
            waiting.append(j)
        if not dec and not tail and not waiting:
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
        if dec and not tail and (not waiting or len(dec) >= mns or ms_left) and len(dec) <= budget0:
            # Pure decode: every step is the group's tick until a request finishes and another can be
            # admitted, or a block is missing. Those steps run here, without the general path's walk.
            moved = False
            decode_step = decode or (lambda nd_, ctx_: step(nd_, ctx_, 0, 0.0, 0, 0))
            times_append, tick_append, emit_append, fin_pop = times.append, tick_step.append, emit_n.append, fin_at.pop
            b_w = b_k = b_c = b_m = b_o = b_mns = b_q = 0.0
            while True:
                nd = len(dec)
                need = cnt[(-g_tick) % bs]
                if need > free:
                    break
                free -= need
                alloc_total += need
                st = decode_step(nd, ctx_sum + nd * (g_tick + 1))
                dt = st.total
                now += dt
                times_append(now)
                if not ms_left:
                    win += 1
                win_of.append(win)
                b_w += st.weights
                b_k += st.kv_reads
                b_c += st.compute
                b_m += st.communication
                b_o += st.overhead
                if waiting and nd >= mns:
                    b_mns += dt
                if pending and not slots and requests[pending[0]].arrival_s <= now:
                    b_q += dt
                tick_append(steps)
                g_tick += 1
                emit_append(nd)
                fins = fin_pop(g_tick - 1, None)
                steps += 1
                moved = True
                ms_left = ms_left - 1 if ms_left else n_ms - 1
                if fins:
                    gone: list[int] = []
                    for i in fins:
                        if i in dec and gb[i] + g_tick == out_len[i]:
                            leave(i)
                            finish_step[i] = steps - 1
                            gone.append(i)
                    for i in gone:
                        free += give_back(i)
                        blocks[i] = 0
                        heapq.heappush(slots, now)
                    done += len(gone)
                if pending and slots:
                    release(now)
                while inbox and inbox[0][0] <= now:
                    seen, j = heapq.heappop(inbox)
                    wait_since[j] = seen
                    waiting.append(j)
                if not dec or (waiting and len(dec) < mns and not ms_left):
                    break
            bounds["weights"] += b_w
            bounds["kv_reads"] += b_k
            bounds["compute"] += b_c
            bounds["communication"] += b_m
            bounds["overhead"] += b_o
            bounds["max_num_seqs"] += b_mns
            bounds["queueing"] += b_q
            if moved:
                continue
        budget = budget0
        sched: list[tuple[int, int]] = []
        preempted = False
        kv_blocked = False
        n_run = len(dec) + len(tail)
        ticked = False
        # --- the group path: no request of the step can be preempted ---
        grouped = False
        if dec and len(dec) <= budget0:
            prefill_step = False
            if cfg.prefill_first and waiting and n_run < mns and not ms_left:
                i = waiting[0]
                hc, hb, hf = hit(i) if pcache is not None else (0, 0, 0)
                need = in_len[i] + generated[i] - hc
                prefill_step = need <= budget0 and -(-(hc + need) // bs) - hb + hf <= free
            if prefill_step:
                grouped = True                           # admissions below; the group waits this step
            else:
                need_dec = cnt[(-g_tick) % bs]
                f = free - need_dec
                plan: list[tuple[int, int, int]] = []
                left = budget0 - len(dec)
                ok = f >= 0
                if ok:
                    for i in tail:
                        want = in_len[i] + generated[i] - computed[i]
                        if cfg.prefill_first and want > 1:
                            continue
                        ntok = want if want <= left else left
                        if ntok <= 0:
                            continue
                        nb = -(-(computed[i] + ntok) // bs) - blocks[i]
                        if nb > f:
                            ok = False
                            break
                        f -= nb
                        plan.append((i, ntok, nb))
                        left -= ntok
                if ok:
                    grouped = True
                    ticked = True
                    alloc_total += free - f
                    free = f
                    budget = left
                    for i, ntok, nb in plan:
                        blocks[i] += nb
                        sched.append((i, ntok))
                        cache_upto(i, computed[i] + ntok)
        if grouped:
            if cfg.prefill_first and not ticked:
                while waiting and n_run < mns:
                    i = waiting[0]
                    hc, hb, hf = hit(i) if pcache is not None else (0, 0, 0)
                    need = in_len[i] + generated[i] - hc
                    if need > budget:
                        break
                    nb = -(-(hc + need) // bs) - hb
                    if nb + hf > free:
                        kv_blocked = True
                        break
                    waiting.popleft()
                    queued += now - wait_since[i]
                    take(i, hb)
                    computed[i] = hc
                    free -= nb + hf
                    alloc_total += nb
                    blocks[i] = nb + hb
                    tail.append(i)
                    n_run += 1
                    sched.append((i, need))
                    cache_upto(i, hc + need)
                    budget -= need
            elif not cfg.prefill_first:
                while waiting and budget > 0 and n_run < mns and not ms_left:
                    i = waiting[0]
                    hc, hb, hf = hit(i)
                    c0 = hc or computed[i]
                    want = in_len[i] + generated[i] - c0
                    if not cfg.chunked_prefill and want > budget:
                        break
                    ntok = want if want <= budget else budget
                    nb = -(-(c0 + ntok) // bs) - (hb or blocks[i])
                    if nb + hf > free:
                        kv_blocked = True
                        break
                    waiting.popleft()
                    queued += now - wait_since[i]
                    if hb:
                        computed[i], blocks[i] = hc, hb
                    take(i, hb)
                    gone_blocks[i] = 0
                    free -= nb + hf
                    alloc_total += nb
                    blocks[i] += nb
                    cache_upto(i, c0 + ntok)
                    tail.append(i)
                    n_run += 1
                    sched.append((i, ntok))
                    budget -= ntok
            elif cfg.prefill_first and waiting and n_run < mns and not ms_left:
                # a decode step because the head cannot start: say why, as the plain loop does
                i = waiting[0]
                hc, hb, hf = hit(i) if pcache is not None else (0, 0, 0)
                need = in_len[i] + generated[i] - hc
                if need <= budget0 and -(-(hc + need) // bs) - hb + hf > free:
                    kv_blocked = True
        else:
            # --- the plain path: every running request walked in order (vLLM's loop) ---
            running = list(dec)
            for i in running:
                leave(i)
            running += tail
            tail = []
            if cfg.prefill_first and waiting and len(running) < mns and not ms_left:
                # V0: a prefill-only step if any waiting prompt can start
                while waiting and len(running) < mns:
                    i = waiting[0]
                    hc, hb, hf = hit(i) if pcache is not None else (0, 0, 0)
                    need = in_len[i] + generated[i] - hc
                    if need > budget:
                        break
                    nb = -(-(hc + need) // bs) - hb
                    if nb + hf > free:
                        kv_blocked = True
                        break
                    waiting.popleft()
                    queued += now - wait_since[i]
                    take(i, hb)
                    computed[i] = hc
                    free -= nb + hf
                    alloc_total += nb
                    blocks[i] = nb + hb
                    running.append(i)
                    sched.append((i, need))
                    cache_upto(i, hc + need)
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
                        if cfg.prefix_caching and pcache is None:
                            gone_free[victim], gone_alloc[victim] = free, alloc_total
                            gone_blocks[victim] = blocks[victim]
                        free += give_back(victim)
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
                    alloc_total += nb
                    blocks[i] += nb
                    sched.append((i, ntok))
                    cache_upto(i, computed[i] + ntok)
                    budget -= ntok
                    k += 1
                if not preempted and not cfg.prefill_first and not ms_left:
                    while waiting and budget > 0 and len(running) < mns:
                        i = waiting[0]
                        hc, hb, hf = hit(i)
                        c0 = hc or computed[i]
                        want = in_len[i] + generated[i] - c0
                        if not cfg.chunked_prefill and want > budget:
                            break
                        ntok = want if want <= budget else budget
                        nb = -(-(c0 + ntok) // bs) - (hb or blocks[i])
                        if nb + hf > free:
                            kv_blocked = True
                            break
                        waiting.popleft()
                        queued += now - wait_since[i]
                        if hb:
                            computed[i], blocks[i] = hc, hb
                        take(i, hb)
                        gone_blocks[i] = 0
                        free -= nb + hf
                        alloc_total += nb
                        blocks[i] += nb
                        cache_upto(i, c0 + ntok)
                        running.append(i)
                        sched.append((i, ntok))
                        budget -= ntok
            tail = running
            n_run = len(tail)
        if not sched and not ticked:
            if preempted or kv_blocked:
                # nothing fits even alone: the request can never run (vLLM would reject it at admission)
                raise RuntimeError("a request needs more KV blocks than the cache holds")
            nxt = inbox[0][0] if inbox else now + 1e-3
            now = max(now, nxt)
            continue
        nd = len(dec) if ticked else 0
        dctx = ctx_sum + nd * (g_tick + 1) if ticked else 0
        ptok = pctx = npf = 0
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
        if ptok or npf or not ms_left:
            win += 1
        win_of.append(win)
        if ptok or npf:
            ms_left = 0                                # a prefill (or mixed) step is a window of its own
        else:
            ms_left = ms_left - 1 if ms_left else n_ms - 1
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
            elif n_run >= mns:
                bounds["max_num_seqs"] += dt
        if pending and not slots and requests[pending[0]].arrival_s <= now:
            bounds["queueing"] += dt
        finished: list[int] = []
        emitted = len(dec) if ticked else 0
        if ticked:
            tick_step.append(steps)
            g_tick += 1
            fins = fin_at.pop(g_tick - 1, None)
            if fins:
                for i in fins:
                    if i in dec and gb[i] + g_tick == out_len[i]:
                        leave(i)
                        finish_step[i] = steps
                        finished.append(i)
        for i, ntok in sched:
            computed[i] += ntok
            if computed[i] >= in_len[i] + generated[i]:
                generated[i] += 1
                emitted += 1
                emit(i, steps, steps)
                if first_step[i] < 0:
                    first_step[i] = steps
                if generated[i] >= out_len[i]:
                    finish_step[i] = steps
                    finished.append(i)
        emit_n.append(emitted)
        steps += 1
        if finished:
            fin = set(finished)
            tail = [i for i in tail if i not in fin]
            for i in finished:
                free += give_back(i)
                blocks[i] = 0
            done += len(finished)
            for _ in finished:
                heapq.heappush(slots, now)
        if lazy:
            k = 0
            while k < len(tail) and is_decoding(tail[k]):
                join(tail[k])
                k += 1
            if k:
                del tail[:k]
        if pending:
            release(now)

    # The API server streams each step's tokens in rounds: a round starts when the server is free and
    # takes every step the engine has finished by then, one chunk per request (frontend_token_s each: the
    # rounds' requests are about the largest step's). Output is not held behind queued input: the
    # server's event loop interleaves them (a 4-token request in a burst of 1000 still streams its tokens
    # a step apart). With no server cost every step is its own round at the step's end.
    per_chunk = cfg.frontend_token_s
    if n_ms > 1 and not cfg.multi_step_stream_outputs:
        # outputs reach the API server once per window, at its last step
        deliver = list(times)
        for k in range(len(times) - 2, -1, -1):
            if win_of[k] == win_of[k + 1]:
                deliver[k] = deliver[k + 1]
        times = deliver
    round_of = [0] * len(times)
    round_t: list[float] = []
    free_at = 0.0
    k = 0
    while k < len(times):
        start = max(free_at, times[k])
        j = k
        m = 0
        while j < len(times) and times[j] <= start:
            if emit_n[j] > m:
                m = emit_n[j]
            round_of[j] = len(round_t)
            j += 1
        free_at = start + per_chunk * m
        round_t.append(free_at)
        k = j
    # Token times: a run of steps a..b is delivered in rounds ra..rb; within a run the gaps are the rounds'
    # (the same float for every request streaming in both), so the pooled inter-token latencies are kept
    # as {gap: count} (a difference array over rounds) beside each request's tuple.
    gaps = [0.0] + [round_t[k] - round_t[k - 1] for k in range(1, len(round_t))]
    per_round = [0] * (len(round_t) + 1)
    extra: dict[float, int] = {}
    timings = []
    for i in range(n):
        r = runs[i]
        itl: list[float] = []
        prev_end = -1
        for a, b in zip(r[::2], r[1::2], strict=True):
            ra, rb = round_of[a], round_of[b]
            if prev_end >= 0 and ra > prev_end:     # a preemption's gap (none when in one chunk)
                g = round_t[ra] - round_t[prev_end]
                itl.append(g)
                extra[g] = extra.get(g, 0) + 1
            if rb > ra:
                itl.extend(gaps[ra + 1:rb + 1])
                per_round[ra + 1] += 1
                per_round[rb + 1] -= 1
            prev_end = rb
        timings.append(RequestTiming(request=requests[i], sent_s=sent[i],
                                     first_token_s=round_t[round_of[first_step[i]]],
                                     finish_s=round_t[round_of[finish_step[i]]], itl_s=tuple(itl)))
    itl_counts = extra
    live = 0
    for k in range(1, len(round_t)):
        live += per_round[k]
        if live:
            g = gaps[k]
            itl_counts[g] = itl_counts.get(g, 0) + live
    start = min(sent) if n else 0.0
    duration = (max(t.finish_s for t in timings) - start) if n else 0.0
    return SimResult(timings=tuple(timings), duration_s=duration, max_concurrent_requests=max_in_flight,
                     preemptions=preemptions, steps=steps, bound_seconds=bounds, itl_counts=itl_counts,
                     queued_request_s=queued, prefix_hit_tokens=prefill_saved,
                     prefix_evictions=pcache.evictions if pcache is not None else 0)
