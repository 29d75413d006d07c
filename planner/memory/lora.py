"""LoRA serving memory: the GPU adapter slots vLLM allocates with --enable-lora, per TP rank and PP stage.

Source read: vLLM 0.33.0 (vllm/lora/):
* config/lora.py LoRAConfig: max_lora_rank in MaxLoRARanks, max_loras >= 1, max_cpu_loras defaults to
  max_loras and must be >= it, lora_dtype "auto" = the model dtype (verify_with_model_config);
* v1/worker/gpu/model_runner.py load_model: load_lora_model runs inside the DeviceMemoryProfiler of the
  model load, so the slots are part of "Model loading took X GiB" (the weights figure here);
* lora/model_manager.py LoRAModelManager._create_lora_modules: every LinearBase / MoERunner of the
  language model whose name is in get_supported_lora_modules (plus the model's embedding_modules)
  is wrapped with max_loras (`lora_slots`) slots; tower/connector modules have no punica wrapper
  unless enable_tower_connector_lora, so a multimodal model gets slots on its language model only;
* lora/layers/base_linear.py create_lora_weights: lora_a (max_loras, 1, rank, input) and lora_b
  (max_loras, 1, output, rank) per slice, column-parallel output and row-parallel input per TP rank;
  fully_sharded_loras divides the column layers' lora_a rank and the row layers' lora_b output by TP;
* lora/layers/column_parallel_linear.py: qkv_proj packed from q/k/v has 3 slices (Q and K/V shard
  sizes), gate_up_proj 2; lora/layers/fused_moe.py: w13/w2 per local expert (one w13 slice for the
  3D-weight MoE models, gpt-oss); lora/layers/vocab_parallel_embedding.py and logits_processor.py:
  embed_tokens (vocab x rank + hidden x rank) and the lm_head's LogitsProcessorWithLoRA (rank x hidden +
  vocab x rank), for models that declare embedding_modules;
* lora/punica_wrapper/punica_base.py + punica_gpu.py + ops/triton_ops/lora_kernel_metadata.py: the
  index and kernel-metadata buffers sized by max_num_batched_tokens / max_num_seqs;
* v1/worker/lora_model_runner_mixin.py: the profile run activates max_loras dummy LoRAs built on the CPU
  (model_manager.create_dummy_lora(..., "cpu")) and copied into the slots: no GPU memory beyond the slots.
The CPU cache (max_cpu_loras adapters) is host memory: it takes no GPU memory.

Releases that still had --lora-extra-vocab-size (0.6-0.11) also kept extra-vocab rows in the embedding and
lm_head slots (max_loras x extra_vocab x hidden, each); sized here from the flag's value or its default 256.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.errors import PlannerError
from planner.memory.findings import Finding
from planner.memory.spec import ModelSpec
from planner.release.engine_args import EngineArgs
from planner.release.vllm_flags import flag_exists
from planner.release.vllm_versions import VersionRules

# Model types whose vLLM class declares embedding_modules (embed_tokens, lm_head get LoRA slots):
# llama.py (and the classes built on it: mistral, phi3, llama4 text), qwen3.py, qwen3_moe.py, mixtral.py.
_EMBEDDING_LORA = {"llama", "mistral", "phi3", "llama4_text", "qwen3", "qwen3_moe", "mixtral"}
# packed_modules_mapping where the checkpoint already fuses q/k/v and gate/up (one slice): phi3.
_FUSED_CHECKPOINT = {"phi3"}
# is_3d_moe_weight = True (FusedMoE3DWithLoRA: one w13 slice).
_MOE_3D = {"gpt_oss"}
# LogitsProcessorWithLoRA.create_lora_weights refuses a larger vocab.
MAX_LORA_VOCAB = 258048
LORA_EXTRA_VOCAB_DEFAULT = 256


@dataclass(frozen=True)
class LoraSettings:
    """LoRAConfig as vLLM resolves it."""

    max_loras: int
    max_lora_rank: int
    max_cpu_loras: int
    lora_bytes: int              # bytes per element of the slots (lora_dtype; auto = the model dtype)
    fully_sharded: bool
    extra_vocab: int = 0         # --lora-extra-vocab-size on the releases that have it


def lora_settings(args: EngineArgs, rules: VersionRules, act_dtype_bytes: int) -> LoraSettings | None:
    """The LoRA config of `args`, or None without --enable-lora. A rank or count vLLM's parser or
    LoRAConfig refuses is bad input (PlannerError)."""
    if not args.enable_lora:
        return None
    if args.max_lora_rank not in rules.lora_ranks:
        raise PlannerError(f"--max-lora-rank: max_lora_rank ({args.max_lora_rank}) must be one of "
                           f"{', '.join(map(str, rules.lora_ranks))} in vLLM {rules.version}",
                           code="bad_flag_value")
    lora_bytes = act_dtype_bytes if args.lora_dtype == "auto" else 2
    extra = 0
    if flag_exists("--lora-extra-vocab-size", rules.version):
        given = next((v for k, v in args.passthrough if k == "--lora-extra-vocab-size"), None)
        try:
            extra = int(given) if given is not None else LORA_EXTRA_VOCAB_DEFAULT
        except ValueError:
            raise PlannerError(f"--lora-extra-vocab-size: invalid value {given!r}: expected an integer",
                               code="bad_flag_value") from None
    return LoraSettings(max_loras=args.max_loras, max_lora_rank=args.max_lora_rank,
                        max_cpu_loras=args.max_cpu_loras if args.max_cpu_loras is not None else args.max_loras,
                        lora_bytes=lora_bytes, fully_sharded=args.fully_sharded_loras, extra_vocab=extra)


def lora_findings(lora: LoraSettings, spec: ModelSpec, tp: int) -> list[Finding]:
    """What vLLM refuses at startup with this LoRA config (LoRAConfig validation, the layers' checks)."""
    out: list[Finding] = []
    if lora.max_cpu_loras < lora.max_loras:
        out.append(Finding("lora_config", f"max_cpu_loras ({lora.max_cpu_loras}) must be >= max_loras "
                           f"({lora.max_loras})."))
    if lora.fully_sharded and tp > 1 and lora.max_lora_rank % tp:
        out.append(Finding("lora_config", f"fully_sharded_loras splits max_lora_rank ({lora.max_lora_rank}) over "
                           f"tensor parallel size {tp}, which does not divide it."))
    if spec.model_type in _EMBEDDING_LORA and spec.vocab_size > MAX_LORA_VOCAB:
        out.append(Finding("lora_config", f"When using LoRA, vocab size must be <= {MAX_LORA_VOCAB}"))
    return out


def _linear(n_slices: int, in_size: int, out_sizes: tuple[int, ...], rank_a: int, rank_b: int) -> list[int]:
    """Elements per LoRA of one wrapped linear's slot tensors: lora_a (rank_a x in) per slice, then
    lora_b (out x rank_b) per slice (create_lora_weights allocates them in this order)."""
    return [rank_a * in_size] * n_slices + [out * rank_b for out in out_sizes]


def _layer_tensors(spec: ModelSpec, layer_index: int, *, tp: int, ep: bool, lora: LoraSettings) -> list[int]:
    """Elements per LoRA of each slot tensor of one decoder layer on one TP rank."""
    r = lora.max_lora_rank
    fs = lora.fully_sharded and tp > 1
    col_rank = r // tp if fs else r          # ColumnParallel: lora_a rank (S-LoRA shards it)
    h = spec.hidden_size
    row_out = h // tp if fs else h           # RowParallel: lora_b output
    layer = spec.layers[layer_index]
    fused = spec.model_type in _FUSED_CHECKPOINT
    out: list[int] = []
    if layer.attention == "mla":
        heads = max(1, spec.num_heads // tp)
        nope, rope, v = spec.qk_nope_head_dim, spec.qk_rope_head_dim, spec.v_head_dim
        if spec.q_lora_rank:
            # fused_qkv_a_proj (MergedReplicatedLinear, 2 slices) + q_b_proj (ColumnParallel).
            out += _linear(2, h, (spec.q_lora_rank, spec.kv_lora_rank + rope), r, r)
            out += _linear(1, spec.q_lora_rank, (heads * (nope + rope),), col_rank, r)
        else:
            out += _linear(1, h, (heads * (nope + rope),), col_rank, r)            # q_proj
            out += _linear(1, h, (spec.kv_lora_rank + rope,), r, r)                # kv_a_proj_with_mqa
        out += _linear(1, spec.kv_lora_rank, (heads * (nope + v),), col_rank, r)  # kv_b_proj
        out += _linear(1, heads * v, (row_out,), r, r)                             # o_proj
    elif layer.attention not in ("linear", "none"):
        q = max(1, spec.num_heads // tp) * spec.head_dim
        kv = max(1, spec.num_kv_heads // tp) * spec.head_dim
        if fused:
            out += _linear(1, h, (q + 2 * kv,), col_rank, r)                       # QKVParallelLinearWithLoRA
        else:
            out += _linear(3, h, (q, kv, kv), col_rank, r)                         # MergedQKVParallelLinearWithLoRA
        out += _linear(1, max(1, spec.num_heads // tp) * spec.v_head_dim, (row_out,), r, r)  # o_proj
    if layer.moe:
        e = spec.num_experts
        e_local = -(-e // tp) if ep else e
        moe_tp = 1 if ep else tp             # EP collapses the MoE TP size to 1 (fused_moe.py)
        inter = spec.moe_intermediate_size // moe_tp
        moe_fs = lora.fully_sharded and moe_tp > 1
        w13_rank = r // moe_tp if moe_fs else r
        w2_out = h // moe_tp if moe_fs else h
        out += _linear(1, h, (e,), r, r)     # the router gate (ReplicatedLinear)
        if spec.model_type in _MOE_3D:
            # FusedMoE3DWithLoRA: w13 lora_a (E, rank, H), lora_b (E, 2I, r); w2 lora_a (E, r, I), lora_b (E, H, r).
            out += [e_local * w13_rank * h, e_local * r * inter, e_local * 2 * inter * r, e_local * w2_out * r]
        else:
            # FusedMoEWithLoRA: w1/w3 lora_a (E, rank, H) each, w2 lora_a (E, r, I); w1/w3 lora_b (E, I, r)
            # each, w2 lora_b (E, H, r).
            out += [e_local * w13_rank * h] * 2 + [e_local * r * inter]
            out += [e_local * inter * r] * 2 + [e_local * w2_out * r]
        if spec.shared_expert_intermediate_size:
            si = spec.shared_expert_intermediate_size // tp
            out += _linear(2, h, (si, si), col_rank, r) + _linear(1, si, (row_out,), r, r)
    elif spec.intermediate_size and layer.attention != "none":
        inter = spec.intermediate_size // tp
        if not spec.mlp_gated:
            out += _linear(1, h, (inter,), col_rank, r)                            # up_proj / fc1
        elif fused:
            out += _linear(1, h, (2 * inter,), col_rank, r)                        # one fused gate_up slice
        else:
            out += _linear(2, h, (inter, inter), col_rank, r)                      # MergedColumnParallel
        out += _linear(1, inter, (row_out,), r, r)                                 # down_proj
    return out


def lora_slot_tensors(spec: ModelSpec, layers: range, *, first: bool, last: bool, tp: int, ep: bool,
                      lora: LoraSettings) -> list[int]:
    """Bytes of each LoRA slot tensor (max_loras adapters each) one TP rank of one PP stage allocates, in
    vLLM's order (the model's modules in order: embedding, decoder layers, then the lm_head's)."""
    per_lora: list[int] = []
    embedding = spec.model_type in _EMBEDDING_LORA
    r, h, v, extra = lora.max_lora_rank, spec.hidden_size, spec.vocab_size, lora.extra_vocab
    if embedding and first:
        # VocabParallelEmbeddingWithLoRA: lora_a (vocab, r) over the full vocab, lora_b (1, H, r); the
        # releases with an extra vocabulary also hold (extra, H) embeddings.
        per_lora += [(v + extra) * r, h * r] + ([extra * h] if extra else [])
    for i in layers:
        per_lora += _layer_tensors(spec, i, tp=tp, ep=ep, lora=lora)
    if embedding and last:
        # LogitsProcessorWithLoRA: lora_a (1, r, H), lora_b (1, vocab, r). Tied embeddings too:
        # ParallelLMHead.tie_weights keeps the lm_head module, which gets its own slots.
        per_lora += [r * h, (v + extra) * r] + ([extra * h] if extra else [])
    scale = lora.max_loras * lora.lora_bytes
    return [n * scale for n in per_lora if n > 0]


def lora_slot_bytes(spec: ModelSpec, layers: range, *, first: bool, last: bool, tp: int, ep: bool,
                    lora: LoraSettings) -> int:
    """Sum of lora_slot_tensors."""
    return sum(lora_slot_tensors(spec, layers, first=first, last=last, tp=tp, ep=ep, lora=lora))


def punica_buffer_tensors(*, max_num_batched_tokens: int, max_num_seqs: int, max_loras: int) -> list[int]:
    """Bytes of PunicaWrapperGPU's buffers: PunicaWrapperBase's four int64 index vectors per token and three
    per sequence, then two LoRAKernelMeta (two int32 vectors per token, three small int32 vectors)."""
    t, s, n = max_num_batched_tokens, max_num_seqs, max_loras
    meta = [t * 4, t * 4, (n + 1) * 4, (n + 1) * 4, (n + 2) * 4]
    return [t * 8] * 4 + [s * 8] * 3 + meta + meta


def lora_profile_bytes(spec: ModelSpec, *, num_tokens: int, tp: int, lora: LoraSettings) -> int:
    """What the dummy LoRAs add to the profile's activation peak: the fp32 shrink buffer
    (n_slices x tokens x rank) of the gate_up projection, live beside its output (punica_gpu.add_lora_linear)."""
    if not lora:
        return 0
    slices = 2 if spec.mlp_gated else 1
    rank = lora.max_lora_rank // tp if lora.fully_sharded and tp > 1 else lora.max_lora_rank
    return slices * num_tokens * rank * 4
