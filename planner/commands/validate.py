"""`planner validate` (not implemented yet)."""

from __future__ import annotations

HELP = "validate (not implemented yet)."


def command() -> None:
    raise SystemExit("planner validate: not implemented yet")
