"""ModelSpec: the architecture facts the memory model needs, read from a config.json dict.

Pure: no I/O. The same function reads a real config.json, a catalog snapshot or a Hub download, so all
three give identical results. Field resolution follows vLLM (`vllm/config/model.py`,
`vllm/transformers_utils/model_arch_config_convertor.py`) and transformers' config classes where a
config relies on class defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from planner.errors import PlannerError
from planner.memory.vision import vision_tower

# Keys vLLM tries, in order, for the KV-head count (CONFIG_FIELD_ALIASES in
# vllm/transformers_utils/config.py); absent all of them it uses num_attention_heads.
_KV_HEAD_KEYS = ("n_head_kv", "num_kv_heads", "num_key_value_heads", "multi_query_group_num",
                 "num_attention_groups")
# ModelConfig.get_and_verify_max_len: the smallest of these present keys is the derived maximum.
_MAX_LEN_KEYS = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length",
                 "model_max_length", "max_target_positions", "max_sequence_length", "max_seq_length",
                 "seq_len")
# RoPE types whose max_position_embeddings is already the scaled length (vLLM does not multiply).
_ROPE_NO_SCALE = {"su", "longrope", "llama3", "yarn", "deepseek_yarn", "deepseek_llama_scaling", "mrope",
                  "default"}

# Class defaults of transformers config classes (transformers 5.23, models/<name>/configuration_*.py)
# for fields that real configs commonly omit. Only missing keys are filled.
_CLASS_DEFAULTS: dict[str, dict[str, Any]] = {
    "gemma3_text": {"vocab_size": 262_208, "max_position_embeddings": 131_072, "head_dim": 256,
                    "sliding_window": 4096, "sliding_window_pattern": 6, "tie_word_embeddings": True,
                    "num_key_value_heads": 4, "hidden_activation": "gelu_pytorch_tanh"},
    "gemma2": {"tie_word_embeddings": True, "head_dim": 256},
    "gemma": {"tie_word_embeddings": True, "head_dim": 256},
    "llama": {"tie_word_embeddings": False},
    "mistral": {"tie_word_embeddings": False, "sliding_window": 4096},
    "mixtral": {"tie_word_embeddings": False},
    "qwen2": {"tie_word_embeddings": False},
    "qwen3": {"tie_word_embeddings": False},
    "qwen3_moe": {"tie_word_embeddings": False},
    "phi3": {"tie_word_embeddings": False},
    "llama4_text": {"tie_word_embeddings": False, "interleave_moe_layer_step": 1},
    "deepseek_v3": {"tie_word_embeddings": False},
    "deepseek_v2": {"tie_word_embeddings": False},
    "gpt_oss": {"tie_word_embeddings": False},
}
# Architectures whose MLP is not gated (two matrices instead of three).
_UNGATED_MLP = {"gpt2", "gpt_bigcode", "opt", "phi", "falcon", "bloom", "gpt_neox", "starcoder2", "gptj"}
# Model types with per-head q/k RMSNorm weights (head_dim each).
_QK_NORM = {"qwen3", "qwen3_moe", "gemma3_text", "olmo2", "olmoe", "qwen3_next", "glm4_moe"}
# Gemma 2/3 wrap each sub-block in pre- and post-norms (4 RMSNorms per layer).
_SANDWICH_NORM = {"gemma2", "gemma3_text", "gemma3n_text", "olmo2"}
_DTYPES = {"bfloat16": 2, "float16": 2, "float32": 4, "half": 2, "float": 4, "bf16": 2, "fp16": 2,
           "fp32": 4}


@dataclass(frozen=True)
class LayerSpec:
    """One decoder layer. `attention`: full | sliding | chunked | mla | linear (Mamba/GDN) | none."""

    attention: str
    window: int | None = None
    moe: bool = False


@dataclass(frozen=True)
class ModelSpec:
    """What the memory and perf models need of a model, read from its config.json."""

    name: str
    model_type: str
    architectures: tuple[str, ...]
    dtype: str                        # checkpoint dtype: bfloat16 | float16 | float32
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int                     # q/k head size (non-MLA)
    v_head_dim: int
    intermediate_size: int            # dense MLP
    vocab_size: int
    tie_word_embeddings: bool
    max_model_len: int                # vLLM's derived maximum
    max_len_key: str                  # the config key it came from (quoted in vLLM's error)
    layers: tuple[LayerSpec, ...]
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    qk_norm: bool = False
    attn_sinks: bool = False
    norms_per_layer: int = 2
    mlp_gated: bool = True
    # MoE
    num_experts: int = 0
    num_experts_per_tok: int = 0
    moe_intermediate_size: int = 0
    shared_expert_intermediate_size: int = 0
    shared_expert_gate: bool = False
    router_bias: bool = False
    expert_bias: bool = False
    # MLA (DeepSeek V2/V3/R1, Kimi K2)
    q_lora_rank: int | None = None
    kv_lora_rank: int = 0
    qk_nope_head_dim: int = 0
    qk_rope_head_dim: int = 0
    mtp_layers: int = 0
    # DeepSeek-V3.2's sparse attention (DeepseekV32ForCausalLM): a lightning indexer of index_n_heads x
    # index_head_dim scores every context token, and each query attends to the index_topk best (0: dense).
    index_topk: int = 0
    index_n_heads: int = 0
    index_head_dim: int = 0
    # Parameters outside the language model (vision tower + projector), kept in 16 bits.
    vision_params: int = 0
    # Not part of equality/hash: the scheme derived from it is passed to the memory model separately.
    quantization_config: dict[str, Any] | None = field(default=None, compare=False)
    model_max_length: int | None = None
    rope_cache_elements: int = 0      # cos/sin cache entries (positions x rotary_dim), all RoPEs

    def __hash__(self) -> int:
        # The memory model's caches (kv_layout, rank_weights) key on the spec hundreds of times per plan:
        # hash the compared fields once (the spec is frozen).
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash(tuple(getattr(self, f.name) for f in fields(self) if f.compare))
            object.__setattr__(self, "_hash", cached)
        return cached

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def dtype_bytes(self) -> int:
        return _DTYPES.get(self.dtype, 2)

    @property
    def has_sliding(self) -> bool:
        return any(layer.attention in ("sliding", "chunked") for layer in self.layers)

    @property
    def attention_layers(self) -> int:
        return sum(1 for layer in self.layers if layer.attention not in ("linear", "none"))


def _text_config(config: dict[str, Any]) -> dict[str, Any]:
    """Multimodal wrappers (Gemma 3, Llama 4, Qwen-VL, Mistral-3) nest the LM under text_config."""
    for key in ("text_config", "llm_config", "language_config"):
        inner = config.get(key)
        if isinstance(inner, dict) and inner:
            merged = {k: v for k, v in config.items() if k not in ("text_config", "vision_config")}
            merged.update(inner)
            if "quantization_config" in config and "quantization_config" not in inner:
                merged["quantization_config"] = config["quantization_config"]
            return merged
    return config


# Bounds that keep the arithmetic finite and fast. No real checkpoint comes near them (the largest
# decoders have ~130 layers and sizes below 10**7); beyond them a value is a typo or a corrupted file.
MAX_SIZE = 10**12
MAX_LAYERS = 10_000
_MAX_INT_BITS = 63          # any integer in a config: larger ones overflow float conversions downstream
_NESTED = ("text_config", "llm_config", "language_config", "vision_config", "rope_scaling", "rope_parameters",
           "quantization_config")


def _show(v: Any) -> str:
    """A value as an error quotes it: a 4,000-digit integer is named, not printed."""
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 64:
        return f"an integer of about {int(v.bit_length() * 0.30103) + 1:,} digits"   # str() of it may raise
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _bad_value(name: str, key: str, why: str) -> PlannerError:
    return PlannerError(f"{name}: config.json {key!r} {why}", code="malformed_config")


def _int(cfg: dict[str, Any], key: str, *, name: str, default: int | None = None, minimum: int = 1,
         maximum: int = MAX_SIZE) -> int:
    v = cfg.get(key, default)
    if v is None:
        raise PlannerError(f"{name}: config.json has no {key!r}", code="malformed_config")
    # transformers keeps a quoted number as a string and vLLM then fails on it (comparisons and
    # arithmetic with str), so a string is bad input here, not something to coerce.
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise _bad_value(name, key, f"must be a number, got {_show(v)}")
    if isinstance(v, float):
        if not math.isfinite(v) or v != int(v):
            raise _bad_value(name, key, f"must be an integer, got {_show(v)}")
        v = int(v)
    if v < minimum:
        raise _bad_value(name, key, f"must be >= {minimum}, got {_show(v)}")
    if v > maximum:
        raise _bad_value(name, key, f"= {_show(v)} is implausibly large (the limit is {maximum:,})")
    return v


def _opt_int(cfg: dict[str, Any], key: str, *, name: str, minimum: int = 0, maximum: int = MAX_SIZE) -> int | None:
    if cfg.get(key) is None:
        return None
    return _int(cfg, key, name=name, minimum=minimum, maximum=maximum)


def _opt_float(cfg: dict[str, Any], key: str, *, name: str, label: str | None = None) -> float | None:
    """An optional positive real (a RoPE factor): null/absent -> None, anything else finite and > 0."""
    v = cfg.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0 or v > MAX_SIZE:
        raise _bad_value(name, label or key, f"must be a positive number, got {_show(v)}")
    return float(v)


def _opt_dict(cfg: dict[str, Any], key: str, *, name: str) -> dict[str, Any] | None:
    """A sub-object (rope_scaling, quantization_config, ...): vLLM indexes it by key, so a list or a
    scalar there makes it fail; null is the same as absent."""
    v = cfg.get(key)
    if v is None:
        return None
    if not isinstance(v, dict):
        raise _bad_value(name, key, f"must be a JSON object, got {_show(v)}")
    return v


def check_plausible(config: Any, name: str = "model") -> None:
    """Refuse values that no arithmetic should meet, before anything (transformers included) reads them.

    Integers beyond 63 bits anywhere, a layer count above MAX_LAYERS (building per-layer tables for a
    million layers takes seconds), and non-object values where vLLM expects an object.
    """
    def walk(node: Any, path: str, depth: int) -> None:
        if depth > 6:
            return
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else str(k), depth + 1)
        elif isinstance(node, list):
            for i, v in enumerate(node[:MAX_LAYERS + 1]):
                walk(v, f"{path}[{i}]", depth + 1)
        elif isinstance(node, int) and not isinstance(node, bool) and node.bit_length() > _MAX_INT_BITS:
            raise PlannerError(f"{name}: config.json {path!r} = {_show(node)} is implausibly large",
                               code="malformed_config")

    if not isinstance(config, dict):
        raise PlannerError(f"{name}: config must be a JSON object", code="malformed_config")
    walk(config, "", 0)
    for scope in (config, *(config.get(k) for k in ("text_config", "llm_config", "language_config"))):
        if not isinstance(scope, dict):
            continue
        for key in _NESTED:
            _opt_dict(scope, key, name=name)
        for key in ("num_hidden_layers", "n_layer", "num_layers"):
            v = scope.get(key)
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > MAX_LAYERS:
                raise _bad_value(name, key, f"= {_show(v)} layers is beyond the planner's limit of "
                                 f"{MAX_LAYERS:,} (no real model comes near it)")


def _dtype(cfg: dict[str, Any], outer: dict[str, Any]) -> str:
    # transformers 5 writes "dtype", 4.x "torch_dtype"; the text config may carry its own.
    for src in (cfg, outer):
        for key in ("dtype", "torch_dtype"):
            v = src.get(key)
            if isinstance(v, str) and v:
                v = v.replace("torch.", "")
                if v in _DTYPES:
                    return {"half": "float16", "float": "float32", "bf16": "bfloat16", "fp16": "float16",
                            "fp32": "float32"}.get(v, v)
    return "bfloat16"


def _derived_max_len(cfg: dict[str, Any], model_type: str, name: str) -> tuple[int, str, int | None]:
    """vLLM's `_get_and_verify_max_len` without a user value: (derived, key, model_max_length)."""
    best: tuple[int, str] | None = None
    for key in _MAX_LEN_KEYS:
        # vLLM takes min(derived, getattr(hf_config, key)): a string there fails its comparison.
        v = _opt_int(cfg, key, name=name, minimum=1) if key != "model_max_length" else None
        if v is not None and (best is None or v < best[0]):
            best = (v, key)
    mml = cfg.get("model_max_length")
    mml_i = int(mml) if isinstance(mml, int | float) and not isinstance(mml, bool) and math.isfinite(mml) \
        and 0 < mml <= MAX_SIZE else None
    if best is None:
        # vLLM falls back to 2048 with a warning when no key is present.
        return 2048, "default", mml_i
    derived, key = best
    rope = _opt_dict(cfg, "rope_scaling", name=name) or _opt_dict(cfg, "rope_parameters", name=name)
    if rope is not None and "gemma3" not in model_type:
        rtype = str(rope.get("rope_type", rope.get("type", "default")))
        if rtype not in _ROPE_NO_SCALE:
            factor = _opt_float(rope, "factor", name=name, label="rope_scaling.factor")
            if factor is not None:
                scaled = derived * factor
                if scaled > MAX_SIZE:
                    raise _bad_value(name, "rope_scaling", f"factor {_show(rope.get('factor'))} makes the derived "
                                     f"max_model_len {scaled:.3g}, implausibly large")
                return int(scaled), key, mml_i
    return derived, key, mml_i


def _layer_kinds(cfg: dict[str, Any], model_type: str, n: int, name: str) -> list[tuple[str, int | None]]:
    window = _opt_int(cfg, "sliding_window", name=name, minimum=1)
    if cfg.get("kv_lora_rank"):
        return [("mla", None)] * n
    types = cfg.get("layer_types")
    if isinstance(types, list) and len(types) == n:
        out: list[tuple[str, int | None]] = []
        for t in types:
            t = str(t)
            if t in ("sliding_attention", "sliding"):
                out.append(("sliding", window))
            elif t in ("chunked_attention",):
                out.append(("chunked", _int(cfg, "attention_chunk_size", name=name)))
            elif t in ("linear_attention", "mamba", "mamba2", "gated_deltanet", "conv"):
                out.append(("linear", None))
            else:
                out.append(("full", None))
        if any(k == "sliding" for k, _ in out) and window is None:
            raise PlannerError(f"{name}: layer_types has sliding layers but no sliding_window",
                               code="malformed_config")
        return out
    chunk = _opt_int(cfg, "attention_chunk_size", name=name, minimum=1)
    if model_type == "llama4_text" and chunk:
        # Llama 4: every 4th layer is global NoPE attention, the rest chunked-local
        # (no_rope_layers default in transformers' Llama4TextConfig).
        nope = cfg.get("no_rope_layers")
        if isinstance(nope, list) and len(nope) == n:
            return [("chunked", chunk) if use_rope else ("full", None) for use_rope in nope]
        return [("full", None) if (i + 1) % 4 == 0 else ("chunked", chunk) for i in range(n)]
    if model_type == "gemma2" and window:
        # Gemma 2 alternates, even layers sliding (Gemma2DecoderLayer: is_sliding = not layer_idx % 2).
        return [("sliding", window) if i % 2 == 0 else ("full", None) for i in range(n)]
    if model_type.startswith("gemma3") and window:
        pattern = _opt_int(cfg, "sliding_window_pattern", name=name, minimum=1) or 6
        return [("sliding", window) if (i + 1) % pattern else ("full", None) for i in range(n)]
    if window and cfg.get("use_sliding_window", True) is not False:
        # Mistral v0.1 / Phi-3 style: every layer slides. Qwen2 uses SWA only from max_window_layers on.
        if model_type in ("qwen2", "qwen2_moe", "qwen3", "qwen3_moe") and "max_window_layers" in cfg:
            mwl = _opt_int(cfg, "max_window_layers", name=name) or 0
            return [("sliding", window) if i >= mwl else ("full", None) for i in range(n)]
        return [("sliding", window)] * n
    return [("full", None)] * n


def _moe_layers(cfg: dict[str, Any], model_type: str, n: int, num_experts: int, name: str) -> list[bool]:
    if num_experts <= 0:
        return [False] * n
    if "first_k_dense_replace" in cfg or model_type.startswith("deepseek") or model_type == "kimi_k2":
        k = _opt_int(cfg, "first_k_dense_replace", name=name) or 0
        freq = _opt_int(cfg, "moe_layer_freq", name=name) or 1
        return [i >= k and i % freq == 0 for i in range(n)]
    if model_type in ("qwen2_moe", "qwen3_moe", "qwen3_next"):
        only_raw = cfg.get("mlp_only_layers")
        only = {i for i in only_raw if isinstance(i, int)} if isinstance(only_raw, list) else set()
        step = _opt_int(cfg, "decoder_sparse_step", name=name) or 1
        return [i not in only and (i + 1) % step == 0 for i in range(n)]
    if model_type == "llama4_text":
        step = _opt_int(cfg, "interleave_moe_layer_step", name=name) or 1
        return [(i + 1) % step == 0 for i in range(n)]
    return [True] * n


def _rope_cache_elements(cfg: dict[str, Any], model_type: str, head_dim: int, qk_rope: int) -> int:
    """Entries of vLLM's cos/sin caches: positions x rotary_dim per distinct RoPE.

    YaRN caches cover original_max_position_embeddings x factor (YaRNScalingRotaryEmbedding); Gemma 3
    builds a local and a global RoPE.
    """
    factor = cfg.get("partial_rotary_factor")
    if not isinstance(factor, int | float) or isinstance(factor, bool) or not 0 < factor <= 1:
        factor = 1.0                       # absent or unusable: the whole head rotates (transformers' default)
    rotary_dim = qk_rope or int(head_dim * factor)
    positions = cfg.get("max_position_embeddings")
    if not isinstance(positions, int) or isinstance(positions, bool) or not 0 < positions <= MAX_SIZE:
        return 0
    rope = cfg.get("rope_scaling") or cfg.get("rope_parameters")
    if isinstance(rope, dict):
        rtype = str(rope.get("rope_type", rope.get("type", "")))
        orig, factor = rope.get("original_max_position_embeddings"), rope.get("factor")
        if rtype in ("yarn", "deepseek_yarn") and isinstance(orig, int) and 0 < orig <= MAX_SIZE \
                and isinstance(factor, int | float) and math.isfinite(factor) and 0 < factor * orig <= MAX_SIZE:
            positions = int(orig * factor)
    return positions * rotary_dim * (2 if model_type.startswith("gemma3") else 1)


def _vision_params(config: dict[str, Any]) -> int:
    """Approximate parameter count of a ViT-style vision tower plus a 2-layer projector.

    Per block: 4·h² attention (+biases) + 2·h·i MLP + 2 LayerNorms; patch embedding 3·p²·h; position
    embeddings; the projector maps to the text hidden size. Exactness is not needed here: vision towers
    are 0.4-1 B parameters against 10-400 B for the language model.
    """
    vc = config.get("vision_config")
    if not isinstance(vc, dict):
        return 0
    tower = vision_tower(config)
    if tower is not None:
        return tower.params          # the towers vLLM builds, counted exactly (planner/memory/vision.py)
    h = vc.get("hidden_size") or 0
    i = vc.get("intermediate_size") or 4 * h
    n = vc.get("num_hidden_layers") or vc.get("depth") or 0
    p = vc.get("patch_size") or 14
    img = vc.get("image_size") or 336
    if not all(isinstance(x, int) and not isinstance(x, bool) and 0 < x <= 10**7 for x in (h, i, n, p, img)):
        return 0           # not a ViT shape the estimate can read: the tower is left out (it is small)
    per_block = 4 * h * h + 4 * h + 2 * h * i + h + i + 4 * h
    patches = (img // p) ** 2
    text = config.get("text_config") or {}
    th = text.get("hidden_size") if isinstance(text, dict) else None
    out_dim = vc.get("projector_output_dim") or vc.get("vision_output_dim") or h
    proj = h * (th or out_dim) + (th or out_dim) * (th or out_dim) if th else h * out_dim
    return n * per_block + 3 * p * p * h + patches * h + proj


def _check_quant_config(qc: dict[str, Any], name: str) -> None:
    """Sizes inside quantization_config that vLLM divides by: a group or block of 0 (or a string) makes
    its kernels' shape checks fail with a division by zero or a TypeError, so it is bad input here.
    GPTQ/AWQ's group_size -1 (per channel) is valid."""
    def group(d: dict[str, Any], key: str, where: str) -> None:
        v = d.get(key)
        if v is None:
            return
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v != int(v) \
                or not (v == -1 or 0 < v <= MAX_SIZE):
            raise PlannerError(f"{name}: config.json {where}{key} must be a positive integer or -1, got {_show(v)}",
                               code="malformed_config")

    def block(d: dict[str, Any], key: str, where: str) -> None:
        v = d.get(key)
        if v is None:
            return
        if not (isinstance(v, list) and len(v) == 2
                and all(isinstance(b, int) and not isinstance(b, bool) and 0 < b <= MAX_SIZE for b in v)):
            raise PlannerError(f"{name}: config.json {where}{key} must be two positive integers, got {_show(v)}",
                               code="malformed_config")

    for key in ("group_size", "q_group_size"):
        group(qc, key, "quantization_config.")
    for key in ("bits", "w_bit"):
        v = qc.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= 32):
            raise PlannerError(f"{name}: config.json quantization_config.{key} must be an integer from 1 to 32, "
                               f"got {_show(v)}", code="malformed_config")
    block(qc, "weight_block_size", "quantization_config.")
    groups = qc.get("config_groups")
    if groups is None:
        return
    if not isinstance(groups, dict):
        raise PlannerError(f"{name}: config.json quantization_config.config_groups must be a JSON object, "
                           f"got {_show(groups)}", code="malformed_config")
    for gname, g in groups.items():
        if not isinstance(g, dict):
            raise PlannerError(f"{name}: config.json quantization_config.config_groups.{gname} must be a JSON "
                               f"object, got {_show(g)}", code="malformed_config")
        for part in ("weights", "input_activations"):
            w = g.get(part)
            if w is None:
                continue
            where = f"quantization_config.config_groups.{gname}.{part}."
            if not isinstance(w, dict):
                raise PlannerError(f"{name}: config.json {where[:-1]} must be a JSON object, got {_show(w)}",
                                   code="malformed_config")
            nb = w.get("num_bits")
            if nb is not None and (isinstance(nb, bool) or not isinstance(nb, int) or not 0 < nb <= 32):
                raise PlannerError(f"{name}: config.json {where}num_bits must be an integer from 1 to 32, got "
                                   f"{_show(nb)}", code="malformed_config")
            group(w, "group_size", where)
            block(w, "block_structure", where)


def model_spec_from_config(config: dict[str, Any], name: str = "model") -> ModelSpec:
    """Build a ModelSpec. Raises PlannerError (exit 2) on missing, wrong-typed or non-positive sizes."""
    check_plausible(config, name)
    outer = config
    cfg = _text_config(config)
    model_type = str(cfg.get("model_type") or outer.get("model_type") or "")
    if outer.get("model_type") == "gemma3" and model_type == "gemma3":
        model_type = "gemma3_text"
    defaults = _CLASS_DEFAULTS.get(model_type, {})
    if defaults:
        cfg = {**defaults, **cfg}
    archs = outer.get("architectures") or cfg.get("architectures") or []
    archs_t = tuple(str(a) for a in archs) if isinstance(archs, list) else ()

    hidden = _int(cfg, "hidden_size", name=name, default=cfg.get("d_model") or cfg.get("n_embd"))
    layers_n = _int(cfg, "num_hidden_layers", name=name, default=cfg.get("n_layer") or cfg.get("num_layers"),
                    maximum=MAX_LAYERS)
    heads = _int(cfg, "num_attention_heads", name=name, default=cfg.get("n_head"))
    kv_heads = heads
    for key in _KV_HEAD_KEYS:
        if cfg.get(key) is not None:
            kv_heads = _int(cfg, key, name=name)
            break
    if kv_heads > heads:
        raise PlannerError(f"{name}: num_key_value_heads ({kv_heads}) exceeds num_attention_heads ({heads})",
                           code="malformed_config")
    vocab = _int(cfg, "vocab_size", name=name)
    head_dim_v = _opt_int(cfg, "head_dim", name=name, minimum=1)
    if head_dim_v is not None:
        head_dim = head_dim_v
    elif cfg.get("hidden_size_per_head"):
        head_dim = _int(cfg, "hidden_size_per_head", name=name)
    else:
        if hidden % heads:
            raise PlannerError(f"{name}: hidden_size {hidden} is not divisible by num_attention_heads {heads}"
                               " and no head_dim is given", code="malformed_config")
        head_dim = hidden // heads
    num_experts = 0
    for key in ("num_local_experts", "n_routed_experts", "num_experts", "moe_num_experts"):
        # vLLM hands this to FusedMoE as a count: "8" (a string) fails there, it is not a dense model.
        v = _opt_int(cfg, key, name=name, minimum=0)
        if v:
            num_experts = v
            break
    inter_default = cfg.get("ffn_hidden_size") or cfg.get("n_inner") or 4 * hidden
    intermediate = _int(cfg, "intermediate_size", name=name, default=inter_default)
    if model_type == "llama4_text":
        dense_inter = _int(cfg, "intermediate_size_mlp", name=name, default=intermediate)
    else:
        dense_inter = intermediate
    moe_inter = 0
    top_k = 0
    shared = 0
    if num_experts:
        top_k = _int(cfg, "num_experts_per_tok", name=name, default=cfg.get("experts_per_token")
                     or cfg.get("moe_topk") or 2)
        moe_inter = _int(cfg, "moe_intermediate_size", name=name, default=intermediate)
        if cfg.get("shared_expert_intermediate_size"):
            shared = _int(cfg, "shared_expert_intermediate_size", name=name)
        elif cfg.get("n_shared_experts"):
            shared = _int(cfg, "n_shared_experts", name=name) * moe_inter
        elif model_type == "llama4_text":
            shared = intermediate  # one shared expert of the expert size
    kinds = _layer_kinds(cfg, model_type, layers_n, name)
    moe_flags = _moe_layers(cfg, model_type, layers_n, num_experts, name)
    layer_specs = tuple(LayerSpec(attention=k, window=w, moe=m) for (k, w), m in zip(kinds, moe_flags,
                                                                                         strict=True))
    max_len, key, mml = _derived_max_len(cfg, model_type, name)
    qc = _opt_dict(cfg, "quantization_config", name=name)
    if qc is not None:
        _check_quant_config(qc, name)
    kv_lora = _opt_int(cfg, "kv_lora_rank", name=name) or 0
    qk_rope = _opt_int(cfg, "qk_rope_head_dim", name=name) or 0
    qk_nope = _opt_int(cfg, "qk_nope_head_dim", name=name) or 0
    v_head = _opt_int(cfg, "v_head_dim", name=name) or (head_dim if not kv_lora else 0)
    bias = bool(cfg.get("attention_bias", False))
    rope_cache = _rope_cache_elements(cfg, model_type, head_dim, qk_rope)
    return ModelSpec(
        name=name,
        model_type=model_type,
        architectures=archs_t,
        dtype=_dtype(cfg, outer),
        hidden_size=hidden,
        num_layers=layers_n,
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        v_head_dim=v_head or head_dim,
        intermediate_size=dense_inter,
        vocab_size=vocab,
        tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        max_model_len=max_len,
        max_len_key=key,
        model_max_length=mml,
        layers=layer_specs,
        # Qwen2 always has q/k/v biases (no config flag); others follow attention_bias.
        qkv_bias=bias or model_type in ("qwen2", "qwen2_moe", "qwen2_vl", "qwen2_5_vl"),
        o_bias=bias,
        mlp_bias=bool(cfg.get("mlp_bias", False)),
        qk_norm=model_type in _QK_NORM and not kv_lora,
        attn_sinks=model_type == "gpt_oss",
        norms_per_layer=4 if model_type in _SANDWICH_NORM else 2,
        mlp_gated=model_type not in _UNGATED_MLP,
        num_experts=num_experts,
        num_experts_per_tok=top_k,
        moe_intermediate_size=moe_inter,
        shared_expert_intermediate_size=shared,
        shared_expert_gate=model_type in ("qwen2_moe",) and shared > 0,
        router_bias=model_type == "gpt_oss",
        expert_bias=model_type == "gpt_oss",
        q_lora_rank=_opt_int(cfg, "q_lora_rank", name=name) or None,
        kv_lora_rank=kv_lora,
        qk_nope_head_dim=qk_nope,
        qk_rope_head_dim=qk_rope,
        mtp_layers=_opt_int(cfg, "num_nextn_predict_layers", name=name) or 0,
        index_topk=_opt_int(cfg, "index_topk", name=name) or 0,
        index_n_heads=_opt_int(cfg, "index_n_heads", name=name) or 0,
        index_head_dim=_opt_int(cfg, "index_head_dim", name=name) or 0,
        vision_params=_vision_params(outer),
        quantization_config=qc,
        rope_cache_elements=rope_cache,
    )
