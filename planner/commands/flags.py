"""`planner flags [--vllm-version V] [--group G] [NAME]`: the `vllm serve` flags of a release, those of one
argument group, or what one flag is.

The counterpart of vLLM's `vllm serve --help=all` / `--help=ModelConfig` / `--help=max-model-len` (which
`planner estimate`, `plan`, `perf` and `validate` accept too, see planner/cli.py): as in vLLM, a NAME that
is a group title (any case) lists the group, else it names a flag. The parse facts and groups come from
the flag table of the release, what a flag does to memory and performance from planner/release/flag_docs.py.
"""

from __future__ import annotations

import difflib
import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from planner.commands import _options as _o
from planner.commands._run import run_command
from planner.errors import PlannerError
from planner.release import flag_docs
from planner.release.vllm_flags import groups_of, resolve_group
from planner.release.vllm_versions import LATEST
from planner.rendering import term

if TYPE_CHECKING:
    from planner.release.flag_docs import FlagDoc

HELP = ("List the `vllm serve` flags of a vLLM release (default: the newest modelled), marking those the "
        "planner's memory and performance model reads; with NAME, explain one: what it takes, its default, "
        "choices and spellings, the releases that have it, and what it does to memory and performance in "
        "the planner's model. NAME is spelt as vLLM spells it, with or without the dashes (max-model-len, "
        "--max_model_len, tp); a NAME that is one of vLLM's argument groups (ModelConfig, CacheConfig, "
        "Frontend; any case, as `vllm serve --help=ModelConfig`) lists that group. Exit 0, or 2 for a flag "
        "no release has or a group the release does not have.")


def command(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(
        metavar="NAME", help="A flag to explain (max-model-len, -tp, ...), or a group to list (ModelConfig).",
        show_default=False)] = None,
    vllm_version: _o.VllmVersion = None,
    modelled: Annotated[bool, typer.Option("--modelled", help="List only the flags the planner's model reads.")]
    = False,
    group: Annotated[str | None, typer.Option("--group", metavar="GROUP", show_default=False,
                                              help="List only the flags of one of vLLM's argument groups "
                                                   "(ModelConfig, CacheConfig, Frontend, ...), as "
                                                   "`vllm serve --help=ModelConfig` does.")] = None,
    groups: Annotated[bool, typer.Option("--groups", help="List the argument groups of the release.")] = False,
    json_out: _o.JsonOut = False,
) -> None:
    def run() -> int:
        version = vllm_version or LATEST
        # `planner flags --max-model-len`: a flag name with its dashes is not one of this command's options.
        extra = [w for w in ctx.args if w != "--"]
        if len(extra) > 1 or (extra and name is not None):
            raise PlannerError(f"flags: one NAME at a time, got {len([*extra, *([name] if name else [])])}",
                               hint="e.g. planner flags max-model-len")
        name_ = name if name is not None else (extra[0] if extra else None)
        word = name_.strip() if name_ is not None else ""
        if groups:
            counts = flag_docs.group_counts(version)
            if json_out:
                _dump({"schema_version": 1, "vllm_version": version,
                       "groups": [{"name": g, "flags": n} for g, n in counts]})
            else:
                _list_groups(counts, version)
            return 0
        # vLLM's --help=WORD: a group title first (any case), then a flag.
        group_ = group
        if word and word != "all" and group_ is None and not word.startswith("-") \
                and resolve_group(word, version) is not None:
            group_, word = word, ""
        if word and word != "all":
            doc = _lookup(word, version)
            if json_out:
                _dump({"schema_version": 1, "vllm_version": version, "flag": _doc_json(doc)})
            else:
                _explain(doc)
            return 0
        title = None
        if group_ is not None:
            title, docs = flag_docs.group_listing(group_, version)
        else:
            docs = flag_docs.listing(version)
        if modelled:
            docs = [d for d in docs if d.modelled]
        if json_out:
            _dump({"schema_version": 1, "vllm_version": version, **({"group": title} if title else {}),
                   "flags": [_doc_json(d, brief=True) for d in docs]})
        else:
            _list(docs, version, only_modelled=modelled, group=title)
        return 0

    run_command(run, json_mode=json_out)


def _lookup(word: str, version: str) -> FlagDoc:
    """flag_docs.lookup, except that a near miss of a group title (`--help=ModelConfg`) is answered as a
    group the release does not have, with the group as the suggestion."""
    try:
        return flag_docs.lookup(word, version)
    except PlannerError as err:
        titles = {g.lower(): g for g in groups_of(version)}
        near = difflib.get_close_matches(word.lower(), list(titles), n=1, cutoff=0.8)
        if err.code != "unknown_flag" or word.startswith("-") or not near:
            raise
        raise PlannerError(f"{word}: vLLM {version} has neither a flag nor a flag group of that name",
                           code="unknown_group", hint=f"did you mean {titles[near[0]]}?") from None


def _dump(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")


def _doc_json(doc: FlagDoc, *, brief: bool = False) -> dict[str, Any]:
    info = doc.info
    assert info is not None
    out: dict[str, Any] = {
        "name": doc.name, "spellings": list(info.spellings), "takes": flag_docs.takes(info),
        "choices": list(info.choices) if info.choices else None, "modelled": doc.modelled,
        "group": info.group,
    }
    if brief:
        return out
    memory, performance = flag_docs.effect_text(doc)
    out.update({"status": doc.status, "message": doc.message or None, "hint": doc.hint,
                "default": doc.default(), "releases": list(doc.releases), "deprecated": info.deprecated,
                "memory": memory, "performance": performance})
    return out


def _list_groups(counts: list[tuple[str, int]], version: str) -> None:
    con = term.console()
    intro = (f"vLLM {version}: {len(counts)} argument groups of `vllm serve` (\"options\": the parser's own). "
             "`planner flags --group GROUP` lists one." if counts else
             f"vLLM {version} registers no argument groups: `planner flags` lists its flags.")
    for line in term.wrap(intro, con.width):
        con.print(line, markup=False, soft_wrap=True)
    if not counts:
        return
    con.print()
    header, body = term.table((term.Column("group"), term.Column("flags", justify="right")),
                              [(g, str(n)) for g, n in counts], con.width)
    for line in header:
        con.print(line, style="bold", markup=False, soft_wrap=True)
    for line in body:
        con.print(line, markup=False, soft_wrap=True)


def _list(docs: list[FlagDoc], version: str, *, only_modelled: bool, group: str | None = None) -> None:
    con = term.console()
    what = "flags the planner's model reads" if only_modelled else "`vllm serve` flags"
    where = f" in group {group}" if group else ""
    for line in term.wrap(f"vLLM {version}: {len(docs)} {what}{where}; * = read by the planner's memory and "
                          "performance model. `planner flags NAME` explains one.", con.width):
        con.print(line, markup=False, soft_wrap=True)
    con.print()
    rows = []
    for d in docs:
        info = d.info
        assert info is not None
        short = [s for s in info.spellings if not s.startswith("--") and s not in info.negatives]
        rows.append((("* " if d.modelled else "  ") + ", ".join([d.name, *short]), flag_docs.short_type(info)))
    columns = (term.Column("  flag"), term.Column("takes", wrap=True))
    header, body = term.table(columns, rows, con.width)
    for line in header:
        con.print(line, style="bold", markup=False, soft_wrap=True)
    for line in body:
        con.print(line, markup=False, soft_wrap=True)


def _explain(doc: FlagDoc) -> None:
    info = doc.info
    assert info is not None
    con = term.console()
    pad = 16

    def field(label: str, value: str | None) -> None:
        if not value:
            return
        for line in term.wrap(value, con.width, indent=f"  {label}:".ljust(pad), subsequent=pad):
            con.print(line, markup=False, soft_wrap=True)

    con.print(f"{doc.name}  (vLLM {doc.version})", style="bold", markup=False, soft_wrap=True)
    field("status", doc.message + (f"; {doc.hint}" if doc.hint else "") if doc.status != "ok" else None)
    field("deprecated", info.deprecated)
    others = [s for s in info.spellings if s != doc.name]
    field("spellings", ", ".join([doc.name, *others]))
    field("group", info.group)
    field("takes", flag_docs.takes(info))
    field("choices", ", ".join(info.choices) if info.choices else None)
    # A plain switch (store_true, no --no-x spelling) is off unless given; other defaults are not in the
    # flag table, which records how vLLM parses a flag, not its default.
    plain_switch = info.value_type == "bool" and not info.negatives
    field("default", doc.default() or ("off" if plain_switch else None)
          or "not in the flag table (see vLLM's `vllm serve --help=" + doc.name[2:] + "`)")
    field("releases", flag_docs.releases_text(doc.releases)
          + (f"; removed in {info.removed}" if info.removed else ""))
    memory, performance = flag_docs.effect_text(doc)
    field("planner", "modelled" if doc.modelled else flag_docs.NOT_MODELLED)
    if doc.effect is not None:
        field("memory", memory)
        field("performance", performance)
