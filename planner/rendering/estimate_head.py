"""The estimate as `planner perf` and `planner cost` show it above their own figures: the head lines of
the human output, the estimate's JSON with the perf model's coverage warnings, and strict JSON (no NaN or
Infinity). Both commands import it; neither imports the other (issue 10: each command's top-level imports
are its own path)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, cast

from planner.performance.coverage import not_modelled
from planner.rendering.term import pack, wrap_lines

if TYPE_CHECKING:
    from planner.answers import EstimateAnswer, FindingJson
    from planner.memory.estimator import Estimate


def strict_json(x: Any) -> Any:
    """JSON without NaN or Infinity (strict parsers reject them): an infinite value is "inf", as vLLM saves
    an infinite --request-rate, and a NaN is null."""
    if isinstance(x, float):
        if math.isnan(x):
            return None
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return x
    if isinstance(x, dict):
        return {k: strict_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [strict_json(v) for v in x]
    return x


def estimate_json(est: Estimate, source_warnings: list[str]) -> EstimateAnswer:
    # Estimate.to_json builds an EstimateAnswer (planner/answers.py); its annotation still says dict.
    out = cast("EstimateAnswer", est.to_json())
    source: list[FindingJson] = [{"code": "source", "message": w} for w in source_warnings]
    coverage: list[FindingJson] = [{"code": c, "message": m} for c, m in not_modelled(est)]
    out["warnings"] = [*source, *out["warnings"], *coverage]
    return out


def head_lines(est: Estimate, source_warnings: list[str], cols: int) -> list[str]:
    """The deployment, its KV cache and batch limits, then every warning (source, estimate, perf coverage),
    laid out for `cols` columns: wrapped between the `·` items (never inside `max_num_seqs 1024`), warnings at
    word boundaries under a hanging indent."""
    r = est.resolved
    dp = f", DP {r.data_parallel_size}" if r.data_parallel_size > 1 else ""
    out = pack([f"{est.model.get('name')} on {r.world_size * r.data_parallel_size} x {est.gpu.id} (TP "
                f"{r.tensor_parallel_size}, PP {r.pipeline_parallel_size}{dp})",
                f"vLLM {est.rules.version} ({est.rules.engine.upper()})"], cols)
    out += pack([f"KV cache {est.kv_cache.tokens:,} tokens", f"max_model_len {r.max_model_len:,}",
                 f"max_num_seqs {r.max_num_seqs}", f"max_num_batched_tokens {r.max_num_batched_tokens:,}"], cols)
    warnings = [f"warning (source): {w}" for w in source_warnings]
    warnings += [f"warning ({w.code}): {w.message}" for w in est.warnings]
    warnings += [f"warning ({c}): {m}" for c, m in not_modelled(est)]
    return out + wrap_lines(warnings, cols)
