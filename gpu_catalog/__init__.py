"""The GPU catalog: one JSON data file per device under gpu_catalog/data/, and its loader.

`total_gib` is what `cudaMemGetInfo` reports (what vLLM multiplies by --gpu-memory-utilization), not the
marketing size: an H100 80GB reports about 79.2 GiB. Each entry names its sources.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Gpu:
    id: str                                  # catalog id, e.g. "H100-SXM-80GB"
    name: str                                # human name, e.g. "NVIDIA H100 80GB HBM3 (SXM5)"
    vendor: str                              # "nvidia" | "amd" | "cpu"
    total_gib: float                         # cudaMemGetInfo total, GiB (2**30 bytes)
    memory_gb: float                         # marketing capacity, GB
    compute_capability: str                  # "9.0" ("" for non-CUDA devices)
    aliases: tuple[str, ...] = ()            # short forms: "H100", "h100-sxm", ...
    device_names: tuple[str, ...] = ()       # as nvidia-smi / torch.cuda.get_device_name print it
    gfd_labels: tuple[str, ...] = ()         # GPU Feature Discovery nvidia.com/gpu.product values
    memory_bandwidth_gbps: float | None = None   # GB/s
    tflops_bf16: float | None = None         # dense
    tflops_fp8: float | None = None          # dense; None = no native FP8
    tflops_int8: float | None = None         # dense TOPS
    interconnect: str = ""                   # e.g. "NVLink 4 (900 GB/s)", "PCIe 4.0 x16"
    nvlink: bool = False
    gpus_per_node: int = 8
    unified_memory: bool = False             # GH200/GB10-style UMA: free memory comes from the OS
    price_per_hour_usd: float | None = None  # on-demand list price per GPU-hour
    price_date: str | None = None
    price_source: str | None = None
    sources: tuple[str, ...] = ()

    @property
    def cc(self) -> tuple[int, int]:
        """Compute capability as a tuple, (0, 0) for non-CUDA devices."""
        if not self.compute_capability:
            return (0, 0)
        major, _, minor = self.compute_capability.partition(".")
        return (int(major), int(minor or 0))

    @property
    def cc_int(self) -> int:
        """vLLM's integer capability (major*10 + minor), as in `get_min_capability()`."""
        major, minor = self.cc
        return major * 10 + minor

    @property
    def total_bytes(self) -> int:
        return round(self.total_gib * 2**30)
