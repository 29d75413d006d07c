"""Property tests of the memory model (issue #2): monotonicity, TP splitting, fp8 KV, flag order."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import gpu_catalog
from planner.memory.estimator import estimate
from planner.memory.spec import model_spec_from_config
from planner.release.engine_args import EngineArgs
from planner.release.serve_args import parse_serve_argv

CONFIGS = Path(__file__).parent / "data" / "validation" / "model-configs"
NAMES = ["meta-llama__Llama-3.1-8B-Instruct", "Qwen__Qwen2.5-7B-Instruct", "mistralai__Mixtral-8x7B-v0.1",
         "google__gemma-2-9b-it", "openai__gpt-oss-20b", "Qwen__Qwen3-30B-A3B", "Qwen__Qwen3-8B"]
SPECS = {n: model_spec_from_config(json.loads((CONFIGS / f"{n}.json").read_text()), name=n) for n in NAMES}
H100 = gpu_catalog.resolve("H100")
FULL_ATTENTION = ["meta-llama__Llama-3.1-8B-Instruct", "Qwen__Qwen2.5-7B-Instruct", "mistralai__Mixtral-8x7B-v0.1",
                  "Qwen__Qwen3-8B", "Qwen__Qwen3-30B-A3B"]

models = st.sampled_from(NAMES)
fixed_batch = st.fixed_dictionaries({"max_num_seqs": st.sampled_from([64, 256]),
                                     "max_num_batched_tokens": st.sampled_from([2048, 8192]),
                                     "max_model_len": st.sampled_from([2048, 8192])})


@settings(max_examples=40, deadline=None)
@given(models, fixed_batch, st.floats(20, 200), st.floats(0, 60))
def test_more_memory_never_lowers_kv_tokens(name, batch, total, extra):
    spec = SPECS[name]
    args = EngineArgs(**batch)
    small = estimate(spec, H100, args, gpu_memory_gib=total)
    large = estimate(spec, H100, args, gpu_memory_gib=total + extra)
    assert large.kv_cache.tokens >= small.kv_cache.tokens
    assert large.per_gpu.kv_cache_gib >= small.per_gpu.kv_cache_gib - 1e-9


@settings(max_examples=30, deadline=None)
@given(models, st.sampled_from([1, 2, 4]), st.sampled_from(["none", "fp8", "awq"]))
def test_more_tp_never_raises_weights_per_gpu(name, tp, quant):
    spec = SPECS[name]
    if spec.quantization_config:
        quant = None
    a = estimate(spec, H100, EngineArgs(tensor_parallel_size=tp, max_model_len=4096), quant=quant)
    b = estimate(spec, H100, EngineArgs(tensor_parallel_size=2 * tp, max_model_len=4096), quant=quant)
    assert b.per_gpu.weights_gib <= a.per_gpu.weights_gib


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(FULL_ATTENTION), st.integers(1, 60))
def test_fp8_kv_doubles_tokens_of_full_attention_models(name, gib):
    spec = SPECS[name]
    args = EngineArgs(kv_cache_memory_bytes=gib * 2**30, max_model_len=4096)
    auto = estimate(spec, H100, args)
    fp8 = estimate(spec, H100, args.with_(kv_cache_dtype="fp8"))
    # within one block of doubling (integer division of the memory by the block size)
    assert abs(fp8.kv_cache.tokens - 2 * auto.kv_cache.tokens) <= 2 * auto.kv_cache.block_size


FLAGS = [["--tensor-parallel-size", "2"], ["--max-model-len", "32k"], ["--max-num-seqs", "128"],
         ["--gpu-memory-utilization", "0.85"], ["--kv-cache-dtype", "fp8"], ["--enforce-eager"],
         ["--max-num-batched-tokens", "4096"], ["--block-size", "32"]]


@settings(max_examples=40, deadline=None)
@given(st.permutations(FLAGS))
def test_results_are_independent_of_flag_order(order):
    spec = SPECS["meta-llama__Llama-3.1-8B-Instruct"]
    ref = parse_serve_argv(["vllm", "serve", "m"] + [w for f in FLAGS for w in f])
    got = parse_serve_argv(["vllm", "serve", "m"] + [w for f in order for w in f])
    assert got.args == ref.args
    assert estimate(spec, H100, got.args).to_json() == estimate(spec, H100, ref.args).to_json()
