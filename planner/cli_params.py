"""Typer's value coercion, built for a parameter only when the command line gives it a value (issue 11).

typer (>= 0.2x) coerces each parameter's value through a pydantic TypeAdapter that it builds, the first
time the parameter is processed, on every run: also for the options the command line leaves out, whose
value is None and which the adapter never sees (typer's RuntimeParam.coerce answers None, or () for a
multi-value option, before reaching it). `planner plan` has 29 parameters; a catalog plan gives 3 of
them a value, and building the other adapters cost it 8 to 16 ms here (2 shared cores, in-process).

`defer_coercion` gives every typer parameter of a command a stand-in that answers None (and ()) the way
typer's own coerce does and builds typer's runtime parameter, through typer's own function, for the first
value that is not None. Values, errors and messages are typer's (tests/test_cli_params.py). With a typer
that has no such lazy coercion (before 0.2x, or a later layout), it changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

build_runtime_param: Callable[[Any], Any] | None
try:  # typer >= 0.2x: per-parameter coercion through pydantic, built on first use
    from typer._coercion import build_runtime_param
except ImportError:  # pragma: no cover - depends on the installed typer
    build_runtime_param = None


class DeferredCoercion:
    """Stands for typer's RuntimeParam of one parameter until a value other than None comes."""

    __slots__ = ("_param",)

    def __init__(self, param: Any) -> None:
        self._param = param

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None:                  # typer's RuntimeParam.coerce, whose first branch this is
            return () if param.multiple or param.nargs == -1 else None
        assert build_runtime_param is not None           # defer_coercion installs none without it
        runtime = self._param._runtime_param = build_runtime_param(self._param.type_descriptor)
        return runtime.coerce(value, param=param, ctx=ctx)


def defer_coercion(params: list[Any]) -> None:
    """Give each typer parameter in `params` a DeferredCoercion (see the module docstring)."""
    if build_runtime_param is None:
        return
    for p in params:
        if getattr(p, "_runtime_param", 0) is None and hasattr(p, "type_descriptor"):
            p._runtime_param = DeferredCoercion(p)
