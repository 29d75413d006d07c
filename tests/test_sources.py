"""Local sources: config.json, side-cars, safetensors headers, class defaults, catalog variants."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from planner.errors import PlannerError
from planner.sources import load_model, prequantized_variant

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
