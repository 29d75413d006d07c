"""The checks vLLM makes at startup, each a pure function returning the findings it would raise.

Two kinds, called by planner/memory/estimator.py at the point of the startup where vLLM makes them:
* configuration checks, made when the engine config is built (ModelConfig / ParallelConfig /
  SchedulerConfig / VllmConfig validation, the quantization capability check, the free-memory check of
  the worker's first memory snapshot);
* KV-cache checks, made after the memory profile (kv_cache_planning.check_enough_kv_cache_memory in
  0.33, _check_enough_kv_cache_memory before), and what a pinned KV size does to the CUDA allocator.
The messages are vLLM's own wording where vLLM raises one.
"""

from __future__ import annotations

from collections.abc import Sequence

from gpu_catalog import Gpu
from planner.memory import kv as kvm
from planner.memory.findings import Finding
from planner.memory.platforms import Platform
from planner.memory.quant import QuantScheme
from planner.memory.spec import ModelSpec
from planner.release.engine_args import EngineArgs
from planner.release.vllm_versions import VersionRules

GiB = 2**30
# CUDA context + cuBLAS handles created before vLLM's memory snapshot; they must fit in total - requested.
# vllm-memory.md §1.2: ~0.4-0.6 GiB (unverified typical value); NCCL buffers add to it under TP/PP.
CONTEXT_GIB = 0.5
NCCL_GIB = 0.25


def fmt_gib(b: float) -> str:
    """vLLM's format_gib: round(x / 2**30, 2)."""
    return f"{round(b / GiB, 2)}"


# --- configuration checks -------------------------------------------------------------------------------
def parallel_errors(spec: ModelSpec, tp: int, pp: int, scheme: QuantScheme, ep: bool) -> list[Finding]:
    """Divisibility of heads, KV heads, layers and MLP widths by TP/PP (ModelConfig.verify_with_parallel_config
    and the linear layers' weight loaders)."""
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


def quant_findings(spec: ModelSpec, scheme: QuantScheme, gpu: Gpu, platform: Platform, errors: list[Finding],
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


def batch_limit_errors(*, max_num_seqs: int, max_num_batched_tokens: int, max_model_len: int,
                       chunked_prefill: bool) -> list[Finding]:
    """SchedulerConfig.verify_args."""
    mns, mnbt, mml = max_num_seqs, max_num_batched_tokens, max_model_len
    out: list[Finding] = []
    if mnbt < mns:
        out.append(Finding("batch_limits", f"max_num_batched_tokens ({mnbt}) must be greater than or equal to "
                           f"max_num_seqs ({mns})."))
    if not chunked_prefill and mnbt < mml:
        out.append(Finding("batch_limits", f"max_num_batched_tokens ({mnbt}) is smaller than max_model_len "
                           f"({mml}). This effectively limits the maximum sequence length to "
                           "max_num_batched_tokens and makes vLLM reject longer sequences. Please increase "
                           "max_num_batched_tokens or decrease max_model_len."))
    return out


def free_memory_errors(*, total: float, requested: float, util: float, world: int) -> list[Finding]:
    """The worker's first snapshot: free memory must cover util x total (request_memory in gpu_worker.py);
    the CUDA context (and NCCL's buffers under TP/PP) sit outside the request."""
    outside = (CONTEXT_GIB + (NCCL_GIB if world > 1 else 0)) * GiB
    if requested <= total - outside:
        return []
    free = total - outside
    return [Finding("insufficient_free_memory", f"Free memory on device ({fmt_gib(free)}/{fmt_gib(total)} GiB) on "
                    f"startup is less than desired GPU memory utilization ({util}, {fmt_gib(requested)} GiB). "
                    "Decrease GPU memory utilization or reduce GPU memory used by other processes.")]


def pp_partition_override(text: str | None, num_layers: int, pp: int,
                          errors: list[Finding]) -> tuple[int, ...] | None:
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


# --- KV-cache checks, after the memory profile ----------------------------------------------------------
def kv_cache_errors(layout: kvm.KvLayout, *, available: float, num_blocks: int, blocks_per_request: int,
                    max_model_len: int, block_size: int, rules: VersionRules, max_in_flight_tokens: int,
                    max_num_batched_tokens: int) -> list[Finding]:
    """check_enough_kv_cache_memory (vllm/v1/core/kv_cache_planning.py, 0.33): one request of max_model_len
    must fit the available memory less the null block (the pool's first block, never handed to a request)
    from the release that reserves it (VersionRules.null_block_in_check); V0 compares max_model_len with
    the tokens of the blocks."""
    bpb = layout.bytes_per_block
    mml = max_model_len
    if available <= 0 or num_blocks <= 0:
        return [Finding("no_kv_memory", "No available memory for the cache blocks. Try increasing "
                        "`gpu_memory_utilization` when initializing the engine.")]
    check = available - bpb if rules.null_block_in_check else available
    needed = bpb * blocks_per_request
    if rules.engine == "v0":
        capacity = num_blocks * block_size
        if mml > capacity:
            return [Finding("kv_cache_too_small", f"The model's max seq len ({mml}) is larger than the maximum "
                            f"number of tokens that can be stored in KV cache ({capacity}). Try increasing "
                            "`gpu_memory_utilization` or decreasing `max_model_len` when initializing the "
                            "engine.")]
        return []
    if needed <= check:
        return []
    est = kvm.largest_fitting_len(layout, int(check), mml, in_flight_tokens=max_in_flight_tokens,
                                  legacy_swa=rules.legacy_swa, mnbt=max_num_batched_tokens)
    est_msg = f"Based on the available memory, the estimated maximum model length is {est}. " if est > 0 else ""
    return [Finding("kv_cache_too_small", f"To serve at least one request with the model's max seq len ({mml}), "
                    f"({fmt_gib(needed)} GiB KV cache is needed, which is larger than the available KV cache "
                    f"memory ({fmt_gib(check)} GiB). {est_msg}Try increasing `gpu_memory_utilization` or "
                    "decreasing `max_model_len` when initializing the engine.")]


def pinned_kv_oom(args: EngineArgs, stages_gib: Sequence[tuple[float, float, float]], kv_bytes: float,
                  total: float, platform: Platform, gpu: Gpu) -> list[Finding]:
    """A KV size the user pins (--kv-cache-memory-bytes, --num-gpu-blocks-override) skips vLLM's fit
    arithmetic: gpu_worker.determine_available_memory returns kv_cache_memory_bytes unchecked and
    kv_cache_planning applies the override unchecked. The KV tensors are then allocated with
    torch.zeros next to the weights and the non-torch memory, and the CUDA graphs are captured after
    them, so a pin larger than what is left ends in torch.OutOfMemoryError.

    `stages_gib`: (weights, non-torch, CUDA-graph) GiB of each pipeline stage."""
    if not platform.checks_device_memory or gpu.unified_memory or (args.kv_cache_memory_bytes is None
                                                                   and args.num_gpu_blocks_override is None):
        return []
    weights_gib, nt_gib, cg_gib = max(stages_gib, key=lambda s: s[0] + s[1] + s[2])
    free = total - CONTEXT_GIB * GiB - (weights_gib + nt_gib + cg_gib) * GiB
    if kv_bytes <= free:
        return []
    flag = "--num-gpu-blocks-override" if args.num_gpu_blocks_override is not None else "--kv-cache-memory-bytes"
    return [Finding("kv_cache_oom", f"CUDA out of memory. Tried to allocate {fmt_gib(kv_bytes)} GiB of KV cache "
                    f"({flag} skips vLLM's memory check). GPU 0 has a total capacity of {fmt_gib(total)} GiB of "
                    f"which about {fmt_gib(max(0.0, free))} GiB is free after the weights "
                    f"({fmt_gib(weights_gib * GiB)} GiB), the CUDA context and vLLM's other buffers.")]


def weights_fit_errors(weights_gib: float, total: float, platform: Platform) -> list[Finding]:
    """The largest stage's weights (GiB) must load beside the CUDA context (else the load itself runs out)."""
    if not platform.checks_device_memory or weights_gib * GiB <= total - CONTEXT_GIB * GiB:
        return []
    return [Finding("weights_do_not_fit", f"The weights need {weights_gib:.2f} GiB per GPU but the device "
                    f"has {total / GiB:.2f} GiB: loading would run out of memory. Use more GPUs "
                    "(tensor/pipeline parallelism), a quantized checkpoint or a larger GPU.")]
