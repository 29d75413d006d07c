"""Deployments the emit tests share (golden, schema, injection and vLLM-parser tests).

GPUs come from the bundled catalog (gpu_catalog/data), so the GFD labels and node sizes in the
output are the catalog's, not test constants.
"""

from __future__ import annotations

import gpu_catalog
from gpu_catalog import Gpu
from planner.emit import Deployment, OpsLoad, OpsTargets, emit, ops_targets
from planner.release.engine_args import EngineArgs


def catalog_gpu(gpu_id: str) -> Gpu:
    return gpu_catalog.resolve(gpu_id)


def cases() -> dict[str, Deployment]:
    """Golden cases: one GPU; a gated model on TP 4; a pre-quantized AWQ repo with env vars (0.32.0)."""
    return {
        "single-gpu": Deployment(
            model="Qwen/Qwen3-8B",
            served_model_name="qwen3-8b",
            args=EngineArgs(gpu_memory_utilization=0.92, max_model_len=32768, max_num_seqs=64),
            vllm_version="0.33.0",
            gpu=catalog_gpu("L40S-48GB"),
            num_gpus=1,
        ),
        "tp4-gated": Deployment(
            model="meta-llama/Llama-3.1-70B-Instruct",
            args=EngineArgs(
                tensor_parallel_size=4,
                gpu_memory_utilization=0.92,
                max_model_len=131072,
                max_num_seqs=128,
                kv_cache_dtype="fp8",
                enable_prefix_caching=True,
            ),
            vllm_version="0.33.0",
            gpu=catalog_gpu("H100-SXM-80GB"),
            num_gpus=4,
            hf_token_required=True,
        ),
        "awq-env": Deployment(
            model="hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4",
            served_model_name="llama-3.1-70b",
            args=EngineArgs(
                tensor_parallel_size=2,
                gpu_memory_utilization=0.9,
                max_model_len=65536,
                max_num_seqs=32,
                max_num_batched_tokens=8192,
                quantization="awq_marlin",
            ),
            vllm_version="0.32.0",
            gpu=catalog_gpu("A100-SXM-80GB"),
            num_gpus=2,
            env={"VLLM_ALLOW_LONG_MAX_MODEL_LEN": "1", "VLLM_LOGGING_LEVEL": "DEBUG"},
            port=9000,
        ),
    }


def ops_cases() -> dict[str, OpsTargets]:
    """The operations targets of each golden case: a capacity plan with a fallback (single-gpu, at the p95
    targets of issue 13's example), the no-workload defaults (tp4-gated), and a p99 plan without a TTFT
    target whose queue depth is left to the default (awq-env)."""
    c = cases()
    return {
        "single-gpu": ops_targets(c["single-gpu"], fallback="gpt-4o-mini", load=OpsLoad(
            request_rate=40, peak_to_average=2, per_replica_rate=18.5, replicas=5, slo_ttft_ms=500,
            slo_tpot_ms=40, queue_depth=1.09)),
        "tp4-gated": ops_targets(c["tp4-gated"]),
        "awq-env": ops_targets(c["awq-env"], fallback="anthropic/claude-haiku-4-5", load=OpsLoad(
            request_rate=3, peak_to_average=3, per_replica_rate=2.5, replicas=4, slo_tpot_ms=60,
            slo_percentile=99)),
    }


def test_cases_render_every_form() -> None:
    for d in cases().values():
        for form in ("vllm", "docker", "compose", "k8s"):
            assert emit(d, form).strip()
