"""Text helpers the manifest-like forms share: YAML dumping and plan values inside comments."""

from __future__ import annotations

import json
from typing import Any


def dump_yaml(doc: Any) -> str:
    """`doc` as block YAML in the order written (sort_keys=False: deterministic, and the order people read:
    apiVersion, kind, metadata, spec); a huge width stops long strings from being folded."""
    import yaml  # noqa: PLC0415 - yaml only for the manifest forms

    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=2**20)


def comment_value(text: str) -> str:
    """Plan text inside a comment, with line breaks (and anything non-ASCII) escaped by JSON."""
    return json.dumps(text)


def comment_lines(lines: list[str], prefix: str = "# ") -> str:
    """Lines written as comments; a line holding a control character (a line break from a plan value)
    is JSON-escaped so it cannot end the comment."""
    out = []
    for line in lines:
        if any(not c.isprintable() for c in line):
            line = json.dumps(line)[1:-1]
        out.append(prefix + line if line else prefix.rstrip())
    return "\n".join(out)
