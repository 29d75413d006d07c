"""The subset of vLLM's EngineArgs that decides memory and capacity, under vLLM's own names.

`None` means "not given": the chosen vLLM version's default applies (see `vllm_versions`), exactly as
vLLM resolves it. Values are validated the way vLLM's argument parser validates them, so a value vLLM
would reject raises `PlannerError` (exit 2) here too.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields, replace

from planner.errors import PlannerError
from planner.release.vllm_flags import flag_info

# Every `--kv-cache-dtype` some release accepts: vLLM 0.33.0's CacheDType (vllm/config/cache.py) and the
# choices older releases register (planner/release/vllm_flags.json). Which ones a *given* release accepts is
# checked by its own flag table when the command is parsed (planner.release.serve_args), not here.
KV_CACHE_DTYPES = (
    "auto", "float16", "bfloat16", "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_inc", "fp8_ds_mla", "nvfp4_ds_mla",
    "turboquant_k8v4", "turboquant_4bit_nc", "turboquant_k3v4_nc", "turboquant_3bit_nc", "octave_k3v4",
    "octave_k3v3", "octave_k3v3_compact", "ultraquant_4bit", "int4_per_token_head", "int8_per_token_head",
    "fp8_per_token_head", "nvfp4", "nvfp4_4over6",
)
# The ones whose KV page layout planner.memory.kv computes; the others are sized at the model's dtype (an upper
# bound) with a warning.
MODELLED_KV_CACHE_DTYPES = (
    "auto", "float16", "bfloat16", "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_inc", "fp8_ds_mla",
    "int4_per_token_head", "int8_per_token_head", "fp8_per_token_head", "nvfp4",
)
DTYPES = ("auto", "bfloat16", "float16", "half", "float", "float32")
LORA_DTYPES = ("auto", "bfloat16", "float16")     # vllm/config/lora.py LoRADType
PERFORMANCE_MODES = ("balanced", "interactivity", "throughput")


def parse_human_int(text: str | int, *, flag: str) -> int:
    """vLLM's `human_readable_int`: `32k` = 32,000 (decimal), `32K` = 32,768 (binary), `96M` = 96 MiB.

    Follows `vllm/utils/argparse_utils.py` / `arg_utils.human_readable_int`: lower-case suffixes are
    powers of 1000, upper-case powers of 1024; a decimal mantissa is allowed only with a decimal suffix.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    s = str(text).strip()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmMgGtT]?)", s)
    if not m:
        raise PlannerError(f"{flag}: invalid value {s!r}: expected an integer such as 8192, 32k or 32K")
    number, suffix = m.groups()
    if len(number) > 24:
        raise PlannerError(f"{flag}: value {s[:30]}... is too large")
    if not suffix:
        if "." in number:
            raise PlannerError(f"{flag}: invalid value {s!r}: expected an integer")
        return int(number)
    if suffix.islower():
        scale = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}[suffix]
        return int(float(number) * scale)
    if "." in number:
        raise PlannerError(
            f"{flag}: invalid value {s!r}: binary suffixes (K, M, G, T) take whole numbers only"
        )
    scale = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}[suffix]
    return int(number) * scale


def nullable_kvs(raw: str, written: str) -> dict[str, int]:
    """vLLM's nullable_kvs (vllm/engine/arg_utils.py, 0.6-0.9): `image=5,video=1` -> {"image": 5, "video": 1}."""
    out: dict[str, int] = {}
    for item in raw.split(","):
        parts = [part.lower().strip() for part in item.split("=")]
        if len(parts) != 2:
            raise PlannerError(f"{written}: invalid value {raw!r}: each item should be in the form KEY=VALUE",
                               code="bad_flag_value")
        key, value = parts
        try:
            number = int(value)
        except ValueError:
            raise PlannerError(f"{written}: failed to parse value of item {key}={value}",
                               code="bad_flag_value") from None
        if key in out and out[key] != number:
            raise PlannerError(f"{written}: conflicting values specified for key: {key}", code="bad_flag_value")
        out[key] = number
    return out


@dataclass(frozen=True)
class EngineArgs:
    """Memory-relevant `vllm serve` arguments. Field names are vLLM's own (`EngineArgs` in arg_utils.py)."""

    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    data_parallel_size: int = 1
    # --data-parallel-size-local: DP engines on this node (None: all of them, vLLM's default). vLLM's
    # Field(ge=0); 0 is its own sentinel for "DP given externally".
    data_parallel_size_local: int | None = None
    gpu_memory_utilization: float | None = None
    # -1 is vLLM's "auto": fit the largest length the KV cache holds (v0.14+).
    max_model_len: int | None = None
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    kv_cache_dtype: str = "auto"
    dtype: str = "auto"
    enforce_eager: bool = False
    block_size: int | None = None
    kv_cache_memory_bytes: int | None = None
    quantization: str | None = None
    enable_prefix_caching: bool | None = None
    enable_chunked_prefill: bool | None = None
    disable_hybrid_kv_cache_manager: bool = False
    disable_sliding_window: bool = False
    enable_expert_parallel: bool = False
    performance_mode: str = "balanced"
    num_gpu_blocks_override: int | None = None
    async_scheduling: bool | None = None
    max_cudagraph_capture_size: int | None = None
    cpu_offload_gb: float = 0.0
    # LoRA (vllm/config/lora.py LoRAConfig; planner/memory/lora.py sizes the adapter slots).
    enable_lora: bool = False
    max_loras: int = 1
    max_lora_rank: int = 16
    max_cpu_loras: int | None = None
    lora_dtype: str = "auto"
    fully_sharded_loras: bool = False
    # --speculative-config as given (JSON text; planner/memory/spec_decode.py reads it).
    speculative_config: str | None = None
    # Multimodal (vllm/config/multimodal.py; planner/memory/multimodal.py): --limit-mm-per-prompt as given (JSON, or
    # the key=value form older releases took), --mm-encoder-tp-mode, --skip-mm-profiling.
    limit_mm_per_prompt: str | None = None
    mm_encoder_tp_mode: str | None = None
    skip_mm_profiling: bool = False
    # Flags that do not change memory but must survive a round trip (served name, host, port, ...).
    passthrough: tuple[tuple[str, str | None], ...] = field(default=())

    def __post_init__(self) -> None:
        for name in ("tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise PlannerError(f"--{name.replace('_', '-')} must be a positive integer, got {v!r}")
        dpl = self.data_parallel_size_local
        if dpl is not None and (not isinstance(dpl, int) or isinstance(dpl, bool) or dpl < 0):
            raise PlannerError(f"--data-parallel-size-local must be a non-negative integer, got {dpl!r}")
        u = self.gpu_memory_utilization
        if u is not None and not (0 < u <= 1):
            # vLLM: CacheConfig.gpu_memory_utilization is Field(gt=0, le=1).
            raise PlannerError(f"--gpu-memory-utilization must be in (0, 1], got {u}")
        if self.max_model_len is not None and self.max_model_len != -1 and self.max_model_len < 1:
            raise PlannerError(f"--max-model-len must be positive (or -1/auto), got {self.max_model_len}")
        for name in ("max_num_seqs", "max_num_batched_tokens", "block_size", "num_gpu_blocks_override",
                     "max_cudagraph_capture_size"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise PlannerError(f"--{name.replace('_', '-')} must be positive, got {v}")
        if self.kv_cache_memory_bytes is not None and self.kv_cache_memory_bytes < 0:
            raise PlannerError(f"--kv-cache-memory-bytes must be >= 0, got {self.kv_cache_memory_bytes}")
        if self.kv_cache_dtype not in KV_CACHE_DTYPES:
            raise PlannerError(
                f"--kv-cache-dtype: invalid choice {self.kv_cache_dtype!r}",
                hint="choose from " + ", ".join(KV_CACHE_DTYPES),
            )
        if self.dtype not in DTYPES:
            raise PlannerError(f"--dtype: invalid choice {self.dtype!r}", hint="choose from " + ", ".join(DTYPES))
        if self.performance_mode not in PERFORMANCE_MODES:
            raise PlannerError(
                f"--performance-mode: invalid choice {self.performance_mode!r}",
                hint="choose from " + ", ".join(PERFORMANCE_MODES),
            )
        if not math.isfinite(self.cpu_offload_gb) or self.cpu_offload_gb < 0:
            raise PlannerError(f"--cpu-offload-gb must be >= 0, got {self.cpu_offload_gb}")
        # LoRAConfig: max_loras Field(ge=1); lora_dtype LoRADType; the rank set is per release
        # (planner.memory.lora.check_lora_args, called with the release).
        if self.max_loras < 1:
            raise PlannerError(f"--max-loras must be >= 1, got {self.max_loras}", code="bad_flag_value")
        if self.max_cpu_loras is not None and self.max_cpu_loras < 1:
            raise PlannerError(f"--max-cpu-loras must be >= 1, got {self.max_cpu_loras}", code="bad_flag_value")
        if self.lora_dtype not in LORA_DTYPES:
            raise PlannerError(f"--lora-dtype: invalid choice {self.lora_dtype!r}", code="bad_flag_value",
                               hint="choose from " + ", ".join(LORA_DTYPES))
        if self.mm_encoder_tp_mode not in (None, "weights", "data"):
            raise PlannerError(f"--mm-encoder-tp-mode: invalid choice {self.mm_encoder_tp_mode!r}",
                               code="bad_flag_value", hint="choose from weights, data")

    @property
    def world_size(self) -> int:
        return self.tensor_parallel_size * self.pipeline_parallel_size

    @property
    def wants_speculative(self) -> bool:
        """--speculative-config, or the 0.6-0.7 --speculative-model (planner/memory/spec_decode.py reads them)."""
        return self.speculative_config is not None or any(k == "--speculative-model" for k, _ in self.passthrough)

    def with_(self, **changes: object) -> EngineArgs:
        return replace(self, **changes)  # type: ignore[arg-type]

    def given(self) -> dict[str, object]:
        """The fields that differ from the dataclass defaults (i.e. what a user actually set)."""
        out: dict[str, object] = {}
        for f in fields(self):
            if f.name == "passthrough":
                continue
            v = getattr(self, f.name)
            if v != f.default:
                out[f.name] = v
        return out


def check_release(args: EngineArgs, version: str) -> None:
    """Refuse what release `version` itself refuses: a --kv-cache-dtype outside that release's choices.

    KV_CACHE_DTYPES are the dtypes the planner can size (0.33's CacheDType); which of them a release
    accepts comes from the flag table (planner.release.vllm_flags, choices per release snapshot).
    """
    info = flag_info("--kv-cache-dtype", version)
    choices = info.choices if info is not None else None
    if choices is not None and args.kv_cache_dtype not in choices:
        raise PlannerError(f"--kv-cache-dtype: invalid choice {args.kv_cache_dtype!r} for vLLM {version}",
                           code="bad_flag_value", hint="choose from " + ", ".join(choices))
