"""The device backends the memory model knows, as vLLM has them in vllm/platforms/: CUDA and CPU.

Each platform answers the questions where the estimate differs by backend: which startup checks and
kernels apply, the block size, whether the memory profile measures activation / non-torch / CUDA-graph
memory, where the KV budget comes from, and whether async scheduling runs. The CPU answers follow
vllm/platforms/cpu.py and vllm/v1/worker/cpu_worker.py (planner/memory/cpu_backend.py holds the arithmetic).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, NamedTuple

from gpu_catalog import Gpu
from planner import memory
from planner.memory import kv as kvm
from planner.memory.findings import Finding
from planner.memory.spec import ModelSpec
from planner.release.engine_args import EngineArgs
from planner.release.vllm_versions import BatchDefaults, VersionRules, batch_defaults

if TYPE_CHECKING:
    from planner.memory import cpu_backend


class KvMemory(NamedTuple):
    """One stage's KV budget and the overheads the platform's memory profile subtracted (bytes)."""

    available: float
    activation: float
    non_torch: float
    cudagraph: float


@dataclass(frozen=True)
class CudaPlatform:
    """vLLM's CudaPlatform: profiled memory, CUDA graphs, device-memory checks."""

    name: str = "cuda"

    @property
    def checks_device_memory(self) -> bool:
        """The CUDA context must fit beside the requested memory, and the weights in the device."""
        return True

    @property
    def checks_quantization_capability(self) -> bool:
        return True

    def attention_findings(self, spec: ModelSpec, args: EngineArgs) -> list[Finding]:
        return []

    def batch_defaults(self, rules: VersionRules, gpu: Gpu, *, total_gib: float) -> BatchDefaults:
        """get_batch_defaults for `vllm serve`, by device memory tier."""
        return batch_defaults(rules, total_gib=total_gib, device_name=" ".join((gpu.name, *gpu.device_names)),
                              cc=gpu.cc)

    def scheduler_overrides(self, spec: ModelSpec, args: EngineArgs, *, chunked: bool, mnbt: int,
                            max_model_len: int) -> tuple[bool, int, EngineArgs]:
        return chunked, mnbt, args

    def enforce_eager(self, args: EngineArgs) -> bool:
        return args.enforce_eager

    def block_size(self, spec: ModelSpec, args: EngineArgs, gpu: Gpu, rules: VersionRules) -> int:
        return args.block_size or kvm.default_block_size(spec, gpu.cc, engine=rules.engine,
                                                         mla_sm100_block_32=rules.mla_sm100_block_32)

    def kv_budget(self, args: EngineArgs, util: float, env: dict[str, str]) -> cpu_backend.CpuKvBudget | None:
        """None: the budget is what the memory profile leaves (requested - weights - overheads)."""
        return None

    def kv_memory(self, *, requested: float, weights: float, activation: float, non_torch: float,
                  cudagraph: float, args: EngineArgs, budget: cpu_backend.CpuKvBudget | None,
                  env: dict[str, str]) -> KvMemory:
        """gpu_worker.determine_available_memory: --kv-cache-memory-bytes as given, else what the profile
        leaves of the request (requested - weights - activation peak - non-torch - CUDA-graph estimate)."""
        if args.kv_cache_memory_bytes is not None:
            return KvMemory(float(args.kv_cache_memory_bytes), activation, non_torch, cudagraph)
        return KvMemory(requested - weights - activation - non_torch - cudagraph, activation, non_torch, cudagraph)

    def kv_budget_warnings(self, budget: cpu_backend.CpuKvBudget | None) -> list[Finding]:
        return []

    @property
    def profiles_overheads(self) -> bool:
        """Activation peak, non-torch memory and the CUDA-graph estimate are subtracted from the budget."""
        return True

    def async_scheduling(self, rules: VersionRules) -> bool:
        return rules.async_scheduling


@dataclass(frozen=True)
class CpuPlatform(CudaPlatform):
    """vLLM's CpuPlatform: eager, no async scheduling, KV budget from VLLM_CPU_KVCACHE_SPACE or the node."""

    name: str = "cpu"
    amx: bool = False                        # the host has AMX tiles (picks the MLA kernel)
    attention_backend: str | None = None     # --attention-backend as given

    @property
    def checks_device_memory(self) -> bool:
        return False

    @property
    def checks_quantization_capability(self) -> bool:
        return False

    def attention_findings(self, spec: ModelSpec, args: EngineArgs) -> list[Finding]:
        head = spec.kv_lora_rank + spec.qk_rope_head_dim if spec.is_mla else spec.head_dim
        return [Finding(f.code, f.message) for f in memory.cpu_backend.cpu_attention_findings(
            head_size=head, use_mla=spec.is_mla, kv_cache_dtype=args.kv_cache_dtype)]

    def scheduler_overrides(self, spec: ModelSpec, args: EngineArgs, *, chunked: bool, mnbt: int,
                            max_model_len: int) -> tuple[bool, int, EngineArgs]:
        forced = memory.cpu_backend.cpu_mla_scheduler_overrides(use_mla=spec.is_mla, amx=self.amx,
                                                         attention_backend=self.attention_backend,
                                                         max_model_len=max_model_len)
        if not forced:
            return chunked, mnbt, args
        return False, int(forced["max_num_batched_tokens"]), replace(args, enable_prefix_caching=False)  # type: ignore[call-overload]

    def batch_defaults(self, rules: VersionRules, gpu: Gpu, *, total_gib: float) -> BatchDefaults:
        """get_batch_defaults on CPU: 128 sequences and 2048 tokens per rank for `vllm serve`."""
        return BatchDefaults(*memory.cpu_backend.cpu_scheduler_defaults(1, api_server=True))

    def enforce_eager(self, args: EngineArgs) -> bool:
        return True

    def block_size(self, spec: ModelSpec, args: EngineArgs, gpu: Gpu, rules: VersionRules) -> int:
        return memory.cpu_backend.cpu_block_size(user_block_size=args.block_size, use_mla=spec.is_mla, amx=self.amx,
                                          model_type=spec.model_type, attention_backend=self.attention_backend)

    def kv_budget(self, args: EngineArgs, util: float, env: dict[str, str]) -> cpu_backend.CpuKvBudget | None:
        return memory.cpu_backend.cpu_kv_budget_bytes(kv_cache_memory_bytes=args.kv_cache_memory_bytes,
                                               gpu_memory_utilization=util, env=env)

    def kv_memory(self, *, requested: float, weights: float, activation: float, non_torch: float,
                  cudagraph: float, args: EngineArgs, budget: cpu_backend.CpuKvBudget | None,
                  env: dict[str, str]) -> KvMemory:
        """cpu_worker.determine_available_memory: no memory profile; VLLM_CPU_KVCACHE_SPACE (which wins over
        the flag, "0" is 0) or --kv-cache-memory-bytes as given; in auto mode requested - the worker's
        resident memory, known only at run time and approximated by the weights plus the measured startup
        footprint."""
        if budget is not None and budget.bytes is not None:
            return KvMemory(float(budget.bytes), 0, 0, 0)
        footprint = memory.cpu_backend.cpu_startup_footprint_bytes(env)
        return KvMemory(requested - weights - footprint, 0, footprint, 0)

    def kv_budget_warnings(self, budget: cpu_backend.CpuKvBudget | None) -> list[Finding]:
        if budget is None or budget.bytes is not None:
            return []
        return [Finding("cpu_kv_approximate", "no KV size given: vLLM's CPU backend gives the KV cache what the "
                        "worker's memory leaves of utilization x node memory, known only at run time; the figure "
                        "here is approximate (pass --kv-cache-memory-bytes)")]

    @property
    def profiles_overheads(self) -> bool:
        return False

    def async_scheduling(self, rules: VersionRules) -> bool:
        return False                         # vLLM turns it off on CPU (platforms/cpu.py)


Platform = CudaPlatform


def platform_for(gpu: Gpu, *, cpu_amx: bool = False, attention_backend: str | None = None) -> Platform:
    """The backend of `gpu`: gpu_catalog.cpu_device(...) is vLLM's CPU backend, every GPU CUDA's."""
    if gpu.vendor == "cpu":
        return CpuPlatform(amx=cpu_amx, attention_backend=attention_backend)
    return CudaPlatform()
