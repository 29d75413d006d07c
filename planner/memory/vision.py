"""Vision towers as vLLM builds them: parameters, the part TP shards, and the largest dummy image.

A leaf module (planner.memory.spec reads the tower's parameters from it; planner.memory.multimodal its profile).
Source read: vLLM 0.33.0 model_executor/models/siglip.py + gemma3_mm.py (Gemma 3), mllama4.py
(Llama 4), qwen2_5_vl.py + qwen2_vl.py get_image_size_with_most_features (Qwen2.5-VL), pixtral.py +
mistral3.py (Mistral Small 3.1). Checked: gemma-3-27b-it gives 423,060,336 parameters and Llama 4
871,932,416, the counts ../shared/reference/model-configs/INDEX.md derives and matches with the Hub.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planner.errors import PlannerError

# Qwen2.5-VL's preprocessor_config.json "max_pixels" (Qwen/Qwen2.5-VL-{3,7,32,72}B-Instruct on the Hub,
# as published with the models, 2025-01; not in this repository's data): the image size with most
# features vLLM profiles with. Used when the config gives none.
QWEN2_5_VL_MAX_PIXELS = 12_845_056
# Llama 4's image processor max_patches (transformers Llama4ImageProcessorFast default): 16 tiles + a
# global one.
LLAMA4_MAX_PATCHES = 16


@dataclass(frozen=True)
class VisionTower:
    """A vision encoder (and its projector into the language model) as vLLM builds it."""

    family: str
    params: int                  # every parameter of the tower and projector
    sharded_params: int          # the part TP shards in "weights" mode (the towers' parallel linears)
    hidden: int
    intermediate: int
    layers: int
    gated_mlp: bool
    patches_per_item: int        # encoder sequence of the largest dummy image
    tokens_per_item: int         # embeddings it yields (encoder cache entries, LM placeholder tokens)
    pixels_per_item: int         # pixel_values elements of that image
    supports_tp_data: bool
    assumption: str | None = None
    modalities: tuple[str, ...] = ("image",)


def _i(d: dict[str, Any], key: str, default: int = 0) -> int:
    v = d.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or v < 0 or v > 10**8:
        raise PlannerError(f"vision_config.{key}: expected a non-negative integer, got {v!r}")
    return v


def _vit_block(h: int, i: int, *, bias: bool, gated: bool, norms: int, norm_bias: bool) -> tuple[int, int]:
    """(all parameters, TP-sharded linear parameters) of one pre-norm ViT block."""
    attn = 4 * h * h + (4 * h if bias else 0)
    mlp = (3 if gated else 2) * h * i + ((2 * i + h if gated else i + h) if bias else 0)
    norm = norms * h * (2 if norm_bias else 1)
    return attn + mlp + norm, 4 * h * h + (3 if gated else 2) * h * i


def _text_hidden(config: dict[str, Any]) -> int:
    text = config.get("text_config")
    h = text.get("hidden_size") if isinstance(text, dict) else config.get("hidden_size")
    return h if isinstance(h, int) and not isinstance(h, bool) and h > 0 else 0


def vision_tower(config: dict[str, Any]) -> VisionTower | None:
    """The tower of a multimodal config (Gemma 3, Llama 4, Qwen2.5-VL, Mistral 3 / Pixtral), None for a
    text model or a tower this module does not know (planner.memory.spec keeps its generic estimate then)."""
    vc = config.get("vision_config")
    if not isinstance(vc, dict) or not vc:
        return None
    kind = str(vc.get("model_type") or "")
    outer = str(config.get("model_type") or "")
    th = _text_hidden(config)
    if kind == "siglip_vision_model" or outer == "gemma3":
        # SiglipVisionModel: Conv2d patch embedding (+bias), learned positions, blocks with biased
        # q/k/v/o + fc1/fc2 + 2 LayerNorms, post-layernorm; Gemma3MultiModalProjector: an RMSNorm and
        # mm_input_projection (vision hidden x text hidden), pooled to mm_tokens_per_image.
        h, i, n = _i(vc, "hidden_size"), _i(vc, "intermediate_size"), _i(vc, "num_hidden_layers")
        p, img = _i(vc, "patch_size", 14), _i(vc, "image_size", 896)
        if not (h and i and n and p and img):
            return None
        patches = (img // p) ** 2
        block, block_sharded = _vit_block(h, i, bias=True, gated=False, norms=2, norm_bias=True)
        tower = n * block + 3 * p * p * h + h + patches * h + 2 * h
        projector = h * th + h
        tokens = _i(config, "mm_tokens_per_image", 256)
        return VisionTower("siglip", tower + projector, n * block_sharded, h, i, n, False, patches, tokens,
                           3 * img * img, False)
    if kind == "llama4_vision_model" or outer == "llama4":
        # Llama4VisionModel: unfold-conv patch embedding (no bias), class embedding, positions for
        # patches + 1, pre/post LayerNorms, biased blocks; pixel-shuffle adapter MLP (no bias) and the
        # projector into the text hidden size (no bias).
        h, i, n = _i(vc, "hidden_size"), _i(vc, "intermediate_size"), _i(vc, "num_hidden_layers")
        p, img = _i(vc, "patch_size", 14), _i(vc, "image_size", 336)
        if not (h and i and n and p and img):
            return None
        ratio = vc.get("pixel_shuffle_ratio", 0.5)
        if not isinstance(ratio, int | float) or not 0 < ratio <= 1:
            raise PlannerError(f"vision_config.pixel_shuffle_ratio: expected a number in (0, 1], got {ratio!r}")
        proj_in, proj_out = _i(vc, "projector_input_dim", 4096), _i(vc, "projector_output_dim", 4096)
        out_dim = _i(vc, "vision_output_dim", proj_out)
        grid = (img // p) ** 2
        block, block_sharded = _vit_block(h, i, bias=True, gated=False, norms=2, norm_bias=True)
        tower = n * block + 3 * p * p * h + h + (grid + 1) * h + 4 * h
        adapter = i * proj_in + proj_out * proj_out
        projector = out_dim * th
        tiles = LLAMA4_MAX_PATCHES + 1
        per_tile = int(grid * ratio * ratio)
        return VisionTower("llama4", tower + adapter + projector, n * block_sharded, h, i, n, False,
                           tiles * (grid + 1), tiles * per_tile, tiles * 3 * img * img, True,
                           f"the dummy image has {LLAMA4_MAX_PATCHES} tiles + a global one (the image "
                           "processor's default max_patches)")
    if outer in ("qwen2_5_vl", "qwen2_vl") or kind in ("qwen2_5_vl", "qwen2_vl"):
        # Qwen2_5_VisionTransformer: Conv3d patch embedding (no bias), blocks with RMSNorms, biased qkv +
        # proj and a biased gated MLP, PatchMerger (RMSNorm, Linear(4h, 4h), Linear(4h, out_hidden)).
        h = _i(vc, "hidden_size") or _i(vc, "embed_dim")
        i, n = _i(vc, "intermediate_size", 4 * h), _i(vc, "depth") or _i(vc, "num_hidden_layers")
        p, tps, merge = _i(vc, "patch_size", 14), _i(vc, "temporal_patch_size", 2), _i(vc, "spatial_merge_size", 2)
        out = _i(vc, "out_hidden_size", th) or th
        if not (h and i and n and p and merge):
            return None
        block = 2 * h + 3 * h * h + 3 * h + h * h + h + 2 * (h * i + i) + i * h + h
        block_sharded = 4 * h * h + 3 * h * i
        tower = n * block + 3 * tps * p * p * h
        merger = h + (4 * h) * (4 * h) + 4 * h + (4 * h) * out + out
        unit = p * merge
        tokens = QWEN2_5_VL_MAX_PIXELS // (unit * unit)
        patches = tokens * merge * merge
        return VisionTower("qwen2_5_vl", tower + merger, n * block_sharded, h, i, n, True, patches, tokens,
                           patches * 3 * tps * p * p, True,
                           f"the largest image is max_pixels {QWEN2_5_VL_MAX_PIXELS:,} (the published "
                           "preprocessor_config.json); video items are not modelled", ("image", "video"))
    if kind == "pixtral" or outer in ("mistral3", "pixtral"):
        # PixtralHFVisionModel: Conv2d patch embedding (no bias), RMSNorm ln_pre, blocks with RMSNorms,
        # q/k/v/o and a gated MLP without biases; Mistral3MultiModalProjector: RMSNorm, patch merger
        # Linear(4h, h), linear_1 (h -> text) and linear_2 (text -> text) with biases.
        h, i, n = _i(vc, "hidden_size"), _i(vc, "intermediate_size"), _i(vc, "num_hidden_layers")
        p, img = _i(vc, "patch_size", 14), _i(vc, "image_size", 1540)
        merge = _i(config, "spatial_merge_size", 2) or 1
        if not (h and i and n and p and img):
            return None
        block, block_sharded = _vit_block(h, i, bias=False, gated=True, norms=2, norm_bias=False)
        tower = n * block + 3 * p * p * h + h
        bias = bool(config.get("multimodal_projector_bias", True))
        projector = h + (h * merge * merge) * h + h * th + th * th + ((th + th) if bias else 0)
        side = img // p
        merged = side // merge
        tokens = merged * merged + merged     # [IMG] per merged patch and an [IMG_BREAK]/[IMG_END] per row
        return VisionTower("pixtral", tower + projector, n * block_sharded, h, i, n, True, side * side, tokens,
                           3 * img * img, False)
    return None


