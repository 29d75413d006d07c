"""The `planner` command: a thin typer app. Each command lives in planner/commands/<name>.py.

Commands parse and render only; arithmetic lives in the memory model. Every command is wrapped by
`run_command`, which turns `PlannerError` into exit 2 with one line on stderr (JSON under --json).

Around the commands: `-h` / `--help` everywhere, `--version` / `-V`, the help layout of
planner/cli_help.py (usage with MODEL, examples, whole summaries), vLLM's `--help=all` /
`--help=NAME` mapped to `planner flags`, shell completion (`--install-completion`), and the user's
defaults from the config file (planner/user_config.py) as click's default_map, so flags win.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

from planner import user_config
from planner.cli_help import HelpMixin, PlannerCommand
from planner.commands import check as _check
from planner.commands import cost as _cost
from planner.commands import estimate as _estimate
from planner.commands import flags as _flags
from planner.commands import gpus as _gpus
from planner.commands import models as _models
from planner.commands import perf as _perf
from planner.commands import plan as _plan
from planner.commands import validate as _validate
from planner.commands._run import fail, usage_error
from planner.errors import PlannerError
from planner.vllm_versions import LATEST, OLDEST

try:  # typer >= 0.26 vendors click as typer._click; older releases use click itself
    from typer._click import exceptions as cx
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as cx  # type: ignore[no-redef]


HELP_NAMES = ("-h", "--help")
# vLLM's own `vllm serve --help=all` / `--help=max-model-len`: a `--help=VALUE` word before `--` is the
# planner's `flags` command for that release (every command that takes vLLM flags accepts it).
HELP_VALUE = "--help="


def help_redirect(argv: list[str]) -> list[str] | None:
    """`estimate --vllm-version V --help=NAME` -> `flags --vllm-version V NAME`; None when no `--help=`."""
    words = argv[:argv.index("--")] if "--" in argv else argv
    hit = next((w for w in words if w.startswith(HELP_VALUE)), None)
    if hit is None:
        return None
    value = hit[len(HELP_VALUE):].strip()
    out = ["flags"]
    for i, w in enumerate(words):
        if w == "--vllm-version" and i + 1 < len(words):
            out += ["--vllm-version", words[i + 1]]
        elif w.startswith("--vllm-version="):
            out += ["--vllm-version", w.split("=", 1)[1]]
    if "--json" in words:
        out.append("--json")
    if value and value.lower() not in ("all", "page"):
        out.append(value)
    return out


def _wants_help(argv: list[str]) -> bool:
    words = argv[:argv.index("--")] if "--" in argv else argv
    return any(w in HELP_NAMES or w in ("--version", "-V", "--show-completion", "--install-completion")
               for w in words) or not words


class _PlannerGroup(HelpMixin, TyperGroup):
    """Click's usage errors (a bad option type, a missing argument) follow the planner's error contract:
    exit 2 with one line on stderr, and a JSON object on stdout under --json, instead of a usage block."""

    # click overloads `main` on standalone_mode (Literal[True] -> NoReturn); one signature serves both here.
    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,  # type: ignore[override]
             standalone_mode: bool = True, **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        argv = help_redirect(argv) or argv
        json_mode = "--json" in argv
        try:      # the user's config file: bad input of its own (file and line), before any command runs
            extra.setdefault("default_map", _user_defaults(argv, list(self.commands)))
        except PlannerError as err:
            code = fail(err, json_mode=json_mode)
            if standalone_mode:
                sys.exit(code)
            return code
        try:
            rv = super().main(args=argv, prog_name=prog_name, complete_var=complete_var,
                              standalone_mode=False, **extra)
            # Commands end with typer.Exit(code); with standalone_mode off click hands that code back.
            code = rv if isinstance(rv, int) else 0
        except cx.NoArgsIsHelpError as exc:
            sys.stdout.write((exc.ctx.get_help() if exc.ctx else "") + "\n")
            code = 0
        except cx.UsageError as exc:
            code = fail(usage_error(exc, argv), json_mode=json_mode)
        except typer.Abort:
            sys.stderr.write("planner: interrupted\n")
            code = 130
        except typer.Exit as exc:
            code = exc.exit_code
        if standalone_mode:
            sys.exit(code)
        return code


def _user_defaults(argv: list[str], commands: list[str]) -> dict[str, Any] | None:
    """click's default_map from the user's config file. Help and --version never fail on a bad file."""
    try:
        return user_config.load().default_map(commands) or None
    except PlannerError:
        if _wants_help(argv):
            return None
        raise


def _version(value: bool) -> None:
    if not value:
        return
    # importlib.metadata pulls in email, zipfile and csv (a third of a second on a loaded machine): only
    # for --version, never on the way to --help or a command.
    from importlib.metadata import PackageNotFoundError  # noqa: PLC0415 - stdlib, but heavy: see above
    from importlib.metadata import version as package_version  # noqa: PLC0415 - stdlib, but heavy

    try:
        ours = package_version("vllm-planner")
    except PackageNotFoundError:     # run from a source tree that was never installed
        ours = getattr(sys.modules.get("planner"), "__version__", "unknown")
    sys.stdout.write(f"vllm-planner {ours}\nvLLM {LATEST} by default (releases {OLDEST} to {LATEST} modelled; "
                     "--vllm-version picks one)\n")
    raise typer.Exit(0)


app = typer.Typer(
    cls=_PlannerGroup,
    name="planner",
    help="Plan, check and validate vLLM deployments with the numbers vLLM itself logs.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": list(HELP_NAMES)},
)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                 help="Print the planner's version and the vLLM release it models by default."),
) -> None:
    """Plan, check and validate vLLM deployments with the numbers vLLM itself logs."""


_CTX = {"allow_extra_args": True, "ignore_unknown_options": True}
app.command("estimate", context_settings=_CTX, help=_estimate.HELP, cls=PlannerCommand)(_estimate.command)
app.command("plan", context_settings=_CTX, help=_plan.HELP, cls=PlannerCommand)(_plan.command)
app.command("perf", context_settings=_CTX, help=_perf.HELP, cls=PlannerCommand)(_perf.command)
app.command("cost", context_settings=_CTX, help=_cost.HELP, cls=PlannerCommand)(_cost.command)
app.command("check", help=_check.HELP, cls=PlannerCommand)(_check.command)
app.command("validate", context_settings=_CTX, help=_validate.HELP, cls=PlannerCommand)(_validate.command)
app.add_typer(_models.app, name="models", help=_models.HELP)
app.command("gpus", help=_gpus.HELP, cls=PlannerCommand)(_gpus.command)
app.command("flags", context_settings=_CTX, help=_flags.HELP, cls=PlannerCommand)(_flags.command)


def main() -> None:
    app()
