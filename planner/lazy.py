"""A module imported on first use, for the optional paths of a command (issue 10).

Imports sit at the top of a module (ruff PLC0415); where a path only some runs take needs a module that
costs start-up time (the plot writers for --plot, the Hub client, the capacity model for --request-rate),
the module names it twice, so that mypy and the import graph see the real module and a run imports it only
when an attribute is first read:

    if TYPE_CHECKING:
        from planner.rendering import memory_plot
    else:
        memory_plot = lazy("planner.rendering.memory_plot")

tests/test_import_graph.py counts `lazy("...")` as an import; tests/test_lazy.py checks that every name
bound to `lazy(...)` is bound to the same module under TYPE_CHECKING.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for the module `name`; the first attribute read imports it (then every read is the module's)."""

    __slots__ = ("_module", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}{'' if self._module is None else ' (imported)'}>"


def lazy(name: str) -> Any:
    """`lazy("pkg.mod")`: the module, imported on first attribute read (see the module docstring)."""
    return LazyModule(name)
