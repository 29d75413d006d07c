"""Typer's value coercion, built for a parameter only when the command line gives it a value it must convert
(issue 11).

typer (>= 0.2x) coerces each parameter's value through a pydantic TypeAdapter that it builds, the first
time the parameter is processed, on every run: also for the options the command line leaves out, whose
value is None and which the adapter never sees (typer's RuntimeParam.coerce answers None, or () for a
multi-value option, before reaching it), and for typer's own --help and completion options. The first
adapter imports typer._adapters and pydantic's type machinery; each further one is built anew. `planner plan`
has 29 parameters; a catalog plan gives 3 of them a value.

`DeferredCoercion` stands for typer's runtime parameter and answers, without an adapter, the two cases whose
answer typer's coercion fixes without converting anything:
- None: None, or () for a multi-value option (typer's RuntimeParam.coerce, its first branch);
- a str for a single-value `str` parameter without a `parser`: the str itself. typer's adapter for a plain
  `str` (typer._adapters.build_leaf_adapter) is `Annotated[str, BeforeValidator(_parse_cli_str)]`, which
  returns `str(value)`, and pydantic's lax str validation hands a str back unchanged.
Any other value builds typer's runtime parameter, through typer's own function, and is coerced by it: values,
errors and messages stay typer's (tests/test_cli_params.py runs every case both ways). With a typer that has
no such lazy coercion (before 0.2x, or a later layout), it changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

build_runtime_param: Callable[[Any], Any] | None
try:  # typer >= 0.2x: per-parameter coercion through pydantic, built on first use
    from typer._coercion import build_runtime_param
except ImportError:  # pragma: no cover - depends on the installed typer
    build_runtime_param = None


def _plain_str(param: Any) -> bool:
    """A single-value parameter whose typer coercion of a str is that str (see the module docstring)."""
    desc = param.type_descriptor
    return (desc.annotation is str and desc.file_annotation is None
            and getattr(desc.parameter_info, "parser", None) is None
            and not (param.multiple or param.nargs == -1))


class DeferredCoercion:
    """Stands for typer's RuntimeParam of one parameter until a value typer must convert comes."""

    __slots__ = ("_param", "_plain_str")

    def __init__(self, param: Any) -> None:
        self._param = param
        self._plain_str = _plain_str(param)

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None:                  # typer's RuntimeParam.coerce, whose first branch this is
            return () if param.multiple or param.nargs == -1 else None
        if self._plain_str and type(value) is str:
            return value
        assert build_runtime_param is not None           # defer_coercion installs none without it
        runtime = self._param._runtime_param = build_runtime_param(self._param.type_descriptor)
        return runtime.coerce(value, param=param, ctx=ctx)


def defer_coercion(params: list[Any]) -> None:
    """Give each typer parameter in `params` not yet coerced a DeferredCoercion (see the module docstring)."""
    if build_runtime_param is None:
        return
    for p in params:
        if getattr(p, "_runtime_param", 0) is None and hasattr(p, "type_descriptor"):
            p._runtime_param = DeferredCoercion(p)


class DeferredParams:
    """For a typer command or group: its parameters as click lists them for a run (typer's --help option,
    which click builds there, and the completion options included) get a DeferredCoercion."""

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)  # type: ignore[misc]
        defer_coercion(params)
        return params
