"""`planner models` (not implemented yet)."""

from __future__ import annotations

import typer

HELP = "List and search the bundled model catalog."
app = typer.Typer(no_args_is_help=False)


@app.callback(invoke_without_command=True)
def _root() -> None:
    raise SystemExit("planner models: not implemented yet")
