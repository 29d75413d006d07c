"""estimate(): what vLLM will do with this model, device and flags, in the figures vLLM logs.

Pure arithmetic over ModelSpec + Gpu + EngineArgs + the release's rules. Mirrors the V1 engine's
startup (vllm-memory.md §1): requested = total x util; available KV = requested - weights - non-torch
- activation peak - CUDA-graph estimate; blocks = available // bytes per block (minimum over PP
stages; TP ranks are symmetric); then tokens, concurrency and the startup checks of the release.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from gpu_catalog import Gpu
from planner import kv as kvm
from planner.cpu_backend import cpu_startup_footprint_bytes
from planner.engine_args import MODELLED_KV_CACHE_DTYPES, EngineArgs
from planner.errors import SCHEMA_VERSION, PlannerError
from planner.findings import Finding
from planner.overhead import (
    activation_peak_bytes,
    cudagraph_estimate_bytes,
    non_torch_bytes,
)
from planner.parallel import Layout, layout_of, moe_profile_tokens, startup_errors
from planner.platforms import Platform, platform_for
from planner.quant import QuantScheme, resolve_scheme
from planner.spec import ModelSpec, model_spec_from_config
from planner.vllm_flags import flag_exists
from planner.vllm_versions import (
    LATEST,
    BatchDefaults,
    VersionRules,
    batch_defaults,
    cudagraph_max_capture,
    max_in_flight_tokens,
    rules_for,
)
from planner.weights import checkpoint_rank_bytes, pp_partition, rank_weights, stage_layers

GiB = 2**30
# CUDA context + cuBLAS handles created before vLLM's memory snapshot; they must fit in total - requested.
# vllm-memory.md §1.2: ~0.4-0.6 GiB (unverified typical value); NCCL buffers add to it under TP/PP.
CONTEXT_GIB = 0.5
NCCL_GIB = 0.25


@dataclass(frozen=True)
class PerGpu:
    total_gib: float
    requested_gib: float
    weights_gib: float
    activation_gib: float
    non_torch_gib: float
    cudagraph_gib: float
    kv_cache_gib: float          # "Available KV cache memory" (negative when it would fail)


@dataclass(frozen=True)
class KvCache:
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
    # The architecture the figures were computed for (planner.perf reads its shapes); not in to_json.
    spec: ModelSpec | None = field(default=None, compare=False, repr=False)
    # Data / expert parallelism (planner.parallel): the figures above are one rank's, of one DP engine.
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


def _fmt_gib(b: float) -> str:
    # vLLM's format_gib: round(x / 2**30, 2)
    return f"{round(b / GiB, 2)}"


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


def _parallel_errors(spec: ModelSpec, tp: int, pp: int, scheme: QuantScheme, ep: bool) -> list[Finding]:
    out: list[Finding] = []
    if spec.num_heads % tp:
        out.append(Finding("heads_not_divisible", f"Total number of attention heads ({spec.num_heads}) must be "
                           f"divisible by tensor parallel size ({tp})."))
    kvh = spec.num_kv_heads
    if not spec.is_mla and kvh % tp and tp % kvh:
        out.append(Finding("kv_heads_not_divisible", f"Total number of key/value heads ({kvh}) and tensor "
                           f"parallel size ({tp}) must divide one another (QKVParallelLinear)."))
    if pp > spec.num_layers:
        out.append(Finding("pp_too_large", f"Pipeline parallel size ({pp}) exceeds the number of hidden layers "
                           f"({spec.num_layers})."))
    if spec.intermediate_size and spec.intermediate_size % tp and not all(layer.moe for layer in spec.layers):
        out.append(Finding("intermediate_not_divisible", f"intermediate_size ({spec.intermediate_size}) is not "
                           f"divisible by tensor parallel size ({tp})."))
    if scheme.kind == "packed_int" and scheme.group_size > 0:
        g = scheme.group_size
        row_inputs = {"o_proj": spec.num_heads * spec.v_head_dim // tp,
                      "down_proj": spec.intermediate_size // tp if spec.intermediate_size else g}
        if spec.is_moe and not ep:
            row_inputs["experts.down_proj"] = spec.moe_intermediate_size // tp
        for mod, k in row_inputs.items():
            if k % g:
                out.append(Finding("quant_group_not_divisible",
                                   f"The input size of {mod} per GPU ({k}) is not divisible by the quantization "
                                   f"group size ({g}) at tensor parallel size {tp}."))
                break
    return out


def _quant_findings(spec: ModelSpec, scheme: QuantScheme, gpu: Gpu, platform: Platform, errors: list[Finding],
                    warnings: list[Finding]) -> None:
    """vLLM's capability check of the scheme (VllmConfig._get_quantization_config) and its fallbacks."""
    if scheme.is_quantized and platform.checks_quantization_capability:
        if gpu.vendor == "nvidia" and gpu.cc_int < scheme.min_capability:
            errors.append(Finding("quantization_unsupported", f"The quantization method {scheme.vllm_method} is not "
                                  f"supported for the current GPU. Minimum capability: {scheme.min_capability}. "
                                  f"Current capability: {gpu.cc_int}."))
        elif gpu.vendor == "nvidia" and gpu.cc_int < scheme.native_capability:
            warnings.append(Finding("quantization_weight_only", f"{gpu.name} (compute capability "
                                    f"{gpu.compute_capability}) has no native {scheme.name} compute; vLLM runs "
                                    f"it as a weight-only Marlin kernel, which may be slower for compute-heavy "
                                    f"work."))
        if not spec.quantization_config and scheme.prequantized:
            warnings.append(Finding("needs_prequantized_checkpoint", f"vLLM cannot quantize to {scheme.name} on "
                                    f"the fly: serve a pre-quantized {scheme.name} checkpoint of this model (sized "
                                    f"here as one)."))


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


def _resolve_batch(args: EngineArgs, rules: VersionRules, bd: BatchDefaults, mml: int) -> tuple[bool, int, int]:
    """(chunked prefill, max_num_seqs, max_num_batched_tokens): the tier defaults and the adjustments
    vLLM applies after them, only to what the user did not set
    (EngineArgs._set_default_max_num_seqs_and_batched_tokens_args)."""
    chunked = args.enable_chunked_prefill
    if chunked is None:
        # V0 enabled chunked prefill by default only for long-context models (> 32K).
        chunked = rules.engine == "v1" or mml > 32768
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


def _pp_override(text: str | None, num_layers: int, pp: int, errors: list[Finding]) -> tuple[int, ...] | None:
    """VLLM_PP_LAYER_PARTITION, checked the way get_pp_indices checks it (a failure is a startup error)."""
    if not text:
        return None
    try:
        parts = tuple(int(x) for x in text.split(","))
    except ValueError:
        errors.append(Finding("pp_partition", f"Invalid partition string: {text}"))
        return None
    if len(parts) != pp:
        errors.append(Finding("pp_partition", f"len(partitions)={len(parts)} does not match pp_size={pp}."))
        return None
    if sum(parts) != num_layers or min(parts) < 0:
        errors.append(Finding("pp_partition", f"sum(partitions)={sum(parts)} does not match "
                              f"num_hidden_layers={num_layers}."))
        return None
    return parts


def _pinned_kv_oom(args: EngineArgs, stages: list[PerGpu], kv_bytes: float, total: float, device: str,
                   gpu: Gpu) -> list[Finding]:
    """A KV size the user pins (--kv-cache-memory-bytes, --num-gpu-blocks-override) skips vLLM's fit
    arithmetic: gpu_worker.determine_available_memory returns kv_cache_memory_bytes unchecked and
    kv_cache_planning applies the override unchecked. The KV tensors are then allocated with
    torch.zeros next to the weights and the non-torch memory, and the CUDA graphs are captured after
    them, so a pin larger than what is left ends in torch.OutOfMemoryError."""
    if device != "cuda" or gpu.unified_memory or (args.kv_cache_memory_bytes is None
                                                  and args.num_gpu_blocks_override is None):
        return []
    s = max(stages, key=lambda st: st.weights_gib + st.non_torch_gib + st.cudagraph_gib)
    rest = (s.weights_gib + s.non_torch_gib + s.cudagraph_gib) * GiB
    free = total - CONTEXT_GIB * GiB - rest
    if kv_bytes <= free:
        return []
    flag = "--num-gpu-blocks-override" if args.num_gpu_blocks_override is not None else "--kv-cache-memory-bytes"
    return [Finding("kv_cache_oom", f"CUDA out of memory. Tried to allocate {_fmt_gib(kv_bytes)} GiB of KV cache "
                    f"({flag} skips vLLM's memory check). GPU 0 has a total capacity of {_fmt_gib(total)} GiB of "
                    f"which about {_fmt_gib(max(0.0, free))} GiB is free after the weights "
                    f"({_fmt_gib(s.weights_gib * GiB)} GiB), the CUDA context and vLLM's other buffers.")]


def estimate(model: Any, gpu: Gpu, args: EngineArgs | None = None, *, vllm_version: str = LATEST,
             vllm_engine: str | None = None, quant: str | None = None, env: dict[str, str] | None = None,
             gpu_memory_gib: float | None = None, use_checkpoint_tensors: bool = True,
             cpu_amx: bool = False) -> Estimate:
    """Predict vLLM's startup for `model` (LoadedModel, ModelSpec or config dict) on `gpu`.

    `gpu` may be `gpu_catalog.cpu_device(node_gib)` for vLLM's CPU backend; `cpu_amx` says whether that
    CPU has AMX tiles (it picks the MLA kernel and so the block size; the caller reads the host).
    """
    args = args or EngineArgs()
    env = env or {}
    spec, model_info, loaded = _spec_of(model)
    # The engine is the release's, unless --vllm-engine or the process environment (VLLM_USE_V1) picks one.
    rules = rules_for(vllm_version, vllm_engine, env=env)
    errors: list[Finding] = []
    warnings: list[Finding] = []
    tp, pp = args.tensor_parallel_size, args.pipeline_parallel_size
    if pp > spec.num_layers:
        # vLLM refuses this (recorded by _parallel_errors); size the stages it could have, not thousands.
        pp = spec.num_layers
    ep = args.enable_expert_parallel and spec.is_moe
    par = layout_of(args, spec)

    scheme, conflict = resolve_scheme(spec.quantization_config, quant or args.quantization)
    if conflict:
        errors.append(Finding("quantization_mismatch", conflict))
    attention_backend = next((v for k, v in args.passthrough if k == "--attention-backend"), None)
    platform = platform_for(gpu, cpu_amx=cpu_amx, attention_backend=attention_backend)
    device = platform.name
    _quant_findings(spec, scheme, gpu, platform, errors, warnings)
    act_dtype, act_bytes = _act_dtype(spec, args, gpu, warnings, errors)
    errors.extend(_parallel_errors(spec, tp, args.pipeline_parallel_size, scheme, ep))
    errors.extend(startup_errors(spec, scheme, par, args))
    errors.extend(platform.attention_findings(spec, args))

    derived, mml, auto_len = _resolve_max_model_len(spec, args, rules, env, errors, warnings)

    # --- batch limits (get_batch_defaults and the adjustments after it) ---
    total_gib = gpu_memory_gib if gpu_memory_gib is not None else gpu.total_gib
    if total_gib <= 0 or not math.isfinite(total_gib):
        raise PlannerError(f"--gpu-memory-gib must be positive, got {total_gib}")
    bd = batch_defaults(rules, total_gib=total_gib, device_name=" ".join((gpu.name, *gpu.device_names)),
                        cc=gpu.cc, device=device, world_size=1)
    chunked, mns, mnbt = _resolve_batch(args, rules, bd, mml)
    chunked, mnbt, args = platform.scheduler_overrides(spec, args, chunked=chunked, mnbt=mnbt, max_model_len=mml)
    if mnbt < mns:
        errors.append(Finding("batch_limits", f"max_num_batched_tokens ({mnbt}) must be greater than or equal to "
                              f"max_num_seqs ({mns})."))
    if not chunked and mnbt < mml:
        errors.append(Finding("batch_limits", f"max_num_batched_tokens ({mnbt}) is smaller than max_model_len "
                              f"({mml}). This effectively limits the maximum sequence length to "
                              "max_num_batched_tokens and makes vLLM reject longer sequences. Please increase "
                              "max_num_batched_tokens or decrease max_model_len."))

    # --- memory budget per GPU ---
    total = total_gib * GiB
    util = args.gpu_memory_utilization if args.gpu_memory_utilization is not None else rules.default_util
    requested = math.ceil(total * util) if rules.ceil_requested else total * util
    if platform.checks_device_memory and not gpu.unified_memory and args.kv_cache_memory_bytes is None:
        outside = (CONTEXT_GIB + (NCCL_GIB if tp * pp > 1 or (par.dp > 1 and spec.is_moe) else 0)) * GiB
        if requested > total - outside:
            free = total - outside
            errors.append(Finding("insufficient_free_memory", f"Free memory on device ({_fmt_gib(free)}/"
                                  f"{_fmt_gib(total)} GiB) on startup is less than desired GPU memory utilization "
                                  f"({util}, {_fmt_gib(requested)} GiB). Decrease GPU memory utilization or "
                                  "reduce GPU memory used by other processes."))

    enforce_eager = platform.enforce_eager(args)
    max_capture = 0
    if not enforce_eager:
        max_capture = cudagraph_max_capture(rules, max_num_seqs=mns, mnbt=mnbt, cc=gpu.cc,
                                            user_max=args.max_cudagraph_capture_size,
                                            performance_mode=args.performance_mode)
    block_size = platform.block_size(spec, args, gpu, rules)
    cpu_budget = platform.kv_budget(args, util, env)
    if cpu_budget is not None:
        errors.extend(Finding(f.code, f.message) for f in cpu_budget.findings)
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
    partition = _pp_override(env.get("VLLM_PP_LAYER_PARTITION"), spec.num_layers, pp, errors)
    stages: list[PerGpu] = []
    stage_blocks: list[int] = []
    layouts: list[kvm.KvLayout] = []
    avail_by_stage: list[float] = []
    for stage in range(pp):
        if tensors is not None:
            _, w_bytes = checkpoint_rank_bytes(tensors, spec, tp=tp, pp=pp, stage=stage, ep=ep, act_bytes=act_bytes,
                                               partition=partition, layout=par)
        else:
            w_bytes = rank_weights(spec, scheme, tp=tp, pp=pp, stage=stage, ep=ep, act_bytes=act_bytes,
                                   moe_marlin=moe_marlin, partition=partition, layout=par).allocated_bytes
        layers = stage_layers(spec.num_layers, pp, stage, partition)
        last = stage == pp - 1
        act = activation_peak_bytes(spec, num_tokens=mnbt, num_reqs=min(mns, mnbt), tp=tp, act_bytes=act_bytes,
                                    last_stage=last, regime=rules.overhead, moe_tp=par.moe_tp,
                                    moe_tokens=moe_profile_tokens(par, mnbt))
        # A DP rank of a MoE model talks to the others (the EP / DP groups) even at TP x PP = 1.
        nt = non_torch_bytes(tp=tp, pp=pp * (par.dp if spec.is_moe else 1), regime=rules.overhead)
        cg = 0
        cg_on = env.get("VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS", "1") != "0"
        if rules.cudagraph_estimate and not enforce_eager and cg_on:
            cg = cudagraph_estimate_bytes(spec, layers_on_stage=len(layers), max_capture=max_capture, tp=tp)
        if not platform.profiles_overheads:
            act, nt, cg = 0, 0, 0
        if cpu_budget is not None:
            if cpu_budget.bytes is not None:
                avail = float(cpu_budget.bytes)   # VLLM_CPU_KVCACHE_SPACE wins over the flag, "0" is 0
            else:
                # Auto mode: vLLM gives the KV cache requested - the worker's resident memory, known only
                # at run time; approximated by the weights plus the measured startup footprint.
                nt = cpu_startup_footprint_bytes(env)
                avail = requested - w_bytes - nt
        elif args.kv_cache_memory_bytes is not None:
            avail = float(args.kv_cache_memory_bytes)
        else:
            avail = requested - w_bytes - act - nt - cg
        layout = kvm.kv_layout(spec, layers, tp=tp, kv_cache_dtype=args.kv_cache_dtype, act_bytes=act_bytes,
                               block_size=block_size, hybrid=hybrid)
        layouts.append(layout)
        bpb = layout.bytes_per_block
        blocks = int(avail // bpb) if bpb > 0 and avail > 0 else (1 if bpb == 0 and avail > 0 else 0)
        stage_blocks.append(blocks)
        avail_by_stage.append(avail)
        stages.append(PerGpu(total_gib=_gib(total), requested_gib=_gib(requested), weights_gib=_gib(w_bytes),
                             activation_gib=_gib(act), non_torch_gib=_gib(nt), cudagraph_gib=_gib(cg),
                             kv_cache_gib=_gib(avail)))
    tight = min(range(pp), key=lambda s: (stage_blocks[s], avail_by_stage[s]))
    num_blocks = stage_blocks[tight]
    if args.num_gpu_blocks_override is not None:
        num_blocks = args.num_gpu_blocks_override
    layout = layouts[tight]
    bpb = layout.bytes_per_block
    # vLLM turns async scheduling off on CPU (platforms/cpu.py): one batch in flight per stage.
    async_on = platform.async_scheduling(rules)
    in_flight = max_in_flight_tokens(rules, max_num_batched_tokens=mnbt, pipeline_parallel_size=pp,
                                     async_scheduling=async_on)

    def need_blocks(n: int) -> int:
        return kvm.request_blocks(layout, n, in_flight_tokens=in_flight, legacy_swa=rules.legacy_swa, mnbt=mnbt)

    # --- auto-fit max_model_len (0.14+) ---
    if auto_len and bpb > 0:
        fit = min(kvm.largest_fitting_len(layouts[s], int(avail_by_stage[s] - bpb), derived,
                                          in_flight_tokens=in_flight, legacy_swa=rules.legacy_swa, mnbt=mnbt)
                  for s in range(pp))
        if fit < 1:
            errors.append(Finding("kv_cache_too_small", "Cannot auto-fit max_model_len: not enough GPU memory "
                                  "available to serve even a single token. Try increasing `gpu_memory_utilization`."))
            fit = 1
        elif fit < derived:
            warnings.append(Finding("auto_fit", f"Auto-fit max_model_len: reduced from {derived} to {fit} to fit in "
                                    f"available KV cache memory ({_fmt_gib(avail_by_stage[tight])} GiB)"))
        mml = fit

    # --- startup checks on the KV cache (_check_enough_kv_cache_memory) ---
    bpr = need_blocks(mml) if bpb > 0 else 0
    avail = avail_by_stage[tight]
    if bpb > 0 and not auto_len:
        if avail <= 0 or num_blocks <= 0:
            errors.append(Finding("no_kv_memory", "No available memory for the cache blocks. Try increasing "
                                  "`gpu_memory_utilization` when initializing the engine."))
        else:
            check = avail - bpb if rules.null_block_in_check else avail
            needed = bpb * bpr
            if rules.engine == "v0":
                capacity = num_blocks * block_size
                if mml > capacity:
                    errors.append(Finding("kv_cache_too_small", f"The model's max seq len ({mml}) is larger than "
                                          f"the maximum number of tokens that can be stored in KV cache "
                                          f"({capacity}). Try increasing `gpu_memory_utilization` or decreasing "
                                          "`max_model_len` when initializing the engine."))
            elif needed > check:
                est = kvm.largest_fitting_len(layout, int(check), mml, in_flight_tokens=in_flight,
                                              legacy_swa=rules.legacy_swa, mnbt=mnbt)
                est_msg = f"Based on the available memory, the estimated maximum model length is {est}. " \
                    if est > 0 else ""
                errors.append(Finding("kv_cache_too_small", f"To serve at least one request with the model's max "
                                      f"seq len ({mml}), ({_fmt_gib(needed)} GiB KV cache is needed, which is larger "
                                      f"than the available KV cache memory ({_fmt_gib(check)} GiB). {est_msg}Try "
                                      "increasing `gpu_memory_utilization` or decreasing `max_model_len` when "
                                      "initializing the engine."))
    errors.extend(_pinned_kv_oom(args, stages, num_blocks * bpb, total, device, gpu))
    w_stage = max(s.weights_gib for s in stages)
    if platform.checks_device_memory and w_stage * GiB > total - CONTEXT_GIB * GiB:
        errors.append(Finding("weights_do_not_fit", f"The weights need {w_stage:.2f} GiB per GPU but the device has "
                              f"{_gib(total):.2f} GiB: loading would run out of memory. Use more GPUs "
                              "(tensor/pipeline parallelism), a quantized checkpoint or a larger GPU."))

    # --- what vLLM logs ---
    if bpb > 0 and bpr > 0:
        if rules.engine == "v0":
            tokens = num_blocks * block_size
            concurrency = tokens / mml
        else:
            concurrency = num_blocks / bpr
            if rules.group_aware_tokens:
                tokens = int(concurrency * mml)
            else:
                tokens = num_blocks // max(1, len(layout.groups)) * block_size
    else:
        tokens, concurrency = 0, 0.0
    tokens = max(0, tokens)
    concurrency = max(0.0, concurrency)
    if platform.checks_device_memory and util > 0.95 and args.kv_cache_memory_bytes is None:
        warnings.append(Finding("high_utilization", f"--gpu-memory-utilization {util} leaves "
                                f"{_gib(total - requested):.2f} GiB for the CUDA context, NCCL and other processes."))
    if cpu_budget is not None and cpu_budget.bytes is None:
        warnings.append(Finding("cpu_kv_approximate", "no KV size given: vLLM's CPU backend gives the KV cache "
                                "what the worker's memory leaves of utilization x node memory, known only at run "
                                "time; the figure here is approximate (pass --kv-cache-memory-bytes)"))
    if args.kv_cache_memory_bytes is not None and not flag_exists("--kv-cache-memory-bytes", rules.version):
        warnings.append(Finding("what_if_flag", f"vLLM {rules.version} has no --kv-cache-memory-bytes: the figures "
                                "answer 'given this much KV memory', a what-if that release cannot be told"))
    if args.kv_cache_dtype not in MODELLED_KV_CACHE_DTYPES:
        warnings.append(Finding("kv_cache_dtype_not_modelled", f"--kv-cache-dtype {args.kv_cache_dtype}: its "
                                "page layout is not modelled; the KV cache is sized at the model's dtype "
                                "(fewer tokens than vLLM will hold)"))
    if any(layer.attention == "linear" for layer in spec.layers):
        warnings.append(Finding("linear_attention_not_modelled", "this model has Mamba/linear-attention layers; "
                                "their recurrent state (MambaSpec pages and the block-size alignment vLLM "
                                "applies to them) is not modelled, so the KV figures cover attention layers only"))
    if layout.padding_layers:
        warnings.append(Finding("hybrid_padding", f"Add {layout.padding_layers} padding layers, may waste at most "
                                f"{100 * layout.padding_layers / max(1, sum(g.layers for g in layout.groups)):.2f}% "
                                "KV cache memory"))

    resolved = replace(args, gpu_memory_utilization=util, max_model_len=mml, max_num_seqs=mns,
                       max_num_batched_tokens=mnbt, block_size=block_size, dtype=act_dtype,
                       enable_chunked_prefill=chunked,
                       enable_prefix_caching=args.enable_prefix_caching if args.enable_prefix_caching is not None
                       else True,
                       quantization=scheme.vllm_method or None)
    model_info = {**model_info, "model_type": spec.model_type, "max_model_len": derived,
                  "num_layers": spec.num_layers, "dtype": spec.dtype}
    return Estimate(
        fits=not errors,
        model=model_info,
        gpu=gpu,
        rules=rules,
        args=args,
        resolved=resolved,
        per_gpu=stages[tight],
        kv_cache=kvm_cache(tokens, num_blocks, block_size, layout, concurrency, bpr),
        quant=scheme,
        errors=tuple(errors),
        warnings=tuple(warnings),
        weights_source=weights_source,
        tightest_stage=tight,
        stages=tuple(stages),
        spec=spec,
        layout=par,
    )


def kvm_cache(tokens: int, num_blocks: int, block_size: int, layout: kvm.KvLayout, concurrency: float,
              bpr: int) -> KvCache:
    return KvCache(tokens=tokens, num_blocks=max(0, num_blocks), block_size=block_size,
                   bytes_per_token=layout.bytes_per_token, max_concurrency=concurrency,
                   bytes_per_block=layout.bytes_per_block, blocks_per_request=bpr, groups=len(layout.groups),
                   padding_layers=layout.padding_layers)


def pp_layers(spec: ModelSpec, pp: int) -> list[int]:
    return pp_partition(spec.num_layers, pp)
