"""The error contract of every command, in one place.

`run_command(fn, json_mode=..., debug=...)` calls fn() and maps:
- `PlannerError` -> exit 2, one line on stderr (`planner: error: ...`), and under --json an
  object `{"schema_version": 1, "error": {"code", "message", "hint"?}}` on stdout;
- any other exception -> exit 2 with a one-line internal error (traceback only with --debug);
- KeyboardInterrupt -> exit 130.
fn returns the exit code (0 or 1).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

from planner.errors import EXIT_BAD_INPUT, SCHEMA_VERSION, PlannerError


def fail(err: PlannerError, *, json_mode: bool) -> int:
    from planner.redact import redact

    # No secret a command carried (HF_TOKEN=..., --api-key ...) is echoed in an error.
    if json_mode:
        sys.stdout.write(redact(json.dumps({"schema_version": SCHEMA_VERSION, "error": err.to_json()})) + "\n")
    sys.stderr.write(f"planner: error: {redact(err.one_line())}\n")
    return EXIT_BAD_INPUT


def run_command(fn: Callable[[], int], *, json_mode: bool = False, debug: bool = False) -> None:
    import typer

    from planner.redact import forget_all

    forget_all()                # the secrets of this command only (see planner.redact)
    try:
        code = fn()
    except PlannerError as err:
        if debug:
            raise
        code = fail(err, json_mode=json_mode)
    except KeyboardInterrupt:
        sys.stderr.write("planner: interrupted\n")
        code = 130
    except (typer.Exit, SystemExit):
        raise
    except Exception as exc:  # the contract: never a traceback without --debug
        if debug:
            raise
        internal = PlannerError(f"internal error: {type(exc).__name__}: {exc}", code="internal_error",
                                hint="rerun with --debug for the traceback")
        code = fail(internal, json_mode=json_mode)
    raise typer.Exit(code)
