"""QuantScheme.skips per layer (vLLM's is_layer_skipped) and its effect on weights and read bytes."""

from __future__ import annotations

import itertools

import gpu_catalog
from planner.memory.estimator import estimate
from planner.memory.quant import QuantScheme, _ignore_matches, _name_matches, scheme_from_checkpoint
from planner.performance.predict import cost_of
from planner.release.engine_args import EngineArgs
from planner.sourcing.loader import load_model
from tools.generators import reference_configs

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


def test_indexed_lookup_answers_as_the_scan_of_every_entry() -> None:
    """The ignore list is looked up through an index (lists run to hundreds of names); on every entry of the
    real lists and tricky names around them it answers as `_name_matches` over the whole list does."""
    lists = [tuple(c["quantization_config"][k]) for c in reference_configs().values()
             for k in ("modules_to_not_convert", "ignore", "ignored_layers")
             if isinstance(c.get("quantization_config"), dict) and isinstance(c["quantization_config"].get(k), list)]
    assert any(len(x) > 200 for x in lists)
    lists.append((*L0, "re:.*mlp\\.gate$", "model.layers.*.self_attn", "mlp.shared_expert", "a..b", "model."))
    for ignore in lists:
        names = {n for e in ignore for n in (e, e + ".sub", e.rsplit(".", 1)[0], "x." + e, e + "x")}
        names |= {f"model.layers.{i}.{m}" for i, m in itertools.product((0, 1, 3, 47, 93), (
            "self_attn.q_proj", "mlp.gate", "mlp.experts", "mlp.shared_expert.up_proj", "mlp.down_proj"))}
        names |= {"lm_head", "model.embed_tokens", "a..b.c", "model..x", ""}
        for name in sorted(names):
            assert _ignore_matches(ignore, name) == any(_name_matches(p, name) for p in ignore), (ignore[:3], name)
