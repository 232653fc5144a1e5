"""Clustering 1M profiles: aidmp's ProfileClusterer (automatic K) vs plain scikit-learn.

Data: 1,000,000 synthetic profiles x 10 features drawn from a mixture of 5 customer types
(bargain hunters, loyal regulars, big spenders, lapsed, new sign-ups) with realistic marginals:
log-normal income and revenue, Poisson orders and sessions, exponential recency, Beta open and
discount rates, and two categories (country, device). The planted type is the truth for ARI.

Side by side:

- ``aidmp ProfileClusterer``: imputation + scaling + one-hot, MiniBatchKMeans for every K in
  3..7 (data > 200k rows), silhouette on a 5k sample to pick K, elbow, cluster descriptions;
- ``sklearn KMeans @K``: plain ``KMeans(n_clusters=K)`` (default ``n_init="auto"``) on the same
  standardised matrix at the K aidmp chose: what a user who already knew K would run;
- ``sklearn MiniBatchKMeans @K``: the same with MiniBatchKMeans (batch 16,384, as aidmp uses);
- ``sklearn KMeans @K=5``: the planted number of types, for reference, when aidmp chose another.

Times are medians of 3 runs with one BLAS/OpenMP thread (two threads were up to 30x slower on
the shared 2-core machine); peak memory from tracemalloc in a separate run (numpy buffers are
traced). Run: ``.venv/bin/python benchmarks/clustering_bench.py [rows]``.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from threadpoolctl import threadpool_limits

from aidmp.ml.clustering.model import ProfileClusterer
from aidmp.ml.clustering.prep import as_model_frame, choose_features, make_preprocessor

RUNS = 3
K_RANGE = (3, 7)
OUT = Path(__file__).parent / "results" / "clustering.json"
# type: (share, age, income k€, orders, revenue/order, recency days, sessions, open, discount)
TYPES = {
    "bargain hunters": (0.30, 34, 32, 6.0, 25, 20, 12, 0.35, 0.70),
    "loyal regulars": (0.25, 46, 55, 12.0, 60, 10, 20, 0.55, 0.15),
    "big spenders": (0.10, 52, 140, 8.0, 300, 25, 8, 0.25, 0.05),
    "lapsed": (0.20, 41, 45, 1.0, 50, 300, 1, 0.05, 0.30),
    "new sign-ups": (0.15, 27, 28, 0.5, 40, 5, 6, 0.60, 0.40),
}


def profiles(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` synthetic profiles and their planted type."""
    rng = np.random.default_rng(seed)
    params = np.array([v[1:] for v in TYPES.values()])
    truth = rng.choice(len(TYPES), n, p=[v[0] for v in TYPES.values()])
    p = params[truth]
    frame = pd.DataFrame({
        "age": np.clip(rng.normal(p[:, 0], 6), 16, 95).round(),
        "income": rng.lognormal(np.log(p[:, 1] * 1000), 0.25),
        "orders": rng.poisson(p[:, 2]).astype("float64"),
        "revenue": rng.lognormal(np.log(p[:, 3] * (1 + p[:, 2])), 0.3),
        "recency_days": rng.exponential(p[:, 4]),
        "sessions_30d": rng.poisson(p[:, 5]).astype("float64"),
        "email_open_rate": rng.beta(1 + 20 * p[:, 6], 1 + 20 * (1 - p[:, 6])),
        "discount_share": rng.beta(1 + 20 * p[:, 7], 1 + 20 * (1 - p[:, 7])),
        "country": rng.choice(["DE", "FR", "ES", "IT", "NL"], n, p=[0.35, 0.25, 0.15, 0.15, 0.1]),
        "device": np.where(truth == 4, rng.choice(["mobile", "desktop"], n, p=[0.8, 0.2]),
                           rng.choice(["mobile", "desktop"], n, p=[0.5, 0.5])),
    })
    frame.loc[rng.random(n) < 0.05, "age"] = np.nan  # real profiles have gaps
    return frame, truth


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


def main() -> None:
    warnings.simplefilter("ignore")
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    frame, truth = profiles(rows)
    numeric, categorical = choose_features(frame, None, None)
    Z = make_preprocessor(numeric, categorical).fit_transform(
        as_model_frame(frame, numeric, categorical))
    sample = np.random.default_rng(1).choice(rows, min(rows, 5_000), replace=False)
    results: dict[str, Any] = {"rows": rows, "features": 10, "prepared_columns": Z.shape[1],
                               "k_range": list(K_RANGE), "runs": RUNS, "threads": 1,
                               "planted_types": len(TYPES), "methods": {}}
    table = []

    def row(name: str, secs: float, peak: float, labels: np.ndarray, k: int) -> None:
        sil = float(silhouette_score(Z[sample], labels[sample]))
        ari = float(adjusted_rand_score(truth, labels))
        results["methods"][name] = {"seconds": round(secs, 2), "peak_mb": round(peak, 1),
                                    "k": k, "ari": round(ari, 4), "silhouette": round(sil, 4)}
        table.append(f"| {name} | {k} | {secs:.2f} | {peak:.0f} | {ari:.3f} | {sil:.3f} |")

    with threadpool_limits(1):
        secs, peak, model = measure(lambda: ProfileClusterer(k_range=K_RANGE).fit(frame))
        k = int(model.selection_["k"])
        row(f"aidmp ProfileClusterer (auto K {K_RANGE[0]}-{K_RANGE[1]}, MiniBatch)", secs, peak,
            model.labels_, k)
        results["selection"] = model.selection_
        results["descriptions"] = [c["description"] for c in model.describe()]
        secs, peak, km = measure(lambda: KMeans(n_clusters=k, random_state=0).fit(Z))
        row(f"sklearn KMeans @K={k} (K known)", secs, peak, km.labels_, k)
        secs, peak, mb = measure(lambda: MiniBatchKMeans(
            n_clusters=k, random_state=0, batch_size=16_384).fit(Z))
        row(f"sklearn MiniBatchKMeans @K={k} (K known)", secs, peak, mb.labels_, k)
        if k != len(TYPES):  # reference: the planted number of types, unknown in real life
            secs, peak, km = measure(lambda: KMeans(n_clusters=len(TYPES), random_state=0).fit(Z))
            row(f"sklearn KMeans @K={len(TYPES)} (planted K)", secs, peak, km.labels_, len(TYPES))

    print(f"{rows:,} profiles x 10 features ({Z.shape[1]} prepared columns), median of {RUNS}, "
          "1 thread\n")
    print("| method | K | seconds | peak MB | ARI vs planted | silhouette (5k sample) |")
    print("|---|---|---|---|---|---|")
    print("\n".join(table))
    print("\nselection:", json.dumps(results["selection"]["table"]))
    print("elbow K:", results["selection"]["elbow_k"])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
