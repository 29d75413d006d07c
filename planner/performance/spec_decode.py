"""Speculative decoding in the step model: tokens per step and what a step costs.

vLLM 0.33 (v1/spec_decode/, v1/worker/gpu/spec_decode/): each decode step the drafter proposes
num_speculative_tokens = k tokens per request (MTP and EAGLE heads: k sequential passes of their one
decoder layer and the shared lm_head; ngram: a CPU lookup in the prompt), and the target model verifies
them in the next forward: k + 1 query tokens per request over its context (a step of (k + 1) x requests
tokens, the CUDA-graph sizes scaled by 1 + k). Rejection sampling keeps the longest accepted run plus the
target's own next token. With an acceptance rate a per position (the chance a draft token is accepted,
given the ones before it were), the expected tokens a request gains per step are

    1 + a + a^2 + ... + a^k

(the accepted run is j tokens with probability a^j (1 - a) for j < k, a^k for j = k; plus the bonus
token). The acceptance rates per method are data (calibration.SPEC_ACCEPTANCE, with their sources).

The simulation (planner.performance.scheduler) still advances a decoding request one token per tick: a
decode-only step with speculation is a tick of (verify + draft time) / expected tokens, so throughput and
TPOT follow; the benchmark's ITL (per streamed chunk, several tokens each) is not modelled and reads as
the per-token time. A step that also prefills is charged its full time for one token per decoder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from planner.memory.spec_decode import parse_speculative
from planner.performance.calibration import SPEC_ACCEPTANCE, Calibration
from planner.performance.step_time import Hardware, ModelCost, Regime, StepTime, step_time

# Methods whose drafter is one decoder layer of the target's shape plus the shared lm_head per pass
# (deepseek_mtp.py, llama_eagle.py, llama_eagle3.py), and those with no GPU drafter.
ONE_LAYER_DRAFT = ("mtp", "eagle", "eagle3")
NO_GPU_DRAFT = ("ngram", "ngram_gpu", "suffix")


def expected_accepted_length(acceptance: float, k: int) -> float:
    """Expected tokens per verification step: 1 + a + a^2 + ... + a^k."""
    if not 0.0 <= acceptance <= 1.0:
        raise ValueError("acceptance rate must be in [0, 1]")
    if k < 0:
        raise ValueError("num_speculative_tokens must not be negative")
    if acceptance == 1.0:
        return float(k + 1)
    # The geometric sum in closed form: constant time whatever k the --speculative-config names (a sum over
    # range(k + 1) ran for hours at k = 10**30, which vLLM's config accepts: it has no upper bound).
    return (1.0 - acceptance ** (k + 1)) / (1.0 - acceptance)


@dataclass(frozen=True)
class SpecDecode:
    method: str
    k: int
    acceptance: float

    @property
    def tokens_per_step(self) -> float:
        return expected_accepted_length(self.acceptance, self.k)


def spec_of(est: Any) -> SpecDecode | None:
    """The speculative decoding the estimate's --speculative-config asks for; None without one. Raises
    ValueError for a method whose step cost is not modelled (a separate draft model, Medusa, ...)."""
    if est.spec is None:
        return None
    settings = parse_speculative(est.resolved, est.spec, target_ref=est.model.get("repo_id"))
    if settings is None:
        return None
    method = settings.method
    if method not in SPEC_ACCEPTANCE or method not in ONE_LAYER_DRAFT + NO_GPU_DRAFT:
        raise ValueError(f"speculative decoding with method {method!r}: its draft cost is not modelled "
                         f"(modelled: {', '.join(ONE_LAYER_DRAFT + NO_GPU_DRAFT)})")
    return SpecDecode(method=method, k=settings.num_speculative_tokens, acceptance=SPEC_ACCEPTANCE[method])


def _draft_cost(c: ModelCost, method: str) -> ModelCost:
    """One draft pass: a decoder layer of the target's shape (a MoE layer for MTP on a MoE target) and
    the lm_head (its bytes: lm_head FLOPs per sequence / 2 weights of act_bytes each)."""
    lm_head_bytes = c.lm_head_flops_per_seq / 2 * c.act_bytes
    share = 1 / max(1, c.layers)
    moe = 1 if method == "mtp" and c.moe_layers else 0
    return replace(c, layers=1, attn_layers=1, sliding_layers=0, window=0,
                   dense_bytes=(c.dense_bytes - lm_head_bytes) * share + lm_head_bytes,
                   dense_flops_per_token=c.dense_flops_per_token * share, moe_layers=moe,
                   min_weight_bytes=c.min_weight_bytes * share)


StepFn = Callable[[int, int, int, float, int, int], StepTime]


def _scale(st: StepTime, f: float) -> StepTime:
    return StepTime(st.total * f, st.weights * f, st.compute * f, st.kv_reads * f, st.communication * f,
                    st.overhead * f)


def _add(a: StepTime, b: StepTime) -> StepTime:
    return StepTime(a.total + b.total, a.weights + b.weights, a.compute + b.compute, a.kv_reads + b.kv_reads,
                    a.communication + b.communication, a.overhead + b.overhead)


class SpecSteps:
    """The scheduler's step functions under speculative decoding (see the module docstring)."""

    def __init__(self, sd: SpecDecode, c: ModelCost, hw: Hardware, cal: Calibration, reg: Regime) -> None:
        self.sd, self.c, self.hw, self.cal, self.reg = sd, c, hw, cal, reg
        self.draft_c = _draft_cost(c, sd.method) if sd.method in ONE_LAYER_DRAFT else None
        # the draft passes run inside the step: no step overhead of their own
        self.draft_reg = replace(reg, step_overhead_s=0.0, per_seq_overhead_s=0.0)
        self.per_token = 1.0 / sd.tokens_per_step

    def _draft(self, nd: int, dctx: int) -> StepTime | None:
        if self.draft_c is None or nd <= 0:
            return None
        one = step_time(self.draft_c, self.hw, self.cal, self.draft_reg, num_decode=nd, decode_ctx=dctx,
                        prefill_tokens=0, prefill_pairs=0.0)
        return _scale(one, float(self.sd.k))

    def step(self, nd: int, dctx: int, ptok: int, pairs: float, pctx: int, npf: int) -> StepTime:
        k = self.sd.k
        # each decoder's k draft tokens are verified as query tokens over its context
        st = step_time(self.c, self.hw, self.cal, self.reg, num_decode=nd, decode_ctx=dctx,
                       prefill_tokens=ptok + nd * k, prefill_pairs=pairs + k * dctx + nd * k * (k + 1) / 2,
                       prefill_ctx=pctx, num_prefill=npf)
        d = self._draft(nd, dctx)
        if d is not None:
            st = _add(st, d)
        return st if ptok or npf else _scale(st, self.per_token)

    def decode(self, nd: int, dctx: int) -> StepTime:
        return self.step(nd, dctx, 0, 0.0, 0, 0)
