"""QuantScheme.skips per layer (vLLM's is_layer_skipped) and its effect on weights and read bytes."""

from __future__ import annotations

import gpu_catalog
from planner.memory.estimator import estimate
from planner.memory.quant import QuantScheme, scheme_from_checkpoint
from planner.performance.predict import cost_of
from planner.release.engine_args import EngineArgs
from planner.sourcing.loader import load_model

L0 = ("model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj", "model.layers.0.self_attn.v_proj",
      "model.layers.0.mlp.down_proj", "lm_head")


def _fp8(ignore: tuple[str, ...]) -> QuantScheme:
    return QuantScheme(name="fp8", vllm_method="fp8", kind="fp8", bits=8, ignore=ignore)


def test_per_layer_names_skip_only_their_layer() -> None:
    q = _fp8(L0)
    assert q.skips("self_attn.qkv_proj", 0) and not q.skips("self_attn.qkv_proj", 1)
    assert q.skips("mlp.down_proj", 0) and not q.skips("mlp.down_proj", 1)
    assert not q.skips("mlp.down_proj")        # not skipped in every layer
    assert q.skips("lm_head")


def test_fused_module_needs_every_shard() -> None:
    assert not _fp8(("model.layers.0.self_attn.q_proj",)).skips("self_attn.qkv_proj", 0)
    assert _fp8(("model.layers.2.mlp.gate_proj", "model.layers.2.mlp.up_proj")).skips("mlp.gate_up_proj", 2)


def test_wildcards_regex_parents_and_layer_free_names() -> None:
    g = _fp8(("model.layers.*.self_attn", "lm_head"))
    assert g.skips("self_attn.qkv_proj", 7) and g.skips("self_attn.o_proj") and not g.skips("mlp.down_proj", 7)
    assert _fp8(("re:.*layers\\.1\\..*",)).skips("mlp.down_proj", 1)
    assert not _fp8(("re:.*layers\\.1\\..*",)).skips("mlp.down_proj", 2)
    assert _fp8(("model.layers.3.mlp",)).skips("mlp.gate_up_proj", 3)
    assert _fp8(("shared_expert",)).skips("mlp.shared_expert.down_proj", 4)
    # a router gate in the list does not make gate_up_proj 16-bit (Qwen3 FP8 lists model.layers.N.mlp.gate)
    assert not _fp8(("model.layers.0.mlp.gate",)).skips("mlp.gate_up_proj", 0)


def test_meta_405b_fp8_keeps_attention_and_edge_layers_bf16() -> None:
    m = load_model("meta-llama/Llama-3.1-405B-FP8", offline=True)
    scheme = scheme_from_checkpoint(m.config["quantization_config"])
    assert scheme.skips("self_attn.qkv_proj", 60) and scheme.skips("mlp.gate_up_proj", 125)
    assert not scheme.skips("mlp.gate_up_proj", 60)
    h100 = gpu_catalog.resolve("H100-SXM-80GB")
    e = estimate(m, h100, EngineArgs(tensor_parallel_size=8), vllm_version="0.6.3")
    assert 56.4 < e.per_gpu.weights_gib < 57.1
    everything = estimate(load_model("RedHatAI/Meta-Llama-3.1-405B-Instruct-FP8", offline=True), h100,
                          EngineArgs(tensor_parallel_size=8), vllm_version="0.6.3")
    assert everything.per_gpu.weights_gib < 49
    # the decode step reads the 16-bit layers at their width
    assert cost_of(e).min_weight_bytes > 1.1 * cost_of(everything).min_weight_bytes
