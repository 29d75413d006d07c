"""The CPU backend as a platform beside CUDA (planner/memory/platforms.py, after vllm/platforms/)."""

from __future__ import annotations

import gpu_catalog
from planner.memory.platforms import CpuPlatform, CudaPlatform, platform_for
from planner.release.engine_args import EngineArgs
from planner.release.vllm_versions import rules_for


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


def test_the_platform_gives_the_kv_budget_and_the_batch_defaults() -> None:
    rules = rules_for("0.33.0")
    h100 = gpu_catalog.resolve("H100")
    cuda, cpu = CudaPlatform(), CpuPlatform()
    args = EngineArgs()
    # CUDA: what the profile leaves of the request; a pinned size as given.
    mem = cuda.kv_memory(requested=100.0, weights=40.0, activation=5.0, non_torch=2.0, cudagraph=3.0, args=args,
                         budget=None, env={})
    assert tuple(mem) == (50.0, 5.0, 2.0, 3.0)
    pinned = cuda.kv_memory(requested=100.0, weights=40.0, activation=5.0, non_torch=2.0, cudagraph=3.0,
                            args=EngineArgs(kv_cache_memory_bytes=7), budget=None, env={})
    assert pinned.available == 7.0
    # CPU: VLLM_CPU_KVCACHE_SPACE as given, nothing profiled; in auto mode the startup footprint is taken.
    budget = cpu.kv_budget(args, 0.9, {"VLLM_CPU_KVCACHE_SPACE": "4"})
    mem = cpu.kv_memory(requested=100.0, weights=40.0, activation=5.0, non_torch=2.0, cudagraph=3.0, args=args,
                        budget=budget, env={})
    assert tuple(mem) == (4.0 * 2**30, 0, 0, 0) and cpu.kv_budget_warnings(budget) == []
    auto = cpu.kv_budget(args, 0.9, {})
    assert auto is not None and auto.bytes is None
    assert [f.code for f in cpu.kv_budget_warnings(auto)] == ["cpu_kv_approximate"]
    # get_batch_defaults: memory tiers on CUDA, 128 / 2048 on CPU.
    assert (cuda.batch_defaults(rules, h100, total_gib=79.2).max_num_seqs,
            cpu.batch_defaults(rules, h100, total_gib=79.2).max_num_batched_tokens) == (1024, 2048)
