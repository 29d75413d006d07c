"""The `planner` command: a thin typer app. Each command lives in planner/commands/<name>.py.

Commands parse and render only; arithmetic lives in the memory model. Every command is wrapped by
`run_command`, which turns `PlannerError` into exit 2 with one line on stderr (JSON under --json).

Around the commands: `-h` / `--help` everywhere, `--version` / `-V`, the help layout of
planner/cli_help.py (usage with MODEL, examples, whole summaries), vLLM's `--help=all` /
`--help=NAME` mapped to `planner flags`, shell completion (`--install-completion`), and the user's
defaults from the config file (planner/user_config.py) as click's default_map, so flags win.

A run imports and builds only the command it names (`app_for`): the other commands' modules and typer's
conversion of their signatures cost a catalog plan about a tenth of its time. `app` (the whole app, for
help, typos, the API and the tests) knows every command by name and imports a command's module only when
that command is looked up (`_LazyCommands`): `planner --help` and shell completion list the commands
with their summaries from planner/cli_help.py, so each command module imports what it needs at its top.
"""

from __future__ import annotations

import functools
import gc
import sys
from collections.abc import Iterator, MutableMapping
from difflib import get_close_matches
from typing import Any

import typer
from typer.core import TyperGroup

from planner import user_config
from planner.cli_help import COMMANDS as HELPS
from planner.cli_help import HelpMixin, PlannerCommand
from planner.cli_params import DeferredParams
from planner.commands._run import fail, usage_error
from planner.errors import PlannerError
from planner.release.vllm_versions import LATEST, OLDEST

try:  # typer >= 0.26 vendors click as typer._click; older releases use click itself
    from typer._click import exceptions as cx
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as cx  # type: ignore[no-redef]
try:
    from typer._click.core import Command as ClickCommand
    from typer._click.shell_completion import CompletionItem
except ImportError:  # pragma: no cover - depends on the installed typer
    from click.core import Command as ClickCommand  # type: ignore[assignment]
    from click.shell_completion import CompletionItem  # type: ignore[assignment]


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


class _LazyCommands(MutableMapping[str, Any]):
    """The root group's commands by name: every name of COMMANDS is there, and a command's module is imported
    (and its click command built, as `app_for` builds it) on first access. Names, `in` and `len` import
    nothing, so help, completion and a typo's suggestion cost no command module."""

    def __init__(self, built: MutableMapping[str, Any] | None) -> None:
        self._built: dict[str, Any] = dict(built or {})

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            if name not in COMMANDS:
                raise KeyError(name)
            self._built[name] = typer.main.get_command(app_for([name])).commands[name]  # type: ignore[attr-defined]
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        yield from COMMANDS
        yield from (n for n in self._built if n not in COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS) + sum(1 for n in self._built if n not in COMMANDS)

    def __contains__(self, name: object) -> bool:
        return name in COMMANDS or name in self._built


class _PlannerGroup(HelpMixin, DeferredParams, TyperGroup):
    """Click's usage errors (a bad option type, a missing argument) follow the planner's error contract:
    exit 2 with one line on stderr, and a JSON object on stdout under --json, instead of a usage block.
    Its commands are `_LazyCommands`: looked up by name, imported on first use."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = _LazyCommands(self.commands)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)          # names only: typer's own reads every command (imports them all)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        return self.commands.get(cmd_name)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return self._click_resolve_command(ctx, args)
        except cx.UsageError as e:          # typer's suggestion, from the names (no command imported)
            matches = get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if matches:
                e.message = e.message.rstrip(".") + ". Did you mean " + ", ".join(f"{m!r}" for m in matches) + "?"
            raise

    def shell_complete(self, ctx: Any, incomplete: str) -> list[Any]:
        """The commands starting with `incomplete`, with their summaries (cli_help), then the options."""
        items = [CompletionItem(n, help=HELPS[n].summary if n in HELPS else None)
                 for n in self.list_commands(ctx) if n.startswith(incomplete)]
        return items + ClickCommand.shell_complete(self, ctx, incomplete)

    # click overloads `main` on standalone_mode (Literal[True] -> NoReturn); one signature serves both here.
    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,  # type: ignore[override]
             standalone_mode: bool = True, **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        argv = help_redirect(argv) or argv
        json_mode = "--json" in argv
        try:      # the user's config file: bad input of its own (file and line), before any command runs
            extra.setdefault("default_map", _user_defaults(argv, self.list_commands(None)))
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


_SETTINGS: dict[str, Any] = {
    "cls": _PlannerGroup,
    "name": "planner",
    "help": "Plan, check and validate vLLM deployments with the numbers vLLM itself logs.",
    "no_args_is_help": True,
    "add_completion": True,
    "pretty_exceptions_enable": False,
    "rich_markup_mode": None,
    "context_settings": {"help_option_names": list(HELP_NAMES)},
}


def _root(
    version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                 help="Print the planner's version and the vLLM release it models by default."),
) -> None:
    """Plan, check and validate vLLM deployments with the numbers vLLM itself logs."""


_CTX = {"allow_extra_args": True, "ignore_unknown_options": True}
# The commands, in the order `planner --help` lists them.
COMMANDS = ("estimate", "plan", "perf", "cost", "check", "validate", "models", "gpus", "flags")


def _register(app: typer.Typer, name: str) -> None:
    """Import command `name` and add it to `app` (each import names its module: the import graph sees it)."""
    # Imports inside: only the command a run names is imported (see the module docstring).
    if name == "estimate":
        from planner.commands import estimate as _estimate  # noqa: PLC0415
        app.command("estimate", context_settings=_CTX, help=_estimate.HELP, cls=PlannerCommand)(_estimate.command)
    elif name == "plan":
        from planner.commands import plan as _plan  # noqa: PLC0415
        app.command("plan", context_settings=_CTX, help=_plan.HELP, cls=PlannerCommand)(_plan.command)
    elif name == "perf":
        from planner.commands import perf as _perf  # noqa: PLC0415
        app.command("perf", context_settings=_CTX, help=_perf.HELP, cls=PlannerCommand)(_perf.command)
    elif name == "cost":
        from planner.commands import cost as _cost  # noqa: PLC0415
        app.command("cost", context_settings=_CTX, help=_cost.HELP, cls=PlannerCommand)(_cost.command)
    elif name == "check":
        from planner.commands import check as _check  # noqa: PLC0415
        app.command("check", help=_check.HELP, cls=PlannerCommand)(_check.command)
    elif name == "validate":
        from planner.commands import validate as _validate  # noqa: PLC0415
        app.command("validate", context_settings=_CTX, help=_validate.HELP, cls=PlannerCommand)(_validate.command)
    elif name == "models":
        from planner.commands import models as _models  # noqa: PLC0415
        app.add_typer(_models.app, name="models", help=_models.HELP)
    elif name == "gpus":
        from planner.commands import gpus as _gpus  # noqa: PLC0415
        app.command("gpus", help=_gpus.HELP, cls=PlannerCommand)(_gpus.command)
    elif name == "flags":
        from planner.commands import flags as _flags  # noqa: PLC0415
        app.command("flags", context_settings=_CTX, help=_flags.HELP, cls=PlannerCommand)(_flags.command)
    else:  # pragma: no cover - COMMANDS and the branches above are one list
        raise ValueError(name)


def _new_app() -> typer.Typer:
    app = typer.Typer(**_SETTINGS)
    app.callback()(_root)
    return app


@functools.cache
def whole_app() -> typer.Typer:
    """Every command: for `planner --help`, a mistyped command, options before the command, the API, tests.
    None is registered here: its group's `_LazyCommands` builds each one, as `app_for` does, when looked up."""
    return _new_app()


def app_for(argv: list[str]) -> typer.Typer:
    """The app a run needs: only the command `argv` names (after a `--help=` redirect), else (help, a typo,
    options first) the whole app. Same settings and command definitions as the whole app, so options,
    help and errors are the whole app's (tests/test_cli_lean.py)."""
    words = help_redirect(argv) or argv
    name = words[0] if words else ""
    if name not in COMMANDS:
        return whole_app()
    app = _new_app()
    _register(app, name)
    return app


def __getattr__(attr: str) -> typer.Typer:
    """`planner.cli.app`: the whole app, built on first use."""
    if attr == "app":
        return whole_app()
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def main() -> None:
    """Run the command sys.argv names. The console script (planner.entry) tunes the collector first;
    gc.freeze() here moves every object alive after start-up (typer's, click's and pydantic's classes,
    the catalogs) out of every later collection."""
    gc.freeze()
    app_for(sys.argv[1:])()
