"""The bundled model catalog: one JSON file per model under model_catalog/data/, and its loader.

Each entry holds the model's repo ids (base, instruct, default), a snapshot of the real config.json
(bookkeeping keys dropped, everything else verbatim, with `config_source` naming where it came from),
the exact parameter count with its source, license/gating, and the known pre-quantized checkpoints per
scheme with the `quantization_config` those repos ship. `MODEL` in every command may be an alias or any
repo id the catalog knows; the catalog answers offline, with no network and no HF cache.

A user catalog (a JSON list of entries in the same format, named by $VLLM_PLANNER_MODEL_CATALOG or passed
as `path=`) adds models or replaces bundled ones by alias. The bundled path does no validation beyond
what tests/test_model_catalog.py proves about the shipped files, and never imports pydantic: plans from
the catalog must stay fast. User files are validated strictly (model_catalog/_schema.py).

Entries are shared by every caller: treat their dicts as read-only. `CatalogEntry.config_for`,
`CatalogHit.config` hands out private copies. A hit is plain data (the entry, the variant, the repo and
how it matched): planner.sourcing.loader.from_catalog turns it into the planner's LoadedModel.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from planner.errors import PlannerError, did_you_mean
from planner.memory.quant import QUANT_ALIASES

ENV_VAR = "VLLM_PLANNER_MODEL_CATALOG"

# Keys of a sub-config that carry the text model's architecture (multimodal configs nest it).
_TEXT_KEYS = ("text_config", "llm_config", "language_config")


@dataclass(frozen=True)
class QuantVariant:
    """A pre-quantized checkpoint of a catalog model."""

    scheme: str                                # planner.memory.quant name: awq, gptq, fp8, int8, nvfp4, ...
    repo_id: str
    quantization_config: dict[str, Any]        # as the repo ships it (config.json, or its merged side-car)
    source: str                                # who publishes it and where the quantization_config comes from
    config_overrides: dict[str, Any] = field(default_factory=dict)   # other config keys the repo changes
    repo_aliases: tuple[str, ...] = ()         # former names the Hub redirects (neuralmagic/ -> RedHatAI/)
    reference: str | None = None               # ../shared/reference/model-configs file of this repo's config
    native: bool = False                       # the default repo itself ships in this format


@dataclass(frozen=True)
class CatalogEntry:
    """One model of the catalog: its config, repos, quantized variants and sources."""

    alias: str
    aliases: tuple[str, ...]
    family: str
    name: str
    default_repo: str                          # the repo vLLM serves for the alias (instruct if there is one)
    config: dict[str, Any]                     # snapshot of the default repo's config.json
    base_repo: str | None = None
    instruct_repo: str | None = None
    params: int | None = None
    params_source: str = ""
    active_params: int | None = None           # MoE / multimodal: text weights used per token
    license: str = ""
    gated: bool | None = None                  # None: not verified
    license_note: str = ""
    max_context: int | None = None
    context_note: str = ""
    config_source: dict[str, Any] = field(default_factory=dict)
    base_overrides: dict[str, Any] = field(default_factory=dict)   # keys where the base repo's config differs
    native_scheme: str | None = None
    variants: tuple[QuantVariant, ...] = ()
    origin: str = "bundled"                    # "bundled" or the user catalog file
    # Former repo ids the Hub redirects (old id, the repo it now is, source): resolved offline.
    old_repo_ids: tuple[tuple[str, str, str], ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.alias, *self.aliases)

    @property
    def repo_ids(self) -> tuple[str, ...]:
        """Every repo id that resolves to this entry (default, instruct, base, variants, former names)."""
        out: list[str] = []
        for r in (self.default_repo, self.instruct_repo, self.base_repo):
            if r and r not in out:
                out.append(r)
        for v in self.variants:
            for r in (v.repo_id, *v.repo_aliases):
                if r not in out:
                    out.append(r)
        out += [old for old, _, _ in self.old_repo_ids if old not in out]
        return tuple(out)

    @property
    def schemes(self) -> tuple[str, ...]:
        """Quantization schemes with a known checkpoint, native first, without repeats."""
        return tuple(dict.fromkeys(v.scheme for v in self.variants))

    def config_for(self, repo_id: str | None = None, variant: QuantVariant | None = None) -> dict[str, Any]:
        """A private copy of the config vLLM would read for `repo_id` (default repo) or `variant`."""
        cfg = copy.deepcopy(self.config)
        if repo_id and self.base_repo and repo_id.lower() == self.base_repo.lower() \
                and self.base_repo.lower() != self.default_repo.lower():
            cfg.update(copy.deepcopy(self.base_overrides))
        if variant is not None and not variant.native:
            cfg.update(copy.deepcopy(variant.config_overrides))
            # The variant's scheme replaces the snapshot's (e.g. NVFP4 DeepSeek-R1 replaces block FP8).
            cfg["quantization_config"] = copy.deepcopy(variant.quantization_config)
        return cfg

    def text_config(self) -> dict[str, Any]:
        """The text model's fields: a nested text_config over the top level (multimodal configs)."""
        for key in _TEXT_KEYS:
            sub = self.config.get(key)
            if isinstance(sub, dict):
                return {**self.config, **sub}
        return self.config

    def architecture(self) -> dict[str, Any]:
        """The headline architecture fields of the snapshot, for display. None = not in the config."""
        c = self.text_config()
        heads = c.get("num_attention_heads")
        hidden = c.get("hidden_size")
        head_dim = c.get("head_dim")
        if head_dim is None and "qk_nope_head_dim" in c:
            head_dim = c["qk_nope_head_dim"] + c.get("qk_rope_head_dim", 0)
        elif head_dim is None and heads and hidden:
            head_dim = hidden // heads   # what vLLM derives when the key is absent
        experts = c.get("num_local_experts") or c.get("num_experts") or c.get("n_routed_experts")
        per_token = c.get("num_experts_per_tok") or c.get("experts_per_token")
        sliding = c.get("sliding_window")
        if c.get("use_sliding_window") is False:
            sliding = None               # Qwen2: a window value with sliding turned off is full attention
        qc = self.config.get("quantization_config")
        return {
            "model_type": c.get("model_type"),
            "architecture": (self.config.get("architectures") or [None])[0],
            "layers": c.get("num_hidden_layers"),
            "hidden_size": hidden,
            "attention_heads": heads,
            "kv_heads": c.get("num_key_value_heads"),
            "head_dim": head_dim,
            "kv_lora_rank": c.get("kv_lora_rank"),
            "intermediate_size": c.get("intermediate_size"),
            "experts": experts,
            "experts_per_token": per_token if experts else None,
            "shared_experts": c.get("n_shared_experts"),
            "moe_intermediate_size": c.get("moe_intermediate_size"),
            "vocab_size": c.get("vocab_size"),
            "sliding_window": sliding,
            "max_position_embeddings": c.get("max_position_embeddings"),
            "dtype": c.get("torch_dtype") or c.get("dtype") or self.config.get("torch_dtype"),
            "quantization": qc.get("quant_method") if isinstance(qc, dict) else None,
        }

    def to_json(self) -> dict[str, Any]:
        """The entry in the data-file format (what a user catalog file holds), plus `origin`."""
        return {
            "alias": self.alias, "aliases": list(self.aliases), "family": self.family, "name": self.name,
            "base_repo": self.base_repo, "instruct_repo": self.instruct_repo,
            "default_repo": self.default_repo,
            "params": self.params, "params_source": self.params_source, "active_params": self.active_params,
            "license": self.license, "gated": self.gated, "license_note": self.license_note,
            "max_context": self.max_context, "context_note": self.context_note,
            "config_source": copy.deepcopy(self.config_source),
            "base_overrides": copy.deepcopy(self.base_overrides),
            "native_scheme": self.native_scheme,
            "variants": [_variant_json(v) for v in self.variants if not v.native],
            "config": copy.deepcopy(self.config),
            "origin": self.origin,
        }


def _variant_json(v: QuantVariant) -> dict[str, Any]:
    out: dict[str, Any] = {"scheme": v.scheme, "repo_id": v.repo_id,
                           "quantization_config": copy.deepcopy(v.quantization_config), "source": v.source}
    if v.config_overrides:
        out["config_overrides"] = copy.deepcopy(v.config_overrides)
    if v.repo_aliases:
        out["repo_aliases"] = list(v.repo_aliases)
    if v.reference:
        out["reference"] = v.reference
    return out


@dataclass(frozen=True)
class CatalogHit:
    """What `lookup` found: the entry, the pre-quantized variant (if the ref named one) and the repo."""

    entry: CatalogEntry
    variant: QuantVariant | None
    repo_id: str                               # the repo vLLM would serve
    matched: str = "alias"                     # "alias" or "repo"

    @property
    def config(self) -> dict[str, Any]:
        return self.entry.config_for(self.repo_id, self.variant)

    @property
    def name(self) -> str:
        """How the model is named in reports: the alias when an alias matched, else the repo id."""
        return self.entry.alias if self.matched == "alias" else self.repo_id


@dataclass(frozen=True)
class Catalog:
    """The catalog's entries, and every name that finds one."""

    entries: dict[str, CatalogEntry]           # alias -> entry, in display order
    index: dict[str, tuple[str, int | None, str, str]]   # lower name -> (alias, variant idx, repo, kind)
    collisions: tuple[str, ...] = ()           # names two entries claimed; the later entry won

    def lookup(self, ref: str) -> CatalogHit | None:
        found = self.index.get(ref.strip().lower())
        if found is None:
            return None
        alias, vi, repo, kind = found
        entry = self.entries[alias]
        variant = None if vi is None else entry.variants[vi]
        return CatalogHit(entry=entry, variant=variant, repo_id=repo, matched=kind)


def _entry_from_dict(d: dict[str, Any], *, origin: str) -> CatalogEntry:
    """Build an entry from the data-file format (already validated for user files)."""
    config = d["config"]
    variants = [
        QuantVariant(
            scheme=v["scheme"], repo_id=v["repo_id"], quantization_config=v["quantization_config"],
            source=v.get("source", ""), config_overrides=v.get("config_overrides") or {},
            repo_aliases=tuple(v.get("repo_aliases") or ()), reference=v.get("reference"),
        )
        for v in d.get("variants") or ()
    ]
    default_repo = d.get("default_repo") or d.get("instruct_repo") or d["base_repo"]
    native = d.get("native_scheme")
    if native and isinstance(config.get("quantization_config"), dict):
        # The default repo is itself the checkpoint for this scheme (gpt-oss mxfp4, DeepSeek block fp8).
        variants.insert(0, QuantVariant(
            scheme=native, repo_id=default_repo, quantization_config=config["quantization_config"],
            source="native: the default repo ships this quantization_config", native=True))
    max_context = d.get("max_context")
    if max_context is None:
        text = next((config[k] for k in _TEXT_KEYS if isinstance(config.get(k), dict)), config)
        max_context = text.get("max_position_embeddings", config.get("max_position_embeddings"))
    src = d.get("config_source") or {}
    return CatalogEntry(
        alias=d["alias"], aliases=tuple(d.get("aliases") or ()), family=d.get("family") or "",
        name=d.get("name") or d["alias"], default_repo=default_repo, config=config,
        base_repo=d.get("base_repo"), instruct_repo=d.get("instruct_repo"),
        params=d.get("params"), params_source=d.get("params_source") or "",
        active_params=d.get("active_params"),
        license=d.get("license") or "", gated=d.get("gated"), license_note=d.get("license_note") or "",
        max_context=max_context, context_note=d.get("context_note") or "",
        config_source=src if isinstance(src, dict) else {"note": str(src)},
        base_overrides=d.get("base_overrides") or {}, native_scheme=native,
        variants=tuple(variants), origin=origin,
        old_repo_ids=tuple((o["repo_id"], o["now"], o.get("source") or "") for o in d.get("old_repo_ids") or ()),
    )


def _read_bundled() -> list[bytes]:
    """The bytes of every data/*.json, sorted by name."""
    data_dir = os.path.join(os.path.dirname(__file__), "data")
    if os.path.isdir(data_dir):
        # A package on disk (wheel install or checkout): the files importlib.resources would return, read
        # without importing it (importlib.resources costs more than reading the files).
        out = []
        for name in sorted(n for n in os.listdir(data_dir) if n.endswith(".json")):
            with open(os.path.join(data_dir, name), "rb") as fh:
                out.append(fh.read())
        return out
    from importlib import resources  # noqa: PLC0415 - importlib.resources only for zip installs, off the cold path

    data = resources.files(__name__).joinpath("data")
    files = sorted((f for f in data.iterdir() if f.name.endswith(".json")), key=lambda f: f.name)
    return [f.read_bytes() for f in files]


@lru_cache(maxsize=1)
def _bundled() -> tuple[CatalogEntry, ...]:
    return tuple(_entry_from_dict(json.loads(raw), origin="bundled") for raw in _read_bundled())


def _build(entries: list[CatalogEntry]) -> Catalog:
    index: dict[str, tuple[str, int | None, str, str]] = {}
    collisions: list[str] = []

    def put(name: str, value: tuple[str, int | None, str, str]) -> None:
        key = name.lower()
        if key in index and index[key][0] != value[0]:
            collisions.append(f"{name} ({index[key][0]} and {value[0]})")
        index[key] = value

    for e in entries:
        for r in (e.base_repo, e.instruct_repo, e.default_repo):
            if r:
                put(r, (e.alias, None, r, "repo"))
        for i, v in enumerate(e.variants):
            if not v.native:
                for r in (v.repo_id, *v.repo_aliases):
                    put(r, (e.alias, i, v.repo_id, "repo"))
        for n in e.names:
            put(n, (e.alias, None, e.default_repo, "alias"))
    for e in entries:
        for old_id, now, _ in e.old_repo_ids:
            # A redirect resolves as the repo it now is (the variant too), only to this entry's repos.
            target = index.get(now.lower())
            if target is None or target[0] != e.alias or target[3] != "repo":
                collisions.append(f"{old_id} (redirects to {now}, not a repo of {e.alias})")
                continue
            put(old_id, target)
    return Catalog(entries={e.alias: e for e in entries}, index=index, collisions=tuple(collisions))


@lru_cache(maxsize=8)
def _merged(user_file: tuple[str, int, int] | None) -> Catalog:
    """The catalog for no user file, or for (resolved path, mtime, size): an edited file reloads."""
    user: list[CatalogEntry] = []
    if user_file is not None:
        from model_catalog._schema import validate_catalog_file  # noqa: PLC0415 - pydantic only for user files

        path = user_file[0]
        user = [_entry_from_dict(d, origin=path) for d in validate_catalog_file(Path(path))]
    replaced = {e.alias.lower() for e in user}
    entries = [e for e in _bundled() if e.alias.lower() not in replaced]
    # Bundled entries are indexed first, so a user entry also wins any shared repo id or extra alias.
    return _build([*entries, *user])


def _user_path(path: str | Path | None) -> Path | None:
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(ENV_VAR, "").strip()
    return Path(env).expanduser() if env else None


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The bundled catalog merged with the user file (`path`, else $VLLM_PLANNER_MODEL_CATALOG)."""
    p = _user_path(path)
    if p is None:
        return _merged(None)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise PlannerError(f"{p}: user model catalog not found", code="bad_catalog",
                           hint=f"check ${ENV_VAR} or the --catalog path") from None
    except OSError as exc:
        raise PlannerError(f"{p}: cannot read the user model catalog: {exc.strerror or exc}",
                           code="bad_catalog") from None
    return _merged((str(p.resolve()), st.st_mtime_ns, st.st_size))


def lookup(ref: str, *, path: str | Path | None = None) -> CatalogHit | None:
    """An alias or a known repo id (base, instruct or pre-quantized; case-insensitive), else None."""
    return load_catalog(path).lookup(ref)


def suggest(ref: str, *, path: str | Path | None = None) -> str | None:
    """A 'did you mean ...?' over aliases and repo ids, or None."""
    cat = load_catalog(path)
    if "/" in ref:
        return did_you_mean(ref, [r for e in cat.entries.values() for r in e.repo_ids])
    return did_you_mean(ref, [n for e in cat.entries.values() for n in e.names])


def all_entries(path: str | Path | None = None) -> list[CatalogEntry]:
    return list(load_catalog(path).entries.values())


def get(alias: str, *, path: str | Path | None = None) -> CatalogEntry:
    """The entry for an alias (or any repo id it knows); PlannerError with a did-you-mean otherwise."""
    hit = load_catalog(path).lookup(alias)
    if hit is None:
        raise PlannerError(f"unknown catalog model {alias!r}", code="model_not_found",
                           hint=suggest(alias, path=path) or "run `planner models` to list the catalog")
    return hit.entry


def find_variant(entry: CatalogEntry, scheme: str) -> QuantVariant | None:
    """The preferred checkpoint of `entry` for a planner quant scheme, or None.

    Preference is the order of the data file: a native format first, then the model maker's own
    checkpoint, then the most used third-party one.
    """
    # The planner's own spellings: w8a8 -> int8, gptq-int4 -> gptq, modelopt_fp4 -> nvfp4, ...
    s = scheme.strip().lower()
    s = QUANT_ALIASES.get(s, s)
    return next((v for v in entry.variants if v.scheme == s), None)
