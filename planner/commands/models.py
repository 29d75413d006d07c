"""`planner models [QUERY]` lists and searches the model catalog; `planner models show ALIAS` prints an entry.

Both take --json, and --catalog FILE (else $VLLM_PLANNER_MODEL_CATALOG) to merge a user catalog.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

import model_catalog
from planner.cli_help import HelpMixin, PlannerCommand
from planner.commands._run import run_command
from planner.rendering import term

if TYPE_CHECKING:
    import typer._click as click  # the click typer vendors (>= 0.26), which TyperGroup is typed against

    from model_catalog import CatalogEntry

HELP = ("List, search and show the bundled model catalog. `planner models [QUERY]` lists the models (QUERY "
        "filters by alias, repo id or family); `planner models show ALIAS` prints one.")


class _DefaultList(HelpMixin, TyperGroup):
    """`planner models llama` means `planner models list llama`: anything that is not a subcommand
    (or the group's --help) is handed to `list`, so QUERY and `show` can share the command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = ["list", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_DefaultList, no_args_is_help=False, add_completion=False, rich_markup_mode=None)

_JSON = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
_CATALOG = Annotated[Path | None, typer.Option("--catalog", metavar="FILE",
                                                help="A user catalog file (JSON list of entries) to merge; "
                                                     "default $VLLM_PLANNER_MODEL_CATALOG.")]
_DEBUG = Annotated[bool, typer.Option("--debug", hidden=True)]


def _count(n: int | None) -> str:
    if n is None:
        return "?"
    for unit, div in (("T", 10**12), ("B", 10**9), ("M", 10**6)):
        v = n / div
        if round(v, 1) >= 1:   # 999,885,952 -> "1.0B", not "1000M"
            return f"{v:.1f}{unit}" if v < 100 else f"{v:.0f}{unit}"
    return str(n)


def _ctx(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n // 1024}K" if n % 1024 == 0 else f"{n:,}"


def _gated(g: bool | None) -> str:
    return {True: "yes", False: "no", None: "?"}[g]


def _matches(e: CatalogEntry, q: str) -> bool:
    hay = (*e.names, *e.repo_ids, e.family, e.name)
    return any(q in h.lower() for h in hay)


def _summary(e: CatalogEntry) -> dict[str, Any]:
    return {
        "alias": e.alias, "aliases": list(e.aliases), "family": e.family, "name": e.name,
        "params": e.params, "active_params": e.active_params, "max_context": e.max_context,
        "default_repo": e.default_repo, "base_repo": e.base_repo, "instruct_repo": e.instruct_repo,
        "quantized": list(e.schemes), "gated": e.gated, "license": e.license, "origin": e.origin,
    }


@app.command("list", cls=PlannerCommand,
             help="List catalog models whose alias, repo id or family contains QUERY (any case).")
def list_models(
    query: Annotated[str | None, typer.Argument(help="Case-insensitive text to search for.")] = None,
    json_out: _JSON = False,
    catalog: _CATALOG = None,
    debug: _DEBUG = False,
) -> None:
    def run() -> int:
        # Families together, small to large.
        entries = sorted(model_catalog.all_entries(catalog), key=lambda e: (e.family, e.params or 0, e.alias))
        if query:
            q = query.strip().lower()
            entries = [e for e in entries if _matches(e, q)]
        if json_out:
            sys.stdout.write(json.dumps([_summary(e) for e in entries], indent=2) + "\n")
            return 0
        if not entries:
            hint = model_catalog.suggest(query or "", path=catalog)
            note = f"planner: no catalog model matches {query!r}" + (f" ({hint})" if hint else "")
            sys.stderr.write(note + "\n")
            return 0
        _print_table(entries)
        return 0

    run_command(run, json_mode=json_out, debug=debug)


def _print_table(entries: list[CatalogEntry]) -> None:
    # Laid out for the terminal (80 columns when piped): when a row is wider, the repo id moves to a line
    # of its own under the alias and the quantized schemes wrap; no word is cut.
    columns = (term.Column("alias"), term.Column("params", justify="right"),
               term.Column("context", justify="right"), term.Column("default repo", spill=True),
               term.Column("quantized", wrap=True), term.Column("gated"))
    rows = []
    for e in entries:
        params = _count(e.params)
        if e.architecture()["experts"] and e.active_params:
            params += f" ({_count(e.active_params)} active)"
        rows.append((e.alias, params, _ctx(e.max_context), e.default_repo, " ".join(e.schemes) or "-",
                     _gated(e.gated)))
    con = term.console()
    header, body = term.table(columns, rows, con.width)
    for line in header:
        con.print(line, style="bold", markup=False, soft_wrap=True)
    for line in body:
        con.print(line, markup=False, soft_wrap=True)


@app.command("show", cls=PlannerCommand,
             help="Print one catalog entry: repo ids, parameters, architecture, quantized repos.")
def show(
    alias: Annotated[str, typer.Argument(help="A catalog alias or a repo id the catalog knows.")],
    json_out: _JSON = False,
    catalog: _CATALOG = None,
    debug: _DEBUG = False,
) -> None:
    def run() -> int:
        entry = model_catalog.get(alias, path=catalog)
        if json_out:
            out = entry.to_json()
            out["architecture"] = entry.architecture()
            out["quantized"] = list(entry.schemes)
            sys.stdout.write(json.dumps(out, indent=2) + "\n")
            return 0
        _print_entry(entry)
        return 0

    run_command(run, json_mode=json_out, debug=debug)


def _print_entry(e: CatalogEntry) -> None:
    """The entry for a person: repo ids, the Hub page, size, context, license, architecture, dtype and the
    quantized checkpoints. Where the catalog's figures came from (reference files, fit notes) is for
    maintainers: it is in --json, not here. Lines wrap at word boundaries under their label; repo ids
    and URLs are never cut."""
    from rich.markup import escape  # noqa: PLC0415 - rich is heavy: only to render an entry

    con = term.console()
    cols = con.width
    pad = 17                                            # "  default repo:  " -> the values' column

    def line(label: str, value: str, *, items: list[str] | None = None) -> None:
        head = f"  {label}:".ljust(pad)
        lines = term.wrap(value, cols, indent=head, subsequent=pad)
        if items is not None:           # a list under its label, one item never split across lines
            lines += term.pack(items, cols, sep=", ", first=" " * pad, indent=" " * pad)
        for text in lines:
            con.print(escape(text), soft_wrap=True)

    con.print(f"[bold]{escape(e.alias)}[/bold]  {escape(e.name)}  (family {escape(e.family or '-')})",
              soft_wrap=True)
    if e.origin != "bundled":
        line("from", e.origin)
    if e.aliases:
        line("aliases", ", ".join(e.aliases))
    line("default repo", e.default_repo)
    for label, repo in (("instruct repo", e.instruct_repo), ("base repo", e.base_repo)):
        if repo and repo != e.default_repo:
            line(label, repo)
    if "/" in e.default_repo:
        line("Hub page", f"https://huggingface.co/{e.default_repo}")
    params = f"{e.params:,}" if e.params is not None else "?"
    if e.active_params and e.active_params != e.params:
        params += f" ({e.active_params:,} active)"
    line("parameters", params)
    ctx = f"{e.max_context:,} tokens" if e.max_context else "?"
    line("context", ctx + (f" ({e.context_note})" if e.context_note else ""))
    gate = {True: "gated", False: "not gated", None: "gating not verified"}[e.gated]
    note = f" ({e.license_note})" if e.license_note else ""
    line("license", f"{e.license or '?'}, {gate}{note}")
    # A user entry may carry a partial config: unknown fields print as "?", not "None".
    a = {k: "?" if v is None else v for k, v in e.architecture().items()}
    arch = [f"{a['layers']} layers", f"hidden {a['hidden_size']}",
            f"{a['attention_heads']} heads / {a['kv_heads']} kv heads", f"head_dim {a['head_dim']}"]
    if a["kv_lora_rank"] != "?":
        arch.append(f"MLA kv_lora_rank {a['kv_lora_rank']}")
    if a["experts"] != "?":
        moe = f"{a['experts']} experts, {a['experts_per_token']} per token"
        if a["shared_experts"] != "?":
            moe += f" + {a['shared_experts']} shared"
        arch.append(moe)
    if a["sliding_window"] != "?":
        arch.append(f"sliding window {a['sliding_window']}")
    arch.append(f"vocab {a['vocab_size']}")
    line("architecture", f"{a['model_type']} ({a['architecture']})", items=arch)
    quant = f", quantization {a['quantization']}" if a["quantization"] != "?" else ""
    dtype = "not in config" if a["dtype"] == "?" else a["dtype"]
    line("dtype", f"{dtype}{quant}")
    if not e.variants:
        line("quantized", "none known (vLLM can quantize bf16 weights on the fly for fp8 / bitsandbytes)")
        return
    con.print("  quantized checkpoints:")
    for v in e.variants:
        qm = v.quantization_config.get("quant_method", "?")
        con.print("    " + escape(f"{v.scheme:<10} {v.repo_id}  [{qm}]" + ("  (native)" if v.native else "")),
                  soft_wrap=True)
