"""estimate(): what vLLM will do with this model, device and flags, in the figures vLLM logs.

Pure arithmetic over ModelSpec + Gpu + EngineArgs + the release's rules. Mirrors the V1 engine's
startup (vllm-memory.md §1) in five phases, each a function below:
1. resolve the runtime (_resolve_runtime): the platform (planner/memory/platforms.py: CUDA or CPU, as
   vllm/platforms/), dtype, max_model_len, batch limits, block size, the memory request, and the
   configuration checks vLLM makes while building its config (planner/memory/startup_checks.py);
2. the budget of each pipeline stage (_stage_budget): requested = total x util; available KV =
   requested - weights - non-torch - activation peak - CUDA-graph estimate; blocks = available // bytes
   per block (TP ranks are symmetric);
3. the KV capacity (_kv_capacity): the minimum over stages, the block override, max_model_len auto-fit;
4. the startup checks after the profile (_startup_checks): one request must fit, pinned KV sizes, weights;
5. the logged figures (_logged_figures): "GPU KV cache size" tokens and the maximum concurrency, and the
   warnings on what they assume (_advisories).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from gpu_catalog import Gpu
from planner import memory
from planner.errors import SCHEMA_VERSION, PlannerError
from planner.memory import kv as kvm
from planner.memory import multimodal as mm
from planner.memory import startup_checks as checks
from planner.memory.findings import Finding
from planner.memory.overhead import (
    activation_peak_bytes,
    cudagraph_estimate_bytes,
    forward_peak_bytes,
    non_torch_bytes,
)
from planner.memory.parallel import Layout, layout_of, moe_profile_tokens, startup_errors
from planner.memory.platforms import Platform, platform_for
from planner.memory.quant import QuantScheme, resolve_scheme
from planner.memory.spec import ModelSpec, model_spec_from_config
from planner.memory.startup_checks import CONTEXT_GIB as CONTEXT_GIB  # re-exported: plan sizes the context with it
from planner.memory.startup_checks import NCCL_GIB as NCCL_GIB
from planner.memory.vision import VisionTower, vision_tower
from planner.memory.weights import (
    allocated_bytes,
    checkpoint_rank_bytes,
    pp_partition,
    rank_tensor_sizes,
    rank_weights,
    stage_layers,
)
from planner.release.engine_args import MODELLED_KV_CACHE_DTYPES, EngineArgs
from planner.release.vllm_flags import flag_exists
from planner.release.vllm_versions import (
    LATEST,
    BatchDefaults,
    VersionRules,
    cudagraph_max_capture,
    max_in_flight_tokens,
    rules_for,
)

if TYPE_CHECKING:
    from planner.memory.cpu_backend import CpuKvBudget
    from planner.memory.lora import LoraSettings
    from planner.memory.spec_decode import Drafter

GiB = 2**30


@dataclass(frozen=True)
class PerGpu:
    """The memory split of one GPU, in GiB."""

    total_gib: float
    requested_gib: float
    weights_gib: float
    activation_gib: float
    non_torch_gib: float
    cudagraph_gib: float
    kv_cache_gib: float          # "Available KV cache memory" (negative when it would fail)


@dataclass(frozen=True)
class KvCache:
    """The KV cache the deployment gets: tokens, blocks and what a token costs."""

    tokens: int
    num_blocks: int
    block_size: int
    bytes_per_token: int
    max_concurrency: float
    bytes_per_block: int = 0
    blocks_per_request: int = 0
    groups: int = 1
    padding_layers: int = 0


@dataclass(frozen=True)
class Estimate:
    """The memory model's answer for a model on a GPU with engine arguments."""

    fits: bool
    model: dict[str, Any]
    gpu: Gpu
    rules: VersionRules
    args: EngineArgs
    resolved: EngineArgs
    per_gpu: PerGpu
    kv_cache: KvCache
    quant: QuantScheme
    errors: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()
    weights_source: str = "config"
    tightest_stage: int = 0
    stages: tuple[PerGpu, ...] = field(default=())
    # The architecture the figures were computed for (planner.performance reads its shapes); not in to_json.
    spec: ModelSpec | None = field(default=None, compare=False, repr=False)
    # Data / expert parallelism (planner.memory.parallel): the figures above are one rank's, of one DP engine.
    layout: Layout | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        g = self.gpu
        r = self.resolved
        doc = {
            "schema_version": SCHEMA_VERSION,
            "fits": self.fits,
            "model": self.model,
            "gpu": {"id": g.id, "name": g.name, "total_gib": round(self.per_gpu.total_gib, 4),
                    "compute_capability": g.compute_capability, "count": r.world_size * r.data_parallel_size},
            "vllm": {"version": self.rules.version, "engine": self.rules.engine,
                     "args": _args_json(r), "given": sorted(self.args.given())},
            "quantization": {"scheme": self.quant.name, "method": self.quant.vllm_method or None,
                             "weights_source": self.weights_source},
            "per_gpu": {k: round(v, 4) for k, v in self.per_gpu.__dict__.items()},
            "kv_cache": {
                "tokens": self.kv_cache.tokens,
                "num_blocks": self.kv_cache.num_blocks,
                "block_size": self.kv_cache.block_size,
                "bytes_per_token": self.kv_cache.bytes_per_token,
                "max_concurrency": round(self.kv_cache.max_concurrency, 2),
                "bytes_per_block": self.kv_cache.bytes_per_block,
                "blocks_per_request": self.kv_cache.blocks_per_request,
                "groups": self.kv_cache.groups,
                "padding_layers": self.kv_cache.padding_layers,
            },
            "pipeline_stages": [{k: round(v, 4) for k, v in s.__dict__.items()} for s in self.stages],
            "tightest_stage": self.tightest_stage,
            "errors": [e.to_json() for e in self.errors],
            "warnings": [w.to_json() for w in self.warnings],
        }
        if self.layout is not None and self.spec is not None:
            doc["parallel"] = self.parallel_json()
        return doc

    def parallel_json(self) -> dict[str, Any]:
        """The layout and what every DP engine logs (each logs its own KV cache size and concurrency)."""
        assert self.layout is not None and self.spec is not None
        out = self.layout.to_json(self.spec, self.gpu.gpus_per_node)
        out["kv_tokens_per_engine"] = self.kv_cache.tokens
        out["kv_tokens_total"] = self.kv_cache.tokens * self.layout.dp
        out["max_concurrency_total"] = round(self.kv_cache.max_concurrency * self.layout.dp, 2)
        return out


def _args_json(a: EngineArgs) -> dict[str, Any]:
    out = {k: v for k, v in a.__dict__.items() if k != "passthrough"}
    return out


def _gib(b: float) -> float:
    return b / GiB


_fmt_gib = checks.fmt_gib


# ModelSpec per config object: a plan search estimates the same model hundreds of times. Keyed by id() and
# checked by identity, so a different dict that reuses an id is never mistaken for the cached one.
_SPEC_CACHE: dict[int, tuple[dict[str, Any], str, ModelSpec]] = {}


def _cached_spec(cfg: dict[str, Any], name: str) -> ModelSpec:
    hit = _SPEC_CACHE.get(id(cfg))
    if hit is not None and hit[0] is cfg and hit[1] == name:
        return hit[2]
    spec = model_spec_from_config(cfg, name=name)
    if len(_SPEC_CACHE) > 256:
        _SPEC_CACHE.clear()
    _SPEC_CACHE[id(cfg)] = (cfg, name, spec)
    return spec


def _spec_of(model: Any) -> tuple[ModelSpec, dict[str, Any], Any]:
    if isinstance(model, ModelSpec):
        return model, {"name": model.name}, None
    cfg = getattr(model, "config", None)
    if isinstance(cfg, dict):
        spec = _cached_spec(cfg, getattr(model, "name", "model"))
        info = {"name": model.name, "source": model.source, "repo_id": model.repo_id,
                "catalog_alias": getattr(model, "catalog_alias", None)}
        return spec, info, model
    if isinstance(model, dict):
        spec = model_spec_from_config(model)
        return spec, {"name": spec.name}, None
    raise PlannerError(f"cannot estimate {type(model).__name__}: expected a model config")


def _act_dtype(spec: ModelSpec, args: EngineArgs, gpu: Gpu, warnings: list[Finding],
               errors: list[Finding]) -> tuple[str, int]:
    """The dtype vLLM runs in (ModelConfig._resolve_auto_dtype and the bf16 capability check)."""
    want = args.dtype
    no_bf16 = gpu.vendor == "nvidia" and gpu.cc < (8, 0)
    if want == "auto":
        dt = spec.dtype
        if dt == "float32":
            dt = "float16" if no_bf16 else "bfloat16"
        if dt == "bfloat16" and no_bf16:
            warnings.append(Finding("dtype_downcast", f"{gpu.name} (compute capability "
                                    f"{gpu.compute_capability}) has no bfloat16; vLLM runs in float16"))
            dt = "float16"
        return dt, 2
    dt = {"half": "float16", "float": "float32"}.get(want, want)
    if dt == "bfloat16" and no_bf16:
        errors.append(Finding("dtype_unsupported", "Bfloat16 is only supported on GPUs with compute capability "
                              f"of at least 8.0. Your {gpu.name} GPU has compute capability "
                              f"{gpu.compute_capability}. You can use float16 instead by explicitly setting the "
                              "`dtype` flag in CLI, for example: --dtype=half."))
    return dt, 4 if dt == "float32" else 2


def _resolve_max_model_len(spec: ModelSpec, args: EngineArgs, rules: VersionRules, env: dict[str, str],
                           errors: list[Finding], warnings: list[Finding]) -> tuple[int, int, bool]:
    """(derived maximum, max_model_len, auto) as ModelConfig.get_and_verify_max_len resolves them."""
    derived = spec.max_model_len
    if args.disable_sliding_window and spec.has_sliding:
        windows = [layer.window for layer in spec.layers if layer.window]
        if windows:
            derived = min(derived, min(windows))
    auto_len = args.max_model_len == -1
    if auto_len and not rules.auto_max_model_len:
        raise PlannerError(f"--max-model-len auto/-1 is not accepted by vLLM {rules.version} (added in 0.14)")
    mml = derived if args.max_model_len in (None, -1) else args.max_model_len
    if args.max_model_len not in (None, -1) and mml > derived:
        allowed = spec.model_max_length is not None and mml <= spec.model_max_length
        if not allowed and env.get("VLLM_ALLOW_LONG_MAX_MODEL_LEN") not in ("1", "true", "True"):
            errors.append(Finding("max_model_len_too_large", f"User-specified max_model_len ({mml}) is greater than "
                                  f"the derived max_model_len ({spec.max_len_key}={derived} or model_max_length="
                                  f"{spec.model_max_length} in model's config.json). To allow overriding this "
                                  "maximum, set the env var VLLM_ALLOW_LONG_MAX_MODEL_LEN=1."))
        elif not allowed:
            warnings.append(Finding("max_model_len_override", f"max_model_len {mml} exceeds the model's "
                                    f"{spec.max_len_key}={derived} (allowed by VLLM_ALLOW_LONG_MAX_MODEL_LEN)."))
    return derived, mml, auto_len


def _resolve_batch(args: EngineArgs, rules: VersionRules, bd: BatchDefaults, mml: int, *, mla: bool = False,
                   rocm: bool = False) -> tuple[bool, int, int]:
    """(chunked prefill as SchedulerConfig sees it, max_num_seqs, max_num_batched_tokens): the tier defaults
    and the adjustments vLLM applies after them, only to what the user did not set
    (EngineArgs._set_default_max_num_seqs_and_batched_tokens_args). The V0 MLA switch that comes after
    SchedulerConfig (0.7.1-0.7.3) is `_v0_mla_override`'s."""
    chunked = args.enable_chunked_prefill
    if chunked is None:
        if rules.engine == "v1":
            chunked = True
        elif mla and rules.mla_chunked_default_off:
            # V0 0.8+: "Chunked prefill not supported for Multimodal or MLA in V0".
            chunked = False
        else:
            # V0 enabled chunked prefill by default only for long-context models (> 32K), on CUDA only
            # from 0.6.5 (VersionRules.long_context_chunked_on_rocm).
            chunked = mml > 32768 and (not rocm or rules.long_context_chunked_on_rocm)
    mns = args.max_num_seqs if args.max_num_seqs is not None else bd.max_num_seqs
    if args.max_num_batched_tokens is not None:
        mnbt = args.max_num_batched_tokens
    else:
        if rules.engine == "v0":
            mnbt = rules.v0_chunked_mnbt if chunked else max(mml, 2048)
        else:
            mnbt = bd.max_num_batched_tokens
            if args.performance_mode == "throughput":
                mnbt *= 2
            if not chunked:
                mnbt = max(mml, mnbt)
        mnbt = min(mns * mml, mnbt)
    if args.max_num_seqs is None:
        if args.performance_mode == "throughput" and rules.engine == "v1":
            mns *= 2
        mns = min(mns, mnbt)
    return chunked, mns, mnbt


def _v0_mla_override(args: EngineArgs, rules: VersionRules, *, mla: bool, chunked: bool, mnbt: int, mml: int,
                     warnings: list[Finding]) -> tuple[bool, EngineArgs]:
    """V0 0.7.1-0.7.3 with MLA: VllmConfig.__post_init__ turns chunked prefill and prefix caching off after
    SchedulerConfig sized max_num_batched_tokens (and checked it against max_model_len) with the flag as it
    was, so whole prompts prefill in one step and prompts over min(max_model_len, max_num_batched_tokens)
    are ignored (Scheduler._get_prompt_limit). The one place the effective flags are decided: the returned
    args carry enable_prefix_caching=False."""
    if not (mla and rules.mla_forces_no_chunked_prefill):
        return chunked, args
    limit = min(mml, mnbt)
    note = (f"; prompts over {limit} tokens (min(max_model_len, max_num_batched_tokens)) are ignored"
            if limit < mml else "")
    warnings.append(Finding("mla_no_chunked_prefill", f"vLLM {rules.version} (V0) turns chunked prefill and prefix "
                            "caching off for MLA models: whole prompts prefill in one step of up to "
                            f"max_num_batched_tokens={mnbt} tokens, the batch the memory profile runs{note}"))
    return False, replace(args, enable_prefix_caching=False)


def _raw_config(model: Any, loaded: Any) -> dict[str, Any] | None:
    cfg = getattr(loaded, "config", None) if loaded is not None else model
    return cfg if isinstance(cfg, dict) else None


def _one_layer_tensors(spec: ModelSpec, scheme: QuantScheme, *, tp: int, ep: bool, act_bytes: int) -> tuple[int, ...]:
    """The tensors of one more decoder layer shaped like the model's last (an MTP module's block), as the
    weights arithmetic sizes them: the tensors a second such layer adds to a one-layer model."""
    layer = spec.layers[-1]
    one = replace(spec, num_layers=1, layers=(layer,), vision_params=0, tie_word_embeddings=True)
    two = replace(one, num_layers=2, layers=(layer, layer))
    a, _ = rank_tensor_sizes(one, scheme, tp=tp, pp=1, stage=0, ep=ep, act_bytes=act_bytes)
    b, _ = rank_tensor_sizes(two, scheme, tp=tp, pp=1, stage=0, ep=ep, act_bytes=act_bytes)
    return tuple(b[len(a) - 1:len(b) - 1])


def _resolve_drafter(spec: ModelSpec, args: EngineArgs, model_info: dict[str, Any], draft: Any, *, tp: int,
                     act_bytes: int, scheme: QuantScheme, ep: bool, errors: list[Finding],
                     warnings: list[Finding]) -> Drafter | None:
    """--speculative-config -> the drafter on one rank (planner/memory/spec_decode.py); `draft` is the draft
    model's or EAGLE head's config when the caller could load it."""
    if not args.wants_speculative:
        return None                      # spec_decode is imported only for a command that asks for it
    settings = memory.spec_decode.parse_speculative(args, spec, target_ref=model_info.get("repo_id"))
    if settings is None:
        return None
    draft_spec: ModelSpec | None = None
    draft_vocab: int | None = None
    draft_tensors: tuple[int, ...] | None = None
    if draft is not None and settings.method in ("draft_model", "eagle", "eagle3"):
        draft_spec, _, draft_loaded = _spec_of(draft)
        cfg = _raw_config(draft, draft_loaded)
        dv = cfg.get("draft_vocab_size") if cfg else None
        draft_vocab = dv if isinstance(dv, int) and not isinstance(dv, bool) and dv > 0 else None
    if settings.draft_tp is not None and settings.draft_tp not in (1, tp):
        errors.append(Finding("spec_decode_config", f"draft_tensor_parallel_size ({settings.draft_tp}) can only be "
                              f"1 or the target's tensor parallel size ({tp})."))
    if settings.method == "draft_model" and draft_spec is not None:
        draft_scheme, _ = resolve_scheme(draft_spec.quantization_config, settings.quantization)
        sizes, _ = rank_tensor_sizes(draft_spec, draft_scheme, tp=settings.draft_tp or tp, pp=1, stage=0, ep=False,
                                     act_bytes=act_bytes)
        draft_tensors = tuple(sizes)
    layer: tuple[int, ...] = ()
    if settings.method == "mtp" and spec.mtp_layers:
        layer = _one_layer_tensors(spec, scheme, tp=tp, ep=ep, act_bytes=act_bytes)
    result = memory.spec_decode.drafter(settings, spec, tp=tp, act_bytes=act_bytes, draft=draft_spec,
                                        draft_vocab_size=draft_vocab, draft_weight_tensors=draft_tensors,
                                        target_layer_tensors=layer)
    if result is not None and result.assumption:
        warnings.append(Finding("spec_decode_assumption", result.assumption))
    return result


def _resolve_multimodal(model: Any, loaded: Any, spec: ModelSpec, args: EngineArgs, rules: VersionRules, *,
                        tp: int, act_bytes: int, mnbt: int, mns: int, mml: int, chunked: bool,
                        warnings: list[Finding]) -> tuple[VisionTower | None, bool, bool, mm.EncoderProfile | None]:
    """(tower, built, data-parallel encoder, encoder profile) of a multimodal model (planner/memory/multimodal.py)."""
    limits = mm.parse_limits(args.limit_mm_per_prompt, rules)
    cfg = _raw_config(model, loaded)
    tower = vision_tower(cfg) if cfg is not None else None
    if tower is None:
        return None, True, False, None
    text_only = mm.text_only(tower, limits)
    built = not (text_only and rules.text_only_skips_tower)
    dp = args.mm_encoder_tp_mode == "data" and tp > 1
    if dp and not tower.supports_tp_data:
        warnings.append(Finding("mm_encoder_tp_mode", "--mm-encoder-tp-mode data: this model's encoder does not "
                                "support it; vLLM shards the encoder's weights instead"))
        dp = False
    encoder = None
    if not text_only and not args.skip_mm_profiling:
        if rules.engine != "v1":
            warnings.append(Finding("mm_profile_not_modelled", "V0's profile run with multimodal dummy data is "
                                    "not modelled: the activation figure leaves the vision encoder out"))
        else:
            encoder = mm.encoder_profile(tower, limit=mm.image_limit(limits, rules), max_num_batched_tokens=mnbt,
                                         max_num_seqs=mns, max_model_len=mml, chunked_prefill=chunked, tp=tp,
                                         data_parallel_encoder=dp, act_bytes=act_bytes,
                                         text_hidden=spec.hidden_size)
    if encoder is not None:
        note = f"; {tower.assumption}" if tower.assumption else ""
        warnings.append(Finding("mm_encoder_profile", f"the profile run encodes {encoder.items} dummy images of "
                                f"{tower.tokens_per_item} tokens (encoder budget {encoder.budget} tokens): "
                                f"{_fmt_gib(max(encoder.encoder_peak, encoder.cache_bytes))} GiB at its peak, "
                                f"modelled from the encoder's shapes, not fitted on a log{note}"))
    return tower, built, dp, encoder


# --- phase 1: the runtime vLLM settles on before it profiles ---------------------------------------------
@dataclass(frozen=True)
class Runtime:
    """What the engine config resolves to before the memory profile: the model, the platform, the release's
    rules, the batch limits and the KV layout inputs (EngineArgs.create_engine_config and the platform's
    check_and_update_config)."""

    spec: ModelSpec
    model_info: dict[str, Any]
    gpu: Gpu
    rules: VersionRules
    platform: Platform
    scheme: QuantScheme
    args: EngineArgs                 # after the platform's scheduler overrides
    env: dict[str, str]
    act_dtype: str
    act_bytes: int
    tp: int
    pp: int                          # the stages sized: at most the layer count
    ep: bool
    par: Layout                      # data / expert parallel layout (planner.memory.parallel)
    derived_max_model_len: int
    max_model_len: int
    auto_max_model_len: bool
    chunked_prefill: bool
    max_num_seqs: int
    max_num_batched_tokens: int
    total: float                     # bytes of the device
    util: float
    requested: float                 # util x total, as the release rounds it
    enforce_eager: bool
    max_capture: int                 # largest CUDA-graph capture size (0 when eager)
    block_size: int
    kv_budget: CpuKvBudget | None    # the platform's own KV budget (CPU); None: what the profile leaves
    hybrid: bool                     # the hybrid KV cache manager groups sliding/chunked layers apart
    tensors: list[tuple[str, str, tuple[int, ...]]] | None
    weights_source: str
    moe_marlin: bool
    partition: tuple[int, ...] | None
    # VllmConfig.max_in_flight_tokens: max_concurrent_batches x max_num_batched_tokens (vllm/config/vllm.py).
    max_in_flight_tokens: int
    lora: LoraSettings | None = None          # --enable-lora: the adapter slots (planner/memory/lora.py)
    drafter: Drafter | None = None            # --speculative-config (planner/memory/spec_decode.py)
    tower: VisionTower | None = None          # the vision encoder (planner/memory/vision.py)
    tower_built: bool = True                  # not in text-only mode on a release that skips it
    data_parallel_encoder: bool = False       # --mm-encoder-tp-mode data on a model that supports it
    encoder: mm.EncoderProfile | None = None  # the encoder part of the profile run (first stage)


def _resolve_runtime(model: Any, gpu: Gpu, args: EngineArgs, *, vllm_version: str, vllm_engine: str | None,
                     quant: str | None, env: dict[str, str], gpu_memory_gib: float | None,
                     use_checkpoint_tensors: bool, cpu_amx: bool, errors: list[Finding],
                     warnings: list[Finding], draft: Any = None) -> Runtime:
    """Phase 1, with the configuration checks vLLM makes while it builds the engine config."""
    spec, model_info, loaded = _spec_of(model)
    # The engine is the release's, unless --vllm-engine or the process environment (VLLM_USE_V1) picks one.
    rules = rules_for(vllm_version, vllm_engine, env=env)
    tp, pp = args.tensor_parallel_size, args.pipeline_parallel_size
    if pp > spec.num_layers:
        # vLLM refuses this (recorded by parallel_errors); size the stages it could have, not thousands.
        pp = spec.num_layers
    ep = args.enable_expert_parallel and spec.is_moe
    par = layout_of(args, spec)

    scheme, conflict = resolve_scheme(spec.quantization_config, quant or args.quantization)
    if conflict:
        errors.append(Finding("quantization_mismatch", conflict))
    attention_backend = next((v for k, v in args.passthrough if k == "--attention-backend"), None)
    platform = platform_for(gpu, cpu_amx=cpu_amx, attention_backend=attention_backend)
    checks.quant_findings(spec, scheme, gpu, platform, errors, warnings)
    act_dtype, act_bytes = _act_dtype(spec, args, gpu, warnings, errors)
    errors.extend(checks.parallel_errors(spec, tp, args.pipeline_parallel_size, scheme, ep))
    errors.extend(startup_errors(spec, scheme, par, args))
    errors.extend(platform.attention_findings(spec, args))

    derived, mml, auto_len = _resolve_max_model_len(spec, args, rules, env, errors, warnings)

    # Batch limits: get_batch_defaults and the adjustments after it.
    total_gib = gpu_memory_gib if gpu_memory_gib is not None else gpu.total_gib
    if total_gib <= 0 or not math.isfinite(total_gib):
        raise PlannerError(f"--gpu-memory-gib must be positive, got {total_gib}")
    bd = platform.batch_defaults(rules, gpu, total_gib=total_gib)
    mla = spec.is_mla and platform.name == "cuda"
    chunked, mns, mnbt = _resolve_batch(args, rules, bd, mml, mla=mla, rocm=gpu.vendor == "amd")
    chunked, mnbt, args = platform.scheduler_overrides(spec, args, chunked=chunked, mnbt=mnbt, max_model_len=mml)
    errors.extend(checks.batch_limit_errors(max_num_seqs=mns, max_num_batched_tokens=mnbt, max_model_len=mml,
                                            chunked_prefill=chunked))
    chunked, args = _v0_mla_override(args, rules, mla=mla, chunked=chunked, mnbt=mnbt, mml=mml, warnings=warnings)

    # planner/memory/lora.py is imported only for --enable-lora (its settings are None without it).
    lora = memory.lora.lora_settings(args, rules, act_bytes) if args.enable_lora else None
    if lora is not None:
        errors.extend(memory.lora.lora_findings(lora, spec, tp))
    drafter_ = _resolve_drafter(spec, args, model_info, draft, tp=tp, act_bytes=act_bytes, scheme=scheme,
                                ep=ep, errors=errors, warnings=warnings)
    if drafter_ is not None and drafter_.settings.method not in ("ngram", "ngram_gpu", "suffix") \
            and mnbt <= drafter_.settings.num_speculative_tokens:
        # VllmConfig._set_max_num_scheduled_tokens: num_lookahead_tokens = num_speculative_tokens here.
        errors.append(Finding("spec_decode_config", "VllmConfig does not have enough slots to schedule a token "
                              "and support the speculative decoding settings. Got max_num_batched_tokens="
                              f"{mnbt} and num_lookahead_tokens={drafter_.settings.num_speculative_tokens}."))
    tower, tower_built, dp_encoder, encoder = _resolve_multimodal(
        model, loaded, spec, args, rules, tp=tp, act_bytes=act_bytes, mnbt=mnbt, mns=mns, mml=mml,
        chunked=chunked, warnings=warnings)

    # The memory request per GPU.
    total = total_gib * GiB
    util = args.gpu_memory_utilization if args.gpu_memory_utilization is not None else rules.default_util
    requested = math.ceil(total * util) if rules.ceil_requested else total * util
    if platform.checks_device_memory and not gpu.unified_memory and args.kv_cache_memory_bytes is None:
        # A DP rank of a MoE model talks to the other ranks (NCCL) even at TP x PP = 1.
        errors.extend(checks.free_memory_errors(total=total, requested=requested, util=util,
                                                world=tp * pp * (par.dp if spec.is_moe else 1)))

    enforce_eager = platform.enforce_eager(args)
    max_capture = 0
    if not enforce_eager:
        max_capture = cudagraph_max_capture(rules, max_num_seqs=mns, mnbt=mnbt, cc=gpu.cc,
                                            user_max=args.max_cudagraph_capture_size,
                                            performance_mode=args.performance_mode,
                                            num_speculative_tokens=drafter_.settings.num_speculative_tokens
                                            if drafter_ is not None else 0)
    block_size = platform.block_size(spec, args, gpu, rules)
    kv_budget = platform.kv_budget(args, util, env)
    if kv_budget is not None:
        errors.extend(Finding(f.code, f.message) for f in kv_budget.findings)
    # Hybrid allocator: V1 only; off for chunked local attention by default (Llama 4) and on request.
    chunked_local = any(layer.attention == "chunked" for layer in spec.layers)
    hybrid = (rules.engine == "v1" and not args.disable_hybrid_kv_cache_manager
              and (not chunked_local or env.get("VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE") == "1"))

    tensors = None
    weights_source = "config"
    # The checkpoint's own tensors size the weights when vLLM loads them as they are: not when --quant asks
    # to size a different scheme than the checkpoint holds.
    requantized = (quant or args.quantization) is not None and not spec.quantization_config
    if use_checkpoint_tensors and not requantized and loaded is not None and getattr(loaded, "tensors", None):
        tensors = [(t.name, t.dtype, t.shape) for t in loaded.tensors]
        weights_source = "safetensors"

    # MXFP4 MoE backend: Marlin below Hopper, and on Hopper before the Triton kernels (0.10.2);
    # get_mxfp4_backend in quantization/mxfp4.py.
    moe_marlin = scheme.kind == "mxfp4" and (gpu.cc < (9, 0) or not rules.mxfp4_triton_on_hopper)
    partition = checks.pp_partition_override(env.get("VLLM_PP_LAYER_PARTITION"), spec.num_layers, pp, errors)
    # The platform says whether batches overlap (vLLM turns async scheduling off on CPU, platforms/cpu.py).
    in_flight = max_in_flight_tokens(rules, max_num_batched_tokens=mnbt, pipeline_parallel_size=pp,
                                     async_scheduling=platform.async_scheduling(rules))
    return Runtime(spec=spec, model_info=model_info, gpu=gpu, rules=rules, platform=platform, scheme=scheme,
                   args=args, env=env, act_dtype=act_dtype, act_bytes=act_bytes, tp=tp, pp=pp, ep=ep, par=par,
                   derived_max_model_len=derived, max_model_len=mml, auto_max_model_len=auto_len,
                   chunked_prefill=chunked, max_num_seqs=mns, max_num_batched_tokens=mnbt, total=total, util=util,
                   requested=requested, enforce_eager=enforce_eager, max_capture=max_capture,
                   block_size=block_size, kv_budget=kv_budget, hybrid=hybrid, tensors=tensors,
                   weights_source=weights_source, moe_marlin=moe_marlin, partition=partition,
                   max_in_flight_tokens=in_flight, lora=lora, drafter=drafter_, tower=tower,
                   tower_built=tower_built, data_parallel_encoder=dp_encoder, encoder=encoder)


# --- phase 2: the budget of each pipeline stage ----------------------------------------------------------
@dataclass(frozen=True)
class StageBudget:
    """One PP stage's memory (what vLLM logs for its workers), KV layout and block count."""

    memory: PerGpu
    available: float                 # bytes for the KV cache (negative when it would fail)
    layout: kvm.KvLayout
    blocks: int


def _stage_weights(rt: Runtime, stage: int) -> float:
    spec = rt.spec
    if rt.tensors is not None:
        _, w_bytes = checkpoint_rank_bytes(rt.tensors, spec, tp=rt.tp, pp=rt.pp, stage=stage, ep=rt.ep,
                                           act_bytes=rt.act_bytes, partition=rt.partition, layout=rt.par)
        return w_bytes
    return rank_weights(spec, rt.scheme, tp=rt.tp, pp=rt.pp, stage=stage, ep=rt.ep, act_bytes=rt.act_bytes,
                        moe_marlin=rt.moe_marlin, partition=rt.partition, layout=rt.par).allocated_bytes


def _added_weights(rt: Runtime, layers: range, *, first: bool, last: bool) -> int:
    """What vLLM's model load adds to the checkpoint's weights on this stage ("Model loading took" counts
    it): the LoRA slots and punica buffers, the drafter (last stage), the vision tower as built."""
    spec, tp = rt.spec, rt.tp
    tensors: list[int] = []
    if rt.lora is not None:
        tensors += memory.lora.punica_buffer_tensors(max_num_batched_tokens=rt.max_num_batched_tokens,
                                                     max_num_seqs=rt.max_num_seqs, max_loras=rt.lora.max_loras)
        tensors += memory.lora.lora_slot_tensors(spec, layers, first=first, last=last, tp=tp, ep=rt.ep, lora=rt.lora)
    if rt.drafter is not None and last:
        tensors += rt.drafter.weight_tensors
    added = allocated_bytes(tensors) if tensors else 0
    if rt.tower is not None and first and spec.vision_params:
        # The weights arithmetic holds the tower as vision_params / TP (planner/memory/weights.py); vLLM shards
        # only its parallel linears, keeps it whole under --mm-encoder-tp-mode data, and skips it in
        # text-only mode (0.33).
        built = mm.tower_rank_bytes(rt.tower, tp=tp, data_parallel_encoder=rt.data_parallel_encoder,
                                    act_bytes=rt.act_bytes) if rt.tower_built else 0
        added += built - spec.vision_params * rt.act_bytes // tp
    return added


def _profile_peak(rt: Runtime, act: int, *, first: bool, last: bool) -> int:
    """The profile run's activation peak with what LoRA, the drafter and the encoder add to it."""
    mnbt = rt.max_num_batched_tokens
    if rt.lora is not None:
        act += memory.lora.lora_profile_bytes(rt.spec, num_tokens=mnbt, tp=rt.tp, lora=rt.lora)
    if rt.encoder is not None and first:
        # The encoder's outputs stay cached through the language model's dummy forward.
        act = max(act + rt.encoder.cache_bytes, rt.encoder.encoder_peak)
    d = rt.drafter
    if d is not None and d.forward_spec is not None and last:
        # The drafter's propose runs on the same dummy batch with the target's hidden states alive.
        fs = d.forward_spec
        fwd = forward_peak_bytes(fs, mnbt, tp=d.kv_tp, act_bytes=rt.act_bytes,
                                 moe_layer=d.settings.method == "mtp" and fs.is_moe)
        act = max(act, fwd + mnbt * rt.spec.hidden_size * rt.act_bytes)
    return act


def _draft_kv_layers(rt: Runtime) -> tuple[tuple[str, int | None, int], ...]:
    """The drafter's attention layers in the KV pool: (kind, window, bytes per token on one rank)."""
    d = rt.drafter
    if d is None or not d.kv_layers:
        return ()
    dtype = d.settings.kv_cache_dtype or rt.args.kv_cache_dtype
    out = []
    for dspec, layer in d.kv_layers:
        kind = layer.attention
        out.append((kind, layer.window, kvm.bytes_per_token_layer(dspec, kind, tp=d.kv_tp, kv_cache_dtype=dtype,
                                                                  act_bytes=rt.act_bytes)))
    return tuple(out)


def _stage_budget(rt: Runtime, stage: int) -> StageBudget:
    """Phase 2: requested - weights - the profile's activation peak, non-torch memory and CUDA-graph
    estimate (gpu_worker.determine_available_memory), as the platform measures them; then the blocks."""
    spec, rules, pp = rt.spec, rt.rules, rt.pp
    first, last = stage == 0, stage == pp - 1
    w_bytes = _stage_weights(rt, stage)
    layers = stage_layers(spec.num_layers, pp, stage, rt.partition)
    mnbt = rt.max_num_batched_tokens
    w_bytes += _added_weights(rt, layers, first=first, last=last)
    act = activation_peak_bytes(spec, num_tokens=mnbt, num_reqs=min(rt.max_num_seqs, mnbt), tp=rt.tp,
                                act_bytes=rt.act_bytes, last_stage=last, regime=rules.overhead,
                                moe_tp=rt.par.moe_tp, moe_tokens=moe_profile_tokens(rt.par, mnbt))
    act = _profile_peak(rt, act, first=first, last=last)
    # A DP rank of a MoE model talks to the others (the EP / DP groups) even at TP x PP = 1.
    nt = non_torch_bytes(tp=rt.tp, pp=pp * (rt.par.dp if spec.is_moe else 1), regime=rules.overhead,
                         gpu=rt.gpu)
    cg = 0
    cg_on = rt.env.get("VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS", "1") != "0"
    if rules.cudagraph_estimate and not rt.enforce_eager and cg_on:
        cg = cudagraph_estimate_bytes(spec, layers_on_stage=len(layers), max_capture=rt.max_capture, tp=rt.tp)
    if not rt.platform.profiles_overheads:
        act, nt, cg = 0, 0, 0
    mem = rt.platform.kv_memory(requested=rt.requested, weights=w_bytes, activation=act, non_torch=nt,
                                cudagraph=cg, args=rt.args, budget=rt.kv_budget, env=rt.env)
    avail = mem.available
    layout = kvm.kv_layout(spec, layers, tp=rt.tp, kv_cache_dtype=rt.args.kv_cache_dtype, act_bytes=rt.act_bytes,
                           block_size=rt.block_size, hybrid=rt.hybrid, extra=_draft_kv_layers(rt) if last else ())
    bpb = layout.bytes_per_block
    blocks = int(avail // bpb) if bpb > 0 and avail > 0 else (1 if bpb == 0 and avail > 0 else 0)
    per_gpu = PerGpu(total_gib=_gib(rt.total), requested_gib=_gib(rt.requested), weights_gib=_gib(w_bytes),
                     activation_gib=_gib(mem.activation), non_torch_gib=_gib(mem.non_torch),
                     cudagraph_gib=_gib(mem.cudagraph), kv_cache_gib=_gib(avail))
    return StageBudget(memory=per_gpu, available=avail, layout=layout, blocks=blocks)


# --- phase 3: the KV capacity of the pool ----------------------------------------------------------------
@dataclass(frozen=True)
class KvCapacity:
    """The pool every stage can hold (the minimum over stages), max_model_len after auto-fit, and the
    blocks one request of that length needs."""

    tight: int                       # the stage with the fewest blocks
    num_blocks: int
    layout: kvm.KvLayout
    available: float
    max_model_len: int
    blocks_per_request: int


def _request_blocks(rt: Runtime, layout: kvm.KvLayout, n: int) -> int:
    return kvm.request_blocks(layout, n, in_flight_tokens=rt.max_in_flight_tokens, legacy_swa=rt.rules.legacy_swa,
                              mnbt=rt.max_num_batched_tokens)


def _kv_capacity(rt: Runtime, stages: list[StageBudget], errors: list[Finding],
                 warnings: list[Finding]) -> KvCapacity:
    """Phase 3: get_kv_cache_configs takes the minimum over workers; --num-gpu-blocks-override replaces it;
    --max-model-len auto (0.14+) fits the longest request the smallest stage can hold (less one block)."""
    tight = min(range(rt.pp), key=lambda s: (stages[s].blocks, stages[s].available))
    num_blocks = stages[tight].blocks
    if rt.args.num_gpu_blocks_override is not None:
        num_blocks = rt.args.num_gpu_blocks_override
    layout = stages[tight].layout
    bpb = layout.bytes_per_block
    mml, derived = rt.max_model_len, rt.derived_max_model_len
    if rt.auto_max_model_len and bpb > 0:
        fit = min(kvm.largest_fitting_len(st.layout, int(st.available - bpb), derived,
                                          in_flight_tokens=rt.max_in_flight_tokens, legacy_swa=rt.rules.legacy_swa,
                                          mnbt=rt.max_num_batched_tokens)
                  for st in stages)
        if fit < 1:
            errors.append(Finding("kv_cache_too_small", "Cannot auto-fit max_model_len: not enough GPU memory "
                                  "available to serve even a single token. Try increasing `gpu_memory_utilization`."))
            fit = 1
        elif fit < derived:
            warnings.append(Finding("auto_fit", f"Auto-fit max_model_len: reduced from {derived} to {fit} to fit in "
                                    f"available KV cache memory ({_fmt_gib(stages[tight].available)} GiB)"))
        mml = fit
    bpr = _request_blocks(rt, layout, mml) if bpb > 0 else 0
    return KvCapacity(tight=tight, num_blocks=num_blocks, layout=layout, available=stages[tight].available,
                      max_model_len=mml, blocks_per_request=bpr)


# --- phase 4: the startup checks after the profile --------------------------------------------------------
def _startup_checks(rt: Runtime, stages: list[StageBudget], cap: KvCapacity) -> list[Finding]:
    """The KV-cache check (skipped under auto-fit, which sized max_model_len to fit), a pinned KV size
    that cannot be allocated, and weights that cannot load."""
    out: list[Finding] = []
    bpb = cap.layout.bytes_per_block
    if bpb > 0 and not rt.auto_max_model_len:
        out.extend(checks.kv_cache_errors(cap.layout, available=cap.available, num_blocks=cap.num_blocks,
                                          blocks_per_request=cap.blocks_per_request,
                                          max_model_len=cap.max_model_len, block_size=rt.block_size,
                                          rules=rt.rules, max_in_flight_tokens=rt.max_in_flight_tokens,
                                          max_num_batched_tokens=rt.max_num_batched_tokens))
    mems = [st.memory for st in stages]
    out.extend(checks.pinned_kv_oom(rt.args, [(m.weights_gib, m.non_torch_gib, m.cudagraph_gib) for m in mems],
                                    cap.num_blocks * bpb, rt.total, rt.platform, rt.gpu))
    out.extend(checks.weights_fit_errors(max(m.weights_gib for m in mems), rt.total, rt.platform))
    return out


# --- phase 5: what vLLM logs -----------------------------------------------------------------------------
def _logged_figures(rt: Runtime, cap: KvCapacity) -> tuple[int, float]:
    """("GPU KV cache size: N tokens", "Maximum concurrency for L tokens per request: Cx")."""
    bpb, bpr, mml = cap.layout.bytes_per_block, cap.blocks_per_request, cap.max_model_len
    if not (bpb > 0 and bpr > 0):
        return 0, 0.0
    if rt.rules.engine == "v0":
        tokens = cap.num_blocks * rt.block_size
        concurrency = tokens / mml
    else:
        concurrency = cap.num_blocks / bpr
        if rt.rules.group_aware_tokens:
            tokens = int(concurrency * mml)
        else:
            tokens = cap.num_blocks // max(1, len(cap.layout.groups)) * rt.block_size
    return max(0, tokens), max(0.0, concurrency)


def _advisories(rt: Runtime, cap: KvCapacity) -> list[Finding]:
    """Warnings on what the figures assume or leave out."""
    out: list[Finding] = []
    args, spec, layout = rt.args, rt.spec, cap.layout
    if rt.platform.checks_device_memory and rt.util > 0.95 and args.kv_cache_memory_bytes is None:
        out.append(Finding("high_utilization", f"--gpu-memory-utilization {rt.util} leaves "
                           f"{_gib(rt.total - rt.requested):.2f} GiB for the CUDA context, NCCL and other "
                           "processes."))
    out.extend(rt.platform.kv_budget_warnings(rt.kv_budget))
    if args.kv_cache_memory_bytes is not None and not flag_exists("--kv-cache-memory-bytes", rt.rules.version):
        out.append(Finding("what_if_flag", f"vLLM {rt.rules.version} has no --kv-cache-memory-bytes: the figures "
                           "answer 'given this much KV memory', a what-if that release cannot be told"))
    if args.kv_cache_dtype not in MODELLED_KV_CACHE_DTYPES:
        out.append(Finding("kv_cache_dtype_not_modelled", f"--kv-cache-dtype {args.kv_cache_dtype}: its "
                           "page layout is not modelled; the KV cache is sized at the model's dtype "
                           "(fewer tokens than vLLM will hold)"))
    if any(layer.attention == "linear" for layer in spec.layers):
        out.append(Finding("linear_attention_not_modelled", "this model has Mamba/linear-attention layers; "
                           "their recurrent state (MambaSpec pages and the block-size alignment vLLM "
                           "applies to them) is not modelled, so the KV figures cover attention layers only"))
    if layout.padding_layers:
        out.append(Finding("hybrid_padding", f"Add {layout.padding_layers} padding layers, may waste at most "
                           f"{100 * layout.padding_layers / max(1, sum(g.layers for g in layout.groups)):.2f}% "
                           "KV cache memory"))
    return out


def estimate(model: Any, gpu: Gpu, args: EngineArgs | None = None, *, vllm_version: str = LATEST,
             vllm_engine: str | None = None, quant: str | None = None, env: dict[str, str] | None = None,
             gpu_memory_gib: float | None = None, use_checkpoint_tensors: bool = True,
             cpu_amx: bool = False, draft: Any = None) -> Estimate:
    """Predict vLLM's startup for `model` (LoadedModel, ModelSpec or config dict) on `gpu`.

    `gpu` may be `gpu_catalog.cpu_device(node_gib)` for vLLM's CPU backend; `cpu_amx` says whether that
    CPU has AMX tiles (it picks the MLA kernel and so the block size; the caller reads the host).
    `draft`: the draft model or EAGLE head that --speculative-config names (LoadedModel, ModelSpec or
    config dict), when the caller could load it.
    """
    given = args or EngineArgs()
    errors: list[Finding] = []
    warnings: list[Finding] = []
    rt = _resolve_runtime(model, gpu, given, vllm_version=vllm_version, vllm_engine=vllm_engine, quant=quant,
                          env=env or {}, gpu_memory_gib=gpu_memory_gib,
                          use_checkpoint_tensors=use_checkpoint_tensors, cpu_amx=cpu_amx, errors=errors,
                          warnings=warnings, draft=draft)
    stages = [_stage_budget(rt, stage) for stage in range(rt.pp)]
    cap = _kv_capacity(rt, stages, errors, warnings)
    errors.extend(_startup_checks(rt, stages, cap))
    tokens, concurrency = _logged_figures(rt, cap)
    warnings.extend(_advisories(rt, cap))

    args, spec, scheme = rt.args, rt.spec, rt.scheme
    resolved = replace(args, gpu_memory_utilization=rt.util, max_model_len=cap.max_model_len,
                       max_num_seqs=rt.max_num_seqs, max_num_batched_tokens=rt.max_num_batched_tokens,
                       block_size=rt.block_size, dtype=rt.act_dtype, enable_chunked_prefill=rt.chunked_prefill,
                       enable_prefix_caching=args.enable_prefix_caching if args.enable_prefix_caching is not None
                       else rt.rules.prefix_caching_default,
                       quantization=scheme.vllm_method or None)
    model_info = {**rt.model_info, "model_type": spec.model_type, "max_model_len": rt.derived_max_model_len,
                  "num_layers": spec.num_layers, "dtype": spec.dtype}
    return Estimate(
        fits=not errors,
        model=model_info,
        gpu=gpu,
        rules=rt.rules,
        args=args,
        resolved=resolved,
        per_gpu=stages[cap.tight].memory,
        kv_cache=kvm_cache(tokens, cap.num_blocks, rt.block_size, cap.layout, concurrency, cap.blocks_per_request),
        quant=scheme,
        errors=tuple(errors),
        warnings=tuple(warnings),
        weights_source=rt.weights_source,
        tightest_stage=cap.tight,
        stages=tuple(st.memory for st in stages),
        spec=spec,
        layout=rt.par,
    )


def kvm_cache(tokens: int, num_blocks: int, block_size: int, layout: kvm.KvLayout, concurrency: float,
              bpr: int) -> KvCache:
    return KvCache(tokens=tokens, num_blocks=max(0, num_blocks), block_size=block_size,
                   bytes_per_token=layout.bytes_per_token, max_concurrency=concurrency,
                   bytes_per_block=layout.bytes_per_block, blocks_per_request=bpr, groups=len(layout.groups),
                   padding_layers=layout.padding_layers)


def pp_layers(spec: ModelSpec, pp: int) -> list[int]:
    return pp_partition(spec.num_layers, pp)
