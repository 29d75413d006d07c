"""Speculative decoding memory: the drafter's weights, its KV layers in the shared pool, its profile run.

Source read: vLLM 0.33.0:
* config/speculative.py SpeculativeConfig.__post_init__: the method is inferred when not given ("ngram"
  for model "ngram"/"[ngram]", else "draft_model", then "eagle"/"eagle3" from "eagle-"/"eagle3" in the
  draft's name, "mtp" for a draft whose config is an MTP type); the deprecated MTP names (deepseek_mtp,
  ...) become "mtp" and take the target itself as the draft (its num_nextn_predict_layers layers);
  num_speculative_tokens is required (gt=0) except where the draft config has it;
* v1/worker/gpu/model_runner.py load_model: the speculator's load_model runs inside the model-load
  DeviceMemoryProfiler, so the drafter's weights are part of "Model loading took X GiB";
* v1/worker/gpu/spec_decode/eagle/utils.py load_eagle_model: EAGLE/EAGLE3/MTP drafters share the
  target's embed_tokens and lm_head (deleted from the draft) unless the draft has its own that differ
  (EAGLE3's draft_vocab_size lm_head); standalone_ar/speculator.py: a draft model is loaded whole;
* model_executor/models/llama_eagle.py (fc 2H -> H, ReplicatedLinear), llama_eagle3.py (first layer's
  qkv over 2H, fc num_aux x H -> H, own lm_head of draft_vocab_size), deepseek_mtp.py (enorm, hnorm,
  eh_proj nn.Linear 2H -> H, one DeepseekV2DecoderLayer per MTP layer, shared_head norm + shared head);
* v1/worker/gpu/spec_decode/speculator.py: the drafter's attention layers get KV specs of their own in
  the same pool (kv_cache_planning groups them with the target's: same-type layers with other page sizes
  form one UniformTypeKVCacheSpecs group, so a block holds every layer's page);
* model_runner._dummy_run: the profile forward keeps max_num_batched_tokens (a draft model removes one
  correction slot per request), then runs the drafter's propose on the same batch;
* config/vllm.py: max_num_batched_tokens must exceed num_lookahead_tokens (= num_speculative_tokens for
  EAGLE/MTP/draft models), and the CUDA-graph capture sizes follow uniform_decode_query_len =
  1 + num_speculative_tokens.
ngram and suffix decoding add no weights and no KV.

V0 (0.6-0.10 with VLLM_USE_V1=0) gave the draft worker its own cache with the target's block count
(split_num_cache_blocks_evenly over the two bytes per block): the same arithmetic as one shared pool.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from planner.errors import PlannerError
from planner.memory.spec import LayerSpec, ModelSpec
from planner.release.engine_args import EngineArgs

# SpeculativeConfig's MTPModelTypes (0.33) that this module can size from the target's own config.
MTP_ALIASES = ("deepseek_mtp", "mtp", "glm4_moe_mtp", "ernie_mtp", "qwen3_next_mtp", "mimo_mtp")
KNOWN_METHODS = ("ngram", "ngram_gpu", "draft_model", "eagle", "eagle3", "mtp", "suffix", "medusa",
                 "mlp_speculator", "dflash", "dspark", "extract_hidden_states", "custom_class")
NO_WEIGHTS = ("ngram", "ngram_gpu", "suffix", "custom_class", "extract_hidden_states")
SIZED = ("ngram", "ngram_gpu", "suffix", "draft_model", "eagle", "eagle3", "mtp")


@dataclass(frozen=True)
class SpeculativeSettings:
    """SpeculativeConfig as vLLM resolves it, as far as memory goes."""

    method: str
    num_speculative_tokens: int
    model: str | None = None               # the draft model / EAGLE head named
    draft_tp: int | None = None            # draft_tensor_parallel_size (None: the target's)
    quantization: str | None = None
    kv_cache_dtype: str | None = None


def _passthrough(args: EngineArgs, flag: str) -> str | None:
    return next((v for k, v in args.passthrough if k == flag), None)


def parse_speculative(args: EngineArgs, target: ModelSpec, *,
                      target_ref: str | None = None) -> SpeculativeSettings | None:
    """--speculative-config (or the 0.6-0.7 --speculative-model / --num-speculative-tokens) as vLLM reads
    it. Malformed JSON, a non-object, an unknown method or a missing token count is bad input."""
    text = args.speculative_config
    raw: dict[str, object]
    if text is None:
        old_model = _passthrough(args, "--speculative-model")
        if old_model is None:
            return None
        raw = {"model": old_model}
        n = _passthrough(args, "--num-speculative-tokens")
        if n is not None:
            raw["num_speculative_tokens"] = n
        tp = _passthrough(args, "--speculative-draft-tensor-parallel-size")
        if tp is not None:
            raw["draft_tensor_parallel_size"] = tp
    else:
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise PlannerError(f"--speculative-config: invalid JSON ({exc})", code="bad_flag_value") from None
        if not isinstance(loaded, dict):
            raise PlannerError("--speculative-config: expected a JSON object such as "
                               '{"method": "eagle3", "model": "...", "num_speculative_tokens": 3}',
                               code="bad_flag_value")
        raw = loaded
    model = raw.get("model")
    if model is not None and not isinstance(model, str):
        raise PlannerError("--speculative-config: \"model\" must be a string", code="bad_flag_value")
    method = raw.get("method")
    if method is not None and not isinstance(method, str):
        raise PlannerError("--speculative-config: \"method\" must be a string", code="bad_flag_value")
    if method is None:
        method = "ngram" if model in ("ngram", "[ngram]") else "draft_model"
        lowered = (model or "").lower()
        if "eagle-" in lowered:
            method = "eagle"
        elif "eagle3" in lowered:
            method = "eagle3"
        elif model is not None and target_ref is not None and model == target_ref and target.mtp_layers:
            method = "mtp"               # the draft config of the target itself is its MTP module
    if method == "[ngram]":
        method = "ngram"
    if method in MTP_ALIASES:
        method = "mtp"
    if method not in KNOWN_METHODS:
        raise PlannerError(f"--speculative-config: unknown method {method!r}", code="bad_flag_value",
                           hint="e.g. ngram, draft_model, eagle, eagle3, mtp")

    def positive_int(key: str) -> int | None:
        value = raw.get(key)
        if value is None:
            return None
        try:
            number = int(str(value))
        except ValueError:
            raise PlannerError(f"--speculative-config: {key} must be an integer, got {value!r}",
                               code="bad_flag_value") from None
        if number < 1 or isinstance(value, bool):
            raise PlannerError(f"--speculative-config: {key} must be a positive integer, got {value!r}",
                               code="bad_flag_value")
        return number

    n_tokens = positive_int("num_speculative_tokens")
    draft_tp = positive_int("draft_tensor_parallel_size")
    if n_tokens is None:
        if method == "mtp" and target.mtp_layers:
            n_tokens = target.mtp_layers    # the draft config's num_nextn_predict_layers
        else:
            raise PlannerError("--speculative-config: num_speculative_tokens is required for method "
                               f"{method!r}", code="bad_flag_value")
    if method in ("draft_model", "eagle", "eagle3") and not model:
        raise PlannerError("--speculative-config: num_speculative_tokens was provided but without "
                           "speculative model.", code="bad_flag_value",
                           hint='name the draft: "model": "<repo id>"')
    quant = raw.get("quantization")
    kv_dtype = raw.get("kv_cache_dtype")
    return SpeculativeSettings(method=method, num_speculative_tokens=n_tokens, model=model, draft_tp=draft_tp,
                               quantization=quant if isinstance(quant, str) else None,
                               kv_cache_dtype=kv_dtype if isinstance(kv_dtype, str) else None)


def needs_draft_config(settings: SpeculativeSettings | None) -> bool:
    """Whether sizing the drafter needs the draft's own config (a draft model or an EAGLE head)."""
    return settings is not None and settings.method in ("draft_model", "eagle", "eagle3")


def draft_reference(args: EngineArgs, target: ModelSpec, target_ref: str | None) -> tuple[str, str] | None:
    """(method, repo id) of the draft model or EAGLE head the command names, for the caller to load."""
    settings = parse_speculative(args, target, target_ref=target_ref)
    if settings is None or not needs_draft_config(settings) or not settings.model:
        return None
    return settings.method, settings.model


@dataclass(frozen=True)
class Drafter:
    """What the drafter adds on one TP rank of the last PP stage."""

    settings: SpeculativeSettings
    weight_tensors: tuple[int, ...]        # bytes of each draft tensor the GPU keeps
    kv_layers: tuple[tuple[ModelSpec, LayerSpec], ...]   # the drafter's attention layers (spec for the page)
    kv_tp: int
    forward_spec: ModelSpec | None         # the shape of the drafter's forward in the profile run
    assumption: str | None = None          # what was assumed where the draft's config was not given


def _dense_layer_tensors(spec: ModelSpec, *, tp: int, act_bytes: int, qkv_in: int) -> list[int]:
    """A llama-style decoder layer's tensors on one TP rank (16-bit)."""
    h = spec.hidden_size
    q = max(1, spec.num_heads // tp) * spec.head_dim
    kv = max(1, spec.num_kv_heads // tp) * spec.head_dim
    inter = spec.intermediate_size // tp
    return [x * act_bytes for x in ((q + 2 * kv) * qkv_in, h * q, 2 * inter * h, h * inter, h, h)]


def _eagle_head_spec(target: ModelSpec, head: ModelSpec | None) -> tuple[ModelSpec, str | None]:
    if head is not None:
        return head, None
    assumption = ("the EAGLE head's config is not available: sized as one decoder layer of the target's "
                  f"shape (hidden {target.hidden_size}, {target.num_heads}/{target.num_kv_heads} heads, "
                  f"intermediate {target.intermediate_size}) sharing the target's vocabulary")
    layer = LayerSpec("full")
    return replace(target, name=target.name + "-eagle", num_layers=1, layers=(layer,), num_experts=0,
                   kv_lora_rank=0, mtp_layers=0, vision_params=0), assumption


def drafter(settings: SpeculativeSettings | None, target: ModelSpec, *, tp: int, act_bytes: int,
            draft: ModelSpec | None = None, draft_vocab_size: int | None = None,
            draft_weight_tensors: tuple[int, ...] | None = None,
            target_layer_tensors: tuple[int, ...] = ()) -> Drafter | None:
    """The drafter of `settings` on one TP rank. `draft` is the draft model's / EAGLE head's spec when
    known; `draft_weight_tensors` the draft model's own weights per rank (planner.memory.weights);
    `target_layer_tensors` one MTP layer's tensors (a decoder layer of the target, as the weights code
    sizes it)."""
    if settings is None or settings.method in NO_WEIGHTS:
        return None if settings is None else Drafter(settings, (), (), tp, None)
    method = settings.method
    h = target.hidden_size
    if method == "mtp":
        if not target.mtp_layers:
            raise PlannerError(f"--speculative-config: method mtp needs a model with MTP layers "
                               f"(num_nextn_predict_layers); {target.name} has none", code="bad_flag_value")
        per_layer = [2 * h * act_bytes, 2 * h * h * act_bytes, *target_layer_tensors, h * act_bytes]
        mtp_layer = target.layers[-1]
        n = target.mtp_layers
        return Drafter(settings, tuple(per_layer * n), tuple((target, mtp_layer) for _ in range(n)), tp, target)
    if method == "draft_model":
        if draft is None:
            return Drafter(settings, (), (), tp, None, f"the draft model {settings.model!r} was not loaded: its "
                           "weights and KV layers are left out of the figures")
        dtp = settings.draft_tp or tp
        layers = tuple((draft, layer) for layer in draft.layers if layer.attention not in ("linear", "none"))
        return Drafter(settings, tuple(draft_weight_tensors or ()), layers, dtp, draft)
    if method in ("eagle", "eagle3"):
        head, assumption = _eagle_head_spec(target, draft)
        hh = head.hidden_size
        tensors: list[int] = []
        for i in range(head.num_layers):
            qkv_in = 2 * hh if (method == "eagle3" and i == 0) else hh
            tensors += _dense_layer_tensors(head, tp=tp, act_bytes=act_bytes, qkv_in=qkv_in)
        if method == "eagle":
            tensors.append(2 * hh * hh * act_bytes)                    # fc: ReplicatedLinear(2H -> H)
        else:
            tensors.append(3 * h * hh * act_bytes)                     # fc: num_aux (3) x target H -> H
            tensors.append(hh * act_bytes)                             # final norm
            vocab = draft_vocab_size or target.vocab_size
            if vocab != target.vocab_size:
                tensors.append(-(-vocab // 64) * 64 // tp * hh * act_bytes)   # own lm_head (draft vocab)
                tensors.append(vocab * 8)                              # d2t (int64)
        layers = tuple((head, LayerSpec("full")) for _ in range(head.num_layers))
        return Drafter(settings, tuple(tensors), layers, tp, head, assumption)
    return Drafter(settings, (), (), tp, None, f"the {method} drafter's weights and KV are not modelled: the "
                   "figures leave them out (sized: " + ", ".join(SIZED) + ")")
