"""Predicted (estimate contract JSON) vs observed (logparse.Observed): per-figure errors and a verdict.

Tolerances are relative; GiB figures also pass within the log's own rounding (vLLM prints GiB with two
decimals, so 0.005 GiB). Figures the log does not print are "not observed", never misses. Integers vLLM
computes exactly (block size, max_model_len) must match exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from planner.validate.logparse import Observed, parse_log

# Observed "errors" that say nothing about why vLLM did not start (the planner stopped waiting).
INCONCLUSIVE = frozenset({"startup_timeout"})
GIB_ROUNDING = 0.005          # format_gib / "%.2f GiB": the log's own resolution
_EPS = 1e-9                   # float noise in |a - b| <= tolerance


@dataclass(frozen=True)
class Tolerances:
    weights: float = 0.02
    kv_memory: float = 0.05
    kv_tokens: float = 0.05

    @classmethod
    def uniform(cls, value: float) -> Tolerances:
        """--tolerance X: the same relative tolerance for every figure that has one."""
        return cls(weights=value, kv_memory=value, kv_tokens=value)


@dataclass
class Comparison:
    figure: str
    predicted: float | int | None
    observed: float | int | None
    error: float | None            # (observed - predicted) / predicted; None when predicted == 0
    tolerance: float | None        # None: informational, not part of the verdict
    passed: bool | None            # None: not observed / not predicted / informational
    note: str = ""


@dataclass
class Verdict:
    predicted_fits: bool | None
    started: bool | None
    agree: bool | None
    predicted_errors: list[str] = field(default_factory=list)
    observed_errors: list[str] = field(default_factory=list)
    matched_errors: list[str] = field(default_factory=list)


@dataclass
class ComparisonReport:
    comparisons: list[Comparison]
    verdict: Verdict

    @property
    def misses(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.passed is False]

    @property
    def ok(self) -> bool:
        """Every checked figure within tolerance, the server started, and the prediction said it would."""
        return not self.misses and self.verdict.started is True and self.verdict.agree is True

    def to_json(self) -> dict[str, Any]:
        return {"comparisons": [asdict(c) for c in self.comparisons], "verdict": asdict(self.verdict)}


# figure name, where in the prediction, where in Observed, tolerance attribute (None = exact / info), GiB?
_FIGURES: tuple[tuple[str, tuple[str, str], tuple[str, str], str | None, bool], ...] = (
    ("weights_gib", ("per_gpu", "weights_gib"), ("per_gpu", "weights_gib"), "weights", True),
    ("kv_cache_gib", ("per_gpu", "kv_cache_gib"), ("per_gpu", "kv_cache_gib"), "kv_memory", True),
    ("kv_cache_tokens", ("kv_cache", "tokens"), ("kv_cache", "tokens"), "kv_tokens", False),
    ("num_blocks", ("kv_cache", "num_blocks"), ("kv_cache", "num_blocks"), "kv_tokens", False),
    ("max_concurrency", ("kv_cache", "max_concurrency"), ("kv_cache", "max_concurrency"), "kv_tokens", False),
    ("block_size", ("kv_cache", "block_size"), ("kv_cache", "block_size"), "exact", False),
    ("activation_gib", ("per_gpu", "activation_gib"), ("per_gpu", "activation_gib"), None, True),
    ("non_torch_gib", ("per_gpu", "non_torch_gib"), ("per_gpu", "non_torch_gib"), None, True),
    ("cudagraph_gib", ("per_gpu", "cudagraph_gib"), ("per_gpu", "cudagraph_gib"), None, True),
)


def _num(value: Any) -> float | int | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def compare_figure(figure: str, predicted: float | int | None, observed: float | int | None,
                   tolerance: float | None, *, gib: bool, exact: bool = False) -> Comparison:
    """One row: relative error, and pass when |error| <= tolerance (or within the log's GiB rounding)."""
    if observed is None:
        return Comparison(figure, predicted, None, None, tolerance, None, "not observed")
    if predicted is None:
        return Comparison(figure, None, observed, None, tolerance, None, "not predicted")
    diff = observed - predicted
    error = diff / predicted if predicted else None   # relative error is undefined against 0
    if exact:
        return Comparison(figure, predicted, observed, error, 0.0, diff == 0)
    if tolerance is None:
        return Comparison(figure, predicted, observed, error, None, None, "informational")
    allowed = abs(predicted) * tolerance
    if gib:
        allowed = max(allowed, GIB_ROUNDING)
    return Comparison(figure, predicted, observed, error, tolerance, abs(diff) <= allowed + _EPS)


def compare(predicted: dict[str, Any], observed: Observed,
            tolerances: Tolerances | None = None) -> ComparisonReport:
    """Compare an estimate (Estimate.to_json()) with what vLLM reported."""
    tol = tolerances or Tolerances()
    obs = observed.to_json()
    rows: list[Comparison] = []
    for figure, (p_sec, p_key), (o_sec, o_key), tol_name, gib in _FIGURES:
        p = _num((predicted.get(p_sec) or {}).get(p_key))
        o = _num((obs.get(o_sec) or {}).get(o_key))
        if tol_name == "exact":
            rows.append(compare_figure(figure, p, o, None, gib=gib, exact=True))
        else:
            rows.append(compare_figure(figure, p, o, getattr(tol, tol_name) if tol_name else None, gib=gib))
    p_len = _num(((predicted.get("vllm") or {}).get("args") or {}).get("max_model_len"))
    rows.append(compare_figure("max_model_len", p_len, observed.max_model_len, None, gib=False, exact=True))
    # A failed start prints no capacity: its figures are "not observed" (above); what it prints instead
    # are the numbers in its error message, compared here against the same numbers in the prediction.
    rows.extend(_error_number_rows(predicted, observed, tol))
    return ComparisonReport(rows, _verdict(predicted, observed))


def _error_number_rows(predicted: dict[str, Any], observed: Observed, tol: Tolerances) -> list[Comparison]:
    rows: list[Comparison] = []
    # The prediction's error messages use vLLM's own wording, so the same parser reads their numbers.
    predicted_numbers = {e.code: e.numbers for e in parse_log(
        "\n".join(str(e.get("message", "")) for e in predicted.get("errors") or [])).errors}
    for err in observed.errors:
        pnums = predicted_numbers.get(err.code, {})
        for name, value in err.numbers.items():
            o = _num(value)
            if o is None or name not in pnums:
                continue
            exact = name in ("max_model_len", "estimated_max_model_len", "kv_tokens", "num_heads",
                             "tensor_parallel_size")
            rows.append(compare_figure(f"{err.code}.{name}", _num(pnums[name]), o, tol.kv_memory,
                                       gib=name.endswith("_gib"), exact=exact))
    return rows


def _verdict(predicted: dict[str, Any], observed: Observed) -> Verdict:
    fits = predicted.get("fits")
    fits = fits if isinstance(fits, bool) else None
    p_codes = [str(e.get("code")) for e in predicted.get("errors") or []]
    o_codes = [e.code for e in observed.errors]
    matched = [c for c in o_codes if c in p_codes]
    reasons = [c for c in o_codes if c not in INCONCLUSIVE]
    if fits is None or observed.started is None:
        agree = None
    elif observed.started:
        agree = fits
    elif fits:
        # Predicted to start, and it did not: a disagreement whatever the reason, unless all we know is
        # that the planner stopped waiting (a slow download or compile is not a failed start).
        agree = None if not reasons and o_codes else False
    elif matched:
        agree = True          # failed for (one of) the predicted reasons
    elif reasons:
        agree = False         # failed, but for a reason the prediction did not give
    else:
        # Failed without a reason the log parser recognizes (or the planner stopped waiting): that vLLM
        # failed too is no evidence that it failed for the predicted reason.
        agree = None
    return Verdict(fits, observed.started, agree, p_codes, o_codes, matched)
