"""The `planner` command: a thin typer app. Each command lives in planner/commands/<name>.py.

Commands parse and render only; arithmetic lives in the memory model. Every command is wrapped by
`run_command`, which turns `PlannerError` into exit 2 with one line on stderr (JSON under --json).
"""

from __future__ import annotations

import typer

from planner.commands import check as _check
from planner.commands import estimate as _estimate
from planner.commands import gpus as _gpus
from planner.commands import models as _models
from planner.commands import plan as _plan
from planner.commands import validate as _validate

app = typer.Typer(
    name="planner",
    help="Plan, check and validate vLLM deployments with the numbers vLLM itself logs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_CTX = {"allow_extra_args": True, "ignore_unknown_options": True}
app.command("estimate", context_settings=_CTX, help=_estimate.HELP)(_estimate.command)
app.command("plan", help=_plan.HELP)(_plan.command)
app.command("check", help=_check.HELP)(_check.command)
app.command("validate", context_settings=_CTX, help=_validate.HELP)(_validate.command)
app.add_typer(_models.app, name="models", help=_models.HELP)
app.command("gpus", help=_gpus.HELP)(_gpus.command)


def main() -> None:
    app()
