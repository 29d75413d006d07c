"""Multimodal models: the vision tower's weights and what vLLM's profile run spends on its dummy images.

Source read: vLLM 0.33.0:
* v1/worker/gpu/model_runner.py profile_run: on the first PP stage, unless --skip-mm-profiling, the
  encoder runs on MultiModalBudget.get_dummy_encoder_profile_inputs() (encoder_runner.
  profile_encoder_cache) and its outputs stay in the encoder cache through the language model's dummy
  forward (reset_encoder_cache comes after it);
* multimodal/encoder_budget.py MultiModalBudget: budget = min(compute, cache) with both
  max(max_num_batched_tokens, max tokens of one item) (v1/core/encoder_cache_manager.py
  compute_mm_encoder_budget; SchedulerConfig sets max_num_encoder_input_tokens = encoder_cache_size =
  max_num_batched_tokens); items = max(1, min(budget // tokens per item, max_num_seqs x items per
  prompt)), items per prompt = max(1, min(limit, max_model_len // tokens per item)), max_num_seqs capped
  by max_num_batched_tokens // tokens per item without chunked prefill; a modality whose limit is 0 has
  no budget, and when every modality is 0 nothing is profiled (text-only mode);
* config/multimodal.py: --limit-mm-per-prompt {"image": 5} or {"image": {"count": 5, ...}}, 999 per
  modality by default (V0 releases: 1); model_executor/models/interfaces.py _mark_tower_model: a tower
  whose modalities are all limited to 0 is not built (no weights), nor on PP stages after the first;
* the towers: models/siglip.py + gemma3_mm.py (Gemma 3), mllama4.py (Llama 4), qwen2_5_vl.py
  (Qwen2.5-VL), pixtral.py + mistral3.py (Mistral Small 3.1); the largest dummy image of each
  (get_image_size_with_most_features) gives the patches the tower runs and the tokens it yields;
* --mm-encoder-tp-mode data (models with supports_encoder_tp_data: Qwen2.5-VL, Llama 4): every TP rank
  holds the whole tower and encodes its share of the items; "weights" shards the tower's linears.

The tower's activation during the profile is modelled from its shapes (residual + normalized hidden
states and the MLP intermediates of one block over all dummy patches, plus the pixel values): no
multimodal run in ../shared/validation has a config to check it against, so it is unverified.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from planner.errors import PlannerError
from planner.memory.vision import VisionTower
from planner.release.engine_args import nullable_kvs
from planner.release.vllm_versions import VersionRules

DEFAULT_LIMIT_V1 = 999
DEFAULT_LIMIT_V0 = 1


def parse_limits(text: str | None, rules: VersionRules) -> dict[str, int] | None:
    """--limit-mm-per-prompt as the release reads it: JSON ({"image": 5} or {"image": {"count": 5}}) from
    0.8, and `image=5,video=1` where the release took it (0.6-0.9; planner.release.serve_args turns it into JSON on
    0.8-0.9). None when not given."""
    if text is None:
        return None
    stripped = text.strip()
    value: object
    if stripped.startswith("{"):
        if rules.mm_limit_format == "kv":
            raise PlannerError(f"--limit-mm-per-prompt: vLLM {rules.version} takes KEY=VALUE pairs "
                               "(image=5,video=1), not JSON", code="bad_flag_value")
        try:
            value = json.loads(stripped)
        except ValueError as exc:
            raise PlannerError(f"--limit-mm-per-prompt: invalid JSON ({exc})", code="bad_flag_value") from None
    elif rules.mm_limit_format in ("kv", "json_or_kv"):
        value = nullable_kvs(stripped, "--limit-mm-per-prompt")
    else:
        raise PlannerError(f"--limit-mm-per-prompt: vLLM {rules.version} takes JSON, e.g. "
                           "'{\"image\": 5}'; the image=5 form was accepted up to 0.9", code="bad_flag_value")
    if not isinstance(value, dict):
        raise PlannerError("--limit-mm-per-prompt: expected a JSON object such as {\"image\": 5}",
                           code="bad_flag_value")
    out: dict[str, int] = {}
    for key, item in value.items():
        count = item.get("count", DEFAULT_LIMIT_V1) if isinstance(item, dict) else item
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise PlannerError(f"--limit-mm-per-prompt: {key}: expected a count >= 0, got {item!r}",
                               code="bad_flag_value")
        out[str(key)] = count
    return out


@dataclass(frozen=True)
class EncoderProfile:
    """What the encoder part of the profile run takes on one GPU of the first PP stage."""

    items: int                   # dummy images profiled (all ranks)
    budget: int                  # encoder budget in tokens
    encoder_peak: int            # bytes live while the tower runs (its activations + pixel values)
    cache_bytes: int             # encoder outputs kept through the language model's dummy forward


def encoder_profile(tower: VisionTower, *, limit: int, max_num_batched_tokens: int, max_num_seqs: int,
                    max_model_len: int, chunked_prefill: bool, tp: int, data_parallel_encoder: bool,
                    act_bytes: int, text_hidden: int) -> EncoderProfile | None:
    """MultiModalBudget and profile_encoder_cache for the image modality (None: nothing profiled)."""
    tokens = tower.tokens_per_item
    if limit <= 0 or tokens <= 0:
        return None
    budget = max(max_num_batched_tokens, tokens)
    per_prompt = max(1, min(limit, max_model_len // tokens))
    reqs = max_num_seqs if chunked_prefill else min(max_num_seqs, max_num_batched_tokens // tokens)
    items = max(1, min(budget // tokens, reqs * per_prompt))
    local = math.ceil(items / tp) if data_parallel_encoder else items
    shard = 1 if data_parallel_encoder else tp
    seq = local * tower.patches_per_item
    mlp = (3 if tower.gated_mlp else 2) * seq * (tower.intermediate // shard)
    peak = (2 * seq * tower.hidden + mlp) * act_bytes + local * tower.pixels_per_item * (4 + act_bytes)
    cache = items * tokens * text_hidden * act_bytes
    return EncoderProfile(items=items, budget=budget, encoder_peak=peak, cache_bytes=cache)


def tower_rank_bytes(tower: VisionTower, *, tp: int, data_parallel_encoder: bool, act_bytes: int) -> int:
    """The tower's weights on one GPU of the first stage: its parallel linears sharded in weights mode."""
    if data_parallel_encoder or tp <= 1:
        return tower.params * act_bytes
    return (tower.params - tower.sharded_params + tower.sharded_params // tp) * act_bytes


def image_limit(limits: dict[str, int] | None, rules: VersionRules) -> int:
    default = DEFAULT_LIMIT_V1 if rules.engine == "v1" else DEFAULT_LIMIT_V0
    if limits is None:
        return default
    return limits.get("image", default)


def text_only(tower: VisionTower, limits: dict[str, int] | None) -> bool:
    """Every modality the tower takes is limited to 0 (--limit-mm-per-prompt '{"image": 0}' for an image
    model, '{"image": 0, "video": 0}' for Qwen2.5-VL)."""
    return limits is not None and all(limits.get(m, 1) == 0 for m in tower.modalities)
