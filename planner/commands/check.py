"""`planner check` (not implemented yet)."""

from __future__ import annotations

HELP = "check (not implemented yet)."


def command() -> None:
    raise SystemExit("planner check: not implemented yet")
