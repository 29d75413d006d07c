"""planner.lazy (issue 10): a module named by `lazy("pkg.mod")` is imported on the first attribute read and
not before, and every such name is the module its TYPE_CHECKING import names (what mypy checks against and
tests/test_import_graph.py counts)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from planner.lazy import LazyModule, lazy

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
from planner.lazy import lazy
m = lazy("planner.rendering.memory_plot")
before = "planner.rendering.memory_plot" in sys.modules
f = m.write_memory_plot
print(json.dumps({"before": before, "after": "planner.rendering.memory_plot" in sys.modules,
                  "same": f is sys.modules["planner.rendering.memory_plot"].write_memory_plot}))
"""


def test_the_module_loads_on_the_first_attribute_read() -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(proc.stdout) == {"before": False, "after": True, "same": True}


def test_a_missing_attribute_is_the_modules_attribute_error() -> None:
    m = lazy("planner.errors")
    assert m.PlannerError.__name__ == "PlannerError"
    with pytest.raises(AttributeError, match="no_such_name"):
        m.no_such_name  # noqa: B018 - the read under test


def test_an_unknown_module_fails_on_first_use_not_before() -> None:
    m = lazy("planner.no_such_module")
    assert isinstance(m, LazyModule)
    with pytest.raises(ModuleNotFoundError):
        m.anything  # noqa: B018 - the read under test


def _lazy_bindings(tree: ast.Module) -> tuple[dict[str, str], dict[str, str]]:
    """(name -> module under TYPE_CHECKING, name -> module given to lazy() in its else branch)."""
    typed: dict[str, str] = {}
    lazies: dict[str, str] = {}
    for node in tree.body:
        if not (isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"):
            continue
        for stmt in node.body:
            if isinstance(stmt, ast.Import):
                typed.update({a.asname or a.name: a.name for a in stmt.names})
            elif isinstance(stmt, ast.ImportFrom) and stmt.module:
                typed.update({a.asname or a.name: f"{stmt.module}.{a.name}" for a in stmt.names})
        for stmt in node.orelse:
            if (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call)
                    and getattr(stmt.value.func, "id", None) == "lazy"):
                arg = stmt.value.args[0]
                assert isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                for target in stmt.targets:
                    assert isinstance(target, ast.Name)
                    lazies[target.id] = arg.value
    return typed, lazies


def test_every_lazy_name_is_its_type_checking_module() -> None:
    seen = 0
    for pkg in ("planner", "gpu_catalog", "model_catalog"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            typed, lazies = _lazy_bindings(ast.parse(path.read_text(), filename=str(path)))
            for name, module in lazies.items():
                seen += 1
                assert typed.get(name) == module, f"{path.name}: {name} = lazy({module!r}) but TYPE_CHECKING " \
                                                  f"binds {typed.get(name)!r}"
    assert seen >= 10                 # the check saw the lazy names (it can fail)


def test_the_check_catches_a_mismatch() -> None:
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from planner.rendering import plot\n"
                     "else:\n    plot = lazy('planner.rendering.plotfile')\n")
    typed, lazies = _lazy_bindings(tree)
    assert typed["plot"] != lazies["plot"]
