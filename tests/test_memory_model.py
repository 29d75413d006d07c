"""The memory model against vLLM's own arithmetic: fixed points from vLLM's source and public logs.

Each expected figure below is either printed by a real vLLM run (cited) or follows from vLLM's code
(vllm-memory.md section cited); none is produced by the planner itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import gpu_catalog
from planner.errors import PlannerError
from planner.memory.estimator import estimate
from planner.memory.kv import KvGroup, blocks_per_request, kv_layout
from planner.memory.quant import scheme_for_name
from planner.memory.spec import model_spec_from_config
from planner.memory.weights import allocated_bytes, pad_vocab, pp_partition, rank_weights
from planner.release.engine_args import EngineArgs, parse_human_int

CONFIGS = Path(__file__).parent / "data" / "validation" / "model-configs"
GiB = 2**30


def spec(name: str):
    return model_spec_from_config(json.loads((CONFIGS / f"{name}.json").read_text()), name=name)


H100 = gpu_catalog.resolve("H100-SXM-80GB")


def test_human_numbers_follow_vllm():
    assert parse_human_int("32k", flag="x") == 32_000
    assert parse_human_int("32K", flag="x") == 32_768
    assert parse_human_int("96M", flag="x") == 96 * 2**20
    assert parse_human_int("1.5k", flag="x") == 1500
    with pytest.raises(PlannerError):
        parse_human_int("1.5K", flag="x")
    with pytest.raises(PlannerError):
        parse_human_int("abc", flag="x")


def test_pp_partition_matches_get_pp_indices():
    # vllm/distributed/utils.py: remainder to the stages counted back from the second-to-last.
    assert pp_partition(61, 8) == [7, 7, 8, 8, 8, 8, 8, 7]
    assert pp_partition(80, 4) == [20, 20, 20, 20]
    assert pp_partition(10, 3) == [3, 4, 3]
    assert sum(pp_partition(94, 7)) == 94


def test_vocab_padding_to_64():
    assert pad_vocab(128256) == 128256
    assert pad_vocab(151936) == 151936
    assert pad_vocab(32001) == 32064


def test_allocator_keeps_small_remainders():
    # >= 10 MiB: own segment rounded to 2 MiB; remainder <= 1 MiB stays in the block.
    mib = 2**20
    assert allocated_bytes([int(13.5 * mib)]) == 14 * mib   # 0.5 MiB remainder kept in the block
    assert allocated_bytes([int(12.25 * mib)]) == int(12.25 * mib)  # 1.75 MiB remainder split off
    assert allocated_bytes([100]) == 512
    assert allocated_bytes([3 * mib, 3 * mib]) == 6 * mib    # carved from one 20 MiB segment


def test_qwen2_7b_weights_match_logged_to_the_hundredth():
    # vllm-runs c001/c003/c085: "Model loading took 14.2488 / 7.1217 / 3.55 GiB" (bf16, TP1/2/4).
    s = spec("Qwen__Qwen2.5-7B-Instruct")
    none = scheme_for_name("none")
    w = {tp: rank_weights(s, none, tp=tp, pp=1, stage=0, ep=False, act_bytes=2).allocated_bytes / GiB
         for tp in (1, 2, 4)}
    assert abs(w[1] - 14.2488) < 0.002
    assert abs(w[2] - 7.1217) < 0.002
    assert round(w[4], 2) == 3.55


def _pinned(s, gpu, args, logged_gib, **kw):
    """Estimates at the two ends of the log's 0.01 GiB rounding interval of the KV memory."""
    return [estimate(s, gpu, args.with_(kv_cache_memory_bytes=int(g * GiB)), **kw)
            for g in (logged_gib - 0.005, logged_gib + 0.005)]


def test_llama_8b_kv_tokens_from_logged_memory():
    # vllm-memory.md §2.8 (a public 0.3x log): "Available KV cache memory: 56.21 GiB",
    # "GPU KV cache size: 460,496 tokens" (= 28,781 blocks of 16), "3.51x" at 131072 tokens.
    s = spec("meta-llama__Llama-3.1-8B-Instruct")
    lo, hi = _pinned(s, H100, EngineArgs(), 56.21)
    assert lo.kv_cache.tokens <= 460_496 <= hi.kv_cache.tokens
    assert lo.kv_cache.bytes_per_token == 131_072
    exact = estimate(s, H100, EngineArgs(num_gpu_blocks_override=28_781, kv_cache_memory_bytes=57 * GiB))
    assert exact.kv_cache.tokens == 460_496
    assert round(exact.kv_cache.max_concurrency, 2) == 3.51


def test_gpt_oss_hybrid_groups_0_10():
    # vllm-memory.md §8: gpt-oss-120b TP4 on 0.10.1.1, 45.32 GiB -> 330,018 blocks, 2,640,144 tokens,
    # 284.25x at max_model_len 16384 with max_num_batched_tokens 2048 (vllm-runs c006).
    s = spec("openai__gpt-oss-120b")
    a100 = gpu_catalog.resolve("A100-SXM-80GB")
    args = EngineArgs(tensor_parallel_size=4, max_model_len=16384, max_num_batched_tokens=2048)
    lo, hi = _pinned(s, a100, args, 45.32, vllm_version="0.10.1.1")
    assert lo.kv_cache.groups == 2
    assert lo.kv_cache.bytes_per_block == 147_456
    assert lo.kv_cache.tokens <= 2_640_144 <= hi.kv_cache.tokens
    exact = estimate(s, a100, args.with_(num_gpu_blocks_override=330_018, kv_cache_memory_bytes=50 * GiB),
                     vllm_version="0.10.1.1")
    assert exact.kv_cache.tokens == 2_640_144           # num_blocks // 2 groups * 16
    assert round(exact.kv_cache.max_concurrency, 2) == 284.25


def test_gemma3_groups_and_padding():
    # vllm-memory.md §2.6/§2.8: 62 layers = 52 sliding + 10 full -> 7 groups of 10, 8 padding layers;
    # a 131072-token request needs 8192 + 6 x 1089 = 14,726 blocks (mnbt 8192, async in-flight 16384).
    s = spec("google__gemma-3-27b-it")
    layout = kv_layout(s, range(s.num_layers), tp=1, kv_cache_dtype="auto", act_bytes=2, block_size=16,
                       hybrid=True)
    assert len(layout.groups) == 7
    assert layout.padding_layers == 8
    need = sum(blocks_per_request(g, 131072, in_flight_tokens=16384, legacy_swa=False, mnbt=8192)
               for g in layout.groups)
    assert need == 8192 + 6 * 1089


def test_sliding_window_need_by_version():
    g = KvGroup("sliding", 4096, 32, 1, 16)
    # 0.10-0.20: cdiv(min(window - 1 + mnbt, mml), bs) + 1; 0.21+: in-flight tokens instead of mnbt.
    assert blocks_per_request(g, 32768, in_flight_tokens=16384, legacy_swa=True, mnbt=8192) == 769
    assert blocks_per_request(g, 32768, in_flight_tokens=16384, legacy_swa=False, mnbt=8192) == 1281


def test_mla_cache_is_replicated_across_tp():
    s = spec("deepseek-ai__DeepSeek-V3")
    h200 = gpu_catalog.resolve("H200")
    one = estimate(s, h200, EngineArgs(tensor_parallel_size=8, kv_cache_memory_bytes=10 * GiB))
    # 61 layers x (512 + 64) x 2 bytes, whatever the TP size.
    assert one.kv_cache.bytes_per_token == 61 * 576 * 2
    fp8 = estimate(s, h200, EngineArgs(tensor_parallel_size=8, kv_cache_dtype="fp8",
                                       kv_cache_memory_bytes=10 * GiB))
    assert fp8.kv_cache.bytes_per_token == 61 * 576


def test_kv_heads_replicated_when_tp_exceeds_them():
    s = spec("meta-llama__Llama-3.1-70B-Instruct")   # 8 KV heads
    per_tok = {tp: estimate(s, H100, EngineArgs(tensor_parallel_size=tp, kv_cache_memory_bytes=GiB))
               .kv_cache.bytes_per_token for tp in (4, 8)}
    assert per_tok[4] == 80 * 2 * 2 * 128 * 2
    assert per_tok[8] == 80 * 2 * 1 * 128 * 2
    l8 = spec("meta-llama__Llama-3.1-8B-Instruct")
    # Qwen/Llama with 8 KV heads at TP 16 is not a divisor case; at TP=8 each rank keeps one head.
    assert estimate(l8, H100, EngineArgs(tensor_parallel_size=8, kv_cache_memory_bytes=GiB)) \
        .kv_cache.bytes_per_token == 32 * 2 * 1 * 128 * 2


def test_startup_failures_use_vllm_wording():
    s = spec("meta-llama__Llama-3.1-70B-Instruct")
    # heads not divisible: 64 heads, TP 3
    e = estimate(s, H100, EngineArgs(tensor_parallel_size=3))
    assert not e.fits
    assert any("must be divisible by tensor parallel size (3)" in x.message for x in e.errors)
    # weights do not fit on one GPU
    e = estimate(s, H100, EngineArgs(max_model_len=8192))
    assert {x.code for x in e.errors} >= {"weights_do_not_fit"}
    # KV too small for one request, with vLLM's estimated maximum length
    e = estimate(s, H100, EngineArgs(tensor_parallel_size=2, max_model_len=131072))
    msg = next(x.message for x in e.errors if x.code == "kv_cache_too_small")
    assert "To serve at least one request with the model's max seq len (131072)" in msg
    assert "the estimated maximum model length is" in msg
    # longer than the model allows
    e = estimate(s, H100, EngineArgs(tensor_parallel_size=4, max_model_len=200_000))
    assert any(x.code == "max_model_len_too_large" for x in e.errors)
    # AWQ needs compute capability 7.5: V100 is 7.0
    v100 = gpu_catalog.resolve("V100-32GB")
    e = estimate(s, v100, EngineArgs(tensor_parallel_size=8, max_model_len=4096), quant="awq")
    assert any("Minimum capability: 75. Current capability: 70." in x.message for x in e.errors)


def test_auto_fit_max_model_len():
    s = spec("meta-llama__Llama-3.1-70B-Instruct")
    e = estimate(s, H100, EngineArgs(tensor_parallel_size=2, max_model_len=-1))
    assert e.fits
    assert 1000 < e.resolved.max_model_len < 131072
    # the fitted length is what the KV cache holds for one request (plus the null block)
    assert e.kv_cache.max_concurrency >= 1.0


def test_checkpoint_quantization_conflict():
    s = spec("Qwen__Qwen3-32B-FP8")
    e = estimate(s, H100, EngineArgs(max_model_len=8192), quant="awq")
    assert any(x.code == "quantization_mismatch" for x in e.errors)
    assert estimate(s, H100, EngineArgs(max_model_len=8192), quant="fp8").fits


def test_version_defaults():
    s = spec("meta-llama__Llama-3.1-8B-Instruct")
    new = estimate(s, H100, EngineArgs())
    old = estimate(s, H100, EngineArgs(), vllm_version="0.19.0")
    assert new.resolved.gpu_memory_utilization == 0.92
    assert old.resolved.gpu_memory_utilization == 0.9
    assert new.per_gpu.cudagraph_gib > 0 and old.per_gpu.cudagraph_gib == 0
    assert estimate(s, H100, EngineArgs(enforce_eager=True)).per_gpu.cudagraph_gib == 0
    a100 = gpu_catalog.resolve("A100")
    assert estimate(s, a100, EngineArgs()).resolved.max_num_batched_tokens == 2048
    assert new.resolved.max_num_batched_tokens == 8192
    b200 = gpu_catalog.resolve("B200")
    assert estimate(s, b200, EngineArgs()).resolved.max_num_batched_tokens == 16384
    with pytest.raises(PlannerError):
        estimate(s, H100, EngineArgs(), vllm_version="0.5.0")


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.json")), ids=lambda p: p.stem)
def test_every_reference_config_is_estimated(path):
    if path.name.endswith(".hf_quant_config.json"):
        pytest.skip("side-car, merged with its config.json by the loader")
    cfg = json.loads(path.read_text())
    s = model_spec_from_config(cfg, name=path.stem)
    e = estimate(s, gpu_catalog.resolve("H200"), EngineArgs(tensor_parallel_size=8, max_model_len=4096))
    assert e.per_gpu.weights_gib > 0
    assert e.kv_cache.bytes_per_token > 0
    if cfg.get("quantization_config"):
        assert e.quant.is_quantized


def hf_tensors(s):
    """The tensor names/shapes of a Hugging Face Llama/Qwen2-style bf16 checkpoint of spec `s`."""
    h, hd = s.hidden_size, s.head_dim
    out = [("model.embed_tokens.weight", "BF16", (s.vocab_size, h))]
    for i in range(s.num_layers):
        p = f"model.layers.{i}."
        out += [(p + "self_attn.q_proj.weight", "BF16", (s.num_heads * hd, h)),
                (p + "self_attn.k_proj.weight", "BF16", (s.num_kv_heads * hd, h)),
                (p + "self_attn.v_proj.weight", "BF16", (s.num_kv_heads * hd, h))]
        if s.qkv_bias:
            out += [(p + "self_attn.q_proj.bias", "BF16", (s.num_heads * hd,)),
                    (p + "self_attn.k_proj.bias", "BF16", (s.num_kv_heads * hd,)),
                    (p + "self_attn.v_proj.bias", "BF16", (s.num_kv_heads * hd,))]
        out += [(p + "self_attn.o_proj.weight", "BF16", (h, s.num_heads * hd)),
                (p + "mlp.gate_proj.weight", "BF16", (s.intermediate_size, h)),
                (p + "mlp.up_proj.weight", "BF16", (s.intermediate_size, h)),
                (p + "mlp.down_proj.weight", "BF16", (h, s.intermediate_size)),
                (p + "input_layernorm.weight", "BF16", (h,)),
                (p + "post_attention_layernorm.weight", "BF16", (h,))]
    out += [("model.norm.weight", "BF16", (h,)), ("lm_head.weight", "BF16", (s.vocab_size, h))]
    return out


@pytest.mark.parametrize("tp,pp", [(1, 1), (2, 1), (4, 1), (1, 2), (2, 3)])
def test_checkpoint_tensors_agree_with_config_arithmetic(tp, pp):
    from planner.memory.weights import checkpoint_rank_bytes

    s = spec("Qwen__Qwen2.5-7B-Instruct")
    none = scheme_for_name("none")
    for stage in range(pp):
        arith = rank_weights(s, none, tp=tp, pp=pp, stage=stage, ep=False, act_bytes=2)
        tensor_bytes, alloc = checkpoint_rank_bytes(hf_tensors(s), s, tp=tp, pp=pp, stage=stage, ep=False,
                                                    act_bytes=2)
        assert tensor_bytes == arith.tensor_bytes
        assert alloc == arith.allocated_bytes


def test_pp_layer_partition_env():
    s = spec("Qwen__Qwen3-30B-A3B")   # 48 layers
    a4000 = gpu_catalog.resolve("RTX-4090")
    args = EngineArgs(pipeline_parallel_size=2, max_model_len=4096, kv_cache_memory_bytes=2**30)
    even = estimate(s, a4000, args)
    skew = estimate(s, a4000, args, env={"VLLM_PP_LAYER_PARTITION": "16,32"})
    assert even.stages[0].weights_gib > skew.stages[0].weights_gib
    assert skew.tightest_stage == 1     # the 32-layer stage holds fewer tokens per block of memory
    bad = estimate(s, a4000, args, env={"VLLM_PP_LAYER_PARTITION": "16,30"})
    assert any("does not match num_hidden_layers=48" in e.message for e in bad.errors)


# ---- a pinned KV size bypasses vLLM's check, and then the allocation fails (issue 11) ----------------

@pytest.mark.parametrize("model", ["meta-llama__Llama-3.1-8B", "Qwen__Qwen3-30B-A3B", "google__gemma-2-9b-it"])
@pytest.mark.parametrize("gpu", ["H100-SXM-80GB", "L4-24GB", "A100-40GB"])
@pytest.mark.parametrize("share", [0.5, 0.9, 1.1, 2.5])
def test_pinned_kv_larger_than_the_device_leaves_is_an_out_of_memory(model: str, gpu: str, share: float) -> None:
    """--kv-cache-memory-bytes and --num-gpu-blocks-override: vLLM takes the figure as given
    (gpu_worker.determine_available_memory, kv_cache_planning) and torch.zeros fails when it does not
    fit next to the weights; below that the pin is honoured."""
    g = gpu_catalog.resolve(gpu)
    s = spec(model)
    base = estimate(s, g, EngineArgs(max_model_len=4096, tensor_parallel_size=1))
    left = (g.total_gib - 0.5 - base.per_gpu.weights_gib - base.per_gpu.non_torch_gib
            - base.per_gpu.cudagraph_gib) * GiB
    if left <= 0:
        pytest.skip("the weights alone do not fit this GPU")
    pinned = estimate(s, g, EngineArgs(max_model_len=4096, kv_cache_memory_bytes=int(share * left)))
    bpb = base.kv_cache.bytes_per_block
    by_blocks = estimate(s, g, EngineArgs(max_model_len=4096, num_gpu_blocks_override=int(share * left // bpb)))
    for est in (pinned, by_blocks):
        codes = {e.code for e in est.errors}
        assert ("kv_cache_oom" in codes) == (share > 1), (codes, share)
        if share > 1:
            assert next(e for e in est.errors if e.code == "kv_cache_oom").message.startswith(
                "CUDA out of memory.")


def test_issue_11_reproducers_kv_pins_on_h100() -> None:
    s = spec("meta-llama__Llama-3.1-8B")
    for args in (EngineArgs(kv_cache_memory_bytes=parse_human_int("200G", flag="x")),
                 EngineArgs(num_gpu_blocks_override=10_000_000)):
        est = estimate(s, H100, args)
        assert not est.fits and est.errors[0].code == "kv_cache_oom"
