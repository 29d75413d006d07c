"""Strict validation of a user model catalog file (pydantic; imported only when such a file is used).

The format is the bundled data-file format (model_catalog/data/*.json), as a JSON list of entries.
Every error becomes one PlannerError line naming the file, the entry and the field.
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from planner.errors import PlannerError

_MAX_BYTES = 32 * 2**20
# `planner models show --json` adds these to an entry; accepting them lets its output be edited in place.
_OUTPUT_ONLY = ("origin", "architecture", "quantized")
_ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# A Hub repo id as huggingface_hub accepts it: org/name, letters, digits, '-', '_', '.'.
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def _check_repo(v: str | None) -> str | None:
    if v is not None and not _REPO.match(v):
        raise ValueError(f"{v!r} is not a Hub repo id (org/name)")
    return v


class _Variant(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    scheme: str = Field(min_length=1)
    repo_id: str
    quantization_config: dict[str, Any]
    source: str = ""
    config_overrides: dict[str, Any] = Field(default_factory=dict)
    repo_aliases: list[str] = Field(default_factory=list)
    reference: str | None = None

    @field_validator("repo_id")
    @classmethod
    def _repo(cls, v: str) -> str:
        return _check_repo(v) or v

    @field_validator("repo_aliases")
    @classmethod
    def _aliases(cls, v: list[str]) -> list[str]:
        for r in v:
            _check_repo(r)
        return v

    @field_validator("quantization_config")
    @classmethod
    def _qc(cls, v: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(v.get("quant_method"), str):
            raise ValueError("needs a string 'quant_method' (what vLLM dispatches on)")
        return v


class _OldRepo(BaseModel):
    """A former repo id the Hub redirects to one of the entry's repos (a rename), with its source."""

    model_config = ConfigDict(extra="forbid", strict=True)

    repo_id: str
    now: str
    source: str = Field(min_length=1)

    @field_validator("repo_id", "now")
    @classmethod
    def _repo(cls, v: str) -> str:
        return _check_repo(v) or v


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    alias: str
    aliases: list[str] = Field(default_factory=list)
    family: str = ""
    name: str = ""
    base_repo: str | None = None
    instruct_repo: str | None = None
    default_repo: str | None = None
    params: int | None = Field(default=None, gt=0)
    params_source: str = ""
    active_params: int | None = Field(default=None, gt=0)
    license: str = ""
    gated: bool | None = None
    license_note: str = ""
    max_context: int | None = Field(default=None, gt=0)
    context_note: str = ""
    config_source: dict[str, Any] | str = Field(default_factory=dict)
    base_overrides: dict[str, Any] = Field(default_factory=dict)
    native_scheme: str | None = None
    variants: list[_Variant] = Field(default_factory=list)
    old_repo_ids: list[_OldRepo] = Field(default_factory=list)
    config: dict[str, Any]

    @field_validator("alias")
    @classmethod
    def _alias(cls, v: str) -> str:
        if "/" in v or not _ALIAS.match(v):
            raise ValueError(f"{v!r} is not a valid alias (letters, digits, '.', '_', '-'; no '/')")
        return v

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, v: list[str]) -> list[str]:
        for a in v:
            cls._alias(a)
        return v

    @field_validator("base_repo", "instruct_repo", "default_repo")
    @classmethod
    def _repo(cls, v: str | None) -> str | None:
        return _check_repo(v)

    @field_validator("config")
    @classmethod
    def _config(cls, v: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(v.get("model_type"), str):
            raise ValueError("needs the config.json 'model_type' string")
        return v

    @model_validator(mode="after")
    def _repos(self) -> _Entry:
        if not (self.default_repo or self.instruct_repo or self.base_repo):
            raise ValueError("needs default_repo (or instruct_repo / base_repo)")
        if self.native_scheme and not isinstance(self.config.get("quantization_config"), dict):
            raise ValueError("native_scheme needs config.quantization_config")
        return self


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(entry)"


def validate_entry(data: Any, *, where: str) -> dict[str, Any]:
    """One entry, validated; returns it as a plain dict in the data-file format."""
    try:
        return _Entry.model_validate(data).model_dump()
    except ValidationError as exc:
        err = exc.errors()[0]
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise PlannerError(f"{where}: field {_loc(err['loc'])}: {msg}{more}", code="bad_catalog") from None


def validate_catalog_file(path: Path) -> list[dict[str, Any]]:
    """Read and validate a user catalog file: a JSON list of entries with distinct aliases."""
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):   # a FIFO blocks, /dev/zero never ends
            raise PlannerError(f"{path}: user model catalog is not a regular file", code="bad_catalog")
        if st.st_size > _MAX_BYTES:
            raise PlannerError(f"{path}: user model catalog is larger than {_MAX_BYTES >> 20} MiB",
                               code="bad_catalog")
        with path.open("rb") as fh:
            data = json.loads(fh.read(_MAX_BYTES + 1).decode("utf-8"))
    except PlannerError:
        raise
    except IsADirectoryError:
        raise PlannerError(f"{path}: is a directory, expected a JSON model catalog file",
                           code="bad_catalog") from None
    except OSError as exc:
        raise PlannerError(f"{path}: cannot read the user model catalog: {exc.strerror or exc}",
                           code="bad_catalog") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise PlannerError(f"{path}: user model catalog is not valid JSON ({exc})",
                           code="bad_catalog") from None
    if not isinstance(data, list):
        raise PlannerError(f"{path}: a user model catalog must be a JSON list of entries", code="bad_catalog")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(data):
        label = item.get("alias") if isinstance(item, dict) else None
        where = f"{path}: entry {i}" + (f" ({label})" if isinstance(label, str) else "")
        if isinstance(item, dict):
            item = {k: v for k, v in item.items() if k not in _OUTPUT_ONLY}
        entry = validate_entry(item, where=where)
        if entry["alias"].lower() in seen:
            raise PlannerError(f"{where}: alias {entry['alias']!r} appears twice in this file",
                               code="bad_catalog")
        seen.add(entry["alias"].lower())
        out.append(entry)
    return out
