"""The error contract shared by every command.

`PlannerError` is *bad input* (exit code 2): an unreadable or malformed config, an unknown model or
GPU, a value vLLM's own argument parser would reject. The CLI turns it into one line on stderr
(and a JSON object on stdout under --json); it never becomes a traceback.

A configuration that is well formed but that vLLM would refuse at startup is *not* an exception:
it is an `Estimate` with errors (exit code 1), so the full report can still be printed.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from planner.answers import ErrorBodyJson

# The version of every JSON answer (planner/contract.py describes them); written only here, in a module
# every command already loads.
SCHEMA_VERSION = 1
EXIT_OK = 0
EXIT_WOULD_FAIL = 1
EXIT_BAD_INPUT = 2
MAX_LINE = 240          # longest message one_line() prints before clipping
MAX_HINT = 120


class PlannerError(Exception):
    """Bad input. `code` is a stable machine-readable id, `hint` an optional suggestion."""

    def __init__(self, message: str, *, code: str = "bad_input", hint: str | None = None,
                 flag: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.hint = hint
        # An option that neither the planner command nor vLLM knows, as written: the CLI layer then
        # suggests the command's own options before vLLM's (see planner.commands._run).
        self.flag = flag

    def one_line(self) -> str:
        text = strip_prefix(self.message).rstrip(".")
        if len(text) > MAX_LINE:              # a pasted 100 KB value is named, not echoed
            text = text[:MAX_LINE - 3] + "..."
        if self.hint:
            hint = self.hint if len(self.hint) <= MAX_HINT else self.hint[:MAX_HINT - 3] + "..."
            text += f" ({hint})"
        return text

    def to_json(self) -> ErrorBodyJson:
        out: ErrorBodyJson = {"code": self.code, "message": strip_prefix(self.message)}
        if self.hint:
            out["hint"] = self.hint
        return out


# What fail() writes before every message; a message that carries it already (a wrapped error, a click
# usage error of the root command) would print it twice.
PREFIXES = ("planner: error: ", "planner: ", "error: ", "Error: ")


def strip_prefix(message: str) -> str:
    """The message without the prefixes the CLI adds itself ('planner: error: planner: ...' -> once)."""
    text = message.lstrip()
    changed = True
    while changed:
        changed = False
        for p in PREFIXES:
            if text.startswith(p):
                text, changed = text[len(p):].lstrip(), True
    return text


def did_you_mean(word: str, choices: list[str] | tuple[str, ...], n: int = 3) -> str | None:
    """A 'did you mean' hint from close matches (case-insensitive), or None."""
    lowered = {c.lower(): c for c in choices}
    hits = difflib.get_close_matches(word.lower(), list(lowered), n=n, cutoff=0.55)
    if not hits:
        # Substring matches catch 'llama-70b' -> 'llama-3.1-70b' style near-misses.
        w = word.lower()
        hits = [c for c in lowered if w in c or c in w][:n]
    if not hits:
        return None
    return "did you mean " + ", ".join(lowered[h] for h in hits) + "?"
