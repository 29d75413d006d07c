"""The `planner` command: a thin typer app. Each command lives in planner/commands/<name>.py.

Commands parse and render only; arithmetic lives in the memory model. Every command is wrapped by
`run_command`, which turns `PlannerError` into exit 2 with one line on stderr (JSON under --json).
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

from planner.commands import check as _check
from planner.commands import cost as _cost
from planner.commands import estimate as _estimate
from planner.commands import gpus as _gpus
from planner.commands import models as _models
from planner.commands import perf as _perf
from planner.commands import plan as _plan
from planner.commands import validate as _validate
from planner.commands._run import fail, usage_error

try:  # typer >= 0.26 vendors click as typer._click; older releases use click itself
    from typer._click import exceptions as cx
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as cx  # type: ignore[no-redef]


class _PlannerGroup(TyperGroup):
    """Click's usage errors (a bad option type, a missing argument) follow the planner's error contract:
    exit 2 with one line on stderr, and a JSON object on stdout under --json, instead of a usage block."""

    # click overloads `main` on standalone_mode (Literal[True] -> NoReturn); one signature serves both here.
    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,  # type: ignore[override]
             standalone_mode: bool = True, **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        try:
            rv = super().main(args=argv, prog_name=prog_name, complete_var=complete_var,
                              standalone_mode=False, **extra)
            # Commands end with typer.Exit(code); with standalone_mode off click hands that code back.
            code = rv if isinstance(rv, int) else 0
        except cx.NoArgsIsHelpError as exc:
            sys.stdout.write((exc.ctx.get_help() if exc.ctx else "") + "\n")
            code = 0
        except cx.UsageError as exc:
            code = fail(usage_error(exc, argv), json_mode="--json" in argv)
        except typer.Abort:
            sys.stderr.write("planner: interrupted\n")
            code = 130
        except typer.Exit as exc:
            code = exc.exit_code
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    cls=_PlannerGroup,
    name="planner",
    help="Plan, check and validate vLLM deployments with the numbers vLLM itself logs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_CTX = {"allow_extra_args": True, "ignore_unknown_options": True}
app.command("estimate", context_settings=_CTX, help=_estimate.HELP)(_estimate.command)
app.command("plan", context_settings=_CTX, help=_plan.HELP)(_plan.command)
app.command("perf", context_settings=_CTX, help=_perf.HELP)(_perf.command)
app.command("cost", context_settings=_CTX, help=_cost.HELP)(_cost.command)
app.command("check", help=_check.HELP)(_check.command)
app.command("validate", context_settings=_CTX, help=_validate.HELP)(_validate.command)
app.add_typer(_models.app, name="models", help=_models.HELP)
app.command("gpus", help=_gpus.HELP)(_gpus.command)


def main() -> None:
    app()
