"""What a CUDA process holds on a GPU outside PyTorch's tensors, per device: the parts of vLLM 0.6's
"non-torch" memory that depend on the GPU.

vLLM's V0 worker (vllm/worker/worker.py, read from the 0.6.0, 0.6.1.post2, 0.6.2, 0.6.3.post1, 0.6.4.post1,
0.6.5, 0.6.6.post1 and 0.7.0 wheels) takes `init_gpu_memory = torch.cuda.mem_get_info()[0]` in
`init_device`, after `torch.cuda.set_device`. `cudaMemGetInfo` creates the process's primary CUDA context
before it answers, so the context is already in that figure. What each release then counts beside the
weights and the activation peak (`determine_num_available_blocks`):

- 0.6.0-0.6.3: `peak = init_gpu_memory - free after the profile run`: everything the process added since
  `init_device` (no separate non-torch line is logged). The context is not in it.
- 0.6.4: `non_torch = (total - free) - allocated_bytes.all.current` after `empty_cache()`: all device
  memory outside PyTorch's live tensors, with no baseline. The process's CUDA context is counted, and so
  is every other process's memory on the GPU (not modelled: a dedicated GPU is assumed).
- 0.6.5-0.6.6: `vllm.utils.memory_profiling(baseline = total - init_gpu_memory, weights)`:
  `non_torch = used - baseline - weights - (allocated after - allocated before the profile)`. The
  context is in the baseline; what remains is the growth after `init_device`.
- 0.7.0 changed it again (`MemorySnapshot`: non-torch = used - `memory_reserved()` since the baseline);
  its coefficients live in planner/release/vllm_versions.py and are not derived here.

The growth after `init_device` (every 0.6 release): NCCL communicators and custom all-reduce buffers
(created by `init_worker_distributed_environment`, after the baseline; TP/PP > 1 only), the kernel
images the CUDA driver loads on first launch (PyTorch sets CUDA_MODULE_LOADING=LAZY), the cuBLAS and
cuBLASLt handles, and the local memory the driver enlarges when a kernel needs a deeper per-thread stack
than the current limit; that enlargement is kept (CUDA driver API, CU_CTX_LMEM_RESIZE_TO_MAX: "the
behavior enabled by this flag is now the default") and is sized per resident thread: bytes per thread x
maximum resident threads per SM x SMs. That is why the same release logs different non-torch figures on
different GPUs: both the context's stack reservation and the growth scale with the resident thread slots,
and the kernel images with the architecture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gpu_catalog import Gpu

GiB = 2**30

# Maximum resident threads per SM by compute capability (CUDA C++ Programming Guide, "Technical
# Specifications per Compute Capability", maximum number of resident threads per SM; read 2026-12).
THREADS_PER_SM: dict[tuple[int, int], int] = {
    (7, 0): 2048, (7, 2): 2048, (7, 5): 1024,
    (8, 0): 2048, (8, 6): 1536, (8, 7): 2048, (8, 9): 1536,
    (9, 0): 2048,
    (10, 0): 2048, (10, 3): 2048,
    (12, 0): 1536, (12, 1): 1536,
}

# SMs per catalog GPU: the CUDA cores of NVIDIA's datasheet / product page (and the whitepapers of the
# GA100 and GH100 parts) divided by the cores per SM of the architecture (Volta, Turing, GA100: 64;
# GA10x, Ada, Hopper, Blackwell: 128). Read 2026-12. GPUs not listed (AMD, H20, user entries, MIG slices)
# use the reference GPU's slots (below), the largest common case.
SM_COUNT: dict[str, int] = {
    "V100-16GB": 80, "V100-32GB": 80,            # 5,120 cores (Volta whitepaper)
    "T4-16GB": 40,                               # 2,560 cores (T4 datasheet)
    "A100-40GB": 108, "A100-PCIe-40GB": 108,     # 108 SMs (A100 whitepaper)
    "A100-SXM-80GB": 108, "A100-PCIe-80GB": 108, "A800-80GB": 108,
    "A10-24GB": 72,                              # 9,216 cores (A10 datasheet)
    "A10G-24GB": 80,                             # 80 RT cores, one per SM (AWS G5 product page)
    "A40-48GB": 84, "RTX-A6000-48GB": 84,        # 10,752 cores (datasheets)
    "RTX-3090-24GB": 82,                         # 10,496 cores
    "L4-24GB": 58,                               # 7,424 cores (L4 datasheet)
    "L40-48GB": 142, "L40S-48GB": 142, "RTX-6000-Ada-48GB": 142,   # 18,176 cores
    "RTX-4060-8GB": 24,                          # 3,072 cores
    "RTX-4090-24GB": 128,                        # 16,384 cores
    "H100-SXM-80GB": 132, "H100-NVL-94GB": 132,  # 132 SMs (H100 whitepaper, SXM5; NVL as SXM5)
    "H100-PCIe-80GB": 114,                       # 114 SMs (H100 whitepaper, PCIe)
    "H200-141GB": 132, "H200-NVL-141GB": 132, "GH200-96GB": 132,   # the GH100 part of the H100 SXM5
    "B200-180GB": 148,                           # 148 SMs (Blackwell architecture technical brief)
    "RTX-5090-32GB": 170,                        # 21,760 cores
    "RTX-PRO-6000-Blackwell-96GB": 188,          # 24,064 cores
    "GB10-128GB": 48,                            # 6,144 cores (DGX Spark datasheet)
}

REFERENCE_GPU = "H100-SXM-80GB"
REFERENCE_SLOTS = SM_COUNT[REFERENCE_GPU] * THREADS_PER_SM[(9, 0)]

# The per-thread stack the driver reserves local memory for when it creates a context: the default of
# cudaLimitStackSize, 1 KiB (CUDA Runtime API, cudaDeviceSetLimit).
DEFAULT_STACK_BYTES = 1024
# The rest of a freshly created context (driver state, the kernel images loaded at creation): (unverified)
# 0.25 GiB, so that an H100's context is the ~0.5 GiB typical figure of shared/reference/vllm-memory.md §1.2
# ("~0.4-0.6 GiB, unverified") that planner/memory/estimator.py also uses for its startup check.
CONTEXT_DRIVER_GIB = 0.25


def thread_slots(gpu: Gpu | None) -> int:
    """Maximum resident threads on the whole device (SMs x threads per SM); the reference GPU's when the
    device's SM count or architecture is not known."""
    if gpu is None:
        return REFERENCE_SLOTS
    sms = SM_COUNT.get(gpu.id)
    per_sm = THREADS_PER_SM.get(gpu.cc) if gpu.vendor == "nvidia" else None
    if sms is None or per_sm is None:
        return REFERENCE_SLOTS
    return sms * per_sm


def context_bytes(gpu: Gpu | None) -> int:
    """A freshly created CUDA context: driver state plus the local memory reserved for every resident
    thread's default stack."""
    return int(CONTEXT_DRIVER_GIB * GiB) + DEFAULT_STACK_BYTES * thread_slots(gpu)
