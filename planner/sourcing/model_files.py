"""The model's files as the planner reads them: LoadedModel, TensorInfo and the file readers.

A leaf module (it imports only planner.errors), so that the catalog (model_catalog), the Hub loader
(planner/sourcing/hub.py) and the resolution of MODEL (planner/sourcing/loader.py) can all build a LoadedModel without
importing one another.
"""

from __future__ import annotations

import json
import os
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.errors import PlannerError

# Side-car files older quantized repos keep next to config.json. Their content is merged into
# config["quantization_config"] the way vLLM's get_quant_config reads them.
QUANT_SIDECARS = ("quantize_config.json", "quant_config.json", "hf_quant_config.json")
_MAX_JSON_BYTES = 16 * 2**20
_MAX_ST_HEADER = 100 * 2**20


@dataclass(frozen=True)
class TensorInfo:
    """One checkpoint tensor as its safetensors header describes it."""

    name: str
    dtype: str                 # safetensors dtype string: BF16, F16, F32, F8_E4M3, I32, U8, ...
    shape: tuple[int, ...]


@dataclass(frozen=True)
class LoadedModel:
    """A model's config and where it came from, as the estimate reads it."""

    ref: str                                   # what the user typed
    config: dict[str, Any]                     # config.json, with quant side-cars merged
    source: str                                # "local" | "catalog" | "hub" | "hub-cache"
    name: str                                  # display name (repo id, alias or folder name)
    repo_id: str | None = None                 # the repo vLLM would be pointed at, when known
    revision: str | None = None
    tensors: tuple[TensorInfo, ...] | None = None   # exact tensors, when headers were readable
    weights_source: str = "config"             # "safetensors" when `tensors` are used for weights
    catalog_alias: str | None = None
    path: str | None = None                    # local folder, when local
    warnings: tuple[str, ...] = field(default=())


def _regular_file(path: Path, what: str) -> os.stat_result:
    """stat() of a file to read: a FIFO would block open() forever and /dev/zero never ends."""
    st = path.stat()
    if not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
        raise PlannerError(f"{path}: {what} is not a regular file")
    return st


def read_json_file(path: Path, *, what: str) -> dict[str, Any]:
    try:
        if _regular_file(path, what).st_size > _MAX_JSON_BYTES:
            raise PlannerError(f"{path}: {what} is larger than {_MAX_JSON_BYTES >> 20} MiB")
        with path.open("rb") as fh:
            data = json.loads(fh.read(_MAX_JSON_BYTES + 1).decode("utf-8"))
    except PlannerError:
        raise
    except FileNotFoundError:
        raise PlannerError(f"{path}: no such file", code="model_not_found") from None
    except IsADirectoryError:
        raise PlannerError(f"{path}: is a directory, expected {what}") from None
    except PermissionError:
        raise PlannerError(f"{path}: permission denied") from None
    except OSError as exc:
        raise PlannerError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise PlannerError(f"{path}: {what} is not valid JSON ({exc})", code="malformed_config") from None
    if not isinstance(data, dict):
        raise PlannerError(f"{path}: {what} must be a JSON object", code="malformed_config")
    return data


def merge_quant_sidecar(config: dict[str, Any], name: str, sidecar: dict[str, Any]) -> dict[str, Any]:
    """Merge a quantize_config.json / hf_quant_config.json into config['quantization_config'].

    vLLM does the same in `get_quant_config` (model_loader/weight_utils.py): when config.json has no
    quantization_config, it looks for these files. ModelOpt's hf_quant_config.json nests the scheme
    under "quantization" with "quant_algo" (FP8, NVFP4, ...).
    """
    if isinstance(config.get("quantization_config"), dict):
        return config
    qc = dict(sidecar)
    if name == "hf_quant_config.json" and isinstance(sidecar.get("quantization"), dict):
        inner = sidecar["quantization"]
        algo = str(inner.get("quant_algo", "")).upper()
        qc = dict(inner)
        qc["quant_method"] = "modelopt_fp4" if "FP4" in algo else "modelopt"
    elif "quant_method" not in qc:
        # AutoGPTQ's quantize_config.json has no quant_method; AutoAWQ's quant_config.json has "version".
        qc["quant_method"] = "awq" if "version" in qc or "w_bit" in qc else "gptq"
    out = dict(config)
    out["quantization_config"] = qc
    return out


def read_safetensors_header(path: Path) -> list[TensorInfo]:
    """Read one .safetensors file's header (8-byte little-endian length, then JSON); no tensor data."""
    try:
        _regular_file(path, "safetensors file")
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) != 8:
                raise PlannerError(f"{path}: truncated safetensors file")
            (n,) = struct.unpack("<Q", head)
            if n > _MAX_ST_HEADER:
                raise PlannerError(f"{path}: safetensors header of {n} bytes is implausibly large")
            raw = fh.read(n)
        header = json.loads(raw.decode("utf-8"))
    except PlannerError:
        raise
    except (OSError, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise PlannerError(f"{path}: unreadable safetensors header ({exc})") from None
    return tensors_from_header(header, where=str(path))


def tensors_from_header(header: Any, *, where: str) -> list[TensorInfo]:
    if not isinstance(header, dict):
        raise PlannerError(f"{where}: safetensors header is not a JSON object")
    out: list[TensorInfo] = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or not isinstance(info.get("shape"), list):
            raise PlannerError(f"{where}: tensor {name!r} has no shape")
        shape = info["shape"]
        if not all(isinstance(d, int) and d >= 0 for d in shape):
            raise PlannerError(f"{where}: tensor {name!r} has an invalid shape {shape!r}")
        out.append(TensorInfo(name=name, dtype=str(info.get("dtype", "")), shape=tuple(shape)))
    return out
