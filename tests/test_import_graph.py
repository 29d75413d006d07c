"""No import circle among the project's modules.

The graph is built with ast from every import statement of planner/, gpu_catalog/ and model_catalog/:
module level, inside functions and under `if TYPE_CHECKING:` alike (a circle hidden in a function is
still a circle: it breaks as soon as someone moves the import up, and it ties the modules together).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("planner", "gpu_catalog", "model_catalog")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            out[_module_name(path)] = path
    return out


def _target(name: str, modules: dict[str, Path]) -> str | None:
    """The project module an imported name refers to: the longest known prefix of it."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _is_import_module(node: ast.Call) -> bool:
    f = node.func
    name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
    return (name in ("import_module", "lazy") and len(node.args) >= 1 and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str))


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = module.split(".") if is_pkg else module.split(".")[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join([*pkg, base] if base else pkg)
            # `from pkg import sub` needs pkg.sub (as `import pkg.sub` does); `from pkg import name` needs pkg.
            subs = [f"{base}.{a.name}" for a in node.names]
            names = subs if all(s in modules for s in subs) else [base, *subs]
        elif isinstance(node, ast.Call) and _is_import_module(node):
            # The lazy patterns (a module __getattr__, issue 11; planner.lazy, issue 10): import_module("pkg.mod")
            # and lazy("pkg.mod") are imports too.
            names = [node.args[0].value]  # type: ignore[attr-defined]
        for name in names:
            t = _target(name, modules)
            if t is not None and t != module:
                found.add(t)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {m: imports_of(m, p, modules) for m, p in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path [a, b, ..., a], or None (iterative DFS with colours)."""
    colour: dict[str, int] = {}
    for start in sorted(graph):
        if colour.get(start):
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        path = [start]
        colour[start] = 1
        while stack:
            node, todo = stack[-1]
            if not todo:
                colour[node] = 2
                stack.pop()
                path.pop()
                continue
            nxt = todo.pop()
            if colour.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if not colour.get(nxt):
                colour[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(graph.get(nxt, ()))))
    return None


def test_the_project_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_graph_sees_imports_in_functions_and_type_checking(tmp_path: Path) -> None:
    """The check itself: a circle through a function-level import and a TYPE_CHECKING one is found;
    import_module("...") and planner.lazy's lazy("...") are imports."""
    modules = {"pkg.a": tmp_path / "a.py", "pkg.b": tmp_path / "b.py"}
    modules["pkg.a"].write_text("def f():\n    from pkg import b\n")
    modules["pkg.b"].write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import f\n")
    modules["pkg.c"] = tmp_path / "c.py"
    modules["pkg.c"].write_text("from importlib import import_module\ndef g():\n    return import_module('pkg.a')\n")
    modules["pkg.d"] = tmp_path / "d.py"
    modules["pkg.d"].write_text("from planner.lazy import lazy\nb = lazy('pkg.b')\n")
    graph = {m: imports_of(m, p, modules) for m, p in modules.items()}
    assert graph == {"pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}, "pkg.c": {"pkg.a"}, "pkg.d": {"pkg.b"}}
    assert find_cycle(graph) in (["pkg.a", "pkg.b", "pkg.a"], ["pkg.b", "pkg.a", "pkg.b"])


def test_the_model_side_is_layered() -> None:
    """The leaf of the model side imports no other project module than the errors."""
    graph = import_graph()
    assert graph["planner.sourcing.model_files"] <= {"planner.errors", "planner"}
    assert "planner.sourcing.loader" not in graph["model_catalog"]
    assert "planner.sourcing.loader" not in graph["planner.sourcing.hub"]


def test_the_hub_loader_knows_no_catalog() -> None:
    """The catalog is the Hub loader's fallback, passed in by planner.sourcing.loader (issue 10)."""
    graph = import_graph()
    assert "model_catalog" not in graph["planner.sourcing.hub"]
    assert "planner.sourcing.loader" not in graph["model_catalog"]
    assert "planner.sourcing.hub" not in graph["model_catalog"]


def test_the_catalog_returns_plain_hits() -> None:
    """model_catalog builds no planner model: planner.sourcing.loader.from_catalog does (issue 10)."""
    assert "planner.sourcing.model_files" not in import_graph()["model_catalog"]
