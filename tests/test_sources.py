"""Local sources: config.json, side-cars, safetensors headers, class defaults, catalog variants."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from planner.errors import PlannerError
from planner.sourcing.loader import load_model, prequantized_variant

REF = Path(__file__).parent / "data" / "validation" / "model-configs"


def test_sidecar_is_merged(tmp_path):
    shutil.copy(REF / "nvidia__Llama-3.1-70B-Instruct-FP8.json", tmp_path / "config.json")
    shutil.copy(REF / "nvidia__Llama-3.1-70B-Instruct-FP8.hf_quant_config.json", tmp_path / "hf_quant_config.json")
    m = load_model(str(tmp_path))
    assert m.config["quantization_config"]["quant_method"] == "modelopt"
    assert m.config["quantization_config"]["quant_algo"] == "FP8"


def test_safetensors_headers_are_read_without_data(tmp_path):
    shutil.copy(REF / "Qwen__Qwen3-8B.json", tmp_path / "config.json")
    header = {"model.embed_tokens.weight": {"dtype": "BF16", "shape": [151936, 4096], "data_offsets": [0, 0]},
              "__metadata__": {"format": "pt"}}
    raw = json.dumps(header).encode()
    (tmp_path / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw)
    m = load_model(str(tmp_path))
    assert m.weights_source == "safetensors"
    assert m.tensors[0].shape == (151936, 4096)
    (tmp_path / "model.safetensors").write_bytes(b"\x01\x02")
    with pytest.raises(PlannerError, match="truncated safetensors"):
        load_model(str(tmp_path))


def test_unknown_model_type_gets_transformers_defaults(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "olmo", "hidden_size": 2048,
                                                      "num_hidden_layers": 16}))
    m = load_model(str(tmp_path))
    assert m.config["num_attention_heads"] and m.config["vocab_size"]
    assert any("filled from transformers" in w for w in m.warnings)


def test_quant_switches_to_the_catalog_checkpoint():
    m = load_model("llama-3.1-70b")
    awq = prequantized_variant(m, "awq")
    assert awq is not None and "AWQ" in awq.repo_id
    assert awq.config["quantization_config"]["quant_method"] == "awq"
    assert prequantized_variant(awq, "awq") is None          # already quantized: left alone
    assert prequantized_variant(m, "none") is None


def test_unknown_alias_suggests():
    with pytest.raises(PlannerError) as e:
        load_model("llama-3.1-70")
    assert e.value.hint and "llama-3.1-70b" in e.value.hint


def _shard(path: Path, tensors: dict[str, list[int]]) -> None:
    header = {n: {"dtype": "BF16", "shape": s, "data_offsets": [0, 0]} for n, s in tensors.items()}
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)


@pytest.mark.parametrize("with_index", [True, False])
@pytest.mark.parametrize("present", [[1], [1, 2, 30], list(range(1, 31))])
def test_an_incomplete_sharded_checkpoint_is_sized_from_the_config(tmp_path: Path, with_index: bool,
                                                                   present: list[int]) -> None:
    """1 of 30 shards of a 70B model must not be sized as 2 GiB of weights (issue 11): the index's
    weight_map (or the -0000N-of-0000M names) says what is missing; the config sizes the model and a
    warning names the missing files. A complete folder still uses its tensors."""
    import gpu_catalog
    from planner.memory.estimator import estimate

    shutil.copy(REF / "meta-llama__Llama-3.1-70B-Instruct.json", tmp_path / "config.json")
    names = [f"model-{i:05d}-of-00030.safetensors" for i in range(1, 31)]
    if with_index:
        weight_map = {f"model.layers.{i}.mlp.down_proj.weight": n for i, n in enumerate(names)}
        (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    for i in present:
        _shard(tmp_path / names[i - 1], {f"model.layers.{i - 1}.mlp.down_proj.weight": [8192, 28672]})
    m = load_model(str(tmp_path))
    complete = len(present) == 30
    assert (m.weights_source == "safetensors") == complete
    if complete:
        assert not m.warnings
        return
    assert len(m.warnings) == 1 and "incomplete checkpoint" in m.warnings[0]
    assert f"{30 - len(present)} safetensors shard(s) missing" in m.warnings[0]
    assert names[3] in m.warnings[0]
    est = estimate(m, gpu_catalog.resolve("H100"), None)
    assert est.weights_source == "config" and est.per_gpu.weights_gib > 120   # 70B in bf16, not 2 GiB
