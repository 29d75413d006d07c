"""The CPU backend as a platform beside CUDA (planner/platforms.py, after vllm/platforms/)."""

from __future__ import annotations

import gpu_catalog
from planner.engine_args import EngineArgs
from planner.platforms import CpuPlatform, CudaPlatform, platform_for
from planner.vllm_versions import rules_for


def test_platform_for_picks_the_backend_of_the_device() -> None:
    assert platform_for(gpu_catalog.resolve("H100")) == CudaPlatform()
    cpu = platform_for(gpu_catalog.cpu_device(64.0), cpu_amx=True, attention_backend="CPU_ATTN")
    assert cpu == CpuPlatform(amx=True, attention_backend="CPU_ATTN") and cpu.name == "cpu"


def test_what_differs_on_cpu() -> None:
    rules = rules_for("0.33.0")
    cuda, cpu = CudaPlatform(), CpuPlatform()
    args = EngineArgs()
    # vLLM's CPU backend: eager, no async scheduling, no profiled overheads, no CUDA device checks.
    assert (cuda.enforce_eager(args), cpu.enforce_eager(args)) == (False, True)
    assert (cuda.async_scheduling(rules), cpu.async_scheduling(rules)) == (True, False)
    assert (cuda.profiles_overheads, cpu.profiles_overheads) == (True, False)
    assert (cuda.checks_device_memory, cpu.checks_device_memory) == (True, False)
    assert cuda.kv_budget(args, 0.9, {}) is None
    budget = cpu.kv_budget(args, 0.9, {"VLLM_CPU_KVCACHE_SPACE": "4"})
    assert budget is not None and budget.bytes == 4 * 2**30
