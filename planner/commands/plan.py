"""`planner plan` (not implemented yet)."""

from __future__ import annotations

HELP = "plan (not implemented yet)."


def command() -> None:
    raise SystemExit("planner plan: not implemented yet")
