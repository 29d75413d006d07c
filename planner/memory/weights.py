"""Weight bytes per GPU: what vLLM's "Model loading took X GiB" reports for one TP rank / PP stage.

vLLM measures the torch-allocated bytes after loading minus before (DeviceMemoryProfiler), so the
figure is the sum of the *allocator blocks* of every resident parameter, not of the parameters alone.
Two mechanisms are modelled:

1. The tensors themselves, module by module, split the way vLLM splits them (vllm-memory.md §5-6):
   column-parallel (qkv, gate_up) divide the output dim, row-parallel (o_proj, down) the input dim,
   vocab-parallel embeddings pad the vocab to a multiple of 64 first, norms/routers are replicated,
   KV heads are replicated when TP > kv heads, MoE experts are split by TP (or whole experts by EP).
   The PP split follows `get_pp_indices` (vllm/distributed/utils.py).
2. PyTorch's CUDA caching allocator (c10/cuda/CUDACachingAllocator.cpp): every request is rounded to
   512 B; requests of 10 MiB or more get their own segment rounded up to 2 MiB, and a block is not split
   when the remainder is at most 1 MiB, so that remainder counts as allocated. Requests of 1-10 MiB are
   carved from 20 MiB segments; requests up to 1 MiB from 2 MiB small-pool segments.
   Fitted on nothing: with it, Qwen2-7B's logged 14.2488 GiB (TP1) is predicted to 0.001 GiB
   (vllm-runs c001), where the bare parameter bytes are 0.064 GiB short.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from planner.memory.parallel import Layout
from planner.memory.quant import QuantScheme, linear_bytes
from planner.memory.spec import ModelSpec

_MiB = 2**20
_SMALL = 1 * _MiB          # kSmallSize
_MIN_LARGE = 10 * _MiB     # kMinLargeAlloc
_LARGE_BUF = 20 * _MiB     # kLargeBuffer
_SMALL_BUF = 2 * _MiB      # kSmallBuffer
_ROUND_LARGE = 2 * _MiB    # kRoundLarge
VOCAB_PAD = 64             # DEFAULT_VOCAB_PADDING_SIZE (vocab_parallel_embedding.py)


def pad_vocab(vocab: int) -> int:
    return -(-vocab // VOCAB_PAD) * VOCAB_PAD


def pp_partition(num_layers: int, pp: int, override: tuple[int, ...] | None = None) -> list[int]:
    """Layers per pipeline stage, as vLLM's get_pp_indices: remainder goes to the stages counted back
    from the second-to-last, so the first and last stages (embedding, lm_head) stay light.
    `override` is VLLM_PP_LAYER_PARTITION, already checked by the caller."""
    if override:
        return list(override)
    if pp <= 1:
        return [num_layers]
    parts = [num_layers // pp] * pp
    for i in range(2, num_layers % pp + 2):
        parts[-i] += 1
    return parts


def stage_layers(num_layers: int, pp: int, stage: int, override: tuple[int, ...] | None = None) -> range:
    parts = pp_partition(num_layers, pp, override)
    start = sum(parts[:stage])
    return range(start, start + parts[stage])


def allocated_bytes(sizes: Iterable[int]) -> int:
    """Bytes the caching allocator reports as allocated after `sizes` are requested in order (no frees)."""
    total = 0
    free_large: list[int] = []  # sizes of free blocks in the large pool, sorted
    small_free = 0              # free bytes left in small-pool segments (2 MiB, 512 B granularity)
    for size in sizes:
        if size <= 0:
            continue
        rounded = max(512, -(-size // 512) * 512)
        if rounded <= _SMALL:
            if small_free < rounded:
                small_free += _SMALL_BUF
            small_free -= rounded
            total += rounded
            continue
        i = bisect.bisect_left(free_large, rounded)
        if i < len(free_large):
            block = free_large.pop(i)
        else:
            block = _LARGE_BUF if rounded < _MIN_LARGE else -(-rounded // _ROUND_LARGE) * _ROUND_LARGE
        remaining = block - rounded
        if remaining > _SMALL:
            bisect.insort(free_large, remaining)
            total += rounded
        else:
            total += block
    return total


@dataclass(frozen=True)
class RankWeights:
    """Weights of one GPU (one TP rank of one PP stage)."""

    tensor_bytes: int        # sum of parameter bytes
    allocated_bytes: int     # what vLLM logs (allocator blocks)
    quantized_bytes: int     # bytes in quantized linear layers (for reporting)


def _col(n: int, tp: int) -> int:
    return max(1, n // tp)


def _round_up(x: int, m: int) -> int:
    return -(-x // m) * m


def rank_tensor_sizes(spec: ModelSpec, scheme: QuantScheme, *, tp: int, pp: int, stage: int, ep: bool,
                      act_bytes: int, moe_marlin: bool = False, partition: tuple[int, ...] | None = None,
                      layout: Layout | None = None) -> tuple[list[int], int]:
    """Tensor sizes (bytes) of one rank in vLLM's creation order, and the bytes in quantized linears.

    `layout` carries data and expert parallelism (planner.memory.parallel): the MoE layers are split over its
    TP x DP ranks; without it the layout is TP x PP with `ep`."""
    lay = layout or Layout(tp=tp, pp=pp, ep=ep)
    sizes: list[int] = []
    qbytes = 0
    h = spec.hidden_size
    first, last = stage == 0, stage == pp - 1
    vocab_rank = pad_vocab(spec.vocab_size) // tp

    li = 0

    def lin(n_out: int, k_in: int, *, module: str, quantized: bool = True, shards: int = 1) -> None:
        nonlocal qbytes
        # per layer: a checkpoint may keep some layers' linears 16-bit (Meta's Llama-3.1-405B FP8)
        q = quantized and not scheme.experts_only and not scheme.skips(module, li)
        parts = linear_bytes(scheme, n_out, k_in, act_bytes, quantized=q, shards=shards)
        sizes.extend(parts)
        if q and scheme.is_quantized:
            qbytes += sum(parts)

    if first:
        sizes.append(vocab_rank * h * act_bytes)              # embed_tokens
        if spec.vision_params:
            sizes.append(spec.vision_params * act_bytes // tp)
    elif last and spec.tie_word_embeddings and pp > 1:
        sizes.append(vocab_rank * h * act_bytes)              # the last stage builds its own copy
    rope_done = False
    heads_r = _col(spec.num_heads, tp)
    kv_r = max(1, spec.num_kv_heads // tp)
    for li in stage_layers(spec.num_layers, pp, stage, partition):
        layer = spec.layers[li]
        if not rope_done and layer.attention != "linear":
            # get_rope() builds one cos/sin cache per distinct RoPE, shared by all layers:
            # [positions, rotary_dim] in the model dtype (rotary_embedding/base.py).
            rope_done = True
            sizes.append(spec.rope_cache_elements * act_bytes)
        if layer.attention == "mla":
            nope, rope, v = spec.qk_nope_head_dim, spec.qk_rope_head_dim, spec.v_head_dim
            if spec.q_lora_rank:
                lin(spec.q_lora_rank + spec.kv_lora_rank + rope, h, module="self_attn.fused_qkv_a_proj")
                sizes.append(spec.q_lora_rank * act_bytes)    # q_a_layernorm
                lin(heads_r * (nope + rope), spec.q_lora_rank, module="self_attn.q_b_proj")
            else:
                lin(heads_r * (nope + rope), h, module="self_attn.q_proj")
                lin(spec.kv_lora_rank + rope, h, module="self_attn.kv_a_proj_with_mqa")
            sizes.append(spec.kv_lora_rank * act_bytes)       # kv_a_layernorm
            lin(heads_r * (nope + v), spec.kv_lora_rank, module="self_attn.kv_b_proj")
            lin(h, heads_r * v, module="self_attn.o_proj")
            # MLA absorbs kv_b_proj into W_UK_T / W_UV, a dequantized 16-bit copy kept alongside it
            # (MLACommonImpl.process_weights_after_loading).
            sizes.append(heads_r * (nope + v) * spec.kv_lora_rank * act_bytes)
        elif layer.attention != "linear":
            lin((heads_r + 2 * kv_r) * spec.head_dim, h, module="self_attn.qkv_proj", shards=3)
            if spec.qkv_bias:
                sizes.append((heads_r + 2 * kv_r) * spec.head_dim * act_bytes)
            lin(h, heads_r * spec.v_head_dim, module="self_attn.o_proj")
            if spec.o_bias:
                sizes.append(h * act_bytes)
            if spec.qk_norm:
                sizes.extend((spec.head_dim * act_bytes, spec.head_dim * act_bytes))
            if spec.attn_sinks:
                sizes.append(heads_r * act_bytes)
        if layer.moe:
            e = spec.num_experts
            # Whole experts over the EP ranks (the first rank holds the most), or every expert split by the
            # MoE's TP over TP x DP ranks (planner.memory.parallel.Layout).
            e_local = lay.max_experts_per_rank(spec)
            inter_r = spec.moe_intermediate_size // lay.moe_tp
            h_moe = h
            if scheme.kind == "mxfp4":
                # MXFP4 MoE kernels pad the expert dims (quantization/mxfp4.py, fused_moe/oracle/mxfp4.py):
                # Marlin needs n % 256 and k % 128 (hidden -> 256, intermediate -> 128); the Triton
                # kernels' Hopper layout pads hidden to 256 and intermediate to 64. Checked on gpt-oss-120b:
                # Marlin 65.97 GiB logged vs 65.8 (c038), Triton 64.38 vs 64.3 (c008), TP4 17.22 vs 17.1 (c006).
                h_moe = _round_up(h, 256)
                inter_r = _round_up(inter_r, 128 if moe_marlin else 64)
            sizes.append(e * h * act_bytes)                   # router gate: replicated, unquantized
            if spec.router_bias:
                sizes.append(e * act_bytes)
            if spec.model_type.startswith("deepseek_v3") or spec.model_type == "kimi_k2":
                sizes.append(e * 4)                           # e_score_correction_bias (fp32)
            expert_q = scheme.is_quantized and not scheme.skips("mlp.experts", li)
            if expert_q:
                w13 = linear_bytes(scheme, 2 * inter_r, h_moe, act_bytes, shards=2)
                w2 = linear_bytes(scheme, h_moe, inter_r, act_bytes)
            else:
                w13, w2 = [2 * inter_r * h * act_bytes], [h * inter_r * act_bytes]
            # FusedMoE holds all local experts in one tensor per parameter.
            sizes.extend(x * e_local for x in w13)
            sizes.extend(x * e_local for x in w2)
            if expert_q:
                qbytes += (sum(w13) + sum(w2)) * e_local
            if spec.expert_bias:
                sizes.extend((e_local * 2 * inter_r * act_bytes, e_local * h_moe * act_bytes))
            if spec.shared_expert_intermediate_size:
                si = spec.shared_expert_intermediate_size // lay.shared_expert_tp(spec)
                lin(2 * si, h, module="mlp.shared_expert.gate_up_proj", shards=2)
                lin(h, si, module="mlp.shared_expert.down_proj")
                if spec.shared_expert_gate:
                    sizes.append(h * act_bytes)
        elif spec.intermediate_size:
            inter_r = spec.intermediate_size // tp
            if spec.mlp_gated:
                lin(2 * inter_r, h, module="mlp.gate_up_proj", shards=2)
            else:
                lin(inter_r, h, module="mlp.up_proj")
            if spec.mlp_bias:
                sizes.append((2 if spec.mlp_gated else 1) * inter_r * act_bytes)
            lin(h, inter_r, module="mlp.down_proj")
            if spec.mlp_bias:
                sizes.append(h * act_bytes)
        sizes.extend([h * act_bytes] * spec.norms_per_layer)
    if last:
        sizes.append(h * act_bytes)                           # final norm
        if not spec.tie_word_embeddings:
            lm_q = scheme.lm_head_quantized and scheme.is_quantized
            parts = linear_bytes(scheme, vocab_rank, h, act_bytes, quantized=lm_q)
            sizes.extend(parts)
            if lm_q:
                qbytes += sum(parts)
    return sizes, qbytes


@lru_cache(maxsize=4096)
def rank_weights(spec: ModelSpec, scheme: QuantScheme, *, tp: int, pp: int, stage: int, ep: bool,
                 act_bytes: int, moe_marlin: bool = False, partition: tuple[int, ...] | None = None,
                 layout: Layout | None = None) -> RankWeights:
    sizes, qbytes = rank_tensor_sizes(spec, scheme, tp=tp, pp=pp, stage=stage, ep=ep, act_bytes=act_bytes,
                                      moe_marlin=moe_marlin, partition=partition, layout=layout)
    return RankWeights(tensor_bytes=sum(sizes), allocated_bytes=allocated_bytes(sizes), quantized_bytes=qbytes)


# --- exact weights from a checkpoint's safetensors headers ---------------------------------------------

_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1,
                "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1, "F4": 1}
_FLOAT = {"F64", "F32", "F16", "BF16"}
_LAYER_RE = re.compile(r"(?:^|\.)layers\.(\d+)\.")
_COLUMN = ("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj", "q_b_proj", "kv_b_proj", "w1", "w3",
           "gate_up_proj", "qkv_proj", "query_key_value", "c_fc", "wqkv")
_ROW = ("o_proj", "down_proj", "w2", "dense_4h_to_h", "c_proj", "out_proj", "wo")
# Parameters vLLM keeps in fp32 whatever the model dtype.
_KEEP_FP32 = ("e_score_correction_bias", "A_log", "dt_bias")


_FUSE = {"q_proj": "qkv_proj", "k_proj": "qkv_proj", "v_proj": "qkv_proj", "gate_proj": "gate_up_proj",
         "up_proj": "gate_up_proj", "w1": "w13", "w3": "w13", "w2": "w2_", "down_proj": "down_proj"}
_EXPERT_RE = re.compile(r"\.experts\.\d+\.")


def _fused_key(name: str) -> str:
    """The vLLM parameter a checkpoint tensor is loaded into: q/k/v -> qkv_proj, gate/up -> gate_up_proj,
    every expert's w1/w3 -> one w13 tensor and w2/down -> one w2 tensor per layer (FusedMoE)."""
    parts = name.split(".")
    if len(parts) >= 2 and parts[-2] in _FUSE:
        parts[-2] = _FUSE[parts[-2]]
    key = ".".join(parts)
    if ".experts." in key:
        key = _EXPERT_RE.sub(".experts.", key)
    return key


def checkpoint_rank_bytes(tensors: Iterable[tuple[str, str, tuple[int, ...]]], spec: ModelSpec, *, tp: int,
                          pp: int, stage: int, ep: bool, act_bytes: int,
                          partition: tuple[int, ...] | None = None,
                          layout: Layout | None = None) -> tuple[int, int]:
    """(tensor bytes, allocated bytes) of one rank from the checkpoint's own tensors.

    Each tensor is placed on its PP stage by its layer index, divided by TP according to its role
    (column/row parallel, vocab parallel, replicated), and converted to the model dtype when it is a
    float tensor (vLLM casts float weights to --dtype on load; quantized payloads keep their bytes).
    Tensors vLLM fuses into one parameter (q/k/v, gate/up, all experts of a layer) are summed before the
    allocator model sees them. The RoPE cache and MLA's absorbed matrices, which are not checkpoint
    tensors, are added as in the config arithmetic. MTP/draft layers (index >= num_hidden_layers) are not
    loaded without speculative decoding.
    """
    layers = stage_layers(spec.num_layers, pp, stage, partition)
    first, last = stage == 0, stage == pp - 1
    kv_share = max(1.0 / tp, 1.0 / spec.num_kv_heads) if spec.num_kv_heads else 1.0 / tp
    lay = layout or Layout(tp=tp, pp=pp, ep=ep)
    # The routed experts' share of one rank: its whole experts under EP, 1 / (TP x DP) of each without.
    expert_share = (lay.max_experts_per_rank(spec) / spec.num_experts if lay.use_ep else 1.0 / lay.moe_tp) \
        if spec.num_experts else 1.0 / tp
    shared_share = 1.0 / lay.shared_expert_tp(spec)
    fused: dict[str, int] = {}
    for name, dtype, shape in tensors:
        n = math.prod(shape) if shape else 1
        nbytes = n * (act_bytes if dtype in _FLOAT and not any(k in name for k in _KEEP_FP32)
                      else _DTYPE_BYTES.get(dtype, 2))
        m = _LAYER_RE.search(name)
        share: float | None = None
        if m and not any(v in name for v in ("vision", "visual")):
            idx = int(m.group(1))
            if idx >= spec.num_layers or idx not in layers:
                continue
            leaf = name.rsplit(".", 2)
            module = leaf[-2] if len(leaf) >= 2 else name
            if ".experts." in name and "shared" not in name:
                share = expert_share
            elif "shared_expert" in name and (module in _COLUMN or module in _ROW):
                share = 1.0 if (name.endswith(".bias") and module in _ROW) else shared_share
            elif module in ("k_proj", "v_proj") and not spec.is_mla:
                share = kv_share
            elif module in _COLUMN or module in _ROW:
                share = 1.0 if (name.endswith(".bias") and module in _ROW) else 1.0 / tp
            else:
                share = 1.0                                    # norms, routers, kv_a_proj, q_a_proj
        elif "embed_tokens" in name or "wte" in name or "word_embeddings" in name:
            if first or (last and spec.tie_word_embeddings and pp > 1):
                nbytes = pad_vocab(spec.vocab_size) * (nbytes // max(1, shape[0] if shape else 1))
                share = 1.0 / tp
        elif "lm_head" in name:
            if last:
                nbytes = pad_vocab(spec.vocab_size) * (nbytes // max(1, shape[0] if shape else 1))
                share = 1.0 / tp
        elif any(v in name for v in ("vision", "visual", "multi_modal_projector", "mm_projector")):
            if first:
                share = 1.0 / tp
        elif name.endswith("norm.weight") or ".norm." in name:
            if last:
                share = 1.0
        if share is None:
            continue
        key = _fused_key(name)
        fused[key] = fused.get(key, 0) + int(nbytes * share)
    sizes = list(fused.values())
    if any(spec.layers[i].attention != "linear" for i in layers):
        sizes.append(spec.rope_cache_elements * act_bytes)
    for i in layers:
        if spec.layers[i].attention == "mla":
            heads_r = max(1, spec.num_heads // tp)
            sizes.append(heads_r * (spec.qk_nope_head_dim + spec.v_head_dim) * spec.kv_lora_rank * act_bytes)
    return sum(sizes), allocated_bytes(sizes)
