"""The requests `vllm bench serve` sends: prompt/output lengths per dataset and arrival times.

Pure Python with a seeded `random.Random`: deterministic for a seed, and no numpy import on the CLI's path.
vLLM samples with numpy's PCG64, so individual lengths differ from a real run with the same seed; the
distributions are the same.

* random (vllm/benchmarks/datasets/utils.py get_sampling_params, 0.33): input lengths are integers uniform
  in [floor(L_in (1 - r)), ceil(L_in (1 + r))], output lengths in [max(1, floor(L_out (1 - r))),
  ceil(L_out (1 + r))]. vLLM subtracts the tokenizer's special tokens from L_in before sampling and adds them
  back when the prompt is encoded, so the prompt the engine sees is L_in long on average; the planner has
  no tokenizer and uses L_in as is.
* sharegpt: ShareGPT_V3_unfiltered_cleaned_split cannot be downloaded here, so the lengths come from a
  parametric stand-in. Measured: the mean prompt and completion lengths of 1,000-prompt `vllm bench serve`
  ShareGPT runs in tests/data/validation/vllm-perf.jsonl (total_input_tokens / completed = 215.3,
  total_output_tokens / completed = 194-201 for p037-p081, p319; 219 for the DeepSeek tokenizer, p000).
  Assumed: both lengths are log-normal and independent, with log-std SHAREGPT_SIGMA_IN / _OUT (the
  long tail of chat prompts and answers); mu is set so that the mean *after* vLLM's filter
  (is_valid_sequence: prompt and output >= 4 tokens, prompt <= 1024, prompt + output <= 2048) matches the
  measured means (tests/test_perf_workload.py checks that it does).
* shared prefixes (vllm/benchmarks/datasets/datasets.py, 0.33): --random-prefix-len P puts one fixed
  prefix of P tokens before every random prompt (RandomDataset.sample: the prompt is P + the sampled
  length; the sampled part differs per request, so only the prefix can be a prefix-cache hit). The
  prefix_repetition dataset (PrefixRepetitionRandomDataset) draws --prefix-repetition-num-prefixes
  prefixes of --prefix-repetition-prefix-len tokens, num_prompts // num_prefixes prompts for each (each
  prefix + its own --prefix-repetition-suffix-len random tokens, --prefix-repetition-output-len output
  tokens), then shuffles them (random.shuffle with the seed); num_prompts not a multiple of num_prefixes
  sends fewer requests, as vLLM does.
* arrivals (vllm/benchmarks/serve.py get_request): rate inf sends everything at t=0; otherwise the gaps
  are gamma(shape=burstiness, scale=1/(rate x burstiness)) (burstiness inf: constant 1/rate), cumulated,
  then rescaled so that the last request is sent at num_prompts / rate exactly, as vLLM does.
"""

from __future__ import annotations

import math
import random

from planner.performance.types import Request, Workload

SHAREGPT_MEAN_IN = 215.3
SHAREGPT_MEAN_OUT = 197.0
SHAREGPT_SIGMA_IN = 1.0
SHAREGPT_SIGMA_OUT = 0.8
# log-means that give the measured means after the filter (solved with _solve_mu below, rounded).
SHAREGPT_MU_IN = 5.062
SHAREGPT_MU_OUT = 4.968


def random_lengths(w: Workload, rng: random.Random) -> list[tuple[int, int]]:
    r = w.random_range_ratio
    if not 0.0 <= r < 1.0:
        raise ValueError("random_range_ratio must be in [0, 1)")
    in_lo = math.floor(w.random_input_len * (1 - r))
    in_hi = math.ceil(w.random_input_len * (1 + r))
    out_lo = max(1, math.floor(w.random_output_len * (1 - r)))
    out_hi = max(1, math.ceil(w.random_output_len * (1 + r)))
    in_lo = max(1, in_lo)
    ins = [rng.randint(in_lo, in_hi) for _ in range(w.num_prompts)]
    outs = [rng.randint(out_lo, out_hi) for _ in range(w.num_prompts)]
    return list(zip(ins, outs, strict=True))


SHAREGPT_MIN_PROMPT = 4          # vLLM's is_valid_sequence: min_len (prompt and output)


def _valid(p: int, o: int) -> bool:
    """vLLM's is_valid_sequence with its defaults."""
    return p >= SHAREGPT_MIN_PROMPT and o >= SHAREGPT_MIN_PROMPT and p <= 1024 and p + o <= 2048


def sharegpt_lengths(n: int, rng: random.Random, *, mu_in: float = SHAREGPT_MU_IN,
                     mu_out: float = SHAREGPT_MU_OUT) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    while len(out) < n:
        p = round(rng.lognormvariate(mu_in, SHAREGPT_SIGMA_IN))
        o = round(rng.lognormvariate(mu_out, SHAREGPT_SIGMA_OUT))
        if _valid(p, o):
            out.append((p, o))
    return out


def _solve_mu(target: float, which: int, n: int = 20000) -> float:  # pragma: no cover - offline tool
    """Bisection on mu so the filtered sample mean of `which` (0 in, 1 out) hits `target`."""
    lo, hi = 3.0, 7.0
    for _ in range(30):
        mid = (lo + hi) / 2
        kw = {"mu_in": mid} if which == 0 else {"mu_out": mid}
        xs = sharegpt_lengths(n, random.Random(1), **kw)
        mean = sum(x[which] for x in xs) / n
        lo, hi = (mid, hi) if mean < target else (lo, mid)
    return (lo + hi) / 2


def arrivals(n: int, rate: float, burstiness: float, rng: random.Random) -> list[float]:
    if burstiness <= 0:
        raise ValueError("burstiness must be positive")
    if rate <= 0:
        raise ValueError("request_rate must be positive")
    if math.isinf(rate):
        return [0.0] * n
    if math.isinf(burstiness):
        delays = [1.0 / rate] * n
    else:
        theta = 1.0 / (rate * burstiness)
        delays = [rng.gammavariate(burstiness, theta) for _ in range(n)]
    t = 0.0
    cum: list[float] = []
    for d in delays:
        t += d
        cum.append(t)
    if cum and cum[-1] > 0:
        f = (n / rate) / cum[-1]
        cum = [c * f for c in cum]
    return cum


def prefix_repetition(w: Workload, rng: random.Random) -> list[tuple[int, int, int]]:
    """(prefix group, prompt length, output length) of each prompt, shuffled as vLLM sends them."""
    g = w.prefix_repetition_num_prefixes
    if g < 1:
        raise ValueError("prefix_repetition_num_prefixes must be at least 1")
    per = w.num_prompts // g
    if per == 0:
        raise ValueError(f"num_prompts ({w.num_prompts}) must be greater than or equal to num_prefixes ({g})")
    total = w.prefix_repetition_prefix_len + w.prefix_repetition_suffix_len
    if total < 1:
        raise ValueError("prefix_repetition prefix + suffix length must be at least 1")
    out = [(k, total, w.prefix_repetition_output_len) for k in range(g) for _ in range(per)]
    rng.shuffle(out)
    return out


def generate(w: Workload) -> list[Request]:
    """The requests of workload `w`, in the order the client sends them."""
    if w.num_prompts < 1:
        raise ValueError("num_prompts must be at least 1")
    rng = random.Random(w.seed)
    groups: list[int] | None = None
    shared = 0
    if w.dataset_name == "sharegpt":
        lens = sharegpt_lengths(w.num_prompts, rng)
    elif w.dataset_name == "prefix_repetition":
        rows = prefix_repetition(w, rng)
        groups = [g for g, _, _ in rows]
        lens = [(p, o) for _, p, o in rows]
        shared = w.prefix_repetition_prefix_len
    else:
        lens = random_lengths(w, rng)
        if w.random_prefix_len > 0:
            lens = [(w.random_prefix_len + p, o) for p, o in lens]
            groups = [0] * len(lens)
            shared = w.random_prefix_len
    rate = math.inf if w.offline_batch else w.request_rate
    times = arrivals(len(lens), rate, w.burstiness, random.Random(w.seed + 1))
    if groups is None:
        return [Request(id=i, arrival_s=times[i], input_len=p, output_len=o) for i, (p, o) in enumerate(lens)]
    return [Request(id=i, arrival_s=times[i], input_len=p, output_len=o, prefix_group=groups[i],
                    prefix_len=shared) for i, (p, o) in enumerate(lens)]
