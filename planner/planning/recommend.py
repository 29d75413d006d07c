"""`planner plan`: search GPU type x count x TP/PP x quantization x KV dtype for the plans that fit, and rank them.

Pure search over the memory model (`planner.memory.estimator`): no I/O, no rendering. The caller resolves MODEL
and the GPUs; `recommend()` returns the ranked plans, the chosen one, and when nothing fits the closest
miss with what would make it fit.

What a vLLM expert would do, in order:
- per GPU type, tensor parallelism alone first, on the counts vLLM accepts for the model (the estimate
  reports heads / KV heads / intermediate / quant-group divisibility); pipeline parallelism only for a
  GPU type where no TP-only layout fits;
- per layout, the least lossy quantization allowed that fits (the checkpoint as it is, unless `--quant`
  widens the choice), preferring within a loss tier the schemes the GPU runs natively;
- per layout and scheme, the defaults first; then the KV cache in fp8, then `--enforce-eager`, only when
  that is what makes the model's context fit; then, unless the user fixed the context, the largest
  context that keeps `--concurrency` sequences in the KV cache;
- `--gpu-memory-utilization` as high as the memory outside vLLM's budget allows (below).
Plans are ranked: full context and concurrency first, then the objective, then fewer moving parts
(no PP before TP, no quantization, no fp8 KV, no eager mode), then the rest of the objective keys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import gpu_catalog
import model_catalog
from gpu_catalog import Gpu
from planner.errors import PlannerError, did_you_mean
from planner.memory.estimator import CONTEXT_GIB, NCCL_GIB, Estimate, estimate, pp_layers
from planner.memory.overhead import cudagraph_estimate_bytes
from planner.memory.quant import (
    PLANNER_QUANTS,
    QuantScheme,
    normalize_quant_name,
    scheme_for_name,
    scheme_from_checkpoint,
)
from planner.memory.spec import ModelSpec, model_spec_from_config
from planner.redact import MASK, is_secret_flag, secret_flag_env
from planner.release.engine_args import EngineArgs
from planner.release.vllm_versions import LATEST, cudagraph_max_capture, rules_for
from planner.sourcing.loader import from_catalog

if TYPE_CHECKING:
    from planner.answers import DecisionJson

Objective = Literal["gpus", "cost", "kv"]
OBJECTIVES: tuple[str, ...] = ("gpus", "cost", "kv")

# --gpu-memory-utilization: vLLM needs the CUDA context, cuBLAS handles and NCCL buffers to fit in
# total - requested (vllm-memory.md §1.2; the estimate charges CONTEXT_GIB + NCCL_GIB there and reports
# insufficient_free_memory above it). Those figures are typical, not measured per GPU, so the planner
# keeps this much more free on top of them; and it stays at or below the level where the estimate warns
# (high_utilization above 0.95).
UTIL_HEADROOM_GIB = 0.5
UTIL_CAP = 0.95
# What the running server allocates beyond vLLM's profile run (vllm-memory.md §1.3-1.5, and
# vllm/v1/worker/gpu_worker.py of 0.33.0): the KV cache is sized from a profile run that skips attention
# (skip_attn=True), and from an extrapolated estimate of the CUDA-graph pool (two FULL graphs captured,
# the rest extrapolated); the real capture comes after the KV cache is allocated. vLLM itself keeps
# 150 MiB for it when it suggests a --kv-cache-memory-bytes ("memory profiling may slightly
# underestimate the memory consumption. So leave a small buffer (=150MiB) to avoid OOM",
# redundancy_buffer_memory in _compile_or_warm_up_model). The sampler is not in this term: since Model
# Runner V2 (0.25) the profile run samples max_num_seqs rows with the fp32 warm-up parameters, so its
# peak is inside the budget.
PROFILE_REDUNDANCY_GIB = 150 / 1024
# Without a workload, a shrunk context of at least this many tokens ranks with the full context (by the
# objective): the model's maximum is not worth more GPUs when it costs them (Llama 4 Scout's 10M tokens;
# 8B models with 128K on 24 GB cards), while published deployments serve 1K-20K-token requests. A
# planner policy, stated in the output with how to get the full context (--context).
DEFAULT_CONTEXT = 32768

# Loss tiers of the weight formats (lower = closer to the 16-bit model), ordered by bits per weight and
# scale granularity: 16-bit; 8-bit (fp8, int8 W8A8, GPTQ int8); 4-bit float with fine-grained scales
# (NVFP4: fp8 scale per 16 weights; MXFP4: per 32); 4-bit integer with group-128 scales (AWQ, GPTQ,
# compressed-tensors W4A16); NF4. This is an ordering by construction, not a measured accuracy table.
LOSS_TIER: dict[str, int] = {
    "none": 0,
    "fp8": 1, "int8": 1, "gptq-int8": 1, "experts-int8": 1, "bnb-int8": 1,
    "nvfp4": 2, "mxfp4": 2,
    "awq": 3, "gptq": 3, "int4": 3,
    "bnb-nf4": 4,
}
# Order inside a tier when the GPU runs both (or neither) natively: the format with the widest vLLM kernel
# support first (fp8 before int8 W8A8; AWQ's Marlin path needs cc 7.5, GPTQ Marlin 8.0).
_TIER_ORDER = ("none", "fp8", "int8", "gptq-int8", "experts-int8", "bnb-int8", "nvfp4", "mxfp4", "awq", "gptq",
               "int4", "bnb-nf4")
# vLLM turned --quantization fp8 on a 16-bit checkpoint into a deprecated alias of the online shorthand
# `fp8_per_tensor` ("--quantization fp8 is deprecated for online quantization; use --quantization
# fp8_per_tensor instead.", get_quant_config in vllm/model_executor/model_loader/weight_utils.py of
# 0.33.0; the shorthand is in _ONLINE_SHORTHANDS of vllm/config/quantization.py in 0.32.0 and 0.33.0).
# Older releases are emitted `fp8`, which every release accepts (VersionRules.online_fp8_flag).
# Context granularity when the planner shrinks --max-model-len: whole KiB-tokens read well and waste at
# most 1023 tokens; short contexts fall back to 16 (the usual block size).
_CONTEXT_STEP = 1024
_SMALL_CONTEXT_STEP = 16
# Findings that more memory (GPUs, a bigger GPU, a smaller context, quantization) can fix.
_MEMORY_ERRORS = frozenset({"kv_cache_too_small", "no_kv_memory", "weights_do_not_fit"})
# Divisibility findings of the estimate: a TP size vLLM refuses for this model whatever the GPU.
_LAYOUT_ERRORS = frozenset({"heads_not_divisible", "kv_heads_not_divisible", "intermediate_not_divisible",
                            "quant_group_not_divisible", "pp_too_large", "fp8_block_not_divisible",
                            "experts_not_divisible", "data_parallel_local", "nnodes_not_divisible",
                            "eplb_needs_ep"})


# More GPUs per replica than any vLLM deployment uses (the largest wide-EP recipes use a few hundred).
MAX_GPUS_PER_REPLICA = 65536
# Nodes one replica may span when the search goes beyond one node (its own bound, not vLLM's: the
# published multi-node recipes use 2-4 nodes per replica, wide expert parallelism a few more).
MAX_NODES = 16


@dataclass(frozen=True)
class Candidate:
    """One way to serve the model's weights: a scheme, the checkpoint vLLM loads and how it is told."""

    scheme: str                       # planner scheme name: none, fp8, awq, ...
    model: Any                        # what estimate() sizes (LoadedModel, ModelSpec or config dict)
    serve_model: str                  # the repo id or path the emitted command serves
    quantization: str | None          # --quantization to emit (online quantization), else None
    origin: str                       # "checkpoint" | "catalog" | "online"
    note: str                         # one line: where the weights come from

    @property
    def tier(self) -> int:
        return LOSS_TIER.get(self.scheme, 3)


@dataclass(frozen=True)
class PlanRequest:
    """What the user asked for. `args` holds the vLLM flags they gave: those are kept, the rest decided."""

    gpus: tuple[Gpu, ...]
    candidates: tuple[Candidate, ...]
    args: EngineArgs = field(default_factory=EngineArgs)
    env: dict[str, str] = field(default_factory=dict)
    vllm_version: str = LATEST
    objective: str = "gpus"
    context: int | None = None        # --context (or a given --max-model-len)
    concurrency: int | None = None    # --concurrency: sequences of `context` tokens held at once
    num_gpus: int | None = None       # a fixed count per replica
    max_gpus: int | None = None       # an upper bound on the count per replica
    gpu_memory_gib: float | None = None
    quant_mode: str = "checkpoint"    # checkpoint | auto | list | given (for the reasons only)
    # vLLM dests the user wrote (a flag given at its default value counts: `-pp 1` fixes PP); None = the
    # fields of `args` that differ from the defaults.
    given: frozenset[str] | None = None

    def given_fields(self) -> frozenset[str]:
        return self.given if self.given is not None else frozenset(self.args.given())
    whole_catalog: bool = False       # --gpu any (no bigger GPU to suggest)
    auto_candidates: tuple[Candidate, ...] = ()   # every servable scheme, for "a quantization would fit"
    # Every TP (and PP) size that fits, not only the first: a workload sizes replicas on each of them
    # (two TP2 replicas against one TP4), so the memory search does not stop at the smallest count.
    explore: bool = False
    # A shrunk context of at least min(this, the target) ranks with the full one (DEFAULT_CONTEXT);
    # None: the full context first, whatever it costs.
    context_floor: int | None = DEFAULT_CONTEXT


@dataclass(frozen=True)
class Plan:
    """One deployment the search found: GPU, parallelism, candidate, flags and its estimate."""

    gpu: Gpu
    tp: int
    pp: int
    candidate: Candidate
    args: EngineArgs                  # the serve arguments the command states
    est: Estimate
    context: int                      # max_model_len
    context_target: int               # what was asked (user's) or the model's maximum
    full: bool                        # context target and concurrency met
    levers: tuple[str, ...] = ()      # "kv_fp8", "eager", "mnbt" applied to make it fit
    native: bool = True               # the GPU runs the weight format natively
    # How --gpu-memory-utilization was settled (see _Search.settle): "default", "raised", "ceiling",
    # "over_ceiling", or "" when the planner did not settle it (given, CPU, unified memory, --objective kv).
    util_how: str = ""
    util_ceiling: float | None = None  # the runtime ceiling of this deployment (runtime_ceiling)
    load: Any = None                  # planner.planning.sizing.LoadFit when the plan was sized for a workload

    @property
    def dp(self) -> int:
        return self.args.data_parallel_size

    @property
    def ep(self) -> bool:
        """Expert parallelism on (a MoE model with --enable-expert-parallel over more than one rank)."""
        lay = self.est.layout
        return lay is not None and lay.use_ep

    @property
    def count(self) -> int:
        # -dp N: N engines of the TP x PP layout inside one `vllm serve` (each holding the whole model, or its
        # share of the experts under EP), on one node or several: the memory per GPU (est) is one rank's.
        return self.tp * self.pp * self.dp

    @property
    def nodes(self) -> int:
        """Nodes of `gpu.gpus_per_node` GPUs the replica spans (1 on the CPU backend)."""
        return nodes_for(self.gpu, self.count)

    @property
    def kv_tokens_total(self) -> int:
        """KV tokens the whole serve holds: every DP engine holds its own cache of `kv_tokens`."""
        return self.kv_tokens * self.dp

    @property
    def cost_per_hour(self) -> float | None:
        p = self.gpu.price_per_hour_usd
        return None if p is None else p * self.count

    @property
    def kv_tokens(self) -> int:
        return self.est.kv_cache.tokens

    @property
    def concurrency(self) -> float:
        return self.est.kv_cache.max_concurrency

    def headroom(self, required: int) -> float:
        """Share of the KV cache left free when `required` sequences of the full context are resident."""
        conc = self.concurrency
        return max(0.0, 1.0 - required / conc) if conc > 0 else 0.0


def nodes_for(gpu: Gpu, count: int) -> int:
    """Nodes of `gpu.gpus_per_node` GPUs that `count` GPUs of one replica need."""
    if gpu.vendor == "cpu":
        return 1
    return max(1, -(-count // max(1, gpu.gpus_per_node)))


@dataclass(frozen=True)
class Miss:
    """A layout that does not fit, with how far off it is (GiB per GPU still missing)."""

    gpu: Gpu
    tp: int
    pp: int
    candidate: Candidate
    est: Estimate
    shortfall_gib: float

    @property
    def count(self) -> int:
        return self.tp * self.pp * self.est.resolved.data_parallel_size


@dataclass(frozen=True)
class Decision:
    """A flag the plan sets, its value and why."""

    flag: str
    value: str
    why: str

    def to_json(self) -> DecisionJson:
        return {"flag": self.flag, "value": self.value, "why": self.why}


@dataclass(frozen=True)
class PlanResult:
    """The search's answer: the ranked plans, the chosen one, and notes."""

    request: PlanRequest
    plans: tuple[Plan, ...]           # ranked; plans[0] is the chosen one when `chosen` is set
    chosen: Plan | None
    closest: Miss | None              # when nothing fits
    suggestions: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    evaluated: int = 0                # estimates run


# ----------------------------------------------------------------------------------------------------------
# candidates (which weights can be served) and quant selection


def scheme_named(name: str) -> QuantScheme | None:
    try:
        return scheme_for_name(name)
    except PlannerError:
        return None


def online_fp8_flag(version: str) -> str:
    """The `--quantization` value that quantizes a 16-bit checkpoint to fp8 at load time in `version`."""
    return rules_for(version).online_fp8_flag


def parse_quant_mode(text: str | None) -> tuple[str, tuple[str, ...]]:
    """--quant -> (mode, schemes): ("checkpoint", ()), ("auto", ()) or ("list", normalized names)."""
    if text is None or not text.strip():
        return "checkpoint", ()
    if text.strip().lower() == "auto":
        return "auto", ()
    names: list[str] = []
    for part in text.split(","):
        if not part.strip():
            continue
        norm = normalize_quant_name(part)
        if norm == "compressed-tensors":
            raise PlannerError("--quant compressed-tensors names a file format, not a scheme",
                               hint="name the scheme: fp8, int8 or int4")
        if norm not in names:
            names.append(norm)
    if not names:
        raise PlannerError("--quant is empty", hint="auto, a scheme (" + ", ".join(PLANNER_QUANTS) + ") or a list")
    return "list", tuple(names)


def select_candidates(available: list[Candidate], mode: str, names: tuple[str, ...], *,
                      model_name: str) -> tuple[tuple[Candidate, ...], tuple[str, ...]]:
    """The candidates the search may use, and notes about requested schemes that cannot be served.

    `available[0]` is the checkpoint as it is. A scheme named on its own that has no servable checkpoint
    is an error naming what is missing; in a list it is skipped with a note.
    """
    if mode == "checkpoint":
        return (available[0],), ()
    by_scheme: dict[str, Candidate] = {}
    for c in available:
        by_scheme.setdefault(c.scheme, c)
    if mode == "auto":
        return tuple(by_scheme.values()), ()
    chosen: list[Candidate] = []
    notes: list[str] = []
    for n in names:
        if n in by_scheme:
            chosen.append(by_scheme[n])
            continue
        base = available[0].scheme
        if base != "none":
            why = f"{model_name} is a {base} checkpoint: vLLM serves it as {base} only"
        else:
            why = (f"vLLM cannot quantize to {n} at load time and the catalog knows no pre-quantized {n} "
                   f"checkpoint of {model_name}")
        if len(names) == 1:
            raise PlannerError(f"--quant {n}: {why}", code="no_prequantized_checkpoint",
                               hint=f"pass a pre-quantized {n} repo id or folder as MODEL, or use --quant auto")
        notes.append(f"{n} skipped: {why}")
    if not chosen:
        raise PlannerError("--quant: none of " + ", ".join(names) + f" can be served for {model_name}",
                           code="no_prequantized_checkpoint", hint="; ".join(notes))
    return tuple(chosen), tuple(notes)


def scheme_order(cands: tuple[Candidate, ...], gpu: Gpu) -> list[tuple[Candidate, bool]]:
    """(candidate, runs natively on `gpu`) from least to most lossy, native first within a tier."""
    out = []
    for c in cands:
        s = scheme_named(c.scheme)
        native = s is None or gpu.vendor != "nvidia" or gpu.cc_int >= s.native_capability
        out.append((c, native))
    rank = {n: i for i, n in enumerate(_TIER_ORDER)}
    out.sort(key=lambda cn: (cn[0].tier, not cn[1], rank.get(cn[0].scheme, len(rank))))
    return out


# ----------------------------------------------------------------------------------------------------------
# the search


def utilization(gpu: Gpu, world: int, version: str) -> float:
    """The --gpu-memory-utilization the planner sets on `gpu` (see UTIL_HEADROOM_GIB)."""
    if gpu.vendor == "cpu" or gpu.unified_memory:
        # CPU: the KV size comes from --kv-cache-memory-bytes / VLLM_CPU_KVCACHE_SPACE; unified memory
        # (GH200, GB10): the OS and CPU processes share it, so vLLM's own default is the safe level.
        return rules_for(version).default_util
    outside = CONTEXT_GIB + (NCCL_GIB if world > 1 else 0.0) + UTIL_HEADROOM_GIB + PROFILE_REDUNDANCY_GIB
    u = math.floor((gpu.total_gib - outside) / gpu.total_gib * 100) / 100
    return max(0.01, min(UTIL_CAP, u))


def graphs_outside_gib(est: Estimate) -> float:
    """GiB of CUDA-graph pool that land outside vLLM's budget, on top of what the profile run measured.

    From 0.21 vLLM subtracts its estimate of the pool from the budget (VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS,
    vllm-memory.md §1.5): 0 here, the estimate's error either way being what UTIL_HEADROOM_GIB and vLLM's
    150 MiB cover (public logs show it pessimistic: 0.71 GiB actual for 1.55 estimated). Before 0.21 the graphs
    are captured after the KV cache is allocated and nothing was reserved for them: the whole pool comes out of
    the memory outside the budget. Its size is the memory model's CUDA-graph term (planner.memory.overhead), which
    against the pools those releases logged (tests/data/validation/vllm-runs.jsonl: c001-c004 Qwen2.5-7B
    0.50-0.65 GiB, model 0.94; c006 gpt-oss-120b TP4 1.88, model 1.63; c008 gpt-oss-120b 1.03, model 1.63)
    is mostly high, the side to err on here.
    """
    r = est.resolved
    if est.rules.cudagraph_estimate or r.enforce_eager or est.spec is None or est.gpu.vendor != "nvidia":
        return 0.0
    cap = cudagraph_max_capture(est.rules, max_num_seqs=int(r.max_num_seqs or 1),
                                mnbt=int(r.max_num_batched_tokens or 1), cc=est.gpu.cc,
                                user_max=r.max_cudagraph_capture_size, performance_mode=r.performance_mode)
    layers = max(pp_layers(est.spec, r.pipeline_parallel_size))
    return cudagraph_estimate_bytes(est.spec, layers_on_stage=layers, max_capture=cap,
                                    tp=r.tensor_parallel_size) / 2**30


def runtime_ceiling(gpu: Gpu, world: int, version: str, est: Estimate) -> float:
    """`utilization` less the CUDA-graph pool that lands outside the budget (graphs_outside_gib)."""
    top = utilization(gpu, world, version)
    if gpu.vendor == "cpu" or gpu.unified_memory:
        return top
    outside = (CONTEXT_GIB + (NCCL_GIB if world > 1 else 0.0) + UTIL_HEADROOM_GIB + PROFILE_REDUNDANCY_GIB
               + graphs_outside_gib(est))
    u = math.floor((gpu.total_gib - outside) / gpu.total_gib * 100) / 100
    return max(0.01, min(top, u))


def stated(args: EngineArgs, est: Estimate) -> EngineArgs:
    """The args with max_num_seqs written out (the command always states it, at the default too)."""
    if args.max_num_seqs is not None:
        return args
    return args.with_(max_num_seqs=est.resolved.max_num_seqs)


def _divisors_pp(count: int) -> list[int]:
    return [p for p in range(2, count + 1) if count % p == 0]


class _Search:
    def __init__(self, loaded_max: int, req: PlanRequest) -> None:
        self.req = req
        self.evaluated = 0
        # (candidate idx, tp, pp, dp, ep) -> vLLM accepts
        self.layout_ok: dict[tuple[int, int, int, int, bool], bool] = {}
        self.weights_tp1: dict[tuple[int, tuple[int, int]], float] = {}   # (candidate, cc) -> GiB at TP 1
        self.token_budget: dict[str, int] = {}     # GPU id -> max_num_batched_tokens raised to max_num_seqs
        given = req.given_fields()
        self.fixed_tp = "tensor_parallel_size" in given
        self.fixed_pp = "pipeline_parallel_size" in given
        self.fixed_dp = "data_parallel_size" in given
        self.fixed_ep = "enable_expert_parallel" in given
        # (dp, ep) of the layouts being evaluated: the request's, or an alternative the search tries (DP+EP
        # or TP+EP for a MoE model, data parallelism across nodes).
        self.par: tuple[int, bool] = (req.args.data_parallel_size, req.args.enable_expert_parallel)
        # Candidates refused on a GPU for a reason that does not depend on the layout (best_at).
        self.flag_msgs: dict[tuple[Any, ...], frozenset[str]] = {}
        self.refused: set[tuple[Any, ...]] = set()
        self.experts = max((_num_experts(c) for c in req.candidates), default=0)
        self.moe = self.experts > 0
        self.fixed_kv = "kv_cache_dtype" in given
        self.fixed_eager = "enforce_eager" in given
        self.fixed_util = "gpu_memory_utilization" in given
        self.fixed_mnbt = "max_num_batched_tokens" in given
        self.context_fixed = req.context is not None or (req.args.max_model_len not in (None, -1))
        self.target = req.context or (req.args.max_model_len if req.args.max_model_len not in (None, -1)
                                      else loaded_max)
        self.required = req.concurrency or 1

    # -- one estimate -------------------------------------------------------------------------------------
    def run(self, cand: Candidate, gpu: Gpu, args: EngineArgs) -> Estimate:
        self.evaluated += 1
        return estimate(cand.model, gpu, args, vllm_version=self.req.vllm_version, env=self.req.env,
                        gpu_memory_gib=self.req.gpu_memory_gib if gpu.vendor == "cpu" else None)

    def base_args(self, cand: Candidate, gpu: Gpu, tp: int, pp: int) -> EngineArgs:
        a = self.req.args
        dp, ep = self.par
        changes: dict[str, Any] = {"tensor_parallel_size": tp, "pipeline_parallel_size": pp,
                                   "data_parallel_size": dp, "enable_expert_parallel": ep,
                                   "max_model_len": self.target}
        if not self.fixed_util:
            changes["gpu_memory_utilization"] = utilization(gpu, tp * pp * dp, self.req.vllm_version)
        if a.max_num_seqs is None and self.req.concurrency is not None:
            changes["max_num_seqs"] = self.req.concurrency
        if a.quantization is None:
            changes["quantization"] = cand.quantization
        bump = self.token_budget.get(gpu.id)
        if bump is not None and not self.fixed_mnbt:
            changes["max_num_batched_tokens"] = bump
        return a.with_(**changes)

    def ok(self, est: Estimate) -> bool:
        return est.fits and est.kv_cache.max_concurrency >= self.required

    def with_levers(self, args: EngineArgs, levers: tuple[str, ...]) -> EngineArgs:
        changes: dict[str, Any] = {}
        if "kv_fp8" in levers:
            changes["kv_cache_dtype"] = "fp8"
        if "eager" in levers:
            changes["enforce_eager"] = True
        return args.with_(**changes) if changes else args

    def lever_sets(self, gpu: Gpu) -> list[tuple[str, ...]]:
        out: list[tuple[str, ...]] = [()]
        if not self.fixed_kv:
            out.append(("kv_fp8",))
        if not self.fixed_eager and gpu.vendor != "cpu":
            out.append(("eager",))
            if not self.fixed_kv:
                out.append(("kv_fp8", "eager"))
        return out

    def fix_batch(self, cand: Candidate, gpu: Gpu, args: EngineArgs, est: Estimate) -> tuple[EngineArgs, Estimate,
                                                                                             bool]:
        """vLLM refuses max_num_batched_tokens < max_num_seqs: raise the token budget to the sequence count."""
        if self.fixed_mnbt or not any(e.code == "batch_limits" for e in est.errors):
            return args, est, False
        mns = est.resolved.max_num_seqs or 1
        budget = max(mns, est.resolved.max_num_batched_tokens or 0)
        # The default budget depends on the GPU only (get_batch_defaults): later layouts start from it.
        self.token_budget[gpu.id] = budget
        args = args.with_(max_num_batched_tokens=budget)
        return args, self.run(cand, gpu, args), True

    def layout_valid(self, ci: int, tp: int, pp: int, est: Estimate | None) -> bool:
        """Whether vLLM accepts TP x PP for this candidate (learnt from the first estimate of it)."""
        key = (ci, tp, pp, *self.par)
        if key not in self.layout_ok and est is not None:
            self.layout_ok[key] = not any(e.code in _LAYOUT_ERRORS for e in est.errors)
        return self.layout_ok.get(key, True)

    def weights_bound_ok(self, ci: int, cand: Candidate, gpu: Gpu, count: int) -> bool:
        """Cheap reject: the weights alone, spread evenly over `count` GPUs, exceed the memory budget."""
        # Keyed by compute capability too: some layouts depend on it (MXFP4 MoE runs Marlin below Hopper).
        key = (ci, gpu.cc)
        if key not in self.weights_tp1:
            # The user's flags stay (--cpu-offload-gb and --dtype change the resident weights).
            probe = self.req.args.with_(tensor_parallel_size=1, pipeline_parallel_size=1, enforce_eager=True,
                                        max_model_len=min(self.target, 1024),
                                        quantization=self.req.args.quantization or cand.quantization)
            est = self.run(cand, gpu, probe)
            self.weights_tp1[key] = est.per_gpu.weights_gib
        budget = gpu.total_gib * utilization(gpu, count, self.req.vllm_version)
        # 2 % slack: replicated tensors (norms, some embeddings) make per-rank weights exceed total / count.
        return self.weights_tp1[key] / count <= budget * 1.02

    def settle(self, p: Plan) -> Plan:
        """--gpu-memory-utilization for a plan found at the search's ceiling: vLLM's own default when the
        plan holds there, else the lowest hundredth up to the runtime ceiling that holds it (the KV cache the
        search found is not worth the headroom the server needs beyond the profile run)."""
        gpu = p.gpu
        if self.fixed_util or gpu.vendor == "cpu" or gpu.unified_memory or self.req.objective == "kv":
            return p
        version = self.req.vllm_version
        world = p.tp * p.pp
        default = rules_for(version).default_util
        ceiling = runtime_ceiling(gpu, world, version, p.est)
        start = min(default, ceiling)

        def at(u: float) -> tuple[EngineArgs, Estimate] | None:
            if abs(u - (p.args.gpu_memory_utilization or 0.0)) < 1e-9:
                return (p.args, p.est) if self.ok(p.est) else None
            a = p.args.with_(gpu_memory_utilization=u)
            e = self.run(p.candidate, gpu, a)
            return (a, e) if self.ok(e) else None

        hit = at(start)
        how = "default" if start == default else "ceiling"
        if hit is None and not p.full and not self.context_fixed:
            # A context the search shrank at its ceiling: shrink it at `start` instead, when what is left
            # still holds the context floor (a few thousand tokens are not worth the headroom).
            a = p.args.with_(gpu_memory_utilization=start, max_model_len=self.target)
            e = self.run(p.candidate, gpu, a)
            q = self.shrink(p.candidate, p.native, gpu, p.tp, p.pp, a, e, p.levers)
            if q is not None and self.enough(q):
                return replace(q, util_how=how, util_ceiling=ceiling)
        if hit is None:
            lo, hi = round(start * 100) + 1, round(ceiling * 100)
            if lo > hi or at(hi / 100) is None:
                return replace(p, util_how="over_ceiling", util_ceiling=ceiling)
            while lo < hi:                    # the smallest hundredth in [lo, hi] that holds the plan
                mid = (lo + hi) // 2
                if at(mid / 100) is None:
                    lo = mid + 1
                else:
                    hi = mid
            hit = at(lo / 100)
            how = "raised"
        assert hit is not None
        a, e = hit
        return replace(p, args=a, est=e, util_how=how, util_ceiling=ceiling)

    def enough(self, p: Plan) -> bool:
        """Full context, or (the context being the planner's to choose) at least the context floor."""
        if p.full:
            return True
        floor = self.req.context_floor
        return not self.context_fixed and floor is not None and p.context >= min(floor, self.target)

    # -- one layout ---------------------------------------------------------------------------------------
    def evaluate(self, ci: int, cand: Candidate, native: bool, gpu: Gpu, tp: int, pp: int,
                 tried: list[tuple[tuple[str, ...], EngineArgs, Estimate]]) -> Plan | Miss | None:
        """The full-context plan for this layout and candidate, a Miss, or None when vLLM refuses the layout.

        Levers are tried in order (defaults, fp8 KV, eager, both); every attempt is appended to `tried`
        for `shrink`.
        """
        if not self.layout_valid(ci, tp, pp, None):
            return None
        base = self.base_args(cand, gpu, tp, pp)
        first: Estimate | None = None
        for levers in self.lever_sets(gpu):
            args = self.with_levers(base, levers)
            est = self.run(cand, gpu, args)
            if first is None and not self.layout_valid(ci, tp, pp, est):
                # vLLM refuses this TP/PP for the model: a miss that no amount of memory fixes.
                return Miss(gpu=gpu, tp=tp, pp=pp, candidate=cand, est=est, shortfall_gib=math.inf)
            args, est, bumped = self.fix_batch(cand, gpu, args, est)
            lev = levers + (("mnbt",) if bumped else ())
            first = first or est
            if any(e.code not in _MEMORY_ERRORS for e in est.errors):
                # Refused for what no lever (fp8 KV, eager mode) changes, e.g. a flag vLLM rejects: the other
                # levers would be refused the same way.
                return Miss(gpu=gpu, tp=tp, pp=pp, candidate=cand, est=est, shortfall_gib=math.inf)
            if self.ok(est):
                return Plan(gpu=gpu, tp=tp, pp=pp, candidate=cand, args=stated(args, est), est=est,
                            context=self.target,
                            context_target=self.target, full=True, levers=lev, native=native)
            tried.append((lev, args, est))
        assert first is not None
        return Miss(gpu=gpu, tp=tp, pp=pp, candidate=cand, est=first, shortfall_gib=self.shortfall(first))

    def shortfall(self, est: Estimate) -> float:
        """GiB per GPU still missing to hold `required` sequences of the context (inf: not a memory miss)."""
        kv = est.kv_cache
        if not all(e.code in _MEMORY_ERRORS for e in est.errors):
            return math.inf
        need = (self.required * kv.blocks_per_request + 1) * kv.bytes_per_block / 2**30
        return max(0.0, need - est.per_gpu.kv_cache_gib)

    def shrink(self, cand: Candidate, native: bool, gpu: Gpu, tp: int, pp: int, args: EngineArgs,
               est: Estimate, levers: tuple[str, ...], *, probe: bool = False) -> Plan | None:
        """The largest context (a multiple of the step) that keeps `required` sequences, or None.

        `probe`: only check the shortest context (one step); the plan returned is then not the best."""
        if est.kv_cache.num_blocks <= 0 or not self.only_kv_errors(est):
            return None
        step = _CONTEXT_STEP if self.target > 4 * _CONTEXT_STEP else _SMALL_CONTEXT_STEP
        top = (self.target - 1) // step                      # multiples of step below the target
        if top < 1:
            return None
        cache: dict[int, tuple[EngineArgs, Estimate] | None] = {}

        def good(k: int) -> bool:
            if k not in cache:
                a = args.with_(max_model_len=k * step)
                e = self.run(cand, gpu, a)
                cache[k] = (a, e) if self.ok(e) else None
            return cache[k] is not None

        # Full attention: KV per sequence is proportional to its length, so the concurrency at the target
        # length predicts the answer; start there and search the neighbourhood (sliding windows are not
        # proportional, so the search, not the guess, decides).
        guess = int(self.target * est.kv_cache.max_concurrency / self.required) // step
        guess = 1 if probe else max(1, min(top, guess))
        if good(guess):
            # Usually the guess is the answer: one more step tells.
            lo, hi = guess, guess if probe or guess >= top or not good(guess + 1) else top
        else:
            lo, hi = 0, guess - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if good(mid):
                lo = mid
            else:
                hi = mid - 1
        if lo < 1 or not good(lo):
            return None
        a, e = cache[lo]  # type: ignore[misc]
        return Plan(gpu=gpu, tp=tp, pp=pp, candidate=cand, args=stated(a, e), est=e, context=lo * step,
                    context_target=self.target, full=False, levers=levers, native=native)

    @staticmethod
    def only_kv_errors(est: Estimate) -> bool:
        return all(e.code in ("kv_cache_too_small", "no_kv_memory") for e in est.errors)

    # -- one GPU type -------------------------------------------------------------------------------------
    def counts(self, gpu: Gpu) -> list[int]:
        """TP x PP sizes to try inside one node. --num-gpus / --max-gpus count every GPU of the `vllm serve`,
        which runs --data-parallel-size engines of TP x PP each; layouts beyond one node are `node_layouts`."""
        dp = self.req.args.data_parallel_size
        limit = gpu.gpus_per_node // dp if gpu.vendor != "cpu" else 1
        if self.req.num_gpus is not None:
            one_node = gpu.vendor == "cpu" or self.req.num_gpus <= gpu.gpus_per_node
            return [self.req.num_gpus // dp] if one_node else []
        if self.req.max_gpus is not None:
            limit = min(limit, self.req.max_gpus // dp)
        return list(range(1, max(1, limit) + 1))

    def layouts(self, gpu: Gpu, pipeline: bool) -> list[tuple[int, int]]:
        """(tp, pp) per count: TP alone, or (pipeline=True) every split with PP > 1, larger TP first."""
        args = self.req.args
        out: list[tuple[int, int]] = []
        for count in self.counts(gpu):
            if self.fixed_tp and self.fixed_pp:
                if args.tensor_parallel_size * args.pipeline_parallel_size == count and not pipeline:
                    out.append((args.tensor_parallel_size, args.pipeline_parallel_size))
                continue
            if self.fixed_pp:
                if count % args.pipeline_parallel_size == 0 and not pipeline:
                    out.append((count // args.pipeline_parallel_size, args.pipeline_parallel_size))
                continue
            if self.fixed_tp:
                pp, rem = divmod(count, args.tensor_parallel_size)
                if rem == 0 and (pp > 1) == pipeline:
                    out.append((args.tensor_parallel_size, pp))
                continue
            if not pipeline:
                out.append((count, 1))
            else:
                out += [(count // p, p) for p in _divisors_pp(count)]
        return out

    def best_at(self, order: list[tuple[Candidate, bool]], gpu: Gpu, tp: int, pp: int,
                misses: list[Miss]) -> Plan | None:
        """The least lossy candidate that fits this layout with the full context, else (when the context
        is the planner's to choose) the least lossy that fits a shrunk one."""
        index = {id(c): i for i, c in enumerate(self.req.candidates)}
        attempts: list[tuple[int, Candidate, bool, list[tuple[tuple[str, ...], EngineArgs, Estimate]]]] = []
        for cand, native in order:
            ci = index[id(cand)]
            refused_key = (ci, gpu.id, *self.par)
            if refused_key in self.refused:
                continue
            if not self.weights_bound_ok(ci, cand, gpu, self.weight_ranks(tp, pp)):
                continue
            tried: list[tuple[tuple[str, ...], EngineArgs, Estimate]] = []
            r = self.evaluate(ci, cand, native, gpu, tp, pp, tried)
            if isinstance(r, Plan):
                return r
            if isinstance(r, Miss):
                misses.append(r)
                attempts.append((ci, cand, native, tried))
                if r.shortfall_gib == math.inf and not any(e.code in _LAYOUT_ERRORS for e in r.est.errors):
                    # A refusal whose messages are the same at two layouts does not depend on the layout: the
                    # candidate is refused on this GPU at every other one too.
                    msgs = frozenset(e.message for e in r.est.errors)
                    if self.flag_msgs.get(refused_key) == msgs:
                        self.refused.add(refused_key)
                    self.flag_msgs[refused_key] = msgs
        if self.context_fixed:
            return None
        for _ci, cand, native, tried in attempts:
            # The last attempt saves the most memory (fp8 KV and eager mode, when allowed): when even it
            # cannot hold the sequences at the shortest context, no attempt can.
            if len(tried) > 1 and self.shrink(cand, native, gpu, tp, pp, *tried[-1][1:], tried[-1][0],
                                              probe=True) is None:
                continue
            for lev, args, est in tried:
                plan = self.shrink(cand, native, gpu, tp, pp, args, est, lev)
                if plan is not None:
                    return plan
        return None

    def pruned_misses(self) -> list[Miss]:
        """When the weights bound rejected every layout: each GPU at its largest TP-only layout, estimated,
        so the closest miss can still be shown with its memory."""
        out: list[Miss] = []
        cand = self.req.candidates[0]
        for gpu in self.req.gpus:
            for tp, pp in reversed(self.layouts(gpu, False) or self.layouts(gpu, True)):
                tried: list[tuple[tuple[str, ...], EngineArgs, Estimate]] = []
                r = self.evaluate(0, cand, True, gpu, tp, pp, tried)
                if isinstance(r, Miss):
                    out.append(r)
                    break
        return out

    # -- data / expert parallelism and several nodes --------------------------------------------------------
    def weight_ranks(self, tp: int, pp: int) -> int:
        """GPUs the weights are spread over at this layout: a MoE model's experts over TP x PP x DP, a dense
        model's DP engines each hold it all over TP x PP (a lower bound on one rank's share either way)."""
        dp, _ep = self.par
        return tp * pp * dp if self.moe else tp * pp

    def evaluate_at(self, order: list[tuple[Candidate, bool]], gpu: Gpu, tp: int, pp: int, dp: int, ep: bool,
                    misses: list[Miss]) -> Plan | None:
        """best_at for a layout with its own data / expert parallelism."""
        saved = self.par
        self.par = (dp, ep)
        try:
            return self.best_at(order, gpu, tp, pp, misses)
        finally:
            self.par = saved

    def ep_allowed(self, ep_size: int) -> bool:
        """The search may turn expert parallelism on over `ep_size` GPUs: a MoE model whose experts they divide
        evenly (the placement EPLB requires; uneven ones leave the first ranks fuller), and the user did not
        turn it off."""
        return self.moe and ep_size > 1 and self.experts % ep_size == 0 and \
            not (self.fixed_ep and not self.req.args.enable_expert_parallel)

    def moe_alternatives(self, gpu: Gpu, count: int, refused: bool) -> list[tuple[int, int, bool]]:
        """(tp, dp, ep) layouts of `count` GPUs beside TP alone for a MoE model, as vLLM's MoE recipes run
        them: data parallel attention with the experts over every GPU (DP+EP), and, where vLLM refuses the
        TP split of the experts (fp8 blocks, intermediate sizes), TP with expert parallelism (TP+EP)."""
        if gpu.vendor == "cpu" or not self.ep_allowed(count) or (self.fixed_pp and \
                self.req.args.pipeline_parallel_size != 1):
            return []
        tp_given = self.req.args.tensor_parallel_size if self.fixed_tp else None
        out: list[tuple[int, int, bool]] = []
        if not self.fixed_dp and tp_given in (None, 1):
            out.append((1, count, True))
        if refused and not self.req.args.enable_expert_parallel and tp_given in (None, count) and \
                self.req.args.data_parallel_size == 1:
            out.append((count, 1, True))
        return out

    def node_layouts(self, gpu: Gpu, count: int) -> list[list[tuple[int, int, int, bool]]]:
        """Groups of (tp, pp, dp, ep) layouts of `count` GPUs over several nodes, in the order tried; the
        search stops in a group at its first plan. TP stays inside a node (NVLink or the node's PCIe), PP
        (or, for a MoE model, data parallelism with the experts spread over every GPU) crosses the nodes."""
        nodes = nodes_for(gpu, count)
        if count % nodes:
            return []
        per_node = count // nodes
        args = self.req.args
        dp0, ep0 = args.data_parallel_size, args.enable_expert_parallel
        if self.fixed_dp and dp0 > 1:
            return []        # DP engines of their own spanning nodes: not searched (see the notes)
        groups: list[list[tuple[int, int, int, bool]]] = []
        tps = [t for t in range(per_node, 0, -1) if per_node % t == 0]
        if self.fixed_tp:
            tps = [t for t in tps if t == args.tensor_parallel_size]
        pp_layouts = [(t, count // t, 1, ep0) for t in tps
                      if not self.fixed_pp or count // t == args.pipeline_parallel_size]
        groups.append(pp_layouts)
        if self.ep_allowed(count) and not (self.fixed_pp and args.pipeline_parallel_size != 1):
            moe: list[tuple[int, int, int, bool]] = []
            if not self.fixed_tp or args.tensor_parallel_size == 1:
                moe.append((1, 1, count, True))
            if not self.fixed_tp or args.tensor_parallel_size == per_node:
                moe.append((per_node, 1, nodes, True))
            groups.append(moe)
        return groups

    def node_counts(self, gpu: Gpu) -> list[int]:
        """GPUs per replica to try beyond one node: whole nodes, 2 .. MAX_NODES (or --num-gpus / --max-gpus)."""
        g = gpu.gpus_per_node
        if gpu.vendor == "cpu":
            return []
        if self.req.num_gpus is not None:
            return [self.req.num_gpus] if self.req.num_gpus > g else []
        top = MAX_NODES * g
        if self.req.max_gpus is not None:
            top = min(top, self.req.max_gpus)
        return [n * g for n in range(2, top // g + 1)]

    def search_nodes(self, gpu: Gpu, order: list[tuple[Candidate, bool]],
                     misses: list[Miss]) -> list[Plan]:
        """Plans beyond one node: the fewest nodes with a plan.

        From a miss, the next node count is the one its memory says it needs: weights and the KV cache the
        request needs shrink with the GPUs they are spread over, vLLM's other terms (activation, CUDA graphs,
        non-torch) stay per GPU. The search stops when that says no count can do, or one more node no longer
        brings the closest layout nearer."""
        counts = self.node_counts(gpu)
        last = math.inf
        i = 0
        while i < len(counts):
            count = counts[i]
            plans: list[Plan] = []
            seen = len(misses)
            for gi, group in enumerate(self.node_layouts(gpu, count)):
                for tp, pp, dp, ep in group:
                    before = len(misses)
                    plan = self.evaluate_at(order, gpu, tp, pp, dp, ep, misses)
                    if plan is not None:
                        plans.append(plan)
                        break
                    new = misses[before:]
                    if gi == 0 and any(m.shortfall_gib != math.inf for m in new):
                        break      # short of memory: a smaller TP with more stages holds about the same
                    if not plans and any(m.shortfall_gib == math.inf and not any(e.code in _LAYOUT_ERRORS
                                                                                for e in m.est.errors)
                                         for m in new):
                        return []  # refused for what no node count changes (a flag vLLM rejects)
            if plans:
                return plans
            near = [m for m in misses[seen:] if m.shortfall_gib != math.inf]
            if not near:
                i += 1
                continue
            best = min(near, key=lambda m: m.shortfall_gib)
            if best.shortfall_gib >= last:
                break
            last = best.shortfall_gib
            s = best.est.per_gpu
            spread = s.weights_gib + max(0.0, s.kv_cache_gib) + best.shortfall_gib
            room = s.requested_gib - s.activation_gib - s.non_torch_gib - s.cudagraph_gib
            if room <= 0:
                break
            need = math.ceil(count * spread / room)
            i = max(i + 1, next((j for j, c in enumerate(counts) if c >= need), len(counts)))
        return []

    def search_gpu(self, gpu: Gpu) -> tuple[list[Plan], list[Miss]]:
        order = scheme_order(self.req.candidates, gpu)
        least = min(c.tier for c in self.req.candidates)
        plans: list[Plan] = []
        misses: list[Miss] = []
        memory_misses: set[int] = set()      # counts where TP alone was accepted but did not fit
        for pipeline in (False, True):
            # The best full plan so far on this GPU: (loss tier, needs fp8 KV or eager mode). A larger count
            # only adds a row when it allows something better by that measure (or, for the kv objective,
            # more KV): e.g. no quantization, or no fp8 KV cache.
            best: tuple[int, bool] | None = None
            for tp, pp in self.layouts(gpu, pipeline):
                if pipeline and tp * pp in memory_misses:
                    # TP alone was accepted at this count and short of memory; PP over the same GPUs
                    # holds about the same per GPU, so it is only tried where vLLM refused the TP size.
                    continue
                allowed = [(c, n) for c, n in order
                           if best is None or self.req.objective == "kv" or self.req.explore or (c.tier, False) < best]
                if not allowed:
                    break
                seen = len(misses)
                plan = self.best_at(allowed, gpu, tp, pp, misses)
                memory_miss = any(m.shortfall_gib != math.inf for m in misses[seen:])
                # refused for a flag, not for the layout: PP over the same GPUs is refused the same way
                flag_miss = any(m.shortfall_gib == math.inf and not any(e.code in _LAYOUT_ERRORS
                                                                        for e in m.est.errors)
                                for m in misses[seen:])
                if not pipeline and (memory_miss or flag_miss):
                    memory_misses.add(tp * pp)
                found = [plan] if plan is not None else []
                if not pipeline and ((plan is not None and plan.full) or (plan is None and not memory_miss)):
                    # A MoE model: the same GPUs with expert parallelism (where TP alone fits, or where vLLM
                    # refuses its TP split); a memory miss at TP alone is one for them too.
                    for atp, adp, aep in self.moe_alternatives(gpu, tp * pp, refused=plan is None):
                        alt = self.evaluate_at(allowed, gpu, atp, 1, adp, aep, misses)
                        if alt is not None:
                            found.append(alt)
                if not found:
                    continue
                plans += found
                for p in found:
                    if p.full:
                        key = (p.candidate.tier, bool({"kv_fp8", "eager"} & set(p.levers)))
                        best = key if best is None else min(best, key)
                if best == (least, False) and self.req.objective != "kv" and not self.req.explore:
                    break
            if plans:
                break          # PP only where TP alone cannot fit (even with a shorter context)
        flag_refusals = bool(misses) and all(
            m.shortfall_gib == math.inf and not any(e.code in _LAYOUT_ERRORS for e in m.est.errors) for m in misses)
        if not plans and not flag_refusals:
            # Nothing on one node: TP inside each node, PP (or DP+EP for a MoE model) across nodes; not when
            # every layout was refused for what no node count changes (a flag vLLM rejects).
            plans = self.search_nodes(gpu, order, misses)
        return plans, misses


def _objective_key(p: Plan, objective: str) -> tuple[Any, ...]:
    cost = p.cost_per_hour if p.cost_per_hour is not None else math.inf
    moving = (p.nodes, p.candidate.tier, not p.native, "kv_fp8" in p.levers, "eager" in p.levers)
    # Between layouts of the same GPUs (TP x PP, DP+EP, TP+EP) the one holding the most KV cache wins (every
    # DP engine holds its own: the serve holds kv_tokens x DP); then the one without PP or DP.
    structure = (p.pp > 1, p.dp > 1 or p.ep)
    if objective == "cost":
        return (cost, moving, p.count, -p.kv_tokens_total, structure)
    if objective == "kv":
        return (-p.kv_tokens_total, moving, p.count, cost, structure)
    return (p.count, moving, cost, -p.kv_tokens_total, structure)


def rank_key(p: Plan, objective: str, enough: bool | None = None) -> tuple[Any, ...]:
    """Full plans first; shrunk ones by the context they keep; then the objective; then the GPU id.

    `enough`: the plan holds the context floor (DEFAULT_CONTEXT, _Search.enough). Such plans rank by the
    objective's first key (GPUs, or cost) before the context they keep, so a full context that costs more
    GPUs comes after a shrunk one that holds the floor."""
    if enough is None or objective == "kv" or not enough:
        return (not p.full, 0 if p.full else -p.context, *_objective_key(p, objective), p.gpu.id)
    key = _objective_key(p, objective)
    return (False, key[0], not p.full, 0 if p.full else -p.context, *key[1:], p.gpu.id)


def recommend(req: PlanRequest, *, model_max_len: int, suggest: bool = True) -> PlanResult:
    """Search the request's space and rank what fits. `model_max_len` is the model's derived maximum."""
    if req.objective not in OBJECTIVES:
        raise PlannerError(f"--objective: unknown objective {req.objective!r}",
                           hint=did_you_mean(req.objective, list(OBJECTIVES)) or "choose gpus, cost or kv")
    if not req.gpus:
        raise PlannerError("no GPU to plan for", hint="--gpu H100, a comma list, or any")
    if req.objective == "cost" and all(g.price_per_hour_usd is None for g in req.gpus):
        raise PlannerError("--objective cost needs GPU prices, and none of " + ", ".join(g.id for g in req.gpus)
                           + " has one", code="no_prices",
                           hint="add price_per_hour_usd in a GPU catalog file ($VLLM_PLANNER_GPU_CATALOG)")
    for name, v in (("--num-gpus", req.num_gpus), ("--max-gpus", req.max_gpus), ("--concurrency", req.concurrency),
                    ("--context", req.context)):
        if v is not None and v < 1:
            raise PlannerError(f"{name} must be a positive integer, got {v}")
    for name, v in (("--num-gpus", req.num_gpus), ("--max-gpus", req.max_gpus)):
        if v is not None and v > MAX_GPUS_PER_REPLICA:
            # The search enumerates layouts of the count; beyond any deployment it would run for hours.
            raise PlannerError(f"{name} {str(v)[:24]} is more GPUs than one replica can have",
                               hint=f"at most {MAX_GPUS_PER_REPLICA}")
    dp = req.args.data_parallel_size
    if req.num_gpus is not None and req.num_gpus % dp:
        raise PlannerError(f"--num-gpus {req.num_gpus} is not a multiple of --data-parallel-size {dp}",
                           hint="the GPUs of one vllm serve are TP x PP x DP")
    if req.max_gpus is not None and req.max_gpus < dp:
        raise PlannerError(f"--max-gpus {req.max_gpus} is below --data-parallel-size {dp}",
                           hint="the GPUs of one vllm serve are TP x PP x DP")
    search = _Search(model_max_len, req)
    plans: list[Plan] = []
    misses: list[Miss] = []
    for gpu in req.gpus:
        p, m = search.search_gpu(gpu)
        plans += p
        misses += m
    plans = [search.settle(p) for p in plans]
    plans.sort(key=lambda p: rank_key(p, req.objective, search.enough(p)))
    notes: list[str] = []
    if req.objective == "cost" and any(g.price_per_hour_usd is None for g in req.gpus):
        notes.append("no price for " + ", ".join(g.id for g in req.gpus if g.price_per_hour_usd is None)
                     + ": ranked after the priced GPUs")
    acceptable = [p for p in plans if p.full or not search.context_fixed]
    if acceptable:
        return PlanResult(req, tuple(acceptable), acceptable[0], None, (), tuple(notes), search.evaluated)
    if not misses and not plans:
        misses = search.pruned_misses()
    closest = min(misses, key=lambda m: (m.shortfall_gib, m.count, m.gpu.id), default=None)
    partial = tuple(plans)           # started, but below the user's concurrency at their context
    # A miss no memory can fix (a flag vLLM rejects, an unsupported scheme) gets its errors, not tips.
    fixable = closest is None or closest.shortfall_gib != math.inf or bool(partial)
    tips = tuple(suggestions(req, model_max_len, closest, partial)) if suggest and fixable else ()
    return PlanResult(req, partial, None, closest, tips, tuple(notes), search.evaluated)


# ----------------------------------------------------------------------------------------------------------
# nothing fits: what would


def _first(req: PlanRequest, model_max_len: int, **changes: Any) -> Plan | None:
    try:
        r = recommend(replace(req, **changes), model_max_len=model_max_len, suggest=False)
    except PlannerError:
        return None
    return r.chosen


def _where(p: Plan) -> str:
    par = f"TP {p.tp}" + (f" x PP {p.pp}" if p.pp > 1 else "") + (f" x DP {p.dp}" if p.dp > 1 else "") + (
        " with EP" if p.ep else "")
    q = "" if p.candidate.scheme == "none" else f", {p.candidate.scheme}"
    nodes = f" on {p.nodes} nodes" if p.nodes > 1 else ""
    return f"{p.count} x {p.gpu.id}{nodes} ({par}{q}, context {p.context:,})"


def suggestions(req: PlanRequest, model_max_len: int, closest: Miss | None,
                partial: tuple[Plan, ...]) -> list[str]:
    """What would make it fit, each checked by running the search with that one change."""
    out: list[str] = []
    given = req.given_fields()
    bounded = req.num_gpus is not None or req.max_gpus is not None or "tensor_parallel_size" in given \
        or "pipeline_parallel_size" in given
    if bounded:
        free_args = req.args.with_(tensor_parallel_size=1, pipeline_parallel_size=1)
        p = _first(req, model_max_len, num_gpus=None, max_gpus=None, args=free_args,
                   given=given - {"tensor_parallel_size", "pipeline_parallel_size"})
        if p is not None:
            out.append(f"more GPUs: {_where(p)}")
    elif closest is not None:
        out.append(f"more GPUs: the closest, {closest.count} x {closest.gpu.id}, is {closest.shortfall_gib:.1f} GiB "
                   f"per GPU short; plan searched up to {MAX_NODES} nodes of {closest.gpu.gpus_per_node} per "
                   "replica")
    if req.context is not None or req.args.max_model_len not in (None, -1):
        p = _first(req, model_max_len, context=None, args=req.args.with_(max_model_len=None),
                   given=given - {"max_model_len"})
        if p is not None:
            out.append(f"a smaller context: --context {p.context} on {_where(p)}")
    if req.quant_mode != "auto":
        p = _first(req, model_max_len, quant_mode="auto", candidates=req.auto_candidates or req.candidates)
        if p is not None and p.candidate.scheme not in {c.scheme for c in req.candidates}:
            out.append(f"a quantization: --quant {p.candidate.scheme} on {_where(p)}")
    if not req.whole_catalog:
        biggest = max(g.total_gib for g in req.gpus)
        bigger = sorted((g for g in gpu_catalog.all_gpus().values() if g.total_gib > biggest and g.vendor == "nvidia"),
                        key=lambda g: (g.total_gib, g.id))
        # The smallest memory size that fits the full context is the useful answer (else the smallest that
        # fits a shorter one): try sizes in ascending order.
        found: Plan | None = None
        for size in sorted({round(g.total_gib) for g in bigger}):
            group = tuple(g for g in bigger if round(g.total_gib) == size)
            objective = req.objective
            if objective == "cost" and all(g.price_per_hour_usd is None for g in group):
                objective = "gpus"
            p = _first(req, model_max_len, gpus=group, objective=objective)
            if p is not None and p.full:
                found = p
                break
            found = found or p
        if found is not None:
            out.append(f"a bigger GPU: {_where(found)}")
    if not out and partial:
        best = max(partial, key=lambda p: p.concurrency)
        out.append(f"fewer concurrent sequences: {_where(best)} holds {best.concurrency:.1f}")
    return out



# ----------------------------------------------------------------------------------------------------------
# which weights can be served


# bitsandbytes moved out of vLLM into a plugin in v0.28.0 (vllm-memory.md §7, "Removed or renamed flags"):
# its catalog checkpoints are not offered to releases from then on (VersionRules.bnb_in_tree).


def _num_experts(c: Candidate) -> int:
    """Routed experts of the candidate's model (0: dense)."""
    m = c.model
    if isinstance(m, ModelSpec):
        return m.num_experts
    cfg = getattr(m, "config", m)
    if not isinstance(cfg, dict):
        return 0
    try:
        return model_spec_from_config(cfg).num_experts
    except PlannerError:
        return 0


def available_candidates(loaded: Any, spec: Any, version: str) -> list[Candidate]:
    """Every way vLLM `version` can serve this model: the checkpoint as it is first, then fp8 (a catalog
    checkpoint, else online quantization of a 16-bit checkpoint), then the catalog's other pre-quantized
    checkpoints. `spec` is the loaded model's ModelSpec (for the checkpoint's quantization_config)."""
    qc = spec.quantization_config
    base_scheme = scheme_from_checkpoint(qc).name if qc else "none"
    serve = loaded.repo_id or loaded.path or loaded.ref
    what = f"{base_scheme} checkpoint" if qc else f"{spec.dtype} checkpoint"
    base = Candidate(scheme=base_scheme, model=loaded, serve_model=serve, quantization=None, origin="checkpoint",
                     note=f"the {what} as it is")
    out = [base]
    entry = _catalog_entry(loaded)
    variants = [v for v in entry.variants if not v.native] if entry is not None else []
    if qc is None:
        fp8 = next((v for v in variants if v.scheme == "fp8"), None)
        if fp8 is None:
            flag = online_fp8_flag(version)
            out.append(Candidate(scheme="fp8", model=loaded, serve_model=serve, quantization=flag, origin="online",
                                 note=f"the {what}, quantized to fp8 by vLLM at load time (--quantization {flag})"))
    elif entry is not None and serve.lower() != entry.default_repo.lower():
        variants = []          # MODEL names a pre-quantized repo: that is what is served
    seen = {c.scheme for c in out}
    old = not rules_for(version).bnb_in_tree
    for v in variants:
        if v.scheme in seen or (old and v.scheme.startswith("bnb")):
            continue
        seen.add(v.scheme)

        model = from_catalog(model_catalog.CatalogHit(entry=entry, variant=v, repo_id=v.repo_id, matched="repo"),
                             v.repo_id)
        out.append(Candidate(scheme=v.scheme, model=model, serve_model=v.repo_id, quantization=None,
                             origin="catalog", note=f"the catalog's pre-quantized {v.scheme} checkpoint, published by "
                                                              f"{v.source.split(';')[0].strip()}"))
    return out


def _catalog_entry(loaded: Any) -> Any:
    alias = getattr(loaded, "catalog_alias", None)
    if not alias:
        return None

    hit = model_catalog.lookup(alias)
    return hit.entry if hit is not None else None


# ----------------------------------------------------------------------------------------------------------
# why each flag has its value


def _miss_reason(est: Estimate, required: int, context: int) -> str:
    """A short reason an estimate does not fit, in the figures the user can act on."""
    codes = [e.code for e in est.errors]
    if "weights_do_not_fit" in codes:
        return f"the weights alone need {est.per_gpu.weights_gib:.1f} GiB per GPU"
    if est.per_gpu.kv_cache_gib <= 0 or "no_kv_memory" in codes:
        return (f"the weights ({est.per_gpu.weights_gib:.1f} GiB) and vLLM's overhead leave no memory for the KV "
                "cache")
    if "kv_cache_too_small" in codes or est.kv_cache.max_concurrency < required:
        held = est.kv_cache.max_concurrency
        return f"the KV cache would hold {held:.2f} of the {required} sequence(s) of {context:,} tokens"
    if codes:
        return est.errors[0].message
    return "it fits there too"


def decisions(result: PlanResult, plan: Plan) -> list[Decision]:
    """One line per flag of the chosen plan: kept as given, or why the planner chose the value."""
    req = result.request
    given = req.given_fields()
    a = plan.args
    est = plan.est
    required = req.concurrency or 1
    out: list[Decision] = []
    cand = plan.candidate
    out.append(Decision("MODEL", cand.serve_model, cand.note))

    def kept(name: str) -> bool:
        return name in given

    flag_tp = "--tensor-parallel-size"
    if kept("tensor_parallel_size"):
        out.append(Decision(flag_tp, str(plan.tp), "kept as given"))
    elif plan.load is not None:
        out.append(Decision(flag_tp, str(plan.tp), _why_tp_load(result, plan)))
    else:
        out.append(Decision(flag_tp, str(plan.tp), _why_tp(result, plan, required)))
    if plan.pp > 1:
        if kept("pipeline_parallel_size"):
            why = "kept as given"
        elif plan.nodes > 1:
            why = (f"one node of {plan.gpu.gpus_per_node} x {plan.gpu.id} does not hold the model; {plan.pp} "
                   f"pipeline stages over {plan.nodes} nodes split the {est.model.get('num_layers')} layers, "
                   f"tensor parallelism stays inside each node ({plan.gpu.interconnect or 'its local links'})")
        else:
            why = (f"tensor parallelism alone does not fit on {plan.gpu.id} within {plan.gpu.gpus_per_node} GPUs; "
                   f"{plan.pp} pipeline stages split the {est.model.get('num_layers')} layers")
        out.append(Decision("--pipeline-parallel-size", str(plan.pp), why))
    if plan.dp > 1 and not kept("data_parallel_size"):
        lay = est.layout
        experts = (f"; the {lay.physical_experts(est.spec)} experts are divided over all {lay.ep_size} GPUs "
                   f"({lay.max_experts_per_rank(est.spec)} each)" if lay is not None and lay.use_ep
                   and est.spec is not None else "")
        across = f" on {plan.nodes} nodes" if plan.nodes > 1 else ""
        out.append(Decision("--data-parallel-size", str(plan.dp),
                            f"{plan.dp} engines of TP {plan.tp}{across}, each with its own attention and KV cache: "
                            f"{plan.kv_tokens_total:,} KV tokens in all{experts}"))
    if plan.ep and not kept("enable_expert_parallel"):
        out.append(Decision("--enable-expert-parallel", "",
                            "whole experts per GPU instead of every expert split by tensor parallelism"
                            + (" (vLLM refuses that split here)" if plan.dp == 1 else "")))
    q = a.quantization
    if cand.scheme != "none" or q:
        why = _why_quant(req, plan)
        out.append(Decision("--quantization" if q else "weights", q or f"{cand.scheme} (the checkpoint's format)",
                            "kept as given" if kept("quantization") else why))
    if a.kv_cache_dtype != "auto":
        why = "kept as given" if kept("kv_cache_dtype") else (
            f"at the model's dtype the KV cache does not hold {required} sequence(s) of {plan.context_target:,} "
            f"tokens on {plan.count} x {plan.gpu.id}; fp8 halves the bytes per token")
        out.append(Decision("--kv-cache-dtype", a.kv_cache_dtype, why))
    if a.enforce_eager:
        why = "kept as given" if kept("enforce_eager") else (
            "without CUDA graphs vLLM reserves no graph memory, and that is the difference between fitting and "
            "not (decode is slower)")
        out.append(Decision("--enforce-eager", "", why))
    if a.max_num_batched_tokens is not None:
        why = "kept as given" if kept("max_num_batched_tokens") else (
            f"raised to max_num_seqs ({a.max_num_seqs}): vLLM refuses a per-step token budget below it")
        if plan.load is not None and plan.load.tuning and not kept("max_num_batched_tokens"):
            why = plan.load.tuning
        out.append(Decision("--max-num-batched-tokens", str(a.max_num_batched_tokens), why))
    util = est.resolved.gpu_memory_utilization or 0.0
    if kept("gpu_memory_utilization"):
        why = "kept as given"
    elif plan.gpu.vendor == "cpu":
        why = "vLLM's default (the CPU backend sizes the KV cache from --kv-cache-memory-bytes or the environment)"
    elif plan.gpu.unified_memory:
        why = f"vLLM's default: {plan.gpu.id} shares its memory with the CPU and the operating system"
    else:
        why = _why_util(req, plan)
    out.append(Decision("--gpu-memory-utilization", f"{util:g}", why))
    mml = a.max_model_len
    full_alt = next((p for p in result.plans if p.full), None)
    if kept("max_model_len") or req.context is not None:
        why = "kept as given" if kept("max_model_len") else "your --context"
        if plan.load is not None and not kept("max_model_len"):
            why = plan.load.context_why
    elif plan.full:
        why = "the model's maximum context"
    elif req.context_floor is not None and plan.context >= min(req.context_floor, plan.context_target):
        longest = max(result.plans, key=lambda p: (p.context, -p.count))
        if full_alt is not None:
            where, more = f"needs {full_alt.count} x {full_alt.gpu.id}", plan.context_target
        elif longest.context > plan.context:
            where = (f"fits on no layout searched, and the longest context, {longest.context:,}, needs "
                     f"{longest.count} x {longest.gpu.id}")
            more = longest.context
        else:
            where, more = "fits on no layout searched", 0
        why = (f"the model's maximum {plan.context_target:,} {where}; {plan.context:,} tokens (the most "
               f"{plan.count} x {plan.gpu.id} holds for {required} sequence(s), at least the planner's "
               f"{req.context_floor:,}-token default) serve the requests deployments see, on fewer GPUs"
               + (f". Give --context {more} to plan for that" if more else ""))
    else:
        why = (f"the largest context (in steps of {_CONTEXT_STEP if plan.context_target > 4 * _CONTEXT_STEP else 16})"
               f" that keeps {required} sequence(s) in the KV cache; the model's maximum "
               f"{plan.context_target:,} does not fit on {plan.count} x {plan.gpu.id}")
    out.append(Decision("--max-model-len", str(mml), why))
    mns = est.resolved.max_num_seqs
    if kept("max_num_seqs"):
        why = "kept as given"
    elif plan.load is not None and plan.load.tuning:
        why = plan.load.tuning
    elif plan.load is not None and plan.load.capacity is not None:
        why = (f"vLLM {req.vllm_version}'s default on {plan.gpu.id}, and so its token budget "
               f"({est.resolved.max_num_batched_tokens:,}): at them one replica sustains "
               f"{plan.load.rate:.3g} req/s" + (" within the targets" if plan.load.load.slo else "")
               + f"; the KV cache holds {plan.concurrency:.0f} requests of {plan.context:,} tokens")
    elif req.concurrency is not None:
        why = (f"your --concurrency; the KV cache holds {plan.concurrency:.1f} sequences of {plan.context:,} tokens")
    else:
        why = (f"vLLM {req.vllm_version}'s default on {plan.gpu.id}; the KV cache holds {plan.concurrency:.1f} "
               "sequences of the full context at once, more when requests are shorter (--concurrency sizes it)")
    out.append(Decision("--max-num-seqs", str(mns), why))
    covered = {"tensor_parallel_size", "pipeline_parallel_size", "quantization", "kv_cache_dtype", "enforce_eager",
               "max_num_batched_tokens", "gpu_memory_utilization", "max_model_len", "max_num_seqs",
               "enable_prefix_caching"}
    for name in sorted(given - covered):
        if hasattr(a, name) and name != "passthrough":
            value = getattr(a, name)
            out.append(Decision("--" + name.replace("_", "-"), "" if isinstance(value, bool) else str(value),
                                "kept as given"))
    for spelling, value in a.passthrough:
        if is_secret_flag(spelling):
            # The value is a secret: never printed; the emitted forms read it from the environment.
            out.append(Decision(spelling, MASK, f"kept as given, read from {secret_flag_env(spelling)}"))
            continue
        out.append(Decision(spelling, value or "", "kept as given"))
    pc = est.resolved.enable_prefix_caching
    if not kept("enable_prefix_caching"):
        out.append(Decision("--enable-prefix-caching", "(default)",
                            "left at vLLM's default (on): repeated prompt prefixes reuse cached KV blocks"
                            if pc else "left at vLLM's default (off)"))
    else:
        out.append(Decision("--enable-prefix-caching", str(pc).lower(), "kept as given"))
    return out


def _why_util(req: PlanRequest, plan: Plan) -> str:
    est = plan.est
    left = est.per_gpu.total_gib - est.per_gpu.requested_gib
    world = plan.tp * plan.pp
    outside = CONTEXT_GIB + (NCCL_GIB if world > 1 else 0.0)
    default = rules_for(req.vllm_version).default_util
    graphs = graphs_outside_gib(est)
    runtime = ("the server allocates memory after the profile run that sizes the KV cache (vLLM captures the "
               "CUDA graphs after it, " + (f"about {graphs:.2f} GiB that this release does not reserve" if graphs
                                           else "against an estimate of their pool") +
               "; it keeps 150 MiB for what its profiler misses)")
    tail = (f"; it leaves {left:.2f} GiB outside vLLM's budget for the CUDA context"
            + (", NCCL" if world > 1 else "") + f" (about {outside:.2f} GiB) and that growth")
    how = plan.util_how
    if how == "default":
        return (f"vLLM {req.vllm_version}'s default: the plan holds there, and {runtime}, so the planner raises it "
                f"only where a plan needs it (at most {plan.util_ceiling:g} on {plan.gpu.id})" + tail)
    if how == "raised":
        return (f"raised from vLLM's default {default:g}: the lowest value that holds the plan on {plan.count} x "
                f"{plan.gpu.id}; {runtime}, kept within the ceiling {plan.util_ceiling:g}" + tail)
    if how == "ceiling":
        return (f"below vLLM's default {default:g}: on {plan.gpu.id} ({est.per_gpu.total_gib:.2f} GiB) the default "
                f"would leave less than the CUDA context and {runtime}" + tail)
    if how == "over_ceiling":
        return (f"above the runtime ceiling {plan.util_ceiling:g}: nothing lower holds the plan, and {runtime}; "
                "vLLM may run out of memory capturing the graphs (--enforce-eager or a shorter --context avoid it)"
                + tail)
    return (f"vLLM budgets {est.per_gpu.requested_gib:.2f} of {est.per_gpu.total_gib:.2f} GiB and leaves "
            f"{left:.2f} GiB for the CUDA context, NCCL and other processes")


def _why_tp_load(result: PlanResult, plan: Plan) -> str:
    """TP for a load: replicas x GPUs against the other sizes simulated on the same GPU type."""
    fit = plan.load
    obj = "the lowest cost" if result.request.objective == "cost" else "the fewest GPUs"
    others = [p for p in result.plans if p is not plan and p.gpu.id == plan.gpu.id and p.load is not None
              and p.load.sized and p.pp == plan.pp and p.candidate.scheme == plan.candidate.scheme]
    alt = "; ".join(f"TP {p.tp}: {p.load.replicas} x {p.count} = {p.load.gpus_total} GPUs"
                    + (f" (${p.load.cost_per_hour:.2f}/h)" if p.load.cost_per_hour is not None else "")
                    if p.load.met else f"TP {p.tp}: meets no rate" for p in sorted(others, key=lambda p: p.tp))
    cost = f" (${fit.cost_per_hour:.2f}/h)" if fit.cost_per_hour is not None else ""
    return (f"{obj} for the load: {fit.replicas} replica(s) of TP {plan.tp} at {fit.rate:.3g} req/s each = "
            f"{fit.gpus_total} GPUs{cost}" + (f", against {alt}" if alt else "")
            + "; a larger TP serves each request faster (more bandwidth per token), more replicas of a "
            "smaller TP spend less on communication")


def _why_tp(result: PlanResult, plan: Plan, required: int) -> str:
    req = result.request
    obj = {"gpus": "the fewest GPUs", "cost": "the lowest cost", "kv": "the most KV cache"}[req.objective]
    if req.objective == "cost" and plan.cost_per_hour is not None:
        obj += f" (${plan.cost_per_hour:.2f}/h)"
    if req.num_gpus is not None:
        return f"--num-gpus {req.num_gpus}"
    if req.objective == "kv":
        return (f"{obj}: {plan.kv_tokens:,} tokens on {plan.count} x {plan.gpu.id}; more GPUs per replica hold "
                "more KV cache (bound it with --max-gpus or --num-gpus)")
    if plan.gpu.vendor == "cpu":
        return "the CPU backend runs one process per NUMA node"
    if plan.dp > 1 and "data_parallel_size" not in req.given_fields():
        return (f"{obj}: {plan.count} GPUs as {plan.dp} data-parallel engines of TP {plan.tp}, the layout of these "
                "GPUs that holds the most KV cache")
    if plan.count == 1:
        return f"{obj}: one {plan.gpu.id} holds the weights ({plan.est.per_gpu.weights_gib:.1f} GiB) and the KV cache"
    pcie = not plan.gpu.nvlink and (not plan.gpu.interconnect or "pcie" in plan.gpu.interconnect.lower())
    link = (f"; {plan.gpu.id} GPUs talk over {plan.gpu.interconnect or 'PCIe'}, so tensor parallelism costs more "
            "time per token than over NVLink") if pcie else ""
    return _why_smaller(req, plan, required, obj) + link


def _why_smaller(req: PlanRequest, plan: Plan, required: int, obj: str) -> str:
    # Why not the next smaller TP vLLM accepts (same flags and context).
    own_util = "gpu_memory_utilization" in req.given_fields()
    for tp in range(plan.tp - 1, 0, -1):
        util = plan.args.gpu_memory_utilization if own_util else utilization(plan.gpu, tp * plan.pp, req.vllm_version)
        smaller = estimate(plan.candidate.model, plan.gpu,
                           plan.args.with_(tensor_parallel_size=tp, gpu_memory_utilization=util),
                           vllm_version=req.vllm_version, env=req.env)
        if any(e.code in _LAYOUT_ERRORS for e in smaller.errors):
            continue
        return f"{obj}: at TP {tp} {_miss_reason(smaller, required, plan.context)}"
    return f"{obj}: vLLM accepts no smaller tensor-parallel size for this model"


def _why_quant(req: PlanRequest, plan: Plan) -> str:
    cand = plan.candidate
    if req.quant_mode == "auto":
        why = f"--quant auto: {cand.scheme} is the least lossy format that fits {plan.count} x {plan.gpu.id}"
    elif req.quant_mode == "list" and len(req.candidates) == 1:
        why = f"as asked (--quant {cand.scheme})"
    elif req.quant_mode == "list":
        why = f"--quant: {cand.scheme} is the least lossy of your list that fits {plan.count} x {plan.gpu.id}"
    else:
        why = f"the checkpoint is {cand.scheme}"
    if cand.origin == "online":
        why += f"; {cand.note}"
    elif cand.origin == "catalog":
        why += f"; served from {cand.serve_model} (vLLM reads its quantization_config, no --quantization)"
    if not plan.native:
        why += (f"; {plan.gpu.id} (compute capability {plan.gpu.compute_capability}) has no native {cand.scheme} "
                "compute, so vLLM runs it as a weight-only Marlin kernel")
    return why
