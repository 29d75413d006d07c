"""`planner.cli.main` builds only the command it runs (`app_for`): what the user sees must be the whole
app's, for every command's help, usage errors and the bad-input contract cases."""

from __future__ import annotations

import pytest
from test_error_contract import CASES
from typer.testing import CliRunner

from planner.cli import COMMANDS, app, app_for

HELPS = [[name, "--help"] for name in COMMANDS] + [[name, "-h"] for name in COMMANDS]
OTHERS = [["--help"], [], ["plann", "x"], ["--json", "plan"], ["plan"], ["models", "show", "--help"],
          ["estimate", "qwen3-8b", "--gpu", "H100", "--no-such-planner-option"], ["gpus", "--json"],
          ["--version"], ["estimate", "--help=all"], ["plan", "--vllm-version", "0.9.2", "--help=max-model-len"],
          ["flags", "--vllm-version", "0.10.1.1", "block-size"], ["--show-completion", "bash"]]
ARGVS = [*HELPS, *OTHERS, *([*c.args] for c in CASES.values())]


def _run(target, argv: list[str]):
    result = CliRunner().invoke(target, argv, prog_name="planner", env={"HF_HUB_OFFLINE": "1"})
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("argv", ARGVS, ids=lambda a: " ".join(a)[:60] or "(none)")
def test_the_lean_app_answers_as_the_whole_app(argv: list[str]) -> None:
    assert _run(app_for(argv), argv) == _run(app, argv)


def test_only_the_named_command_is_built() -> None:
    lean = app_for(["plan", "qwen3-8b"])
    assert [c.name for c in lean.registered_commands] == ["plan"] and lean.registered_groups == []
    assert app_for(["models", "list"]).registered_groups[0].name == "models"
    for argv in (["--help"], [], ["plann"], ["--json", "plan"]):
        assert app_for(argv) is app


def test_a_run_imports_only_its_command_module() -> None:
    import json
    import subprocess
    import sys

    probe = ("import json, sys; from planner.cli import app_for; app_for(['plan', 'x']); "
             "print(json.dumps(sorted(m for m in sys.modules if m.startswith('planner.commands.'))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    commands = [m for m in json.loads(out.stdout) if not m.rsplit(".", 1)[-1].startswith("_")]
    assert commands == ["planner.commands.plan"]


# `planner --help`, a typo and shell completion answer from the names and cli_help's summaries: no command
# module is imported (each imports what it needs at its top, issue 10).
LIST_PROBE = """
import json, os, sys
from planner.cli import main
sys.argv = ["planner", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith("planner.commands.")
                        and not m.rsplit(".", 1)[-1].startswith("_"))), file=sys.stderr)
"""


@pytest.mark.parametrize("argv, env", [
    (["--help"], {}), ([], {}), (["plann"], {}),
    ([], {"_PLANNER_COMPLETE": "complete_bash", "COMP_WORDS": "planner ", "COMP_CWORD": "1"}),
], ids=["help", "no-args", "typo", "completion"])
def test_listing_the_commands_imports_none(argv: list[str], env: dict[str, str]) -> None:
    import json
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", LIST_PROBE, *argv], capture_output=True, text=True, timeout=60,
                          check=False, env={**os.environ, "HF_HUB_OFFLINE": "1", **env})
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == [], proc.stderr[-500:]
    if argv == ["plann"]:
        assert "Did you mean 'plan'?" in proc.stderr
    if env:
        assert {"estimate", "plan", "flags"} <= set(proc.stdout.split())
