"""Where a model's config (and, when available, its exact tensors) comes from.

MODEL may be, tried in this order:
1. a local folder holding config.json, or the path of a config.json (no network);
2. a bundled catalog alias or a repo id the catalog knows (`model_catalog`, no network);
   a repo id is first looked up on the Hub/its cache when the network is allowed, and falls back to the
   catalog snapshot with a warning when the Hub cannot be reached;
3. a Hugging Face Hub repo id (`org/name`), through huggingface_hub (`planner.hub`).

All I/O of the model side lives here and in planner/hub.py; the memory model only sees the result.
"""

from __future__ import annotations

import json
import os
import re
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


_SHARD = re.compile(r"-(\d+)-of-(\d+)\.safetensors$")
_INDEX = "model.safetensors.index.json"


def missing_shards(folder: Path, files: list[Path]) -> list[str]:
    """Shards a sharded checkpoint names but the folder lacks (a download cut short).

    The index's weight_map names every shard (vLLM loads exactly the files it lists,
    filter_duplicate_safetensors_files); without an index, `model-00001-of-00030.safetensors` says how
    many there are.
    """
    present = {f.name for f in files}
    index = folder / _INDEX
    expected: set[str] = set()
    if index.is_file():
        weight_map = read_json_file(index, what=_INDEX).get("weight_map")
        if isinstance(weight_map, dict):
            expected = {str(v) for v in weight_map.values()}
    if not expected:
        for name in present:
            m = _SHARD.search(name)
            if m and 0 < int(m.group(2)) <= 100_000:
                total = int(m.group(2))
                width = len(m.group(1))
                stem = name[: m.start()]
                expected |= {f"{stem}-{i:0{width}d}-of-{m.group(2)}.safetensors" for i in range(1, total + 1)}
    return sorted(expected - present)


def _local_tensors(folder: Path) -> tuple[TensorInfo, ...] | None:
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    if missing_shards(folder, files):
        return None                      # load_local warns and sizes from the config
    tensors: list[TensorInfo] = []
    for f in files:
        tensors.extend(read_safetensors_header(f))
    return tuple(tensors)


def load_local(path: Path, ref: str) -> LoadedModel:
    folder = path if path.is_dir() else path.parent
    cfg_path = path / "config.json" if path.is_dir() else path
    if path.is_dir() and not cfg_path.exists():
        raise PlannerError(f"{path}: no config.json in this folder", code="model_not_found")
    config = read_json_file(cfg_path, what="config.json")
    for side in QUANT_SIDECARS:
        p = folder / side
        if p.is_file():
            config = merge_quant_sidecar(config, side, read_json_file(p, what=side))
    tensors = _local_tensors(folder) if path.is_dir() else None
    warnings: tuple[str, ...] = ()
    if path.is_dir() and tensors is None:
        missing = missing_shards(folder, sorted(folder.glob("*.safetensors")))
        if missing:
            shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            warnings = (f"incomplete checkpoint: {len(missing)} safetensors shard(s) missing ({shown}); "
                        "weights sized from config.json, and vLLM would fail to load this folder as it is",)
    return LoadedModel(
        ref=ref,
        config=config,
        source="local",
        name=folder.name if path.is_dir() or cfg_path.name == "config.json" else cfg_path.stem,
        repo_id=str(folder),
        tensors=tensors,
        weights_source="safetensors" if tensors else "config",
        path=str(folder),
        warnings=warnings,
    )


_REQUIRED = ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")
_ALIASES = {"hidden_size": ("d_model", "n_embd"), "num_hidden_layers": ("n_layer", "num_layers"),
            "num_attention_heads": ("n_head",), "vocab_size": ()}


def _missing_sizes(config: dict[str, Any]) -> list[str]:
    cfg = config
    for key in ("text_config", "llm_config", "language_config"):
        if isinstance(config.get(key), dict) and config[key]:
            cfg = {**config, **config[key]}
    return [k for k in _REQUIRED if cfg.get(k) is None and not any(cfg.get(a) is not None for a in _ALIASES[k])]


def complete_config(loaded: LoadedModel) -> LoadedModel:
    """Fill sizes a config leaves to its transformers class (a model_type the planner does not know).

    Only when sizes are missing: transformers is imported here and nowhere on the normal path.
    """
    from planner.spec import check_plausible

    # Before transformers sees it: its config classes build per-layer lists and would spin on 10**4000.
    check_plausible(loaded.config, loaded.name)
    missing = _missing_sizes(loaded.config)
    if not missing or not loaded.config.get("model_type"):
        return loaded
    from dataclasses import replace

    from planner.hub import config_via_autoconfig

    filled = config_via_autoconfig(loaded.config)
    note = f"config.json lacks {', '.join(missing)}: filled from transformers' {loaded.config['model_type']} defaults"
    return replace(loaded, config=filled, warnings=(*loaded.warnings, note))


def looks_like_repo_id(ref: str) -> bool:
    parts = ref.split("/")
    return len(parts) == 2 and all(parts) and not ref.startswith((".", "~"))


def load_model(
    ref: str,
    *,
    revision: str | None = None,
    offline: bool | None = None,
    token: str | None = None,
    progress: bool = False,
) -> LoadedModel:
    """Resolve MODEL to a config (and tensors when available). Raises PlannerError on bad input."""
    if not ref or not ref.strip():
        raise PlannerError("MODEL is empty")
    p = Path(os.path.expanduser(ref))
    try:
        local = p.exists() or p.is_symlink()   # a dangling or looping link is reported, not looked up elsewhere
    except OSError:                            # e.g. a name longer than the file system allows: not a path
        local = False
    if local:
        return complete_config(load_local(p, ref))

    import model_catalog

    hit = model_catalog.lookup(ref)
    if hit is not None and not looks_like_repo_id(ref):
        return hit.to_loaded(ref)  # an alias: the catalog is the answer, offline and fast

    if looks_like_repo_id(ref):
        from planner import hub

        return complete_config(hub.load_from_hub(ref, revision=revision, offline=offline, token=token,
                                                 progress=progress, catalog_hit=hit))

    if ref.endswith(".json") or "/" in ref or ref.startswith("."):
        raise PlannerError(f"{ref}: no such file or folder", code="model_not_found")
    hint = model_catalog.suggest(ref)
    raise PlannerError(
        f"unknown model {ref!r}: not a local path, a catalog alias or a Hub repo id (org/name)",
        code="model_not_found",
        hint=hint or "run `planner models` to list the catalog",
    )


def prequantized_variant(loaded: LoadedModel, quant: str) -> LoadedModel | None:
    """The catalog's pre-quantized checkpoint of `loaded` for scheme `quant`, or None.

    `--quant awq` on `llama-3.1-70b` must size (and serve) a real AWQ checkpoint, not the bf16 repo that
    vLLM would refuse to quantize; a checkpoint that is already quantized is left alone.
    """
    if isinstance(loaded.config.get("quantization_config"), dict):
        return None
    import model_catalog
    from planner.quant import normalize_quant_name

    if normalize_quant_name(quant) == "none":
        return None
    hit = model_catalog.lookup(loaded.catalog_alias or loaded.repo_id or loaded.ref)
    if hit is None:
        return None
    variant = model_catalog.find_variant(hit.entry, quant)
    if variant is None:
        return None
    out = model_catalog.CatalogHit(entry=hit.entry, variant=variant, repo_id=variant.repo_id,
                                   matched="repo").to_loaded(variant.repo_id)
    from dataclasses import replace

    note = f"--quant {quant}: sized as the pre-quantized checkpoint {variant.repo_id} (from the catalog)"
    return replace(out, warnings=(*out.warnings, note))
