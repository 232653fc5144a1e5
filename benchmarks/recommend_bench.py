"""Recommenders on MovieLens-100K: quality under five protocols, and speed.

Quality: every method beside the popularity baseline under the same protocol (full ranking of
all unseen items, metrics at 10), next to the published figures in the dataset's SOURCE.md.
Speed: fit time and recommend-for-all-users time (median of 3), single-user ``recommend``
latency with reasons (p50/p99 over 1000 calls), and peak traced memory of fit + recommend-all,
side by side with ``implicit``'s own models (what a user would otherwise call).

Run: ``.venv/bin/python benchmarks/recommend_bench.py`` (add ``--tune`` to re-run the
hyper-parameter grids on a validation split cut from the training data; ~3 minutes).
"""

from __future__ import annotations

import functools
import json
import os
import statistics
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from implicit.nearest_neighbours import BM25Recommender
from threadpoolctl import threadpool_limits

from aidmp.demo.datasets import default_datasets_dir, movielens_frames
from aidmp.ml.recommend import (
    ALS,
    ContentBased,
    Hybrid,
    Interactions,
    ItemKNN,
    Popularity,
    Recommender,
    UserKNN,
    evaluate,
    grid_search,
    leave_last_out,
    random_split,
    ranking_metrics,
    temporal_split,
)

K = 10
# implicit's BM25Recommender hands its own COO matrix to its fit and warns about it.
warnings.filterwarnings("ignore", message="Method expects CSR input")
RESULTS = Path(__file__).parent / "results" / "recommend.json"
PUBLISHED = {
    "Dacrema et al. 2019 (MCRec split, sampled negatives)": {
        "TopPop": 0.1361, "UserKNN CF": 0.2055, "ItemKNN CF": 0.2603,
        "ItemKNN CBF (genres)": 0.0109, "ItemKNN CF+CBF": 0.2466},
    "Cornac README (RatioSplit 0.2, rating >= 4, seed 123)": {"BPR k=10": 0.1500,
                                                             "PMF k=10": 0.0969},
}


def load() -> tuple[Interactions, dict[str, list[str]]]:
    frames = movielens_frames(default_datasets_dir() / "movielens-100k")
    data = Interactions.from_frame(frames["ratings"], "user_id", "item_id", "rating",
                                   "timestamp", action="rated")
    items = frames["items"]
    data = data.with_labels(dict(zip(items["item_id"], items["title"], strict=True)))
    genres = dict(zip(items["item_id"].to_list(), items["genres"].to_list(), strict=True))
    return data, genres


def methods(genres: dict[str, list[str]]) -> dict[str, Recommender]:
    return {
        "Popularity": Popularity(),
        "ItemKNN": ItemKNN(),
        "UserKNN": UserKNN(),
        "ALS": ALS(),
        "Content (genres)": ContentBased(genres),
        "Hybrid ItemKNN+Content w=0.9": Hybrid(ItemKNN(), ContentBased(genres), weight=0.9),
    }


Protocol = tuple[Interactions, Interactions, Interactions | None]


def protocols(data: Interactions) -> dict[str, Protocol]:
    """(train, test, candidates excluded) per protocol; every training rating is a positive."""
    out: dict[str, Protocol] = {}
    train, test = random_split(data, 0.2, seed=123)
    out["A per-user random 80/20 (seed 123), relevant = test rating >= 4"] = (
        train.binarize(), test.at_least(4), None)
    test_mask = np.random.default_rng(123).random(data.nnz) < 0.2
    out["B global random 80/20 (Cornac RatioSplit-like), relevant = rating >= 4"] = (
        data.subset(~test_mask).binarize(), data.subset(test_mask).at_least(4), None)
    out["B2 as B, Cornac's candidates: only train items rated >= 4 leave the ranking"] = (
        data.subset(~test_mask).binarize(), data.subset(test_mask).at_least(4),
        data.subset(~test_mask).at_least(4))
    train, test = leave_last_out(data)
    out["C leave-last-out by time, the held-out item is relevant"] = (
        train.binarize(), test.binarize(), None)
    train, test = temporal_split(data, 0.2)
    out["D temporal global 80/20, relevant = rating >= 4"] = (
        train.binarize(), test.at_least(4), None)
    return out


def implicit_metrics(model: Any, train: Interactions, test: Interactions) -> dict[str, float]:
    """Score an implicit model's own top-k under the same full-ranking protocol."""
    x = train.matrix
    users = np.flatnonzero((np.diff(test.matrix.indptr) > 0) & (np.diff(x.indptr) > 0))
    ids, _ = model.recommend(users, x[users], N=K, filter_already_liked_items=True)
    return ranking_metrics(np.asarray(ids), test.matrix[users], K)


def implicit_models() -> dict[str, Callable[[], Any]]:
    return {
        "implicit BM25Recommender K=200": lambda: BM25Recommender(K=200, K1=1.2, B=0.75),
        "implicit ALS (same params)": lambda: AlternatingLeastSquares(
            factors=16, regularization=10.0, alpha=2.0, iterations=15, random_state=42),
    }


def quality(data: Interactions, genres: dict[str, list[str]]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for name, (train, test, exclude) in protocols(data).items():
        rows = {label: evaluate(model, train, test, K, exclude=exclude)
                for label, model in methods(genres).items()}
        if name.startswith("A"):
            for label, make in implicit_models().items():
                model = make()
                with threadpool_limits(1, "blas"):
                    model.fit(train.matrix, show_progress=False)
                rows[label] = implicit_metrics(model, train, test)
        table[name] = rows
    return table


def median_time(fn: Callable[[], Any], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def latency(fn: Callable[[int], Any], users: np.ndarray[Any, Any]) -> dict[str, float]:
    times = []
    for user in users.tolist():
        start = time.perf_counter()
        fn(user)
        times.append(time.perf_counter() - start)
    p50, p99 = np.percentile(np.asarray(times) * 1000, [50, 99])
    return {"p50_ms": round(float(p50), 3), "p99_ms": round(float(p99), 3)}


def peak_mb(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return round(peak / 2**20, 1)


def measure(fit: Callable[[], Any], recommend_all: Callable[[], Any],
            recommend_one: Callable[[int], Any], users: np.ndarray[Any, Any]) -> dict[str, float]:
    """Timings of one model; peak memory is what tracemalloc sees (numpy and Python
    allocations, not memory a C++ extension takes directly)."""
    fit_s = median_time(fit)
    all_s = median_time(recommend_all)
    lat = latency(recommend_one, users)
    mem = peak_mb(lambda: (fit(), recommend_all()))
    return {"fit_s": fit_s, "recommend_all_s": all_s, **lat, "peak_mb": mem}


def speed(data: Interactions, genres: dict[str, list[str]]) -> dict[str, Any]:
    train = data.binarize()
    sample = np.random.default_rng(0).integers(0, train.shape[0], 1000)
    ids = train.user_ids
    out: dict[str, Any] = {}
    for label, model in methods(genres).items():
        out[label] = measure(
            functools.partial(model.fit, train), functools.partial(model.recommend_all, K),
            lambda u, m=model: m.recommend([ids[u]], K),  # type: ignore[misc]
            sample)
    x = train.matrix
    every = np.arange(x.shape[0])
    for label, make in implicit_models().items():
        lib = make()

        def fit(m: Any = lib) -> None:
            with threadpool_limits(1, "blas"):
                m.fit(x, show_progress=False)

        out[label + " (no reasons)"] = measure(
            fit, functools.partial(lib.recommend, every, x, N=K),
            lambda u, m=lib: m.recommend(u, x[u], N=K),  # type: ignore[misc]
            sample)
    return out


def tune(data: Interactions, genres: dict[str, list[str]]) -> dict[str, Any]:
    """Grids on a validation split cut from protocol A's training data (test untouched)."""
    train, _ = random_split(data, 0.2, seed=123)
    inner, validation = random_split(train, 0.2, seed=7)
    inner, validation = inner.binarize(), validation.at_least(4)
    grids: dict[str, tuple[Recommender, dict[str, list[Any]]]] = {
        "ItemKNN": (ItemKNN(), {"k": [50, 100, 200, 400], "shrink": [0, 10, 50],
                                "weighting": ["none", "bm25"]}),
        "UserKNN": (UserKNN(), {"k": [25, 50, 100, 200], "shrink": [0, 10, 50],
                                "weighting": ["none", "bm25"]}),
        "ALS": (ALS(), {"factors": [8, 16, 32, 64, 128], "regularization": [0.01, 1.0, 10.0, 30.0],
                        "alpha": [1.0, 2.0, 5.0, 20.0]}),
        "ALS weighting": (ALS(), {"weighting": ["none", "bm25"], "iterations": [10, 15, 30]}),
        "Hybrid ItemKNN+Content": (Hybrid(ItemKNN(), ContentBased(genres)),
                                   {"weight": [0.5, 0.7, 0.8, 0.9, 0.95]}),
        "Content": (ContentBased(genres), {"idf": [True, False]}),
    }
    out = {}
    for name, (estimator, grid) in grids.items():
        result = grid_search(estimator, grid, inner, validation, K)
        top = result.results.sort("ndcg", descending=True).head(5)
        out[name] = {"best": result.best_params, "validation_ndcg": round(result.best_score, 4),
                     "top5": top.select([*grid, "ndcg", "coverage"]).to_dicts()}
        print(f"tuned {name}: {result.best_params} -> validation NDCG@10 "
              f"{result.best_score:.4f}", flush=True)
    return out


def markdown(quality_table: dict[str, Any], speed_table: dict[str, Any]) -> str:
    lines = []
    for protocol, rows in quality_table.items():
        pop = rows["Popularity"]["ndcg"]
        lines += [f"\n**{protocol}**\n", "| method | P@10 | R@10 | NDCG@10 | HR@10 | MAP@10 | "
                  "coverage | NDCG / pop |", "|---|---|---|---|---|---|---|---|"]
        for label, m in rows.items():
            lines.append(f"| {label} | {m['precision']:.4f} | {m['recall']:.4f} | "
                         f"{m['ndcg']:.4f} | {m['hit_rate']:.4f} | {m['map']:.4f} | "
                         f"{m['coverage']:.3f} | {m['ndcg'] / pop:.2f}x |")
    lines += ["\n**Speed (943 users x 1,682 items, 100k ratings; median of 3)**\n",
              "| method | fit s | recommend all s | 1 user p50 ms | 1 user p99 ms | peak MB |",
              "|---|---|---|---|---|---|"]
    for label, s in speed_table.items():
        lines.append(f"| {label} | {s['fit_s']:.3f} | {s['recommend_all_s']:.3f} | "
                     f"{s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {s['peak_mb']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    data, genres = load()
    results: dict[str, Any] = {"dataset": "movielens-100k", "k": K, "published": PUBLISHED}
    if "--tune" in sys.argv:
        results["tuning"] = tune(data, genres)
    results["quality"] = quality(data, genres)
    best = max((m["ndcg"], label) for label, m in
               next(iter(results["quality"].values())).items())
    pop = next(iter(results["quality"].values()))["Popularity"]["ndcg"]
    assert best[0] >= 1.5 * pop, f"best {best} is not 1.5x popularity {pop:.4f}"
    results["speed"] = speed(data, genres)
    print(markdown(results["quality"], results["speed"]))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
