"""A startup finding of the memory model: vLLM's error or warning, with a stable code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from planner.answers import FindingJson


@dataclass(frozen=True)
class Finding:
    """A warning or error of the estimate, with a stable code."""

    code: str
    message: str

    def to_json(self) -> FindingJson:
        return {"code": self.code, "message": self.message}
