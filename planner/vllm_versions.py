"""Per-release vLLM behaviour: engine, defaults, batch tiers, and the arithmetic of what it logs.

One home for release facts (the flag table lives in planner/vllm_flags.py). Sources: the wheels of
vLLM 0.10.1.1, 0.11.0, 0.19.0, 0.32.0 and 0.33.0 (vllm/engine/arg_utils.py get_batch_defaults,
vllm/config/cache.py, vllm/v1/worker/gpu_worker.py, vllm/v1/core/kv_cache_utils.py) and
shared/reference/vllm-memory.md §4 and §8.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from planner.errors import PlannerError
from planner.overhead import OverheadRegime

LATEST = "0.33.0"
OLDEST = "0.6.0"


def parse_version(text: str) -> tuple[int, ...]:
    """'0.10.1.1' -> (0, 10, 1, 1); accepts 'v0.33.0', '0.32.0+cpu', '0.15.2rc1.dev93+g11a'."""
    m = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:\.(\d+))?", str(text).strip())
    if not m:
        raise PlannerError(f"--vllm-version: cannot read {text!r}", hint="use a release such as 0.33.0")
    return tuple(int(g) for g in m.groups() if g is not None)


@dataclass(frozen=True)
class VersionRules:
    version: str
    key: tuple[int, ...]
    engine: str                    # "v0" | "v1"
    default_util: float            # CacheConfig.gpu_memory_utilization default
    ceil_requested: bool           # requested = ceil(total x util) (0.19+) or a float product
    cudagraph_estimate: bool       # VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS default on (0.21+)
    group_aware_tokens: bool       # "GPU KV cache size" = int(concurrency x max_model_len) (0.21+)
    legacy_swa: bool               # SWA request need uses mnbt, not max_in_flight_tokens (< 0.21)
    null_block_in_check: bool      # startup check subtracts the null block (0.21+)
    tier_160: bool                 # >= 160 GiB batch tier (present in 0.32/0.33, absent in 0.19)
    auto_max_model_len: bool       # --max-model-len auto / -1 (0.14+)
    async_scheduling: bool         # on by default (0.14+): in-flight tokens = 2 x mnbt at PP=1
    model_runner_v2: bool          # default runner from 0.25
    overhead: OverheadRegime


def rules_for(version: str, engine: str | None = None) -> VersionRules:
    key = parse_version(version)
    if key < (0, 6):
        raise PlannerError(f"--vllm-version {version}: releases before 0.6 are not modelled",
                           hint="the oldest modelled release is 0.6.0")
    if key > parse_version(LATEST) and key[:2] > (0, 33):
        raise PlannerError(f"--vllm-version {version}: newer than the newest modelled release {LATEST}")
    # 0.8-0.10 ran V1 by default and V0 on request (VLLM_USE_V1=0); V0 was removed around 0.11.
    if engine is None:
        engine = "v0" if key < (0, 8) else "v1"
    elif engine not in ("v0", "v1"):
        raise PlannerError(f"--vllm-engine must be v0 or v1, got {engine!r}")
    elif engine == "v0" and key >= (0, 11):
        raise PlannerError(f"--vllm-engine v0: vLLM {version} has no V0 engine (removed in 0.11)")
    elif engine == "v1" and key < (0, 8):
        raise PlannerError(f"--vllm-engine v1: vLLM {version} predates the V1 default; use 0.8 or newer")
    new = key >= (0, 21)
    if engine == "v0":
        # V0 worker (determine_num_available_blocks): non-torch here includes the CUDA context growth
        # measured after the baseline; c033 (0.6.5, TP1) logged 1.79 GiB, c057/c040 (0.7-0.8) 0.03-0.09.
        overhead = OverheadRegime(sampler_bytes_per_logit=38.5,
                                  non_torch_base_gib=1.79 if key < (0, 7) else 0.06,
                                  non_torch_multi_gpu_gib=1.79 if key < (0, 7) else 1.0)
    elif (0, 10) <= key < (0, 10, 2):
        # V1 0.10.0-0.10.1: FlashInfer (a dependency of those CUDA wheels) does top-k/top-p in place, so
        # the sampler peak is little more than the fp32 logits and probabilities: c001/c002 (0.10.1.1,
        # Qwen2-7B, 256 seqs) leave 0.37-0.40 GiB of activation -> ~10 B per logit, where 0.9.2 (c028)
        # and 0.10.2 (c054: 1.40 GiB at 256 x 151936) show the native sort. Non-torch: 0.13 at TP1,
        # +0.14 at TP2 (c003/c004).
        overhead = OverheadRegime(sampler_bytes_per_logit=10.0, non_torch_base_gib=0.13,
                                  non_torch_multi_gpu_gib=0.14)
    elif key < (0, 19):
        # V1 0.8-0.9 and 0.10.2-0.18 with the PyTorch-native top-k/top-p sampler. Non-torch at TP1
        # 0.13-0.14 (c008, c012, c014), TP2 0.54 (c015).
        overhead = OverheadRegime(sampler_bytes_per_logit=38.5, non_torch_base_gib=0.13,
                                  non_torch_multi_gpu_gib=0.4)
    elif key < (0, 25):
        # 0.19-0.24: Triton top-k/top-p. Non-torch: c083 0.24 (TP1), c084 2.06 (TP2), c085 2.13 (TP4):
        # the custom all-reduce buffers were counted after the snapshot.
        overhead = OverheadRegime(sampler_bytes_per_logit=15.2, non_torch_base_gib=0.24,
                                  non_torch_multi_gpu_gib=1.85)
    else:
        # Model Runner V2: logits stay in the model dtype through the default pass; with the CUDA-graph
        # estimate below, the 0.33 Llama-3.1-8B/H100 log (vllm-memory.md §1.3: 1.44 GiB activation +
        # estimate at 1024 x 128256 logits) leaves ~2.4 B per logit. NCCL and custom all-reduce are
        # created before the snapshot (§1.2); "consumed" beyond the weights was 0.26 GiB there.
        overhead = OverheadRegime(sampler_bytes_per_logit=2.4, non_torch_base_gib=0.26,
                                  non_torch_multi_gpu_gib=0.1)
    return VersionRules(
        version=version,
        key=key,
        engine=engine,
        default_util=0.92 if new else 0.9,
        ceil_requested=key >= (0, 19),
        cudagraph_estimate=new and engine == "v1",
        group_aware_tokens=new,
        legacy_swa=not new,
        null_block_in_check=new,
        tier_160=new,
        auto_max_model_len=key >= (0, 14),
        async_scheduling=key >= (0, 14) and engine == "v1",
        model_runner_v2=key >= (0, 25),
        overhead=overhead,
    )


@dataclass(frozen=True)
class BatchDefaults:
    max_num_seqs: int
    max_num_batched_tokens: int


def batch_defaults(rules: VersionRules, *, total_gib: float, device_name: str, cc: tuple[int, int],
                   device: str, world_size: int = 1) -> BatchDefaults:
    """`vllm serve` (OPENAI_API_SERVER) defaults from get_batch_defaults, by device memory tier."""
    if device == "cpu":
        return BatchDefaults(128 * world_size, 2048 * world_size)
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
                          user_max: int | None, performance_mode: str) -> int:
    """Largest CUDA-graph capture size (VllmConfig._set_cudagraph_sizes)."""
    if user_max is not None:
        return min(user_max, mnbt)
    default_max = 1024 if cc[0] == 10 else 512
    cap = min(max_num_seqs * 2, default_max, mnbt)
    if performance_mode == "interactivity":
        cap = min(cap, 32)
    return cap
