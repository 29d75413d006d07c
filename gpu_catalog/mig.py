"""MIG (Multi-Instance GPU) slices: the memory each GPU-instance profile gives, per parent GPU.

A process on a MIG slice sees only the slice: `cudaMemGetInfo` reports the slice's memory, so vLLM's
`total x --gpu-memory-utilization` and its batch-size tiers start from it, not from the whole card.

Source: NVIDIA's MIG user guide (https://docs.nvidia.com/datacenter/tesla/mig-user-guide/), "Supported
MIG Profiles": the profile names per GPU and their fraction of memory in eighths (memory slices:
1g.10gb of an H100 80GB is 1/8, 1g.20gb and 2g.20gb 2/8, 3g.40gb and 4g.40gb 4/8, 7g.80gb all 8), and
the `nvidia-smi mig -lgip` listings it reproduces, whose
"Memory GiB" column is the slice's memory. No figure here is a cudaMemGetInfo measured on a slice.
- `listed`: the GiB of that listing (A100 40GB and H100 80GB, recalled from the guide's examples; not
  re-checked offline), when it is below the derived share.
- `derived`: memory slices / 8 x the parent's measured total. A slice loses a little to MIG's own
  reservation (on H100 80GB 1g.10gb lists 9.75 GiB against 79.19 / 8 = 9.90), so a derived figure is
  an upper bound by up to ~2 %.
The `+me` variants (with the media engines) and compute-instance profiles (`1c.3g.40gb`) have the
memory of their GPU instance.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MigProfile:
    profile: str          # "1g.10gb"
    memory_slices: int    # of 8
    total_gib: float      # what cudaMemGetInfo reports on the slice
    how: str              # "listed" | "derived"


# Parent memory family -> (profile, memory slices of 8, listed GiB or None), from the guide's tables.
_A100_40 = (("1g.5gb", 1, 4.75), ("1g.10gb", 2, 9.75), ("2g.10gb", 2, 9.75), ("3g.20gb", 4, 19.62),
            ("4g.20gb", 4, 19.62), ("7g.40gb", 8, 39.5))
_A100_80 = (("1g.10gb", 1, None), ("1g.20gb", 2, None), ("2g.20gb", 2, None), ("3g.40gb", 4, None),
            ("4g.40gb", 4, None), ("7g.80gb", 8, None))
_H100_80 = (("1g.10gb", 1, 9.75), ("1g.20gb", 2, 19.62), ("2g.20gb", 2, 19.62), ("3g.40gb", 4, 39.5),
            ("4g.40gb", 4, 39.5), ("7g.80gb", 8, 79.25))
_H100_94 = (("1g.12gb", 1, None), ("1g.24gb", 2, None), ("2g.24gb", 2, None), ("3g.47gb", 4, None),
            ("4g.47gb", 4, None), ("7g.94gb", 8, None))
_H200 = (("1g.18gb", 1, None), ("1g.35gb", 2, None), ("2g.35gb", 2, None), ("3g.71gb", 4, None),
         ("4g.71gb", 4, None), ("7g.141gb", 8, None))
_BY_PARENT = {
    "A100-40GB": _A100_40, "A100-PCIe-40GB": _A100_40,
    "A100-SXM-80GB": _A100_80, "A100-PCIe-80GB": _A100_80,
    "H100-SXM-80GB": _H100_80, "H100-PCIe-80GB": _H100_80,
    "H100-NVL-94GB": _H100_94,
    "H200-141GB": _H200, "H200-NVL-141GB": _H200,
}
SOURCE = ("MIG slice memory: NVIDIA MIG user guide, Supported MIG Profiles "
          "(https://docs.nvidia.com/datacenter/tesla/mig-user-guide/); see gpu_catalog/mig.py")


def gpu_instance(profile: str) -> str:
    """'1c.3g.40gb+me' -> '3g.40gb': the GPU-instance profile that owns the memory."""
    base = profile.lower().removesuffix("+me")
    parts = base.split(".")
    return ".".join(parts[1:]) if len(parts) == 3 and parts[0].endswith("c") else base


def profiles(parent_id: str, parent_total_gib: float) -> dict[str, MigProfile]:
    """The MIG profiles of a parent GPU (empty when the GPU has no MIG)."""
    out: dict[str, MigProfile] = {}
    for name, slices, listed in _BY_PARENT.get(parent_id, ()):
        share = round(parent_total_gib * slices / 8, 2)
        if listed is not None and listed <= share:
            out[name] = MigProfile(name, slices, listed, "listed")
        else:
            # No listing, or one above the parent's CUDA-visible share (7g.40gb lists 39.50 GiB on a card
            # whose whole-GPU cudaMemGetInfo total is 39.38): the share bounds what CUDA reports.
            out[name] = MigProfile(name, slices, share, "derived")
    return out
