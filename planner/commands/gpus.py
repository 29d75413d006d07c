"""`planner gpus [QUERY]`: list the GPU catalog (what --gpu accepts), with memory as vLLM sees it and prices."""

from __future__ import annotations

import typer

HELP = ("List the GPU catalog: ids and aliases --gpu accepts, the memory total vLLM sees (cudaMemGetInfo), "
        "compute capability, bandwidth, interconnect and list price. QUERY filters by id, alias or name.")


def command(
    query: str = typer.Argument(None, help="Filter (case-insensitive) on id, alias or name."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    from planner.commands._run import run_command

    def run() -> int:
        import json
        import sys

        import gpu_catalog

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
        from rich.console import Console
        from rich.table import Table

        t = Table(show_edge=False, box=None, pad_edge=False)
        for col, just in (("id", "left"), ("GiB", "right"), ("cc", "right"), ("GB/s", "right"),
                          ("$/h", "right"), ("aliases", "left")):
            t.add_column(col, justify=just)  # type: ignore[arg-type]
        for g in sorted(gpus, key=lambda g: (g.vendor, -g.total_gib, g.id)):
            t.add_row(g.id, f"{g.total_gib:.2f}", g.compute_capability or "-",
                      f"{g.memory_bandwidth_gbps:.0f}" if g.memory_bandwidth_gbps else "-",
                      f"{g.price_per_hour_usd:.2f}" if g.price_per_hour_usd else "-", ", ".join(g.aliases[:3]))
        Console(highlight=False).print(t)
        if not gpus:
            sys.stderr.write(f"no GPU matches {query!r}\n")
        return 0

    run_command(run, json_mode=json_out)
