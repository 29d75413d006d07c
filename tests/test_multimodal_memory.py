"""Multimodal models against vLLM 0.33's code (planner/memory/vision.py and planner/memory/multimodal.py cite the
files).

Tower parameters are counted from vLLM's modules and checked against the counts
../shared/reference/model-configs/INDEX.md derives and matches with the Hub totals (gemma-3-27b-it:
423,060,336; Llama 4: 871,932,416). The encoder budget follows multimodal/encoder_budget.py and
v1/core/encoder_cache_manager.py, hand-computed below. ../shared/validation/vllm-runs.jsonl has two
multimodal runs (c024 Qwen2.5-VL-72B on V0 0.8.3, c032 Llama-3.2-11B-Vision on V0) without a config in the
data, so there is no real-log pin; the tower's activation is modelled from its shapes (unverified).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import gpu_catalog
from planner.cli import app
from planner.errors import PlannerError
from planner.memory.estimator import estimate
from planner.memory.multimodal import encoder_profile, parse_limits, text_only, tower_rank_bytes
from planner.memory.vision import vision_tower
from planner.release.engine_args import EngineArgs
from planner.release.serve_args import parse_serve_argv
from planner.release.vllm_versions import rules_for

CONFIGS = Path(__file__).parent / "data" / "validation" / "model-configs"
H100 = gpu_catalog.resolve("H100-SXM-80GB")
GiB = 2**30
GEMMA3 = "google__gemma-3-27b-it"
SCOUT = "meta-llama__Llama-4-Scout-17B-16E-Instruct"


def _config(name: str) -> dict[str, object]:
    return json.loads((CONFIGS / f"{name}.json").read_text())


QWEN25_VL_7B = {   # Qwen2.5-VL-7B-Instruct's shape (vision_config fields as vLLM's Qwen2_5_VLVisionConfig reads them)
    "architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl", "hidden_size": 3584,
    "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4,
    "vocab_size": 152064, "max_position_embeddings": 128000, "torch_dtype": "bfloat16", "rope_theta": 1e6,
    "tie_word_embeddings": False,
    "vision_config": {"model_type": "qwen2_5_vl", "depth": 32, "hidden_size": 1280, "intermediate_size": 3420,
                      "num_heads": 16, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
                      "out_hidden_size": 3584, "window_size": 112, "fullatt_block_indexes": [7, 15, 23, 31]},
}


def test_tower_parameters_match_the_hub_counts() -> None:
    gemma, scout = vision_tower(_config(GEMMA3)), vision_tower(_config(SCOUT))
    assert gemma is not None and scout is not None
    assert gemma.params == 423_060_336
    assert scout.params == 871_932_416


def test_qwen2_5_vl_tower_from_its_modules() -> None:
    h, i = 1280, 3420
    block = 2 * h + (3 * h * h + 3 * h) + (h * h + h) + 2 * (h * i + i) + (i * h + h)  # norms, qkv, proj, gate/up, down
    merger = h + (4 * h * 4 * h + 4 * h) + (4 * h * 3584 + 3584)                       # ln_q, mlp.0, mlp.2
    tower = vision_tower(QWEN25_VL_7B)
    assert tower is not None
    assert tower.params == 32 * block + 3 * 2 * 14 * 14 * h + merger == 676_550_144   # "675M" in the Qwen2.5-VL report
    # max_pixels 12,845,056 / (14 x 2)^2 = 16,384 tokens, 4 patches each.
    assert (tower.tokens_per_item, tower.patches_per_item) == (16384, 65536)
    assert tower.modalities == ("image", "video")


@pytest.mark.parametrize(("mnbt", "mns", "limit", "chunked", "items"), [
    (8192, 1024, 999, True, 32),     # budget max(8192, 256) // 256
    (2048, 1024, 999, True, 8),
    (8192, 4, 1, True, 4),           # decoder budget: max_num_seqs x items per prompt
    (8192, 1024, 999, False, 32),    # without chunked prefill max_num_seqs <= 8192 // 256 = 32
    (100, 1024, 999, True, 1),       # budget max(100, 256) = one item
])
def test_the_encoder_budget_follows_multimodal_budget(mnbt: int, mns: int, limit: int, chunked: bool,
                                                      items: int) -> None:
    tower = vision_tower(_config(GEMMA3))
    assert tower is not None
    prof = encoder_profile(tower, limit=limit, max_num_batched_tokens=mnbt, max_num_seqs=mns, max_model_len=32768,
                           chunked_prefill=chunked, tp=1, data_parallel_encoder=False, act_bytes=2, text_hidden=5376)
    assert prof is not None and prof.items == items


def test_the_estimate_takes_the_encoder_peak_or_its_cache_beside_the_lm_peak() -> None:
    args = EngineArgs(max_model_len=32768)
    # vLLM 0.32 still builds the tower in text-only mode: only the encoder profile differs.
    full = estimate(_config(GEMMA3), H100, args, vllm_version="0.32.0")
    text = estimate(_config(GEMMA3), H100, args.with_(limit_mm_per_prompt='{"image": 0}'), vllm_version="0.32.0")
    assert full.per_gpu.weights_gib == text.per_gpu.weights_gib
    items, patches, h, i = 32, 4096, 1152, 4304
    seq = items * patches
    peak = (2 * seq * h + 2 * seq * i) * 2 + items * 3 * 896 * 896 * (4 + 2)   # block activations + pixel values
    cache = items * 256 * 5376 * 2                                             # encoder outputs kept for the LM run
    lm = text.per_gpu.activation_gib * GiB
    assert full.per_gpu.activation_gib * GiB == pytest.approx(max(lm + cache, peak), abs=1)
    assert full.kv_cache.tokens < text.kv_cache.tokens
    assert next(w.code for w in full.warnings) == "mm_encoder_profile"
    assert "mm_encoder_profile" not in [w.code for w in text.warnings]


def test_text_only_mode_skips_the_tower_in_0_33() -> None:
    args = EngineArgs(max_model_len=32768)
    full = estimate(_config(GEMMA3), H100, args)
    text = estimate(_config(GEMMA3), H100, args.with_(limit_mm_per_prompt='{"image": 0}'))
    tower = vision_tower(_config(GEMMA3))
    assert tower is not None
    dropped = (full.per_gpu.weights_gib - text.per_gpu.weights_gib) * GiB
    assert dropped == pytest.approx(tower_rank_bytes(tower, tp=1, data_parallel_encoder=False, act_bytes=2), abs=1)
    assert text.kv_cache.tokens > full.kv_cache.tokens
    assert text_only(tower, {"image": 0}) and not text_only(vision_tower(QWEN25_VL_7B), {"image": 0})  # type: ignore[arg-type]


def test_skip_mm_profiling_and_v0() -> None:
    skip = estimate(_config(GEMMA3), H100, EngineArgs(max_model_len=32768, skip_mm_profiling=True))
    assert "mm_encoder_profile" not in [w.code for w in skip.warnings]
    v0 = estimate(_config(GEMMA3), H100, EngineArgs(max_model_len=8192), vllm_version="0.9.2", vllm_engine="v0")
    assert "mm_profile_not_modelled" in [w.code for w in v0.warnings]


def test_encoder_tp_mode_data_keeps_the_tower_whole_on_every_rank() -> None:
    tower = vision_tower(_config(SCOUT))
    assert tower is not None and tower.supports_tp_data
    args = EngineArgs(tensor_parallel_size=4, max_model_len=8192)
    weights = estimate(_config(SCOUT), H100, args)
    data = estimate(_config(SCOUT), H100, args.with_(mm_encoder_tp_mode="data"))
    whole = tower_rank_bytes(tower, tp=4, data_parallel_encoder=True, act_bytes=2)
    sharded = tower_rank_bytes(tower, tp=4, data_parallel_encoder=False, act_bytes=2)
    assert whole == tower.params * 2
    assert sharded == (tower.params - tower.sharded_params + tower.sharded_params // 4) * 2
    assert (data.per_gpu.weights_gib - weights.per_gpu.weights_gib) * GiB == pytest.approx(whole - sharded, abs=1)
    gemma = estimate(_config(GEMMA3), H100, EngineArgs(tensor_parallel_size=2, max_model_len=8192,
                                                       mm_encoder_tp_mode="data"))
    assert "mm_encoder_tp_mode" in [w.code for w in gemma.warnings]      # SigLIP has no data-parallel mode


# --- --limit-mm-per-prompt per release --------------------------------------------------------------------
@pytest.mark.parametrize(("version", "value", "limits"), [
    ("0.33.0", '{"image": 5}', {"image": 5}),
    ("0.33.0", '{"image": {"count": 2, "width": 512, "height": 512}}', {"image": 2}),
    ("0.9.2", "image=5", {"image": 5}),         # parse_type(json.loads) fell back to nullable_kvs (0.8-0.9)
    ("0.9.2", '{"image": 5}', {"image": 5}),
    ("0.6.6.post1", "image=5,video=1", {"image": 5, "video": 1}),
])
def test_the_spellings_each_release_took(version: str, value: str, limits: dict[str, int]) -> None:
    cmd = parse_serve_argv(["vllm", "serve", "m", f"--limit_mm_per_prompt={value}"], version=version)
    assert parse_limits(cmd.args.limit_mm_per_prompt, rules_for(version)) == limits


@pytest.mark.parametrize(("version", "value"), [
    ("0.33.0", "image=5"), ("0.10.1.1", "image=5"), ("0.6.6.post1", '{"image": 5}'), ("0.33.0", '{"image": -1}'),
    ("0.33.0", '["image"]'),
])
def test_spellings_a_release_refused_are_bad_input(version: str, value: str) -> None:
    with pytest.raises(PlannerError):
        cmd = parse_serve_argv(["vllm", "serve", "m", "--limit-mm-per-prompt", value], version=version)
        parse_limits(cmd.args.limit_mm_per_prompt, rules_for(version))


def test_the_older_spelling_through_the_cli(tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(_config(GEMMA3)))
    runner = CliRunner()
    ok = runner.invoke(app, ["estimate", str(d), "--gpu", "H100", "--max-model-len", "8192", "--vllm-version",
                             "0.9.2", "--limit_mm_per_prompt=image=5", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["vllm"]["args"]["limit_mm_per_prompt"] == '{"image": 5}'
    bad = runner.invoke(app, ["estimate", str(d), "--gpu", "H100", "--max-model-len", "8192",
                              "--limit_mm_per_prompt=image=5"])
    assert bad.exit_code == 2
    lines = [line for line in bad.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "takes JSON" in lines[0]
