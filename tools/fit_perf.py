"""Fit planner/performance/calibration.py's FITTED coefficients on tests/data/validation/vllm-perf.jsonl.

    .venv/bin/python tools/fit_perf.py [--passes N] [--cases FILE] [--only name,name]

Coordinate descent over multiplicative grids, minimising the sum over output throughput, TPOT and TTFT
(TTFT at half weight) of (median + p90 / 3) absolute relative error. The cases are split by position:
even positions fit, odd positions are held out; both scores are printed so the fit can be judged on cases
it did not see. Prints the coefficients to paste into Calibration.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner.performance.calibration import DEFAULT, FITTED, Calibration
from tools.perf_fidelity import build_case, find_data, load_cases, run_case

WEIGHTS = {"output_throughput": 1.0, "tpot": 1.0, "ttft": 0.5}


def score(results: list[Any]) -> float:
    total = 0.0
    for m, w in WEIGHTS.items():
        e = sorted(abs(r.errors[m]) for r in results if m in r.errors)
        if e:
            total += w * (statistics.median(e) + e[int(0.9 * (len(e) - 1))] / 3)
    return total


def evaluate(built: list[tuple[dict[str, Any], Any]], data: Path, cal: Calibration) -> list[Any]:
    return [run_case(c, data, cal, built=b) for c, b in built]


def main() -> int:
    args = sys.argv[1:]
    passes = int(args[args.index("--passes") + 1]) if "--passes" in args else 1
    only = args[args.index("--only") + 1].split(",") if "--only" in args else list(FITTED)
    path = find_data(args[args.index("--cases") + 1] if "--cases" in args else None)
    cases = load_cases(path)
    built_all = []
    for c in cases:
        try:
            built_all.append((c, build_case(c, path.parent)))
        except LookupError:
            continue
    train = built_all[::2]
    test = built_all[1::2]
    cal = DEFAULT
    best = score(evaluate(train, path.parent, cal))
    print(f"start: train {best:.3f}", flush=True)
    for p in range(passes):
        grid = (0.5, 0.7, 1.4, 2.0) if p == 0 else (0.8, 0.9, 1.1, 1.25)
        for name in only:
            for f in grid:
                trial = cal.with_(**{name: getattr(cal, name) * f})
                s = score(evaluate(train, path.parent, trial))
                if s < best:
                    best, cal = s, trial
                    print(f"  {name} -> {getattr(cal, name):.4g}: train {best:.3f}", flush=True)
    test_score = score(evaluate(test, path.parent, cal))
    print(f"fitted on {len(train)} cases, held out {len(test)}: train {best:.3f}, held-out {test_score:.3f}")
    for name in FITTED:
        print(f"    {name}: float = {getattr(cal, name):.4g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
