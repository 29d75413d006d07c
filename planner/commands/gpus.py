"""`planner gpus [QUERY]`: list the GPU catalog (what --gpu accepts), with memory as vLLM sees it and prices."""

from __future__ import annotations

import json
import sys

import typer

import gpu_catalog
from planner.commands._run import run_command
from planner.rendering import term

HELP = ("List the GPU catalog: ids and aliases --gpu accepts, the memory total vLLM sees (cudaMemGetInfo), "
        "compute capability, bandwidth, interconnect and list price. QUERY filters by id, alias or name.")


def command(
    query: str = typer.Argument(None, help="Filter (case-insensitive) on id, alias or name."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    def run() -> int:
        gpus = list(gpu_catalog.all_gpus().values())
        if query:
            q = query.lower()
            gpus = [g for g in gpus if q in " ".join((g.id, g.name, *g.aliases, *g.device_names)).lower()]
        if json_out:
            rows = [{"id": g.id, "name": g.name, "vendor": g.vendor, "total_gib": g.total_gib,
                     "memory_gb": g.memory_gb, "compute_capability": g.compute_capability,
                     "aliases": list(g.aliases), "memory_bandwidth_gbps": g.memory_bandwidth_gbps,
                     "interconnect": g.interconnect, "gpus_per_node": g.gpus_per_node,
                     "price_per_hour_usd": g.price_per_hour_usd, "price_date": g.price_date,
                     "price_source": g.price_source} for g in gpus]
            sys.stdout.write(json.dumps(rows, indent=2) + "\n")
            return 0

        # Laid out for the terminal (80 columns when piped): the aliases wrap at their commas.
        columns = (term.Column("id"), term.Column("GiB", justify="right"), term.Column("cc", justify="right"),
                   term.Column("GB/s", justify="right"), term.Column("$/h", justify="right"),
                   term.Column("aliases", wrap=True))
        table_rows = [(g.id, f"{g.total_gib:.2f}", g.compute_capability or "-",
                 f"{g.memory_bandwidth_gbps:.0f}" if g.memory_bandwidth_gbps else "-",
                 f"{g.price_per_hour_usd:.2f}" if g.price_per_hour_usd else "-", ", ".join(g.aliases[:3]))
                for g in sorted(gpus, key=lambda g: (g.vendor, -g.total_gib, g.id))]
        con = term.console()
        header, body = term.table(columns, table_rows, con.width)
        for line in header:
            con.print(line, style="bold", markup=False, soft_wrap=True)
        for line in body:
            con.print(line, markup=False, soft_wrap=True)
        if not gpus:
            sys.stderr.write(f"no GPU matches {query!r}\n")
        return 0

    run_command(run, json_mode=json_out)
