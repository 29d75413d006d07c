"""The error contract of every command, in one place.

`run_command(fn, json_mode=..., debug=...)` calls fn() and maps:
- `PlannerError` -> exit 2, one line on stderr (`planner: error: ...`), and under --json an
  object `{"schema_version": 1, "error": {"code", "message", "hint"?}}` on stdout;
- any other exception -> exit 2 with a one-line internal error (traceback only with --debug);
- KeyboardInterrupt -> exit 130.
fn returns the exit code (0 or 1).

`usage_error(exc, argv)` turns click's usage errors (a bad option type, a missing argument, an unknown
command) into the same PlannerError, in plain words: typer coerces option values with pydantic, whose
wording ("Input should be a valid integer, unable to parse string as an integer") is not the planner's.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from planner.errors import EXIT_BAD_INPUT, SCHEMA_VERSION, PlannerError, strip_prefix
from planner.redact import forget_all, redact

try:
    from typer._click.globals import get_current_context
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import get_current_context  # type: ignore[no-redef]

if TYPE_CHECKING:
    from planner.answers import ErrorAnswer

# pydantic error types (ValidationError.errors()[i]["type"]) -> what the option expected, in plain words.
_EXPECTED = {
    "int_parsing": "an integer", "int_type": "an integer", "int_from_float": "an integer",
    "float_parsing": "a number", "float_type": "a number", "finite_number": "a finite number",
    "bool_parsing": "true or false", "bool_type": "true or false",
    "string_type": "a string", "missing": "a value",
}
MAX_VALUE = 40        # longest offending value a usage error quotes


def fail(err: PlannerError, *, json_mode: bool) -> int:
    # No secret a command carried (HF_TOKEN=..., --api-key ...) is echoed in an error.
    if json_mode:
        answer: ErrorAnswer = {"schema_version": SCHEMA_VERSION, "error": err.to_json()}
        sys.stdout.write(redact(json.dumps(answer)) + "\n")
    sys.stderr.write(f"planner: error: {redact(err.one_line())}\n")
    return EXIT_BAD_INPUT


def _quote(value: object) -> str:
    text = str(value)
    return repr(text) if len(text) <= MAX_VALUE else f"a value of {len(text)} characters"


def _plain_bad_parameter(exc: Any) -> str | None:
    """'--concurrency: 'many' is not an integer' from a BadParameter raised on a pydantic error."""
    cause = exc.__cause__
    errors = getattr(cause, "errors", None)
    if not callable(errors):
        return None
    try:
        first = errors()[0]
    except (IndexError, TypeError, ValueError):
        return None
    expected = _EXPECTED.get(str(first.get("type")))
    if expected is None:
        msg = str(first.get("msg", "invalid value"))
        expected = msg[len("Input should be "):] if msg.startswith("Input should be ") else msg
    param = getattr(exc, "param", None)
    opts = [o for o in (getattr(param, "opts", None) or []) if o.startswith("--")]
    name = opts[0] if opts else (getattr(param, "name", None) or "value")
    return f"{name}: {_quote(first.get('input', ''))} is not {expected}"


def usage_error(exc: Any, argv: list[str]) -> PlannerError:
    """A click UsageError as the planner's one-line PlannerError (the command named once)."""
    plain = _plain_bad_parameter(exc)
    msg = plain if plain is not None else exc.format_message().replace("\n", " ")
    path = exc.ctx.command_path if getattr(exc, "ctx", None) is not None else ""
    # "planner plan" -> "plan"; the root command adds nothing: fail() writes "planner: error: " itself.
    cmd = path.split(" ", 1)[1] if " " in path else ""
    return PlannerError(f"{cmd}: {msg}" if cmd else msg, code="usage", hint="see --help")


def own_option_hint(flag: str) -> str | None:
    """'did you mean --concurrency?' when `flag` is close to an option of the running planner command.

    An unknown option is handed to vLLM's parser (each command reads the rest as `vllm serve` flags),
    which would suggest one of vLLM's 400 options; the command's own options come first."""
    ctx = get_current_context(silent=True)
    if ctx is None or not flag.startswith("--"):
        return None
    name = flag.split("=", 1)[0]
    own = sorted({o for p in ctx.command.params for o in getattr(p, "opts", ()) if o.startswith("--")})
    hits = difflib.get_close_matches(name, own, n=2, cutoff=0.8)
    return "did you mean " + " or ".join(hits) + "?" if hits else None


def _with_own_suggestion(err: PlannerError) -> PlannerError:
    if err.flag is None:
        return err
    hint = own_option_hint(err.flag)
    if hint is None:
        return err
    name = err.flag.split("=", 1)[0]
    return PlannerError(f"{name}: not an option of this command, nor of vLLM's `vllm serve`", code=err.code,
                        hint=hint, flag=err.flag)


def run_command(fn: Callable[[], int], *, json_mode: bool = False, debug: bool = False) -> None:
    forget_all()                # the secrets of this command only (see planner.redact)
    try:
        code = fn()
    except PlannerError as err:
        if debug:
            raise
        code = fail(_with_own_suggestion(err), json_mode=json_mode)
    except KeyboardInterrupt:
        sys.stderr.write("planner: interrupted\n")
        code = 130
    except (typer.Exit, SystemExit):
        raise
    except Exception as exc:  # the contract: never a traceback without --debug
        if debug:
            raise
        internal = PlannerError(f"internal error: {type(exc).__name__}: {strip_prefix(str(exc))}",
                                code="internal_error", hint="rerun with --debug for the traceback")
        code = fail(internal, json_mode=json_mode)
    raise typer.Exit(code)
