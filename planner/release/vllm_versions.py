"""Per-release vLLM behaviour: engine, defaults, batch tiers, and the arithmetic of what it logs.

The one home for release facts (the flag table lives in planner/release/vllm_flags.py): LATEST, the one
`parse_version`, and `VersionRules`, whose named fields are every version-dependent decision the
planner makes. Nothing else compares release numbers: a module that needs to know what a release
does reads a field of `rules_for(version)`.

Per-release values live in tables of (first release, values) rows, read by `_row_for`: a change in
vLLM is a new row, not another ternary. Sources: the wheels of vLLM 0.10.1.1, 0.11.0, 0.19.0, 0.32.0
and 0.33.0 (vllm/engine/arg_utils.py get_batch_defaults, vllm/config/cache.py, vllm/config/vllm.py
max_concurrent_batches, vllm/v1/worker/gpu_worker.py, vllm/v1/core/kv_cache_utils.py and
kv_cache_planning.py) and shared/reference/vllm-memory.md §4 and §8.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, TypeVar

from planner.errors import PlannerError
from planner.memory.overhead import OverheadRegime

# The newest modelled release, and the default of every command and API (written only here).
LATEST = "0.33.0"
OLDEST = "0.6.0"

_T = TypeVar("_T")


@lru_cache(maxsize=1024)
def parse_version(version: str) -> tuple[int, ...]:
    """'0.10.1.1' -> (0, 10, 1, 1); 'v0.33.0', '0.29.1rc1.dev17+g...' -> the release numbers in front.

    Padded to four parts so that 0.10 == 0.10.0 and comparisons are element-wise.
    """
    text = str(version).strip()
    # A release number has a few digits per part: a pasted blob is refused before int() of it.
    m = re.match(r"v?(\d{1,9}(?:\.\d{1,9}){0,5})(?!\.?\d)", text) if len(text) <= 64 else None
    if not m:
        raise PlannerError(f"--vllm-version: invalid vLLM version {text[:40]!r}",
                           hint="expected a release such as " + LATEST)
    parts = tuple(int(p) for p in m.group(1).split("."))
    return parts + (0,) * (4 - len(parts)) if len(parts) < 4 else parts


def release_at_least(version: str, first: str) -> bool:
    """Whether `version` is `first` or newer (for tables keyed by release, e.g. the flag history)."""
    return parse_version(version) >= parse_version(first)


def _row_for(key: tuple[int, ...], table: tuple[tuple[str, _T], ...]) -> _T:
    """The values of the last row whose first release is <= key (rows are in release order)."""
    hit: _T | None = None
    for first, values in table:
        if parse_version(first) <= key:
            hit = values
        else:
            break
    if hit is None:
        raise PlannerError(f"vLLM {'.'.join(map(str, key))} predates the first modelled release {OLDEST}")
    return hit


@dataclass(frozen=True)
class _Facts:
    """What one range of releases does, whichever engine runs (the engine-specific parts are below)."""

    default_engine: str            # "v0" before 0.8, "v1" from 0.8
    engines: tuple[str, ...]       # engines the release can run (VLLM_USE_V1 / --vllm-engine choose)
    default_util: float            # CacheConfig.gpu_memory_utilization default
    ceil_requested: bool           # requested = ceil(total x util) (0.19+) or a float product
    v1_cudagraph_estimate: bool    # VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS default on (V1, 0.21+)
    group_aware_tokens: bool       # "GPU KV cache size" = int(concurrency x max_model_len) (0.21+)
    legacy_swa: bool               # SWA request need uses mnbt, not max_in_flight_tokens (< 0.21)
    null_block_in_check: bool      # startup check subtracts the null block (0.21+)
    tier_160: bool                 # >= 160 GiB batch tier (present in 0.32/0.33, absent in 0.19)
    auto_max_model_len: bool       # --max-model-len auto / -1 (0.14+)
    v1_async_scheduling: bool      # async scheduling on by default (V1, 0.14+)
    model_runner_v2: bool          # default runner from 0.25: max_concurrent_batches = PP + 1
    v0_chunked_mnbt: int           # V0 max_num_batched_tokens with chunked prefill: 512, 2048 from 0.7
    mla_sm100_block_32: bool       # FLASHINFER_MLA (32-token blocks) is the first MLA choice on SM100 (0.10+)
    mxfp4_triton_on_hopper: bool   # MXFP4 MoE on Hopper uses the Triton kernels, not Marlin (0.10.2+)
    online_fp8_flag: str           # --quantization that quantizes a 16-bit checkpoint to fp8 at load
    bnb_in_tree: bool              # bitsandbytes is part of vLLM (moved to a plugin in 0.28)
    json_flags_take_key_value: bool  # parse_type(json.loads) falls back to nullable_kvs (`image=5`), 0.8-0.9
    lora_ranks: tuple[int, ...]    # the max_lora_rank values LoRAConfig accepts
    mm_limit_format: str           # --limit-mm-per-prompt: "kv" (nullable_kvs, 0.6-0.7), "json_or_kv" (0.8-0.9),
                                   # "json" (0.10+)
    text_only_skips_tower: bool    # a tower whose modalities are all limited to 0 is not built (read in 0.33)
    spec_decode_query_len: bool    # CUDA-graph sizes follow 1 + num_speculative_tokens (read in 0.33)
    v0_mla_forces_no_chunked: bool  # VllmConfig.__post_init__ turns chunked prefill and prefix caching off for
                                    # MLA after SchedulerConfig sized max_num_batched_tokens (0.7.1-0.7.3)
    v0_mla_chunked_default_off: bool  # _set_default_args_v0: MLA leaves chunked prefill off by default (0.8+)
    v0_long_context_chunked_on_rocm: bool  # the V0 "chunked prefill for max_model_len > 32K" default on ROCm


_LORA_RANKS_OLD = (8, 16, 32, 64, 128, 256, 320, 512)
_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)

_BASE = _Facts(default_engine="v0", engines=("v0",), default_util=0.9, ceil_requested=False,
               v1_cudagraph_estimate=False, group_aware_tokens=False, legacy_swa=True, null_block_in_check=False,
               tier_160=False, auto_max_model_len=False, v1_async_scheduling=False, model_runner_v2=False,
               v0_chunked_mnbt=512, mla_sm100_block_32=False, mxfp4_triton_on_hopper=False, online_fp8_flag="fp8",
               bnb_in_tree=True, json_flags_take_key_value=False, lora_ranks=_LORA_RANKS_OLD,
               mm_limit_format="kv", text_only_skips_tower=False, spec_decode_query_len=False,
               v0_mla_forces_no_chunked=False, v0_mla_chunked_default_off=False,
               v0_long_context_chunked_on_rocm=True)

# (first release, what changed there); each row holds from its release until the next row's.
# LoRA ranks: LoRAConfig's possible_max_ranks check before the Literal type (0.6-0.11; not in the wheels read
# here, recalled from the release sources: 8..512 without 1); MaxLoRARanks = Literal[1, 8, ..., 512] in the
# 0.14, 0.19, 0.28, 0.32 and 0.33 flag snapshots (planner/release/vllm_flags.json choices) and vllm/config/lora.py 0.33.
_CHANGES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("0.6.0", {}),
    # V0's long-context chunked-prefill default: `device_type == "cuda"` (true on ROCm too) in 0.6.0-0.6.4;
    # `and not current_platform.is_rocm()` from 0.6.5 (arg_utils.py of the 0.6.0..0.6.5 and 0.7.x wheels);
    # from 0.8 `current_platform.is_cuda()` (false on ROCm).
    ("0.6.5", {"v0_long_context_chunked_on_rocm": False}),
    ("0.7.0", {"v0_chunked_mnbt": 2048}),
    # 0.7.1 brought MLA (DeepSeek-V2/V3/R1). vllm/config.py VllmConfig.__post_init__ of 0.7.1, 0.7.2 and 0.7.3
    # ("MLA is enabled; forcing chunked prefill and prefix caching to be disabled") runs after SchedulerConfig
    # sized max_num_batched_tokens from the flag as it was, and after SchedulerConfig._verify_args. Not in
    # 0.7.0 (no MLA). (ModelConfig.use_mla is also off under a --quantization other than fp8 or
    # compressed-tensors, and with VLLM_MLA_DISABLE: the memory model sizes MLA regardless; not modelled.)
    ("0.7.1", {"v0_mla_forces_no_chunked": True}),
    # 0.8-0.10 ran V1 by default and V0 on request (VLLM_USE_V1=0). V0 (_set_default_args_v0, 0.8.0):
    # "Chunked prefill not supported for Multimodal or MLA in V0": MLA leaves the flag off when not given
    # (max_num_batched_tokens = max(max_model_len, 2048)); the forced switch after SchedulerConfig is left
    # only for non-GPU platforms.
    # 0.8-0.9: parse_type(json.loads) took `KEY=VALUE,...` too (nullable_kvs, deprecated, removed in 0.10).
    ("0.8.0", {"default_engine": "v1", "engines": ("v0", "v1"), "json_flags_take_key_value": True,
                "mm_limit_format": "json_or_kv", "v0_mla_forces_no_chunked": False,
                "v0_mla_chunked_default_off": True}),
    ("0.10.0", {"mla_sm100_block_32": True, "json_flags_take_key_value": False, "mm_limit_format": "json"}),
    # get_mxfp4_backend in quantization/mxfp4.py: Triton kernels on Hopper from 0.10.2.
    ("0.10.2", {"mxfp4_triton_on_hopper": True}),
    # V0 was removed around 0.11.
    ("0.11.0", {"engines": ("v1",)}),
    ("0.14.0", {"auto_max_model_len": True, "v1_async_scheduling": True, "lora_ranks": _LORA_RANKS}),
    ("0.19.0", {"ceil_requested": True}),
    ("0.21.0", {"default_util": 0.92, "v1_cudagraph_estimate": True, "group_aware_tokens": True,
                "legacy_swa": False, "null_block_in_check": True, "tier_160": True}),
    ("0.25.0", {"model_runner_v2": True}),
    # bitsandbytes moved out of vLLM into a plugin (vllm-memory.md §7, "Removed or renamed flags").
    ("0.28.0", {"bnb_in_tree": False}),
    # The online fp8 shorthand became fp8_per_tensor.
    ("0.32.0", {"online_fp8_flag": "fp8_per_tensor"}),
    # interfaces.py _mark_tower_model skips a tower whose modalities are all limited to 0 (0.33 read;
    # earlier releases not read: the tower is assumed built).
    # and _set_cudagraph_sizes scales the capture sizes by uniform_decode_query_len (0.33 read).
    ("0.33.0", {"text_only_skips_tower": True, "spec_decode_query_len": True}),
)


def _facts_table() -> tuple[tuple[str, _Facts], ...]:
    rows: list[tuple[str, _Facts]] = []
    facts = _BASE
    for first, changes in _CHANGES:
        facts = replace(facts, **changes)
        rows.append((first, facts))
    return tuple(rows)


_FACTS = _facts_table()

# The overhead coefficients of the memory profile, per engine. Each row names the runs it was fitted on.
_V0_OVERHEAD: tuple[tuple[str, OverheadRegime], ...] = (
    # V0 0.6 worker (determine_num_available_blocks; what each patch release counts, and why it differs
    # by GPU: planner/memory/cuda_context.py). The growth after init_device scales with the device's resident
    # thread slots: 636 B per slot, fitted on c032 (0.6.6/0.7.0 development build, H100 TP1, 0.16 GiB
    # logged; residual 0.00 GiB, the one 0.6 log of this accounting with a non-torch figure). Checked on
    # the V0 0.7/0.8 TP1 logs of other GPUs: c040 (RTX 4060) 0.02 vs 0.03 logged, c057 (A100) 0.13 vs
    # 0.09. Multi-GPU: as V0 0.7 (no released 0.6 log prints a TP > 1 figure). c033/c034 (1.79 / 3.58
    # GiB, a development build of the PR that introduced the 0.6.5 accounting) are not explained by it
    # (tools/fidelity.py KNOWN_UNEXPLAINED).
    ("0.6.0", OverheadRegime(sampler_bytes_per_logit=38.5, non_torch_base_gib=0.0, non_torch_multi_gpu_gib=1.0,
                             non_torch_bytes_per_thread_slot=636)),
    # 0.6.4: non-torch = all device memory outside PyTorch's live tensors, the CUDA context included.
    ("0.6.4", OverheadRegime(sampler_bytes_per_logit=38.5, non_torch_base_gib=0.0, non_torch_multi_gpu_gib=1.0,
                             non_torch_bytes_per_thread_slot=636, counts_cuda_context=True)),
    # 0.6.5-0.6.6: vllm.utils.memory_profiling, the context in the baseline again.
    ("0.6.5", OverheadRegime(sampler_bytes_per_logit=38.5, non_torch_base_gib=0.0, non_torch_multi_gpu_gib=1.0,
                             non_torch_bytes_per_thread_slot=636)),
    ("0.7.0", OverheadRegime(sampler_bytes_per_logit=38.5, non_torch_base_gib=0.06, non_torch_multi_gpu_gib=1.0)),
)
_V1_OVERHEAD: tuple[tuple[str, OverheadRegime], ...] = (
    # V1 0.8-0.9 with the PyTorch-native top-k/top-p sampler. Non-torch at TP1 0.13-0.14 (c008, c012,
    # c014), TP2 0.54 (c015).
    ("0.8.0", OverheadRegime(sampler_bytes_per_logit=38.5, non_torch_base_gib=0.13, non_torch_multi_gpu_gib=0.4)),
    # V1 0.10.0-0.10.1: FlashInfer (a dependency of those CUDA wheels) does top-k/top-p in place, so
    # the sampler peak is little more than the fp32 logits and probabilities: c001/c002 (0.10.1.1,
    # Qwen2-7B, 256 seqs) leave 0.37-0.40 GiB of activation -> ~10 B per logit, where 0.9.2 (c028)
    # and 0.10.2 (c054: 1.40 GiB at 256 x 151936) show the native sort. Non-torch: 0.13 at TP1,
    # +0.14 at TP2 (c003/c004).
    ("0.10.0", OverheadRegime(sampler_bytes_per_logit=10.0, non_torch_base_gib=0.13, non_torch_multi_gpu_gib=0.14)),
    # V1 0.10.2-0.18: the native sampler again (as 0.8-0.9).
    ("0.10.2", OverheadRegime(sampler_bytes_per_logit=38.5, non_torch_base_gib=0.13, non_torch_multi_gpu_gib=0.4)),
    # 0.19-0.24: Triton top-k/top-p. Non-torch: c083 0.24 (TP1), c084 2.06 (TP2), c085 2.13 (TP4):
    # the custom all-reduce buffers were counted after the snapshot.
    ("0.19.0", OverheadRegime(sampler_bytes_per_logit=15.2, non_torch_base_gib=0.24, non_torch_multi_gpu_gib=1.85)),
    # Model Runner V2: logits stay in the model dtype through the default pass; with the CUDA-graph
    # estimate, the 0.33 Llama-3.1-8B/H100 log (vllm-memory.md §1.3: 1.44 GiB activation + estimate at
    # 1024 x 128256 logits) leaves ~2.4 B per logit. NCCL and custom all-reduce are created before the
    # snapshot (§1.2); "consumed" beyond the weights was 0.26 GiB there.
    ("0.25.0", OverheadRegime(sampler_bytes_per_logit=2.4, non_torch_base_gib=0.26, non_torch_multi_gpu_gib=0.1)),
)


@dataclass(frozen=True)
class VersionRules:
    """Every version-dependent decision of the planner, for one release and engine."""

    version: str
    key: tuple[int, ...]           # parse_version(version); for display and caching, not for comparisons
    engine: str                    # "v0" | "v1"
    default_util: float            # CacheConfig.gpu_memory_utilization default
    ceil_requested: bool           # requested = ceil(total x util) (0.19+) or a float product
    cudagraph_estimate: bool       # VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS default on (V1, 0.21+)
    group_aware_tokens: bool       # "GPU KV cache size" = int(concurrency x max_model_len) (0.21+)
    legacy_swa: bool               # SWA request need uses mnbt, not max_in_flight_tokens (< 0.21)
    null_block_in_check: bool      # startup check subtracts the null block (0.21+)
    tier_160: bool                 # >= 160 GiB batch tier (present in 0.32/0.33, absent in 0.19)
    auto_max_model_len: bool       # --max-model-len auto / -1 (0.14+)
    async_scheduling: bool         # on by default (V1, 0.14+): two batches in flight at PP=1
    model_runner_v2: bool          # default runner from 0.25: PP + 1 batches in flight under async
    overhead: OverheadRegime
    v0_chunked_mnbt: int = 2048    # V0 max_num_batched_tokens with chunked prefill (512 before 0.7)
    mla_sm100_block_32: bool = True      # MLA on SM100 picks FLASHINFER_MLA, 32-token blocks (0.10+)
    mxfp4_triton_on_hopper: bool = True  # MXFP4 MoE on Hopper runs Triton kernels, not Marlin (0.10.2+)
    online_fp8_flag: str = "fp8_per_tensor"   # --quantization for load-time fp8 ("fp8" before 0.32)
    bnb_in_tree: bool = False            # bitsandbytes checkpoints servable without a plugin (< 0.28)
    json_flags_take_key_value: bool = False   # JSON flags also take `KEY=VALUE,...` (0.8-0.9)
    lora_ranks: tuple[int, ...] = (1, 8, 16, 32, 64, 128, 256, 320, 512)   # LoRAConfig max_lora_rank values
    mm_limit_format: str = "json"        # --limit-mm-per-prompt: kv (0.6-0.7), json_or_kv (0.8-0.9), json
    text_only_skips_tower: bool = True   # limit 0 for every modality: the tower is not built (0.33)
    spec_decode_query_len: bool = True   # capture sizes scale with 1 + num_speculative_tokens (0.33)
    # V0 with an MLA model (planner/memory/estimator.py _resolve_batch): chunked prefill and prefix caching
    # forced off after max_num_batched_tokens was sized (0.7.1-0.7.3), or chunked prefill off by default (0.8+).
    mla_forces_no_chunked_prefill: bool = False
    mla_chunked_default_off: bool = False
    # V0's long-context (> 32K) chunked-prefill default is CUDA-only: `not current_platform.is_rocm()` in
    # EngineArgs.create_engine_config (0.6.x-0.7.x), `current_platform.is_cuda()` in _set_default_args_v0 (0.8+).
    long_context_chunked_on_rocm: bool = False
    # enable_prefix_caching where the command does not set it: on in V1 (CacheConfig default), off in V0
    # (0.6-0.10 EngineArgs default False). The one place the effective value's default is decided; the
    # estimator resolves the flag with it and the perf model reads the resolved value.
    prefix_caching_default: bool = True


def engine_from_env(env: Mapping[str, str] | None, engines: tuple[str, ...]) -> str | None:
    """The engine VLLM_USE_V1 asks for, where the release has a choice (0.8-0.10): "0" selects V0,
    "1" V1 (vllm/envs.py VLLM_USE_V1 and EngineArgs._is_v1_supported_oracle in 0.8-0.10)."""
    if env is None or len(engines) < 2:
        return None
    value = env.get("VLLM_USE_V1")
    if value == "0":
        return "v0"
    if value == "1":
        return "v1"
    return None


def rules_for(version: str, engine: str | None = None, *, env: Mapping[str, str] | None = None) -> VersionRules:
    """The rules of release `version`; the engine is `engine` when given (--vllm-engine), else what the
    environment of the vLLM process selects (VLLM_USE_V1), else the release's default."""
    key = parse_version(version)
    if key < parse_version(OLDEST):
        raise PlannerError(f"--vllm-version {version}: releases before 0.6 are not modelled",
                           hint=f"the oldest modelled release is {OLDEST}")
    if key[:2] > parse_version(LATEST)[:2]:
        raise PlannerError(f"--vllm-version {version}: newer than the newest modelled release {LATEST}")
    facts = _row_for(key, _FACTS)
    if engine is None:
        engine = engine_from_env(env, facts.engines) or facts.default_engine
    elif engine not in ("v0", "v1"):
        raise PlannerError(f"--vllm-engine must be v0 or v1, got {engine!r}")
    elif engine not in facts.engines and engine == "v0":
        raise PlannerError(f"--vllm-engine v0: vLLM {version} has no V0 engine (removed in 0.11)")
    elif engine not in facts.engines:
        raise PlannerError(f"--vllm-engine v1: vLLM {version} predates the V1 default; use 0.8 or newer")
    v1 = engine == "v1"
    overhead = _row_for(key, _V1_OVERHEAD if v1 else _V0_OVERHEAD)
    return VersionRules(
        version=version,
        key=key,
        engine=engine,
        default_util=facts.default_util,
        ceil_requested=facts.ceil_requested,
        cudagraph_estimate=facts.v1_cudagraph_estimate and v1,
        group_aware_tokens=facts.group_aware_tokens,
        legacy_swa=facts.legacy_swa,
        null_block_in_check=facts.null_block_in_check,
        tier_160=facts.tier_160,
        auto_max_model_len=facts.auto_max_model_len,
        async_scheduling=facts.v1_async_scheduling and v1,
        model_runner_v2=facts.model_runner_v2,
        overhead=overhead,
        v0_chunked_mnbt=facts.v0_chunked_mnbt,
        mla_sm100_block_32=facts.mla_sm100_block_32,
        mxfp4_triton_on_hopper=facts.mxfp4_triton_on_hopper,
        online_fp8_flag=facts.online_fp8_flag,
        bnb_in_tree=facts.bnb_in_tree,
        json_flags_take_key_value=facts.json_flags_take_key_value,
        lora_ranks=facts.lora_ranks,
        mm_limit_format=facts.mm_limit_format,
        text_only_skips_tower=facts.text_only_skips_tower,
        spec_decode_query_len=facts.spec_decode_query_len,
        mla_forces_no_chunked_prefill=facts.v0_mla_forces_no_chunked and not v1,
        mla_chunked_default_off=facts.v0_mla_chunked_default_off and not v1,
        long_context_chunked_on_rocm=facts.v0_long_context_chunked_on_rocm,
        prefix_caching_default=v1,
    )


def max_concurrent_batches(rules: VersionRules, *, pipeline_parallel_size: int, async_scheduling: bool) -> int:
    """VllmConfig.max_concurrent_batches (vllm/config/vllm.py, 0.33): async scheduling overlaps two
    batches (PP + 1 under Model Runner V2; the V1 runner only at PP=1), otherwise one per PP stage."""
    pp = pipeline_parallel_size
    if async_scheduling:
        if rules.model_runner_v2:
            return pp + 1
        if pp <= 1:
            return 2
    return pp


def max_in_flight_tokens(rules: VersionRules, *, max_num_batched_tokens: int, pipeline_parallel_size: int,
                         async_scheduling: bool) -> int:
    """VllmConfig.max_in_flight_tokens: every concurrent batch may hold a full max_num_batched_tokens
    (the tokens a sliding-window or chunked-local request keeps blocks for)."""
    return max_num_batched_tokens * max_concurrent_batches(rules, pipeline_parallel_size=pipeline_parallel_size,
                                                           async_scheduling=async_scheduling)


@dataclass(frozen=True)
class BatchDefaults:
    """vLLM's default batch limits for a release and device."""

    max_num_seqs: int
    max_num_batched_tokens: int


def batch_defaults(rules: VersionRules, *, total_gib: float, device_name: str, cc: tuple[int, int]) -> BatchDefaults:
    """`vllm serve` (OPENAI_API_SERVER) defaults from get_batch_defaults on CUDA, by device memory tier
    (the CPU platform has its own: planner/memory/platforms.py CpuPlatform.batch_defaults)."""
    if rules.engine == "v0":
        # V0: max_num_seqs 256; max_num_batched_tokens follows max_model_len (set by the caller).
        return BatchDefaults(256, 0)
    name = device_name.lower()
    if rules.tier_160 and total_gib >= 160:
        return BatchDefaults(1024, 16384)
    if total_gib >= 70 and "a100" not in name and cc != (12, 1):
        return BatchDefaults(1024, 8192)
    return BatchDefaults(256, 2048)


def cudagraph_max_capture(rules: VersionRules, *, max_num_seqs: int, mnbt: int, cc: tuple[int, int],
                          user_max: int | None, performance_mode: str, num_speculative_tokens: int = 0) -> int:
    """Largest CUDA-graph capture size (VllmConfig._set_cudagraph_sizes): 0.33 scales max_num_seqs by
    uniform_decode_query_len = 1 + num_speculative_tokens (VersionRules.spec_decode_query_len)."""
    if user_max is not None:
        return min(user_max, mnbt)
    default_max = 1024 if cc[0] == 10 else 512
    query_len = 1 + num_speculative_tokens if rules.spec_decode_query_len else 1
    cap = min(max_num_seqs * query_len * 2, default_max, mnbt)
    if performance_mode == "interactivity":
        cap = min(cap, 32)
    return cap


@dataclass(frozen=True)
class MetricNames:
    """The Prometheus series vLLM's /metrics exposes, as a scrape sees them (counters carry `_total`,
    histograms `_bucket`/`_sum`/`_count`). Every series has the label `model_name` (the first served model
    name, else the model argument) and, on V1 from 0.9 (not 0.8), `engine` (the data-parallel rank)."""

    ttft: str               # histogram: time to first token, seconds
    itl: str                # histogram: gap between successive output tokens, seconds
    kv_usage: str           # gauge: fraction of KV-cache blocks in use (1 = full)
    waiting: str            # gauge: requests in the scheduler's waiting queue
    running: str            # gauge: requests in the running batch
    preemptions: str        # counter
    generation_tokens: str  # counter
    prompt_tokens: str      # counter
    request_success: str    # counter, label finished_reason


_METRICS_V0 = MetricNames(
    ttft="vllm:time_to_first_token_seconds", itl="vllm:time_per_output_token_seconds",
    kv_usage="vllm:gpu_cache_usage_perc", waiting="vllm:num_requests_waiting", running="vllm:num_requests_running",
    preemptions="vllm:num_preemptions_total", generation_tokens="vllm:generation_tokens_total",
    prompt_tokens="vllm:prompt_tokens_total", request_success="vllm:request_success_total")

# (first release, names) per engine, read from the wheels' vllm/engine/metrics.py (V0) and
# vllm/v1/metrics/loggers.py (V1) of 0.6.0, 0.8.0, 0.9.0, 0.9.1, 0.9.2, 0.10.0, 0.10.1.1, 0.10.2, 0.11.0, 0.12.0,
# 0.19.0 and 0.33.0 (2026-12-02). A renamed series is exposed under both names for a release or two (the
# old one then only with --show-hidden-metrics-for-version); the row switches at the first release
# exposing the new name by default. V1 counters are declared without `_total` (vllm:num_preemptions) in
# 0.10.1.1 and later, with it in 0.8; prometheus_client exposes both spellings as `..._total`.
_METRIC_ROWS: dict[str, tuple[tuple[str, MetricNames], ...]] = {
    "v0": (
        ("0.6.0", _METRICS_V0),
        # V0 gained the new inter-token histogram beside the old one in its last release (0.10.2).
        ("0.10.2", replace(_METRICS_V0, itl="vllm:inter_token_latency_seconds")),
    ),
    "v1": (
        ("0.8.0", _METRICS_V0),
        # vllm:kv_cache_usage_perc first appears in 0.9.2 (absent in 0.9.0 and 0.9.1).
        ("0.9.2", replace(_METRICS_V0, kv_usage="vllm:kv_cache_usage_perc")),
        # vllm:inter_token_latency_seconds from 0.10.2; time_per_output_token_seconds is hidden from 0.12.
        ("0.10.2", replace(_METRICS_V0, kv_usage="vllm:kv_cache_usage_perc",
                           itl="vllm:inter_token_latency_seconds")),
    ),
}


def metric_names(rules: VersionRules) -> MetricNames:
    """The series names of `rules`' release and engine (for alert rules, dashboards and the HPA)."""
    return _row_for(rules.key, _METRIC_ROWS[rules.engine])
