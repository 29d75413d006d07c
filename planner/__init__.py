"""vllm-planner: plan, check and validate vLLM deployments with the numbers vLLM itself logs.

The Python API (planner.api; docs/python-api.md): `from planner import estimate, plan, perf, cost, check`.
Each returns the command's JSON answer as the contract's pydantic model. They load on first use, so
`import planner` (and `planner --help`) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "check", "cost", "estimate", "perf", "plan"]

if TYPE_CHECKING:
    from planner.api import check, cost, estimate, perf, plan


def __getattr__(name: str) -> Any:
    if name in {"estimate", "plan", "perf", "cost", "check"}:
        from planner import api  # noqa: PLC0415 - lazy: `import planner` must not load the CLI and pydantic

        return getattr(api, name)
    raise AttributeError(f"module 'planner' has no attribute {name!r}")
