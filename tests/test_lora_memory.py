"""LoRA serving memory against vLLM 0.33's code (planner/memory/lora.py cites the files).

Every expected figure is hand-computed below from vLLM's create_lora_weights shapes (lora/layers/
base_linear.py, column_parallel_linear.py, fused_moe.py, vocab_parallel_embedding.py, logits_processor.py)
and the punica buffers (punica_wrapper/punica_base.py, ops/triton_ops/lora_kernel_metadata.py). The
validation runs in ../shared/validation have no LoRA log this model can check against (c057 runs inside
Unsloth with bitsandbytes and is listed as unexplained), so there is no real-log pin here.
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
from planner.memory.lora import lora_settings, lora_slot_bytes, lora_slot_tensors, punica_buffer_tensors
from planner.memory.spec import model_spec_from_config
from planner.memory.weights import allocated_bytes
from planner.release.engine_args import EngineArgs
from planner.release.vllm_versions import rules_for

CONFIGS = Path(__file__).parent / "data" / "validation" / "model-configs"
H100 = gpu_catalog.resolve("H100-SXM-80GB")
GiB = 2**30
LLAMA = "meta-llama__Llama-3.1-8B-Instruct"


def _config(name: str) -> dict[str, object]:
    return json.loads((CONFIGS / f"{name}.json").read_text())


def _spec(name: str):
    return model_spec_from_config(_config(name), name=name)


def _lora(version: str = "0.33.0", **kw: object):
    settings = lora_settings(EngineArgs(enable_lora=True, **kw), rules_for(version), 2)   # type: ignore[arg-type]
    assert settings is not None
    return settings


# Llama-3.1-8B: H 4096, 32 heads x 128 (Q 4096), 8 KV heads x 128 (K, V 1024 each), I 14336, vocab 128256.
H, Q, KV, INTER, V, R = 4096, 4096, 1024, 14336, 128256, 64
# One LoRA, one decoder layer, TP1 (elements): lora_a rank x in per slice, lora_b out x rank per slice.
QKV = 3 * R * H + (Q + KV + KV) * R          # MergedQKVParallelLinearWithLoRA: 3 slices
O_PROJ = R * Q + H * R                       # RowParallelLinearWithLoRA
GATE_UP = 2 * R * H + 2 * INTER * R              # MergedColumnParallelLinearWithLoRA: 2 slices
DOWN = R * INTER + H * R
EMBED = V * R + H * R                        # VocabParallelEmbeddingWithLoRA (embedding_modules of llama.py)
LOGITS = R * H + V * R                       # LogitsProcessorWithLoRA for the lm_head


def test_llama_slots_at_tp1_are_max_loras_x_rank_x_in_plus_out_on_every_module() -> None:
    per_lora = 32 * (QKV + O_PROJ + GATE_UP + DOWN) + EMBED + LOGITS
    assert per_lora == 184_713_216
    lora = _lora(max_loras=4, max_lora_rank=R)
    got = lora_slot_bytes(_spec(LLAMA), range(32), first=True, last=True, tp=1, ep=False, lora=lora)
    assert got == 4 * 2 * per_lora                       # 4 slots, bf16 (lora_dtype auto = model dtype)


def test_tp_shards_the_column_outputs_and_row_inputs_and_fully_sharded_the_rest() -> None:
    spec = _spec(LLAMA)
    layer = [0]
    # TP2: Q 2048, K/V 512 per rank; o_proj and down_proj inputs halved.
    tp2 = (3 * R * H + (2048 + 512 + 512) * R) + (R * 2048 + H * R) + (2 * R * H + 2 * 7168 * R) + (R * 7168 + H * R)
    got = lora_slot_bytes(spec, range(1), first=False, last=False, tp=2, ep=False, lora=_lora(max_lora_rank=R))
    assert got == 2 * tp2
    # fully_sharded_loras: the column layers' lora_a rank and the row layers' lora_b output are split too.
    fs = (3 * 32 * H + (2048 + 512 + 512) * R) + (R * 2048 + 2048 * R) + (2 * 32 * H + 2 * 7168 * R) \
        + (R * 7168 + 2048 * R)
    got = lora_slot_bytes(spec, range(1), first=False, last=False, tp=2, ep=False,
                          lora=_lora(max_lora_rank=R, fully_sharded_loras=True))
    assert got == 2 * fs and layer


def test_moe_experts_get_slots_per_local_expert() -> None:
    spec = _spec("Qwen__Qwen3-30B-A3B")          # H 2048, 32 x 128 heads, 4 KV heads, 128 experts of 768
    h, e, mi, r = 2048, 128, 768, 16
    attn = (3 * r * h + (4096 + 512 + 512) * r) + (r * 4096 + h * r)
    router = r * h + e * r
    experts = e * (2 * r * h + r * mi + 2 * mi * r + h * r)   # w1/w3 lora_a, w2 lora_a, w1/w3 lora_b, w2 lora_b
    got = lora_slot_bytes(spec, range(1), first=False, last=False, tp=1, ep=False, lora=_lora())
    assert got == 2 * (attn + router + experts)


def test_gpt_oss_3d_moe_has_one_w13_slice() -> None:
    spec = _spec("openai__gpt-oss-20b")          # H 2880, 64 x 64 heads, 8 KV heads, 32 experts of 2880
    h, e, mi, r = 2880, 32, 2880, 16
    attn = (3 * r * h + (4096 + 512 + 512) * r) + (r * 4096 + h * r)
    router = r * h + e * r
    experts = e * (r * h + r * mi + 2 * mi * r + h * r)       # FusedMoE3DWithLoRA: w13 lora_a once, (2I, r) lora_b
    got = lora_slot_bytes(spec, range(1), first=False, last=False, tp=1, ep=False, lora=_lora())
    assert got == 2 * (attn + router + experts)           # gpt-oss declares no embedding_modules


def test_releases_with_an_extra_vocabulary_size_its_rows() -> None:
    lora = _lora("0.10.1.1", max_lora_rank=R)
    assert lora.extra_vocab == 256                        # --lora-extra-vocab-size default
    tensors = lora_slot_tensors(_spec(LLAMA), range(0), first=True, last=True, tp=1, ep=False, lora=lora)
    assert tensors == [2 * n for n in ((V + 256) * R, H * R, 256 * H, R * H, (V + 256) * R, 256 * H)]


def test_the_estimate_counts_the_slots_in_the_weights_and_the_kv_tokens_drop_by_them() -> None:
    mml = 8192
    base = estimate(_config(LLAMA), H100, EngineArgs(max_model_len=mml))
    args = EngineArgs(max_model_len=mml, enable_lora=True, max_loras=4, max_lora_rank=R)
    est = estimate(_config(LLAMA), H100, args)
    lora = _lora(max_loras=4, max_lora_rank=R)
    spec = _spec(LLAMA)
    mnbt, mns = est.resolved.max_num_batched_tokens, est.resolved.max_num_seqs
    assert (mnbt, mns) == (8192, 1024)
    added = allocated_bytes(punica_buffer_tensors(max_num_batched_tokens=mnbt, max_num_seqs=mns, max_loras=4)
                            + lora_slot_tensors(spec, range(32), first=True, last=True, tp=1, ep=False, lora=lora))
    # The slot tensors themselves, plus the caching allocator's rounding (planner.memory.weights.allocated_bytes).
    assert 4 * 2 * 184_713_216 < added < 1.03 * 4 * 2 * 184_713_216
    assert est.per_gpu.weights_gib * GiB == pytest.approx(base.per_gpu.weights_gib * GiB + added, abs=1)
    # The dummy LoRAs' fp32 shrink buffer of gate_up (2 slices x tokens x rank) joins the profile peak.
    profile = 2 * mnbt * R * 4
    assert est.per_gpu.activation_gib * GiB == pytest.approx(base.per_gpu.activation_gib * GiB + profile, abs=1)
    avail = base.per_gpu.kv_cache_gib * GiB - added - profile
    assert est.per_gpu.kv_cache_gib * GiB == pytest.approx(avail, abs=1)
    bpb = est.kv_cache.bytes_per_block
    assert est.kv_cache.num_blocks == int(avail // bpb)
    assert est.kv_cache.tokens < base.kv_cache.tokens
    assert base.kv_cache.num_blocks - est.kv_cache.num_blocks == pytest.approx((added + profile) / bpb, abs=1)


def test_the_cpu_cache_takes_no_gpu_memory() -> None:
    a = estimate(_config(LLAMA), H100, EngineArgs(max_model_len=8192, enable_lora=True, max_loras=2))
    b = estimate(_config(LLAMA), H100, EngineArgs(max_model_len=8192, enable_lora=True, max_loras=2,
                                                  max_cpu_loras=64))
    assert (a.per_gpu, a.kv_cache) == (b.per_gpu, b.kv_cache)


def test_lora_off_changes_nothing_and_lora_dtype_sizes_the_slots() -> None:
    base = estimate(_config(LLAMA), H100, EngineArgs(max_model_len=8192))
    off = estimate(_config(LLAMA), H100, EngineArgs(max_model_len=8192, max_loras=8, max_lora_rank=64))
    assert (base.per_gpu, base.kv_cache) == (off.per_gpu, off.kv_cache)
    assert lora_settings(EngineArgs(enable_lora=True, lora_dtype="float16"), rules_for("0.33.0"), 4).lora_bytes == 2


def test_what_vllm_refuses_at_startup_is_an_error_finding() -> None:
    est = estimate(_config(LLAMA), H100, EngineArgs(max_model_len=8192, enable_lora=True, max_loras=4,
                                                    max_cpu_loras=2))
    assert [e.code for e in est.errors] == ["lora_config"]
    assert est.errors[0].message == "max_cpu_loras (2) must be >= max_loras (4)."


@pytest.mark.parametrize(("version", "rank"), [("0.33.0", 48), ("0.33.0", 1024), ("0.10.1.1", 1), ("0.10.1.1", 4)])
def test_a_rank_outside_vllms_set_is_bad_input(version: str, rank: int) -> None:
    with pytest.raises(PlannerError, match="max_lora_rank"):
        estimate(_config(LLAMA), H100, EngineArgs(enable_lora=True, max_lora_rank=rank), vllm_version=version)


def test_bad_lora_values_exit_2_with_one_line(tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(_config(LLAMA)))
    runner = CliRunner()
    for flags in (["--enable-lora", "--max-lora-rank", "48"], ["--enable-lora", "--max-loras", "0"],
                  ["--enable-lora", "--lora-dtype", "int8"]):
        r = runner.invoke(app, ["estimate", str(d), "--gpu", "H100", *flags])
        assert r.exit_code == 2, (flags, r.output)
        lines = [line for line in r.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("planner: error:"), r.output
    r = runner.invoke(app, ["estimate", str(d), "--gpu", "H100", "--vllm-version", "0.10.1.1", "--enable-lora",
                            "--max-lora-rank", "1"])
    assert r.exit_code == 2 and "must be one of 8, 16" in r.output
