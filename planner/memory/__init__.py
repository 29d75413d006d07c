"""The memory model: vLLM's startup accounting (weights, activation peak, non-torch, CUDA graphs, KV cache).

The modules of features a plain GPU estimate does not use load on first use (PEP 562 `__getattr__`): LoRA
adapters, speculative decoding and vLLM's CPU backend. The estimator asks for them as
`memory.lora.lora_settings(...)` only where the engine args turn the feature on, so a catalog plan does not pay
for importing them (issue 11; tests/test_imports.py NOT_ON_A_PLAIN_PLAN).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from planner.memory import cpu_backend, lora, spec_decode

LAZY = ("cpu_backend", "lora", "spec_decode")
__all__ = ["cpu_backend", "lora", "spec_decode"]


def __getattr__(name: str) -> Any:
    """`planner.memory.lora` etc.: imported on first use (the import binds it on the package afterwards)."""
    if name in LAZY:
        return import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
