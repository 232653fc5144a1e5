"""Propensity models on CDNOW: quality and cost of aidmp's PropensityModel vs plain libraries.

Task (BTYD setup, ``shared/datasets/cdnow``): behaviour of the 23,570 customers up to
1997-09-30, outcome = any purchase in the next 39 weeks; 75 % of customers train, 25 % test.

Side by side, on the same features and split:

- ``aidmp <method>``: ``PropensityModel`` (CV selection for ``auto``, calibration, validation
  metrics, permutation importances, explainer), then ``predict_proba`` and ``explain`` of 100 rows;
- ``sklearn <method>``: the same preprocessing + classifier as a bare scikit-learn pipeline,
  no calibration, selection, importances or explanations (what a user would otherwise write);
- ``lifetimes BG/NBD``: the field's classic model, ranking customers by expected holdout
  purchases (Fader, Hardie & Lee 2005), fitted on the training customers' summaries.

Also the leakage-free frame building (ibis, run by DuckDB) vs the same with pandas groupby.
Times are medians of 3 runs with one BLAS/OpenMP thread; peak memory from tracemalloc in a
separate run. Run: ``.venv/bin/python benchmarks/propensity_bench.py``.
"""

from __future__ import annotations

import json
import statistics
import time
import tracemalloc
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from aidmp.demo.datasets import cdnow_frame, default_datasets_dir
from aidmp.ml.metrics import evaluate
from aidmp.ml.propensity.data import future_event_label, history_features
from aidmp.ml.propensity.estimators import FeatureSpec, make_estimator, prepare
from aidmp.ml.propensity.model import PropensityModel

CUTOFF, WINDOW = "1997-09-30", 273
RUNS = 3
OUT = Path(__file__).parent / "results" / "propensity.json"


def measure(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Median seconds of RUNS calls, peak MB of one traced call, and the last result."""
    times = []
    result = None
    for _ in range(RUNS):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return statistics.median(times), peak, result


def events() -> pd.DataFrame:
    ev = cdnow_frame(default_datasets_dir() / "cdnow").to_pandas()
    ev["at"] = pd.to_datetime(ev["date"], format="%Y%m%d")
    ev["event"] = "Order Completed"
    return ev


def build_ibis(ev: pd.DataFrame) -> pd.DataFrame:
    feats = history_features(ev, "customer_id", "at", CUTOFF, ["quantity", "revenue"])
    labels = future_event_label(ev, "customer_id", "at", "event", "Order Completed", CUTOFF,
                                WINDOW)
    return feats.merge(labels, on="customer_id")


def build_pandas(ev: pd.DataFrame) -> pd.DataFrame:
    cut = pd.Timestamp(CUTOFF)
    past = ev[ev["at"] <= cut]
    g = past.groupby("customer_id")
    out = pd.DataFrame({
        "n_events": g.size(), "n_days": g["at"].nunique(),
        "recency_days": (cut - g["at"].max()).dt.days, "tenure_days": (cut - g["at"].min()).dt.days,
        "quantity_sum": g["quantity"].sum(), "quantity_mean": g["quantity"].mean(),
        "revenue_sum": g["revenue"].sum(), "revenue_mean": g["revenue"].mean(),
    })
    later = ev[(ev["at"] > cut) & (ev["at"] <= cut + pd.Timedelta(days=WINDOW))]
    out["label"] = out.index.isin(later["customer_id"]).astype("int8")
    return out.reset_index()


def bgnbd_scores(ev: pd.DataFrame, train_ids: pd.Index, test_ids: pd.Index) -> np.ndarray:
    from lifetimes import BetaGeoFitter
    from lifetimes.utils import summary_data_from_transaction_data

    past = ev[ev["at"] <= pd.Timestamp(CUTOFF)]
    summary = summary_data_from_transaction_data(
        past, "customer_id", "at", observation_period_end=CUTOFF, freq="W")
    bg = BetaGeoFitter(penalizer_coef=0.0)
    tr = summary.loc[train_ids]
    bg.fit(tr["frequency"], tr["recency"], tr["T"])
    te = summary.loc[test_ids]
    return np.asarray(bg.conditional_expected_number_of_purchases_up_to_time(
        39, te["frequency"], te["recency"], te["T"]))


def positive(model: Any, X: pd.DataFrame) -> np.ndarray:
    """Probability of outcome 1."""
    return np.asarray(model.predict_proba(X)[:, 1])


def main() -> None:
    warnings.simplefilter("ignore")
    ev = events()
    results: dict[str, Any] = {"rows_events": len(ev), "runs": RUNS, "threads": 1}
    table: list[dict[str, Any]] = []
    with threadpool_limits(1):
        secs, peak, data = measure(lambda: build_ibis(ev))
        results["frame_ibis_duckdb"] = {"seconds": round(secs, 3), "peak_mb": round(peak, 1)}
        secs, peak, ref = measure(lambda: build_pandas(ev))
        results["frame_pandas"] = {"seconds": round(secs, 3), "peak_mb": round(peak, 1)}
        ref = ref.set_index("customer_id").loc[data["customer_id"]]
        results["frames_equal"] = bool((ref["label"].to_numpy() == data["label"]).all()
                                       and (ref["n_days"].to_numpy() == data["n_days"]).all())
        X = data.drop(columns=["customer_id", "label"])
        tr_idx, te_idx = train_test_split(np.arange(len(X)), test_size=0.25,
                                          stratify=data["label"], random_state=0)
        X_tr, X_te = X.iloc[tr_idx], X.iloc[te_idx]
        y_tr, y_te = data["label"].iloc[tr_idx], data["label"].iloc[te_idx]

        for method in ("logistic", "svm", "tree", "gbm", "auto"):
            model = PropensityModel(method=method, cv=5, n_threads=1)  # type: ignore[arg-type]
            fit_s, fit_mb, fitted = measure(partial(model.fit, X_tr, y_tr))
            pred_s, _, p = measure(partial(positive, fitted, X_te))
            exp_s, _, _ = measure(partial(fitted.explain, X_te.head(100)))
            ev_ = evaluate(y_te, p)
            cv = fitted.selection_.loc[0, "cv_auc"]
            table.append(row(f"aidmp {method}", ev_, fit_s, fit_mb, pred_s, exp_s,
                             cv, fitted.method_))
        spec = FeatureSpec.from_frame(X_tr)
        P_tr, P_te = prepare(X_tr, spec), prepare(X_te, spec)
        for method in ("logistic", "svm", "tree", "gbm"):
            pipe = make_estimator(method, spec, len(X_tr), 0)  # type: ignore[arg-type]
            fit_s, fit_mb, fitted = measure(partial(pipe.fit, P_tr, y_tr))
            if hasattr(fitted, "predict_proba"):
                pred_s, _, p = measure(partial(positive, fitted, P_te))
            else:  # a bare SVM has no probabilities: rank by the decision function, squash
                pred_s, _, raw = measure(partial(fitted.decision_function, P_te))
                p = 1 / (1 + np.exp(-raw))
            table.append(row(f"sklearn {method} (bare)", evaluate(y_te, p), fit_s, fit_mb,
                             pred_s, None, None, method))
        ids = data["customer_id"]
        fit_s, fit_mb, expected = measure(
            lambda: bgnbd_scores(ev, pd.Index(ids.iloc[tr_idx]), pd.Index(ids.iloc[te_idx])))
        # BG/NBD gives expected counts, not probabilities: AUC / lift only.
        e = evaluate(y_te, expected / expected.max())
        table.append({"model": "lifetimes BG/NBD (expected purchases)", "auc": round(e.auc, 4),
                      "log_loss": None, "brier": None, "mean_p": None,
                      "base_rate": round(e.base_rate, 4), "lift_top10": round(e.lift[0].lift, 2),
                      "gains_top10_pct": round(e.lift[0].cumulative_gains_pct, 1),
                      "cv_auc": None, "fit_s": round(fit_s, 3), "fit_peak_mb": round(fit_mb, 1),
                      "predict_s": None, "explain100_s": None, "picked": "bgnbd"})
    results["models"] = table
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print_markdown(results)


def row(name: str, ev: Any, fit_s: float, fit_mb: float, pred_s: float, exp_s: float | None,
        cv: float | None, picked: str) -> dict[str, Any]:
    return {"model": name, "auc": round(ev.auc, 4), "log_loss": round(ev.log_loss, 4),
            "brier": round(ev.brier, 4), "mean_p": round(ev.mean_predicted, 4),
            "base_rate": round(ev.base_rate, 4), "lift_top10": round(ev.lift[0].lift, 2),
            "gains_top10_pct": round(ev.lift[0].cumulative_gains_pct, 1),
            "cv_auc": None if cv is None else round(float(cv), 4), "fit_s": round(fit_s, 3),
            "fit_peak_mb": round(fit_mb, 1), "predict_s": round(pred_s, 4),
            "explain100_s": None if exp_s is None else round(exp_s, 3), "picked": picked}


def print_markdown(results: dict[str, Any]) -> None:
    cols = ["model", "picked", "cv_auc", "auc", "log_loss", "brier", "mean_p", "base_rate",
            "lift_top10", "gains_top10_pct", "fit_s", "fit_peak_mb", "predict_s",
            "explain100_s"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in results["models"]:
        print("| " + " | ".join("" if r[c] is None else str(r[c]) for c in cols) + " |")
    print()
    print("| frame building (features + label, 69,659 lines -> 23,570 customers) | seconds "
          "| peak MB |")
    print("|---|---|---|")
    for key in ("frame_ibis_duckdb", "frame_pandas"):
        print(f"| {key} | {results[key]['seconds']} | {results[key]['peak_mb']} |")
    print(f"\nframes equal: {results['frames_equal']}")


if __name__ == "__main__":
    main()
