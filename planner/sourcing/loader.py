"""Where a model's config (and, when available, its exact tensors) comes from.

MODEL may be, tried in this order:
1. a local folder holding config.json, or the path of a config.json (no network);
2. a bundled catalog alias or a repo id the catalog knows (`model_catalog`, no network);
   a repo id is first looked up on the Hub/its cache when the network is allowed, and falls back to the
   catalog snapshot with a warning when the Hub cannot be reached;
3. a Hugging Face Hub repo id (`org/name`), through huggingface_hub (`planner.sourcing.hub`).

All I/O of the model side lives here and in planner/sourcing/hub.py; the memory model only sees the result.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from planner.errors import PlannerError
from planner.memory.quant import normalize_quant_name
from planner.memory.spec import check_plausible

# LoadedModel, TensorInfo and the readers live in the leaf module planner.sourcing.model_files (re-exported here).
from planner.sourcing.model_files import (
    QUANT_SIDECARS,
    LoadedModel,
    TensorInfo,
    merge_quant_sidecar,
    read_json_file,
    read_safetensors_header,
    tensors_from_header,
)

if TYPE_CHECKING:
    import model_catalog
    from model_catalog import CatalogHit
    from planner.sourcing import hub
else:
    from planner.lazy import lazy

    # A local folder needs neither: the catalog for an alias or a Hub repo's fallback, the Hub client (and
    # transformers behind it) for a repo id or a config that lacks sizes (tests/test_imports.py).
    model_catalog = lazy("model_catalog")
    hub = lazy("planner.sourcing.hub")

__all__ = ["QUANT_SIDECARS", "LoadedModel", "TensorInfo", "catalog_suggest", "complete_config", "from_catalog",
           "load_local", "load_model", "looks_like_repo_id", "merge_quant_sidecar", "prequantized_variant",
           "read_json_file", "read_safetensors_header", "tensors_from_header"]

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
    # Before transformers sees it: its config classes build per-layer lists and would spin on 10**4000.
    check_plausible(loaded.config, loaded.name)
    missing = _missing_sizes(loaded.config)
    if not missing or not loaded.config.get("model_type"):
        return loaded

    filled = hub.config_via_autoconfig(loaded.config)
    note = f"config.json lacks {', '.join(missing)}: filled from transformers' {loaded.config['model_type']} defaults"
    return replace(loaded, config=filled, warnings=(*loaded.warnings, note))


def from_catalog(hit: CatalogHit, ref: str) -> LoadedModel:
    """The model a catalog hit describes (its config snapshot, a private copy), as MODEL `ref` named it."""
    return LoadedModel(ref=ref, config=hit.config, source="catalog", name=hit.name, repo_id=hit.repo_id,
                       catalog_alias=hit.entry.alias)


def catalog_suggest(ref: str) -> str | None:
    """A did-you-mean over the catalog's aliases and repo ids, or None; a broken user catalog gives None
    (a suggestion is a nicety: it must not hide the error it decorates)."""
    try:
        return model_catalog.suggest(ref)
    except PlannerError:
        return None


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

    hit = model_catalog.lookup(ref)
    if hit is not None and not looks_like_repo_id(ref):
        return from_catalog(hit, ref)  # an alias: the catalog is the answer, offline and fast

    if looks_like_repo_id(ref):
        # The Hub loader knows nothing of the catalog: the catalog's snapshot is its last resort, and the
        # catalog's did-you-mean its hint for a repo that does not exist.
        return complete_config(hub.load_from_hub(
            ref, revision=revision, offline=offline, token=token, progress=progress,
            fallback=from_catalog(hit, ref) if hit is not None else None,
            catalog_alias=hit.entry.alias if hit is not None else None, suggest=catalog_suggest))

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

    if normalize_quant_name(quant) == "none":
        return None
    hit = model_catalog.lookup(loaded.catalog_alias or loaded.repo_id or loaded.ref)
    if hit is None:
        return None
    variant = model_catalog.find_variant(hit.entry, quant)
    if variant is None:
        return None
    out = from_catalog(model_catalog.CatalogHit(entry=hit.entry, variant=variant, repo_id=variant.repo_id,
                                                matched="repo"), variant.repo_id)

    note = f"--quant {quant}: sized as the pre-quantized checkpoint {variant.repo_id} (from the catalog)"
    return replace(out, warnings=(*out.warnings, note))
