"""Quantization schemes: bytes per linear layer, what stays 16-bit, and the GPU each scheme needs.

Sources: vLLM 0.33.0 `vllm/model_executor/layers/quantization/` (get_min_capability of each config
class; tensor layouts of create_weights), summarised in shared/reference/vllm-memory.md §5.2.

A scheme comes either from the checkpoint (`quantization_config` in config.json or a side-car file) or
from the user's `--quant`, which sizes the weights the way common checkpoints of that scheme are laid out.
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from planner.errors import PlannerError, did_you_mean

# Planner names accepted by --quant, with the vLLM method names they also answer to.
QUANT_ALIASES: dict[str, str] = {
    "none": "none", "bf16": "none", "fp16": "none", "16bit": "none",
    "fp8": "fp8", "fp8_per_tensor": "fp8", "fp8_per_channel": "fp8", "fp8_per_block": "fp8",
    "modelopt": "fp8", "fbgemm_fp8": "fp8", "ptpc_fp8": "fp8",
    "int8": "int8", "w8a8": "int8", "w8a8-int8": "int8", "int8_per_channel_weight_only": "int8",
    "awq": "awq", "awq_marlin": "awq", "auto_awq": "awq",
    "gptq": "gptq", "gptq_marlin": "gptq", "auto_gptq": "gptq", "gptq-int4": "gptq",
    "gptq-int8": "gptq-int8", "gptq_int8": "gptq-int8",
    "int4": "int4", "w4a16": "int4", "compressed-tensors": "compressed-tensors",
    "mxfp4": "mxfp4", "gpt_oss_mxfp4": "mxfp4",
    "nvfp4": "nvfp4", "modelopt_fp4": "nvfp4", "fp4": "nvfp4",
    "bnb-nf4": "bnb-nf4", "bitsandbytes": "bnb-nf4", "bnb": "bnb-nf4", "nf4": "bnb-nf4",
    "auto-round": "int4", "auto_round": "int4", "inc": "int4",
    "experts_int8": "experts-int8",
}
PLANNER_QUANTS = ("none", "fp8", "int8", "awq", "gptq", "gptq-int8", "int4", "mxfp4", "nvfp4", "bnb-nf4")


@dataclass(frozen=True)
class QuantScheme:
    """How one scheme stores a linear layer's weight. `kind` picks the layout in `linear_bytes`."""

    name: str                      # planner name (fp8, awq, ...)
    vllm_method: str               # what vLLM reports / accepts as --quantization
    kind: str                      # none | fp8 | int8 | packed_int | mxfp4 | nvfp4 | nf4
    bits: int = 16
    group_size: int = 128          # -1 = per channel
    scale: str = "channel"         # tensor | channel | block | group
    block: tuple[int, int] = (128, 128)
    zero_point: bool = False
    desc_act: bool = False
    experts_only: bool = False     # mxfp4 (gpt-oss): only MoE experts are quantized
    lm_head_quantized: bool = False
    min_capability: int = 0        # vLLM refuses below this (get_min_capability)
    native_capability: int = 0     # below this vLLM runs a Marlin weight-only fallback (warning)
    prequantized: bool = True      # vLLM needs a pre-quantized checkpoint
    ignore: tuple[str, ...] = ()   # module names left unquantized (checkpoint's ignore list)

    @property
    def is_quantized(self) -> bool:
        return self.kind != "none"

    def skips(self, module: str, layer: int | None = None) -> bool:
        """True when the checkpoint leaves `module` of decoder layer `layer` 16-bit; `module` is vLLM's name
        under the layer ('self_attn.qkv_proj', 'mlp.gate_up_proj', 'mlp.experts'), `layer` None a module
        outside the layers ('lm_head') or one asked about for every layer at once.

        vLLM's is_layer_skipped (quantization/utils/quant_utils.py): a fused module is skipped when its
        checkpoint shards are (qkv_proj -> q/k/v_proj, gate_up_proj -> gate/up_proj; vLLM refuses a fused
        module whose shards disagree); a name matches exactly, as a parent module ('model.layers.0.mlp'), with
        `*` wildcards (gpt-oss 'model.layers.*.self_attn'), as a compressed-tensors 're:' pattern, or, for a
        name without a layer index ('lm_head', 'shared_expert'), as a dotted part of the path anywhere."""
        if not self.ignore:
            return False
        if layer is None:
            # every layer at once: what a wildcard layer ('model.layers.*.self_attn') or a layer-free name says
            return self._skipped(module) or self._skipped(f"model.layers.*.{module}")
        return self._skipped(f"model.layers.{layer}.{module}")

    def _skipped(self, prefix: str) -> bool:
        head, _, leaf = prefix.rpartition(".")
        shards = _FUSED_SHARDS.get(leaf)
        if shards:
            return all(self._matches(f"{head}.{s}" if head else s) for s in shards)
        return self._matches(prefix)

    def _matches(self, prefix: str) -> bool:
        return _ignore_matches(self.ignore, prefix)


# vLLM's fused modules and the checkpoint modules they are loaded from (FUSED_LAYER_NAME_MAPPING, 0.6-0.7.1;
# the models' packed_modules_mapping later). The DeepSeek fused q_a/kv_a projection is one of the latter.
_FUSED_SHARDS: dict[str, tuple[str, ...]] = {
    "qkv_proj": ("q_proj", "k_proj", "v_proj"),
    "gate_up_proj": ("gate_proj", "up_proj"),
    "fused_qkv_a_proj": ("q_a_proj", "kv_a_proj_with_mqa"),
}
_LAYER_INDEX = re.compile(r"(?:^|\.)layers\.(\d+|\*)(?:\.|$)")


@lru_cache(maxsize=64)
def _ignore_index(ignore: tuple[str, ...]) -> tuple[frozenset[str], frozenset[str], tuple[str, ...]]:
    """An ignore list split for lookup: plain names, the plain names without a layer index, and the
    patterns ('re:', wildcards). Checkpoints list hundreds of modules (Qwen3-235B-A22B-FP8: 283), and vLLM
    asks about every linear of every layer; a scan of the list per question is what made that slow."""
    patterns = tuple(p for p in ignore if p.startswith("re:") or "*" in p or "?" in p)
    plain = frozenset(p for p in ignore if p not in patterns)
    return plain, frozenset(p for p in plain if _LAYER_INDEX.search(p) is None), patterns


@lru_cache(maxsize=4096)
def _ignore_matches(ignore: tuple[str, ...], prefix: str) -> bool:
    """Whether any entry of `ignore` names module `prefix` or a module above it: `_name_matches` over the
    list, with the plain names looked up instead of scanned."""
    plain, layer_free, patterns = _ignore_index(ignore)
    parts = prefix.split(".")
    # exactly, or as a parent module: a dotted head of the path
    if any(".".join(parts[:k]) in plain for k in range(1, len(parts) + 1)):
        return True
    # a name with no layer index: any dotted run of the path
    if layer_free and any(".".join(parts[i:j]) in layer_free
                          for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)):
        return True
    return any(_name_matches(pat, prefix) for pat in patterns)


def _name_matches(pat: str, prefix: str) -> bool:
    """Whether ignore-list entry `pat` names module `prefix` or a module above it."""
    if pat.startswith("re:"):
        try:
            return re.match(pat[3:], prefix) is not None
        except re.error:
            return False
    if "*" in pat or "?" in pat:
        return fnmatch.fnmatchcase(prefix, pat) or fnmatch.fnmatchcase(prefix, pat + ".*")
    if prefix == pat or prefix.startswith(pat + "."):
        return True
    # A name with no layer index ('lm_head', 'mlp.shared_expert'): a dotted part of the path.
    return _LAYER_INDEX.search(pat) is None and f".{pat}." in f".{prefix}."


NONE = QuantScheme(name="none", vllm_method="", kind="none", prequantized=False)

# Layouts a planner --quant name stands for when the checkpoint itself is 16-bit. Min capabilities are
# vLLM 0.33.0's get_min_capability(); native thresholds from CudaPlatform.supports_fp8 (89) and the
# FP4 tensor cores of SM100.
_BY_NAME: dict[str, QuantScheme] = {
    "none": NONE,
    # Online --quantization fp8 is per-tensor; FP8 checkpoints (llm-compressor FP8-dynamic) are
    # per-channel: the issue asks for per-channel sizing (scales are ~0.01 % of the bytes either way).
    "fp8": QuantScheme(name="fp8", vllm_method="fp8", kind="fp8", bits=8, scale="channel",
                       min_capability=75, native_capability=89, prequantized=False),
    "int8": QuantScheme(name="int8", vllm_method="compressed-tensors", kind="int8", bits=8,
                        scale="channel", min_capability=75, native_capability=75),
    "awq": QuantScheme(name="awq", vllm_method="awq", kind="packed_int", bits=4, group_size=128,
                       scale="group", zero_point=True, min_capability=75, native_capability=75),
    "gptq": QuantScheme(name="gptq", vllm_method="gptq", kind="packed_int", bits=4, group_size=128,
                        scale="group", zero_point=True, min_capability=60, native_capability=80),
    "gptq-int8": QuantScheme(name="gptq-int8", vllm_method="gptq", kind="packed_int", bits=8, group_size=128,
                             scale="group", zero_point=True, min_capability=60, native_capability=80),
    "int4": QuantScheme(name="int4", vllm_method="compressed-tensors", kind="packed_int", bits=4,
                        group_size=128, scale="group", min_capability=75, native_capability=80),
    "mxfp4": QuantScheme(name="mxfp4", vllm_method="mxfp4", kind="mxfp4", bits=4, group_size=32,
                         experts_only=True, min_capability=80, native_capability=90, prequantized=False),
    "nvfp4": QuantScheme(name="nvfp4", vllm_method="modelopt_fp4", kind="nvfp4", bits=4, group_size=16,
                         min_capability=75, native_capability=100),
    "bnb-nf4": QuantScheme(name="bnb-nf4", vllm_method="bitsandbytes", kind="nf4", bits=4, group_size=64,
                           min_capability=70, native_capability=70),
    "experts-int8": QuantScheme(name="experts-int8", vllm_method="experts_int8", kind="int8", bits=8,
                                experts_only=True, min_capability=80, native_capability=80, prequantized=False),
}


def normalize_quant_name(name: str) -> str:
    key = name.strip().lower()
    if key in QUANT_ALIASES:
        return QUANT_ALIASES[key]
    raise PlannerError(f"--quant: unknown quantization {name!r}",
                       hint=did_you_mean(key, list(PLANNER_QUANTS)) or "choose from " + ", ".join(PLANNER_QUANTS))


def scheme_for_name(name: str) -> QuantScheme:
    norm = normalize_quant_name(name)
    if norm == "compressed-tensors":
        raise PlannerError("--quant compressed-tensors needs a checkpoint that carries its quantization_config",
                           hint="name the scheme instead: fp8, int8 or int4")
    return _BY_NAME[norm]


def _ignore_list(qc: dict[str, Any]) -> tuple[str, ...]:
    out: list[str] = []
    for key in ("modules_to_not_convert", "ignore", "ignored_layers", "exclude_modules"):
        v = qc.get(key)
        if isinstance(v, list):
            out.extend(str(x) for x in v)
    return tuple(out)


def scheme_from_checkpoint(qc: dict[str, Any]) -> QuantScheme:
    """The scheme of a pre-quantized checkpoint, from its quantization_config (vLLM's detection order)."""
    method = str(qc.get("quant_method", "")).lower().replace("-", "_")
    ignore = _ignore_list(qc)
    bits = qc.get("bits", qc.get("w_bit", 4))
    bits = int(bits) if isinstance(bits, int | float) and not isinstance(bits, bool) and 0 < bits <= 16 else 4
    group = qc.get("group_size", qc.get("q_group_size", 128))
    group = int(group) if isinstance(group, int | float) and not isinstance(group, bool) and math.isfinite(group) \
        and group != 0 else 128
    if method in ("awq", "awq_marlin"):
        base = _BY_NAME["awq"]
        return QuantScheme(**{**base.__dict__, "bits": bits, "group_size": group,
                              "zero_point": bool(qc.get("zero_point", True)), "ignore": ignore})
    if method in ("gptq", "gptq_marlin"):
        base = _BY_NAME["gptq-int8" if bits == 8 else "gptq"]
        return QuantScheme(**{**base.__dict__, "bits": bits, "group_size": group,
                              "desc_act": bool(qc.get("desc_act", False)),
                              "lm_head_quantized": bool(qc.get("lm_head", False)), "ignore": ignore})
    if method in ("auto_round", "intel/auto_round", "inc"):
        base = _BY_NAME["int4"]
        return QuantScheme(**{**base.__dict__, "name": "int4", "vllm_method": "inc", "bits": bits,
                              "group_size": group, "zero_point": not qc.get("sym", True), "ignore": ignore})
    if method in ("fp8", "fbgemm_fp8"):
        block = qc.get("weight_block_size")
        if isinstance(block, list) and len(block) == 2:
            if not all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in block):
                raise PlannerError(f"quantization_config.weight_block_size must be two positive integers, "
                                   f"got {block!r}", code="malformed_config")
            return QuantScheme(name="fp8", vllm_method="fp8", kind="fp8", bits=8, scale="block",
                               block=(int(block[0]), int(block[1])), min_capability=75, native_capability=89,
                               ignore=ignore)
        return QuantScheme(name="fp8", vllm_method="fp8", kind="fp8", bits=8, scale="tensor",
                           min_capability=75, native_capability=89, ignore=ignore)
    if method in ("modelopt", "modelopt_fp8"):
        algo = str(qc.get("quant_algo", "FP8")).upper()
        if "FP4" in algo:
            return QuantScheme(**{**_BY_NAME["nvfp4"].__dict__, "ignore": ignore})
        return QuantScheme(name="fp8", vllm_method="modelopt", kind="fp8", bits=8, scale="tensor",
                           min_capability=80, native_capability=89, ignore=ignore)
    if method in ("modelopt_fp4", "nvfp4"):
        return QuantScheme(**{**_BY_NAME["nvfp4"].__dict__, "ignore": ignore})
    if method in ("mxfp4", "gpt_oss_mxfp4"):
        return QuantScheme(**{**_BY_NAME["mxfp4"].__dict__, "prequantized": True, "ignore": ignore})
    if method == "bitsandbytes":
        if qc.get("load_in_8bit"):
            return QuantScheme(name="bnb-int8", vllm_method="bitsandbytes", kind="int8", bits=8,
                               scale="channel", min_capability=70, native_capability=70, ignore=ignore)
        return QuantScheme(**{**_BY_NAME["bnb-nf4"].__dict__, "ignore": ignore})
    if method == "compressed_tensors":
        return _compressed_tensors(qc, ignore)
    if method in ("experts_int8",):
        return _BY_NAME["experts-int8"]
    raise PlannerError(f"unsupported quantization_config.quant_method {qc.get('quant_method')!r}",
                       code="unsupported_quantization",
                       hint="supported: awq, gptq, fp8, compressed-tensors, modelopt, mxfp4, bitsandbytes")


def _compressed_tensors(qc: dict[str, Any], ignore: tuple[str, ...]) -> QuantScheme:
    """llm-compressor checkpoints: read the first config group's weight and activation settings."""
    groups = qc.get("config_groups") or {}
    first: Any = next(iter(groups.values()), {}) if isinstance(groups, dict) else {}
    w = first.get("weights") or {} if isinstance(first, dict) else {}
    a = first.get("input_activations") or {} if isinstance(first, dict) else {}
    bits = int(w.get("num_bits", 8) or 8)
    wtype = str(w.get("type", "int"))
    strategy = str(w.get("strategy", "channel"))
    group = int(w.get("group_size") or 128) if strategy == "group" else -1
    fmt = str(qc.get("format", ""))
    if (wtype == "float" and bits == 4) or "nvfp4" in fmt:
        return QuantScheme(**{**_BY_NAME["nvfp4"].__dict__, "vllm_method": "compressed-tensors",
                              "ignore": ignore})
    if wtype == "float" and bits == 8:
        scale = {"tensor": "tensor", "channel": "channel", "block": "block"}.get(strategy, "channel")
        block = w.get("block_structure")
        blk = (int(block[0]), int(block[1])) if isinstance(block, list) and len(block) == 2 else (128, 128)
        # W8A8-FP8 needs cc 89; below it vLLM falls back to W8A16 Marlin (75).
        return QuantScheme(name="fp8", vllm_method="compressed-tensors", kind="fp8", bits=8, scale=scale,
                           block=blk, min_capability=75, native_capability=89, ignore=ignore)
    if bits == 8 and a:
        return QuantScheme(name="int8", vllm_method="compressed-tensors", kind="int8", bits=8,
                           scale="channel", min_capability=75, native_capability=75, ignore=ignore)
    return QuantScheme(name="int4" if bits == 4 else "gptq-int8", vllm_method="compressed-tensors",
                       kind="packed_int", bits=bits, group_size=group, scale="group" if group > 0 else "channel",
                       zero_point=not w.get("symmetric", True), min_capability=75, native_capability=80,
                       ignore=ignore)


def resolve_scheme(checkpoint_qc: dict[str, Any] | None, requested: str | None) -> tuple[QuantScheme, str | None]:
    """The scheme vLLM will run, and a conflict message when --quant disagrees with the checkpoint.

    vLLM: an explicit --quantization must agree with the checkpoint's quant_method
    (ModelConfig._verify_quantization), else it refuses to start.
    """
    if checkpoint_qc:
        ckpt = scheme_from_checkpoint(checkpoint_qc)
        if requested is None:
            return ckpt, None
        req = normalize_quant_name(requested)
        if req in ("none",):
            return ckpt, (f"Quantization method specified in the model config ({ckpt.vllm_method}) does not "
                          f"match the quantization method specified in the `quantization` argument (none).")
        compatible = {ckpt.name, ckpt.vllm_method.replace("-", "_"), ckpt.vllm_method}
        if req in compatible or (req == "compressed-tensors" and ckpt.vllm_method == "compressed-tensors") \
                or (req in ("gptq", "int4") and ckpt.kind == "packed_int"):
            return ckpt, None
        return ckpt, (f"Quantization method specified in the model config ({ckpt.vllm_method}) does not "
                      f"match the quantization method specified in the `quantization` argument ({req}).")
    if requested is None:
        return NONE, None
    return scheme_for_name(requested), None


def linear_bytes(scheme: QuantScheme, n_out: int, k_in: int, act_bytes: int, *, quantized: bool = True,
                 shards: int = 1) -> list[int]:
    """Resident bytes of one linear layer shard [n_out x k_in] as a list of separately allocated tensors.

    `shards` is the number of logical matrices fused into this one (q/k/v = 3, gate/up = 2): per-tensor
    scales are kept per logical shard. Layouts follow each scheme's create_weights in vLLM.
    """
    if not quantized or not scheme.is_quantized:
        return [n_out * k_in * act_bytes]
    kind = scheme.kind
    if kind == "fp8":
        w = n_out * k_in
        if scheme.scale == "block":
            bn, bk = scheme.block
            return [w, math.ceil(n_out / bn) * math.ceil(k_in / bk) * 4]
        if scheme.scale == "channel":
            return [w, n_out * 4]
        return [w, shards * 4]
    if kind == "int8":
        return [n_out * k_in, n_out * 4]
    if kind == "packed_int":
        g = scheme.group_size if scheme.group_size > 0 else k_in
        groups = math.ceil(k_in / g)
        qweight = n_out * k_in * scheme.bits // 8
        scales = groups * n_out * act_bytes
        out = [qweight, scales]
        if scheme.zero_point:
            out.append(groups * n_out * scheme.bits // 8)
        if scheme.desc_act:
            out.append(k_in * 4)  # g_idx (int32) and Marlin's sort indices
            out.append(k_in * 4)
        return out
    if kind == "mxfp4":
        return [n_out * k_in // 2, n_out * math.ceil(k_in / 32)]
    if kind == "nvfp4":
        # packed e2m1 + fp8 scale per 16 elements + fp32 global scales per logical shard
        return [n_out * k_in // 2, n_out * math.ceil(k_in / 16), shards * 4 * 2]
    if kind == "nf4":
        # 4-bit + an 8-bit absmax per 64 with a second-level fp32 absmax per 256 blocks (double quant).
        blocks = math.ceil(n_out * k_in / 64)
        return [n_out * k_in // 2, blocks + math.ceil(blocks / 256) * 4]
    return [n_out * k_in * act_bytes]
