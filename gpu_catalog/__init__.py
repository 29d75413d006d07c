"""The GPU catalog: one JSON data file per device under gpu_catalog/data/, and its loader.

`total_gib` is what `cudaMemGetInfo` reports (what vLLM multiplies by --gpu-memory-utilization), not the
marketing size: an H100 80GB reports about 79.2 GiB. Where a real vLLM log printed the total, the entry
uses it (`total_gib_measured` true); otherwise the entry derives it from the marketing size with the
ratio of a logged part of the same memory type, and its `sources` say how. Each entry names its sources.

Users add GPUs or override fields (prices, totals) with their own JSON file: `extra_file=` or the
environment variable VLLM_PLANNER_GPU_CATALOG. The file holds one entry or a list of entries in the
format of data/*.json. An entry whose id is already in the catalog overrides only the fields it gives;
a new id needs name, vendor, total_gib, memory_gb and compute_capability.

The default path reads plain JSON into frozen dataclasses and caches the result; pydantic is imported
only to validate a user's file.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import re
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any, Literal

from planner.errors import PlannerError, did_you_mean

if TYPE_CHECKING:
    from pydantic import BaseModel

CATALOG_ENV = "VLLM_PLANNER_GPU_CATALOG"


@dataclass(frozen=True)
class Gpu:
    """One device of the catalog: memory, peaks, interconnect and price."""

    id: str                                  # catalog id, e.g. "H100-SXM-80GB"
    name: str                                # human name, e.g. "NVIDIA H100 80GB HBM3 (SXM5)"
    vendor: str                              # "nvidia" | "amd" | "cpu"
    total_gib: float                         # cudaMemGetInfo total, GiB (2**30 bytes)
    memory_gb: float                         # marketing capacity, GB
    compute_capability: str                  # "9.0"; AMD: vLLM's ROCm mapping (gfx942 -> "9.4"); "" for CPU
    aliases: tuple[str, ...] = ()            # short forms: "H100", "h100-sxm", ...
    device_names: tuple[str, ...] = ()       # as nvidia-smi / torch.cuda.get_device_name print it
    gfd_labels: tuple[str, ...] = ()         # GPU Feature Discovery nvidia.com/gpu.product values
    memory_bandwidth_gbps: float | None = None   # GB/s
    tflops_bf16: float | None = None         # dense; None = not published, or no BF16 (T4, V100)
    tflops_fp8: float | None = None          # dense; None = not published or no FP8 tensor cores.
                                             # Whether vLLM runs fp8 natively follows compute capability.
    tflops_int8: float | None = None         # dense TOPS
    interconnect: str = ""                   # e.g. "NVLink 4 (900 GB/s)", "PCIe 4.0 x16"
    nvlink: bool = False                     # all GPUs of a node on NVLink/NVSwitch (bridged pairs: False)
    gpus_per_node: int = 8                   # GPUs in a typical node/instance of this type
    internode_gbps: float | None = None      # network between nodes, Gb/s per GPU (one NIC per GPU in the
                                             # reference node); None = not known, multi-node perf not modelled
    unified_memory: bool = False             # CPU and GPU share memory (GH200 over C2C, GB10). On devices
                                             # that report themselves integrated, vLLM takes free memory
                                             # from psutil.
    price_per_hour_usd: float | None = None  # on-demand list price per GPU-hour
    price_date: str | None = None
    price_source: str | None = None
    sources: tuple[str, ...] = ()
    tflops_fp16: float | None = None         # dense; what vLLM runs where there is no BF16 (cc < 8.0)
    total_gib_measured: bool = False         # total_gib printed by a real log (False: derived, see sources)

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


_TUPLE_FIELDS = ("aliases", "device_names", "gfd_labels", "sources")
_REQUIRED_NEW = ("name", "vendor", "total_gib", "memory_gb", "compute_capability")
# Fields a user file may set to null: "no figure" is a real value for these.
_NULLABLE = {"internode_gbps", "memory_bandwidth_gbps", "tflops_bf16", "tflops_fp16", "tflops_fp8", "tflops_int8",
             "price_per_hour_usd", "price_date", "price_source"}

# Vendor words that some spellings carry and others do not ("NVIDIA GeForce RTX 4090" vs "RTX 4090",
# old drivers' "A100-SXM4-40GB" vs "NVIDIA A100-SXM4-40GB", "Tesla T4" vs "T4").
_PREFIXES = ("nvidia", "geforce", "tesla", "amd", "instinct")
_SHARED = re.compile(r"[-_\s]+shared$", re.IGNORECASE)
# GFD appends "-MIG-<profile>" (e.g. 1g.10gb, 1g.10gb+me, 1c.2g.10gb) to the parent's product name.
_MIG = re.compile(r"[-_\s]+mig[-_\s]+((?:\d+c\.)?\d+g\.\d+gb(?:\+me)?)$", re.IGNORECASE)
# What users paste around a name: a node label as `kubectl get node --show-labels` or a nodeSelector
# prints it, and an `nvidia-smi -L` line ("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-...)").
_LABEL_KEY = re.compile(r"^\s*nvidia\.com/gpu\.product\s*[=:]\s*[\"']?", re.IGNORECASE)
_SMI_LINE = re.compile(r"^\s*GPU\s+\d+:\s*|\s*\(UUID:[^)]*\)\s*$", re.IGNORECASE)


def _key(text: str) -> str:
    """Lookup key: lower case, letters and digits only, vendor prefixes dropped."""
    key = re.sub(r"[^0-9a-z]", "", text.lower())
    stripped = True
    while stripped:
        stripped = False
        for prefix in _PREFIXES:
            if key.startswith(prefix) and len(key) > len(prefix):
                key = key[len(prefix):]
                stripped = True
    return key


def _split_suffixes(name: str) -> tuple[str, str | None]:
    """(parent name, MIG profile or None): GFD's -SHARED and -MIG-<profile> suffixes and the pasted
    wrappers (label key, `nvidia-smi -L` index and UUID) removed."""
    profile = None
    base = _SMI_LINE.sub("", _LABEL_KEY.sub("", name)).strip().strip("\"'")
    while True:
        shared = _SHARED.search(base)
        if shared:
            base = base[: shared.start()]
            continue
        mig = _MIG.search(base)
        if mig and profile is None:
            profile = mig.group(1).lower()
            base = base[: mig.start()]
            continue
        return base, profile


def mig_profile(name: str) -> str | None:
    """The MIG profile named in a GFD label such as `NVIDIA-A100-SXM4-80GB-MIG-1g.10gb` ("1g.10gb"), or None.

    `resolve` maps such a label to the slice itself (its memory, not the card's); callers use this to say
    that a slice was named.
    """
    return _split_suffixes(name)[1]


@dataclass(frozen=True)
class _Catalog:
    """The devices by id, and every spelling that names one."""

    gpus: dict[str, Gpu]       # id -> Gpu
    index: dict[str, str]      # _key(any spelling) -> id


def _gpu_from_dict(entry: dict[str, Any]) -> Gpu:
    fields: dict[str, Any] = {k: tuple(v) if k in _TUPLE_FIELDS else v for k, v in entry.items()}
    return Gpu(**fields)


def _spellings(gpu: Gpu) -> tuple[str, ...]:
    return (gpu.id, gpu.name, *gpu.aliases, *gpu.device_names, *gpu.gfd_labels)


def _build(gpus: dict[str, Gpu], base: _Catalog | None = None) -> _Catalog:
    """Index every spelling; entries later in `gpus` (the user's) win over `base` (the bundled ones)."""
    index = dict(base.index) if base else {}
    merged = dict(base.gpus) if base else {}
    for gpu in gpus.values():
        merged[gpu.id] = gpu
        for spelling in _spellings(gpu):
            key = _key(spelling)
            if key:
                index[key] = gpu.id
    return _Catalog(merged, index)


def _read_bundled() -> list[tuple[str, dict[str, Any]]]:
    """(file name, parsed entry) for every data/*.json, sorted by name."""
    data_dir = os.path.join(os.path.dirname(__file__), "data")
    if os.path.isdir(data_dir):
        # A package on disk (wheel install or checkout): these are the files importlib.resources would
        # return, read without importing it (importlib.resources costs ~15 ms, three times our budget).
        names = sorted(n for n in os.listdir(data_dir) if n.endswith(".json"))
        out = []
        for n in names:
            with open(os.path.join(data_dir, n), encoding="utf-8") as fh:
                out.append((n, json.load(fh)))
        return out
    from importlib.resources import files  # noqa: PLC0415 - importlib.resources only for zip installs, off the cold path

    items = sorted((t for t in files(__name__).joinpath("data").iterdir() if t.name.endswith(".json")),
                   key=lambda t: t.name)
    return [(t.name, json.loads(t.read_text(encoding="utf-8"))) for t in items]


@functools.cache
def _bundled() -> _Catalog:
    gpus: dict[str, Gpu] = {}
    for file_name, entry in _read_bundled():
        try:
            gpu = _gpu_from_dict(entry)
        except TypeError as exc:  # a packaging bug, not user input; still one clear line
            raise PlannerError(f"bundled GPU catalog file {file_name} is malformed: {exc}",
                               code="bad_gpu_catalog") from None
        gpus[gpu.id] = gpu
    return _build(gpus)


def _user_entry_model() -> type[BaseModel]:
    """The pydantic model of one user-file entry (imported lazily: only user files pay for pydantic)."""
    from pydantic import BaseModel, ConfigDict, Field  # noqa: PLC0415 - pydantic only for user files

    class UserGpu(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)

        id: str = Field(min_length=1)
        name: str | None = Field(default=None, min_length=1)
        vendor: Literal["nvidia", "amd", "cpu"] | None = None
        total_gib: float | None = Field(default=None, gt=0, allow_inf_nan=False)
        memory_gb: float | None = Field(default=None, gt=0, allow_inf_nan=False)
        compute_capability: str | None = Field(default=None, pattern=r"^(\d+\.\d+)?$")
        aliases: list[str] | None = None
        device_names: list[str] | None = None
        gfd_labels: list[str] | None = None
        memory_bandwidth_gbps: float | None = Field(default=None, gt=0, allow_inf_nan=False)
        tflops_bf16: float | None = Field(default=None, gt=0, allow_inf_nan=False)
        tflops_fp16: float | None = Field(default=None, gt=0, allow_inf_nan=False)
        tflops_fp8: float | None = Field(default=None, gt=0, allow_inf_nan=False)
        tflops_int8: float | None = Field(default=None, gt=0, allow_inf_nan=False)
        interconnect: str | None = None
        nvlink: bool | None = None
        gpus_per_node: int | None = Field(default=None, ge=1)
        internode_gbps: float | None = Field(default=None, gt=0, allow_inf_nan=False)
        unified_memory: bool | None = None
        price_per_hour_usd: float | None = Field(default=None, ge=0, allow_inf_nan=False)
        price_date: str | None = None
        price_source: str | None = None
        sources: list[str] | None = None
        total_gib_measured: bool | None = None

    return UserGpu


def _bad(path: str, what: str) -> PlannerError:
    return PlannerError(f"GPU catalog file {path}: {what}", code="bad_gpu_catalog",
                        hint="entries use the format of gpu_catalog/data/*.json")


def _validate_user_entries(path: str, raw: object) -> list[dict[str, Any]]:
    """Validated entries of a user file, each holding only the fields the user set."""
    from pydantic import ValidationError  # noqa: PLC0415 - pydantic only for user files

    model = _user_entry_model()
    entries = raw if isinstance(raw, list) else [raw]
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        label = f"entry {i}"
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            label += f" ({entry['id']})"
        if not isinstance(entry, dict):
            raise _bad(path, f"{label}: expected a JSON object, got {type(entry).__name__}")
        try:
            fields = model.model_validate(entry).model_dump(exclude_unset=True)
        except ValidationError as exc:
            errors = exc.errors()
            first = errors[0]
            where = ".".join(str(p) for p in first["loc"]) or "(entry)"
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise _bad(path, f"{label}: field '{where}': {first['msg']}{more}") from None
        for field, value in fields.items():
            if value is None and field not in _NULLABLE:
                raise _bad(path, f"{label}: field '{field}' may not be null")
        if fields["id"].lower() in seen:
            raise _bad(path, f"{label}: id {fields['id']!r} appears twice")
        seen.add(fields["id"].lower())
        out.append(fields)
    return out


@functools.lru_cache(maxsize=8)
def _with_user_file(path: str, mtime_ns: int, size: int) -> _Catalog:
    """The bundled catalog plus the user's file (cached per file version: mtime and size are the key)."""
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except json.JSONDecodeError as exc:
        raise _bad(path, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad(path, f"cannot read it: {exc}") from None
    if not isinstance(raw, (list, dict)):
        raise _bad(path, f"expected an object or a list of objects, got {type(raw).__name__}")

    base = _bundled()
    by_lower_id = {gid.lower(): gid for gid in base.gpus}
    user: dict[str, Gpu] = {}
    for i, fields in enumerate(_validate_user_entries(path, raw)):
        gid = fields.pop("id")
        values: dict[str, Any] = {k: tuple(v) if k in _TUPLE_FIELDS else v for k, v in fields.items()}
        existing_id = by_lower_id.get(gid.lower())
        if existing_id is not None:
            existing = base.gpus[existing_id]
            if "price_per_hour_usd" in values and "price_source" not in values:
                # A new price must not keep the bundled price's provenance.
                values.setdefault("price_date", None)
                values["price_source"] = f"user catalog {path}"
            if "sources" not in values:
                values["sources"] = (*existing.sources, f"{path} overrides: {', '.join(sorted(fields))}")
            gpu = dataclasses.replace(existing, **values)
        else:
            missing = [f for f in _REQUIRED_NEW if f not in values]
            if missing:
                raise _bad(path, f"entry {i} ({gid}): new GPU lacks {', '.join(missing)} "
                                 "(only ids already in the catalog may be partial overrides)")
            values.setdefault("sources", (f"user catalog {path}",))
            gpu = Gpu(id=gid, **values)
        user[gpu.id] = gpu
    return _build(user, base)


def _catalog(extra_file: str | None) -> _Catalog:
    path = extra_file or os.environ.get(CATALOG_ENV) or None
    if path is None:
        return _bundled()
    try:
        st = os.stat(path)
    except OSError:
        source = "extra_file" if extra_file else f"${CATALOG_ENV}"
        raise PlannerError(f"GPU catalog file {path} not found", code="bad_gpu_catalog",
                           hint=f"check the path given by {source}") from None
    return _with_user_file(os.path.abspath(path), st.st_mtime_ns, st.st_size)


def all_gpus(extra_file: str | None = None) -> dict[str, Gpu]:
    """Every GPU, id -> Gpu: the bundled data plus the user's file (`extra_file`, else the env file)."""
    return dict(_catalog(extra_file).gpus)


def resolve(name: str, extra_file: str | None = None) -> Gpu:
    """The catalog entry for any spelling of a GPU.

    Accepts the id (`H100-SXM-80GB`), aliases and short forms (`H100`, `A100`, `4090`, `mi300x`), the name
    nvidia-smi and torch print (`NVIDIA A100-SXM4-80GB`, `Tesla T4`, also a whole `nvidia-smi -L` line) and
    GPU Feature Discovery labels (`NVIDIA-H100-80GB-HBM3`, also as `nvidia.com/gpu.product=...`), ignoring
    case, spaces, '-' and '_'. GFD's `-SHARED` suffix (time-slicing/MPS) and `-MIG-<profile>` suffix are
    accepted. A MIG slice (`H100-SXM-80GB-MIG-1g.10gb`, `NVIDIA H100 80GB HBM3 MIG 1g.10gb`, the GFD label
    `NVIDIA-H100-80GB-HBM3-MIG-1g.10gb`) resolves to the slice, with the slice's memory (gpu_catalog.mig);
    an unknown profile is an error that lists the parent's profiles.
    """
    if not isinstance(name, str) or not name.strip():
        raise PlannerError("empty GPU name", code="gpu_not_found",
                           hint="give a catalog id such as H100-SXM-80GB; run `planner gpus` to list them")
    catalog = _catalog(extra_file)
    base, profile = _split_suffixes(name)
    gid = catalog.index.get(_key(base))
    if gid is None:
        choices = sorted({s for g in catalog.gpus.values() for s in (g.id, *g.aliases)})
        fallback = f"run `planner gpus` to list the catalog, or add the GPU in a ${CATALOG_ENV} file"
        raise PlannerError(f"unknown GPU {name!r}", code="gpu_not_found",
                           hint=did_you_mean(base, choices) or fallback)
    parent = catalog.gpus[gid]
    return parent if profile is None else mig_slice(parent, profile)


def mig_slice(parent: Gpu, profile: str) -> Gpu:
    """The device a process on MIG slice `profile` of `parent` sees: the slice's memory (gpu_catalog.mig)."""
    # gpu_catalog.mig's tables are read only for a MIG name: a whole-GPU plan does not import them (issue 11).
    mig = import_module("gpu_catalog.mig")
    known = mig.profiles(parent.id, parent.total_gib)
    if not known:
        raise PlannerError(f"{parent.id} has no MIG profiles in the catalog (MIG: A100, H100, H200)",
                           code="gpu_not_found", hint=f"use {parent.id} for the whole GPU")
    instance = mig.gpu_instance(profile)
    slice_ = known.get(instance)
    if slice_ is None:
        raise PlannerError(f"unknown MIG profile {profile!r} for {parent.id}", code="gpu_not_found",
                           hint=did_you_mean(instance, list(known)) or f"its profiles: {', '.join(known)}")
    how = ("as nvidia-smi mig -lgip lists it" if slice_.how == "listed"
           else f"{slice_.memory_slices}/8 of the memory slices x the parent's {parent.total_gib} GiB")
    return dataclasses.replace(
        parent, id=f"{parent.id}-MIG-{profile}", name=f"{parent.name} MIG {profile}",
        total_gib=slice_.total_gib, memory_gb=round(parent.memory_gb * slice_.memory_slices / 8, 1),
        aliases=(), device_names=tuple(f"{n} MIG {profile}" for n in parent.device_names),
        gfd_labels=tuple(f"{lab}-MIG-{profile}" for lab in parent.gfd_labels),
        total_gib_measured=False, gpus_per_node=parent.gpus_per_node,
        memory_bandwidth_gbps=None if parent.memory_bandwidth_gbps is None
        else round(parent.memory_bandwidth_gbps * slice_.memory_slices / 8, 1),
        price_per_hour_usd=None, price_date=None, price_source=None,
        sources=(*parent.sources, f"{mig.SOURCE}; {profile}: {slice_.total_gib} GiB ({how})"))


def cpu_device(total_gib: float) -> Gpu:
    """A pseudo-device for vLLM's CPU backend: `total_gib` is the NUMA node's memory vLLM budgets from.

    vLLM CPU reads its total from NUMA node 0's meminfo and applies --gpu-memory-utilization to it
    (../shared/reference/feasibility.md, "Memory / KV-cache log lines on CPU").
    """
    if isinstance(total_gib, bool) or not isinstance(total_gib, (int, float)) \
            or not math.isfinite(total_gib) or total_gib <= 0:
        raise PlannerError(f"CPU memory must be a positive number of GiB, got {total_gib!r}",
                           code="bad_input")
    return Gpu(
        id="cpu", name="CPU (vLLM CPU backend)", vendor="cpu", total_gib=float(total_gib),
        memory_gb=round(total_gib * 2**30 / 1e9, 2), compute_capability="", gpus_per_node=1,
        total_gib_measured=True,  # the caller's own figure, not one derived from a marketing size
        sources=("vLLM CPU backend: NUMA node 0 MemTotal (../shared/reference/feasibility.md)",),
    )


__all__ = ["CATALOG_ENV", "Gpu", "all_gpus", "cpu_device", "mig_profile", "mig_slice", "resolve"]
