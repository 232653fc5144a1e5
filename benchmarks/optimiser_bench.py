"""Budget optimiser: fit + allocate on 20 channels x 10 segments (200 curves), 52 weeks each.

The history is generated from planted saturating-exponential curves with 5% multiplicative
noise (no public data set carries per-period marketing spend). aidmp fits 200 curves with
``curve_fit`` and allocates the same total as the current plan (the mean weekly spend) with
the HiGHS LP over ``breakpoints`` linear pieces per curve. The side a user would otherwise
write is ``scipy.optimize.minimize(method="SLSQP")`` over the same fitted smooth curves, with
the budget as an equality constraint and the same bounds (0 to the curve's cap).

Time is the median of 3 runs; peak memory is the ``tracemalloc`` peak of a 4th run. "return"
is the fitted smooth curves evaluated at each allocation, "true return" the planted curves.

Run: ``.venv/bin/python benchmarks/optimiser_bench.py``
"""

from __future__ import annotations

import json
import statistics
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from scipy.optimize import minimize

from aidmp.campaigns.optimiser.model import BudgetOptimiser

ROOT = Path(__file__).resolve().parent.parent
CHANNELS, SEGMENTS, WEEKS = 20, 10, 52


def make_history(seed: int = 0) -> tuple[pa.Table, dict[str, tuple[float, float]]]:
    rng = np.random.default_rng(seed)
    truth: dict[str, tuple[float, float]] = {}
    cols: dict[str, list[Any]] = {"channel": [], "segment": [], "period": [], "spend": [],
                                  "return": []}
    for c in range(CHANNELS):
        for s in range(SEGMENTS):
            a, b = rng.uniform(200.0, 2000.0), rng.uniform(50.0, 400.0)
            truth[f"ch{c:02d}/seg{s}"] = (a, b)
            x = rng.uniform(0.2, 2.0, WEEKS) * b
            y = a * (1.0 - np.exp(-x / b)) * (1.0 + 0.05 * rng.standard_normal(WEEKS))
            cols["channel"] += [f"ch{c:02d}"] * WEEKS
            cols["segment"] += [f"seg{s}"] * WEEKS
            cols["period"] += list(range(WEEKS))
            cols["spend"] += x.tolist()
            cols["return"] += y.tolist()
    return pa.table(cols), truth


def measure(fn: Callable[[], Any]) -> dict[str, float]:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"seconds": statistics.median(times), "peak_mb": peak / 1e6}


def slsqp(opt: BudgetOptimiser, total: float, upper: np.ndarray) -> np.ndarray:
    a = np.array([opt.curves_[u].params[0] for u in opt.units_])
    b = np.array([opt.curves_[u].params[1] for u in opt.units_])
    x0 = np.full(a.size, total / a.size)
    res = minimize(lambda x: -np.sum(a * -np.expm1(-x / b)), x0,
                   jac=lambda x: -(a / b) * np.exp(-x / b), method="SLSQP",
                   bounds=list(zip(np.zeros(a.size), upper, strict=True)),
                   constraints=[{"type": "eq", "fun": lambda x: x.sum() - total,
                                 "jac": lambda x: np.ones_like(x)}],
                   options={"maxiter": 500, "ftol": 1e-10})
    return np.asarray(res.x)


def main() -> None:
    table, truth = make_history()
    fitted = BudgetOptimiser().fit(table)
    total = float(sum(fitted.current_.values()))
    r2 = [c.r2 for c in fitted.curves_.values()]
    b_err = [abs(fitted.curves_[u].params[1] / truth[u][1] - 1) for u in fitted.units_]

    def true_return(spend: np.ndarray) -> float:
        ab = np.array([truth[u] for u in fitted.units_])
        return float(np.sum(ab[:, 0] * -np.expm1(-spend / ab[:, 1])))

    def fitted_return(spend: np.ndarray) -> float:
        return float(sum(fitted.curves_[u].predict(x) for u, x in
                         zip(fitted.units_, spend, strict=True)))

    current = np.array([fitted.current_[u] for u in fitted.units_])
    rows: list[dict[str, Any]] = []
    fit_m = measure(lambda: BudgetOptimiser().fit(table))
    rows.append({"step": "fit 200 curves (curve_fit)", **fit_m, "return": None,
                 "true_return": None})
    for bp in (20, 100):
        fitted.breakpoints = bp
        res = fitted.allocate(total)
        spend = np.array([c.spend for c in res.channels])
        m = measure(lambda: fitted.allocate(total))
        rows.append({"step": f"aidmp allocate, LP HiGHS, {bp} breakpoints", **m,
                     "return": res.expected_return, "true_return": true_return(spend)})
    upper = np.array([c.max_spend for c in res.channels])
    x = slsqp(fitted, total, upper)
    m = measure(lambda: slsqp(fitted, total, upper))
    rows.append({"step": "scipy minimize SLSQP (smooth curves)", **m,
                 "return": fitted_return(x), "true_return": true_return(x)})
    rows.append({"step": "current allocation (mean weekly spend)", "seconds": None,
                 "peak_mb": None, "return": fitted_return(current),
                 "true_return": true_return(current)})
    out = {"units": len(fitted.units_), "weeks": WEEKS, "total_budget": total,
           "r2_median": statistics.median(r2), "r2_min": min(r2),
           "b_rel_error_median": statistics.median(b_err), "rows": rows}

    def cell(v: float | None, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    print(f"{CHANNELS} channels x {SEGMENTS} segments = {len(fitted.units_)} curves, "
          f"{WEEKS} weeks; budget {total:,.0f}; fit R² median {out['r2_median']:.3f} "
          f"(min {out['r2_min']:.3f}); median |b error| {out['b_rel_error_median']:.1%}\n")
    print("| step | time (s) | peak MB | expected return (fitted) | true return (planted) |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['step']} | {cell(r['seconds'], '.3f')} | {cell(r['peak_mb'], '.1f')} | "
              f"{cell(r['return'], ',.0f')} | {cell(r['true_return'], ',.0f')} |")
    path = ROOT / "benchmarks" / "results" / "optimiser.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
