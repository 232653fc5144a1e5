"""CLV models on CDNOW: aidmp's summary, BG/NBD and Gamma-Gamma fits vs lifetimes.

The lifetimes side is what a user would otherwise write: ``calibration_and_holdout_data``
(pandas, ``freq="D", freq_multiplier=7`` for the papers' weeks), ``BetaGeoFitter`` and
``GammaGammaFitter`` (on the repeat buyers). Both sides start from the same purchase lines
(``cdnow_frame``: polars for aidmp, the pandas copy with parsed dates for lifetimes) and the
same 39-week calibration (to 1997-09-30, holdout to 1998-06-30). Data sets: the 2,357-customer
sample and the 23,570-customer master file.

Time is the median of 3 runs (alternating between the two); peak memory is the ``tracemalloc``
peak of a 4th run (Python and numpy/pandas buffers; DuckDB's own native memory used by the
aidmp summary is not seen by it). lifetimes reports its log-likelihood on a rescaled time
axis, so the log-likelihood column is ours evaluated at each side's parameters.

Run: ``.venv/bin/python benchmarks/clv_bench.py``
"""

from __future__ import annotations

import json
import statistics
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from aidmp.demo.datasets import cdnow_frame, default_datasets_dir
from aidmp.ml.clv import BGNBD, GammaGamma, transaction_summary
from aidmp.ml.clv.bgnbd import log_likelihood

warnings.simplefilter("ignore")  # lifetimes' pandas deprecation noise
from lifetimes import BetaGeoFitter, GammaGammaFitter  # noqa: E402
from lifetimes.utils import calibration_and_holdout_data  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CAL_END, OBS_END = "1997-09-30", "1998-06-30"


def measure(pairs: dict[str, Callable[[], Any]]) -> dict[str, dict[str, float]]:
    """Median-of-3 seconds (runs alternate between the callables) and tracemalloc peak MB."""
    times: dict[str, list[float]] = {name: [] for name in pairs}
    for _ in range(3):
        for name, fn in pairs.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    out = {}
    for name, fn in pairs.items():
        tracemalloc.start()
        fn()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        out[name] = {"seconds": statistics.median(times[name]), "peak_mb": peak / 1e6}
    return out


def run(name: str, lines: pl.DataFrame) -> dict[str, Any]:
    frame = lines.to_pandas()
    frame["date"] = pd.to_datetime(frame["date"], format="%Y%m%d")

    def ours_summary() -> pd.DataFrame:
        return transaction_summary(
            lines, customer_col="customer_id", date_col="date", value_col="revenue",
            date_format="%Y%m%d", calibration_end=CAL_END, observation_end=OBS_END).to_pandas()

    def lifetimes_summary() -> pd.DataFrame:
        return calibration_and_holdout_data(
            frame, "customer_id", "date", calibration_period_end=CAL_END,
            observation_period_end=OBS_END, freq="D", freq_multiplier=7,
            monetary_value_col="revenue")

    summary = ours_summary()
    x, t_x, age, m = (summary[c].to_numpy() for c in ("frequency", "recency", "T",
                                                       "monetary_value"))
    # The master file has a few repeat buyers whose repeat purchases are all $0: the
    # Gamma-Gamma model (both implementations) needs a positive mean spend.
    repeat = (x > 0) & (m > 0)
    timings = {
        "summary": measure({"aidmp": ours_summary, "lifetimes": lifetimes_summary}),
        "bgnbd_fit": measure({"aidmp": lambda: BGNBD().fit(x, t_x, age),
                              "lifetimes": lambda: BetaGeoFitter().fit(x, t_x, age)}),
        "gamma_gamma_fit": measure({
            "aidmp": lambda: GammaGamma().fit(x[repeat], m[repeat]),
            "lifetimes": lambda: GammaGammaFitter().fit(x[repeat], m[repeat])}),
    }
    bg, their_bg = BGNBD().fit(x, t_x, age), BetaGeoFitter().fit(x, t_x, age)
    gg = GammaGamma().fit(x[repeat], m[repeat])
    their_gg = GammaGammaFitter().fit(x[repeat], m[repeat])
    their_bg_params = {k: float(their_bg.params_[k]) for k in ("r", "alpha", "a", "b")}
    expected = bg.expected_purchases(summary["duration_holdout"].to_numpy(), x, t_x, age)
    their_expected = their_bg.conditional_expected_number_of_purchases_up_to_time(
        summary["duration_holdout"].to_numpy(), x, t_x, age)
    return {
        "dataset": name,
        "customers": len(summary),
        "lines": lines.height,
        "gamma_gamma_customers": int(repeat.sum()),
        "zero_spend_repeaters": int(np.sum((x > 0) & (m <= 0))),
        "timings": timings,
        "bgnbd": {
            "aidmp": {**bg.params_, "log_likelihood": bg.log_likelihood_},
            "lifetimes": {**their_bg_params, "log_likelihood": float(log_likelihood(
                list(their_bg_params.values()), x, t_x, age).sum())},
        },
        "gamma_gamma": {
            "aidmp": gg.params_,
            "lifetimes": {"p": float(their_gg.params_["p"]), "q": float(their_gg.params_["q"]),
                          "gamma": float(their_gg.params_["v"])},
        },
        "holdout": {
            "actual": int(summary["frequency_holdout"].sum()),
            "expected_aidmp": float(expected.sum()),
            "expected_lifetimes": float(np.sum(their_expected)),
        },
    }


def table(results: list[dict[str, Any]]) -> str:
    rows = ["| data | step | aidmp s | lifetimes s | speed-up | aidmp MB | lifetimes MB |",
            "|---|---|---:|---:|---:|---:|---:|"]
    for res in results:
        for step, t in res["timings"].items():
            ours, theirs = t["aidmp"], t["lifetimes"]
            rows.append(
                f"| {res['dataset']} ({res['customers']:,}) | {step} | {ours['seconds']:.4f} | "
                f"{theirs['seconds']:.4f} | {theirs['seconds'] / ours['seconds']:.1f}x | "
                f"{ours['peak_mb']:.1f} | {theirs['peak_mb']:.1f} |")
    rows += ["", "| data | model | side | parameters | LL |", "|---|---|---|---|---:|"]
    for res in results:
        for model in ("bgnbd", "gamma_gamma"):
            for side, params in res[model].items():
                shown = ", ".join(f"{k} {v:.4f}" for k, v in params.items()
                                  if k != "log_likelihood")
                ll = params.get("log_likelihood")
                rows.append(f"| {res['dataset']} | {model} | {side} | {shown} | "
                            f"{'' if ll is None else f'{ll:.3f}'} |")
    rows += ["", "| data | holdout actual | expected (aidmp) | expected (lifetimes) |",
             "|---|---:|---:|---:|"]
    for res in results:
        h = res["holdout"]
        rows.append(f"| {res['dataset']} | {h['actual']:,} | {h['expected_aidmp']:.1f} | "
                    f"{h['expected_lifetimes']:.1f} |")
    return "\n".join(rows)


def main() -> None:
    folder = default_datasets_dir() / "cdnow"
    results = [run("sample", cdnow_frame(folder, sample=True)),
               run("master", cdnow_frame(folder))]
    print(table(results))
    out = ROOT / "benchmarks" / "results" / "clv.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
