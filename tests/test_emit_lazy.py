"""planner.emit loads its emitters on first use (PEP 562, issue 11): every public name still resolves to
the function or class it names, in a fresh interpreter and in any order, and a plain `vllm serve` command
loads none of the other emitters."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest

import planner.emit as emit_pkg

PROBE = """
import json, sys
import planner.emit as e
names = sys.argv[1:]
out = {n: type(getattr(e, n)).__name__ for n in names}
from planner.emit import forms  # a submodule imported directly must not shadow a name either
out.update({"again:" + n: type(getattr(e, n)).__name__ for n in names})
print(json.dumps(out))
"""


def test_every_public_name_resolves_to_what_it_names() -> None:
    for name in emit_pkg.__all__:
        value = getattr(emit_pkg, name)
        assert not isinstance(value, types.ModuleType), f"planner.emit.{name} is a module, not the emitter"


@pytest.mark.parametrize("order", ["forward", "reverse"])
def test_names_resolve_in_a_fresh_interpreter_in_any_order(order: str) -> None:
    names = list(emit_pkg.__all__) if order == "forward" else list(reversed(emit_pkg.__all__))
    proc = subprocess.run([sys.executable, "-c", PROBE, *names], capture_output=True, text=True, timeout=60,
                          check=True)
    kinds = json.loads(proc.stdout)
    assert [k for k, v in kinds.items() if v == "module"] == []


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_emitter"):
        getattr(emit_pkg, "no_such_emitter")  # noqa: B009 - the lookup under test goes through __getattr__


def test_the_single_node_command_loads_no_other_emitter() -> None:
    code = ("import json, sys\nimport planner.emit\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('planner.emit.'))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    loaded = set(json.loads(proc.stdout))
    assert loaded <= {"planner.emit.deployment", "planner.emit.names", "planner.emit.shell"}, loaded
