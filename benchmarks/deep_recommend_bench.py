"""Next-item prediction: SASRec against popularity, ItemKNN and ALS (issue 22).

Protocol (the same for every model): each person's latest interaction is the test item
(leave-last-out by time); the one before it is the validation item, used only for tuning. Every
model ranks the full catalogue minus the person's training items (no sampled negatives), and
NDCG@10 and HR@10 are averaged over people with a training and a test item. Each model gets
a small grid of at most eight configurations, scored on the validation split; the best is refit
on all training data and scored on the test items for three seeds (ALS and SASRec take the seed;
popularity and ItemKNN have no randomness, so their spread is zero).

Data: MovieLens-100K ratings (every rating is an interaction, in time order) and the demo
shop's ``Product Viewed`` stream (``DemoGenerator``, people joined by the generator's truth
table, repeats of a product by a person merged at their latest time).

Also measured: training time per model (mean of the seeds) as wall-clock seconds and as the
process's CPU seconds - every model trains on one thread here, so CPU seconds are what an idle
core takes even when other work shares the machine - and SASRec's single-person ``recommend``
latency with reasons (p50/p99 over 500 calls).

SASRec runs with its defaults unless ``--sasrec-grid`` is given (two configurations, epochs 20
or 30, where the classical models get eight: one SASRec fit costs more CPU than the whole
classical grid). Its fits run in worker processes (``--workers``), the test runs of every
configuration too; the one reported is the one the validation item chose (the others' test
runs are kept in the json as ``not_chosen_runs``).

Run: ``.venv/bin/python benchmarks/deep_recommend_bench.py`` (``--datasets movielens``,
``--quick`` for one seed and no SASRec grid). Each data set's results go to
``benchmarks/results/deep_recommend_<data set>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import polars as pl
from sklearn.base import clone

from aidmp.demo.datasets import default_datasets_dir, movielens_frames
from aidmp.demo.generator import DemoConfig, DemoGenerator
from aidmp.ml.recommend import (
    ALS,
    Interactions,
    ItemKNN,
    Popularity,
    Recommender,
    evaluate,
    leave_last_out,
)
from aidmp.ml.recommend.sasrec import SASRec

K = 10
SEEDS = (1, 2, 3)
RESULTS = Path(__file__).parent / "results"
DEMO_PEOPLE = 5000

# At most eight configurations each, scored on the validation item.
GRIDS: dict[str, tuple[Recommender, list[dict[str, Any]]]] = {
    "Popularity": (Popularity(), [{}]),
    "ItemKNN": (ItemKNN(), [{"k": k, "shrink": s, "weighting": w}
                            for k in (50, 200) for s in (0.0, 10.0) for w in ("none", "bm25")]),
    "ALS": (ALS(num_threads=1), [{"factors": f, "regularization": r, "alpha": a}
                                  for f in (16, 64) for r in (1.0, 10.0) for a in (2.0, 10.0)]),
    "SASRec": (SASRec(num_threads=1), [{"epochs": e} for e in (20, 30)]),
}


def movielens() -> Interactions:
    """MovieLens-100K ratings as time-ordered implicit interactions, titles as labels."""
    frames = movielens_frames(default_datasets_dir() / "movielens-100k")
    data = Interactions.from_frame(frames["ratings"], "user_id", "item_id",
                                   time_col="timestamp", action="rated")
    items = frames["items"]
    return data.with_labels(dict(zip(items["item_id"], items["title"], strict=True)))


def demo_shop(people: int = DEMO_PEOPLE) -> Interactions:
    """The demo shop's product views per person (anonymous and user ids joined by truth)."""
    generator = DemoGenerator(DemoConfig(people=people, seed=42))
    truth = generator.truth()
    owner = dict(zip(truth["id_value"].to_list(), truth["person_id"].to_list(), strict=True))
    rows: list[tuple[str, str, str]] = []
    for batch in generator.event_batches(20_000):
        for message in batch:
            if message.get("event") != "Product Viewed":
                continue
            person = owner.get(message.get("userId") or "") or owner.get(message["anonymousId"])
            if person is not None:
                rows.append((person, message["properties"]["product_id"], message["timestamp"]))
    frame = pl.DataFrame(rows, schema=["person", "product", "ts"], orient="row").with_columns(
        pl.col("ts").str.to_datetime(time_zone="UTC"))
    data = Interactions.from_frame(frame, "person", "product", time_col="ts", action="viewed")
    catalog = generator.catalog()
    return data.with_labels(dict(zip(catalog["product_id"], catalog["name"], strict=True)))


def with_seed(model: Recommender, seed: int) -> Recommender:
    params = model.get_params()
    return clone(model).set_params(random_state=seed) if "random_state" in params else clone(model)


def tune(name: str, train: Interactions, log: Callable[[str], None]) -> dict[str, Any]:
    """Every configuration of the model's grid scored on the validation item."""
    base, grid = GRIDS[name]
    fit, validation = leave_last_out(train)
    tried = []
    for params in grid:
        started, cpu = time.perf_counter(), time.process_time()
        scores = evaluate(clone(base).set_params(**params), fit, validation, K)
        tried.append({"params": params, "ndcg": scores["ndcg"], "hit_rate": scores["hit_rate"],
                      "seconds": time.perf_counter() - started,
                      "cpu_seconds": time.process_time() - cpu})
        log(f"  {name} {params}: validation NDCG@10 {scores['ndcg']:.4f}")
    best = max(tried, key=lambda row: row["ndcg"])
    return {"best_params": best["params"], "grid": tried}


def latency(model: Recommender, data: Interactions, calls: int = 500) -> dict[str, float]:
    """Single-person ``recommend`` (top 10 with reasons): wall-clock and this thread's CPU ms.

    CPU time leaves out the time the thread waited for a core, which dominates wall-clock
    percentiles when other sessions load the shared machine.
    """
    users = np.random.default_rng(0).choice(data.user_ids, size=calls)
    walls, cpus = [], []
    for user in users.tolist():
        started, cpu = time.perf_counter(), time.thread_time()
        model.recommend([user], n=10)
        walls.append((time.perf_counter() - started) * 1000)
        cpus.append((time.thread_time() - cpu) * 1000)
    return {"p50_ms": float(np.percentile(walls, 50)), "p99_ms": float(np.percentile(walls, 99)),
            "cpu_p50_ms": float(np.percentile(cpus, 50)),
            "cpu_p99_ms": float(np.percentile(cpus, 99)), "calls": calls}


def latency_only(data: Interactions, params: dict[str, Any]) -> dict[str, Any]:
    """Serving latency of a SASRec of the full size trained for one epoch (what serving costs
    does not depend on how long the network trained)."""
    train, _ = leave_last_out(data)
    model = SASRec(**{**params, "epochs": 1}).fit(train)
    return {"users": int(train.shape[0]), "items": int(train.shape[1]),
            "max_len": model.max_len, **latency(model, train, calls=2000)}


def _sasrec_job(job: tuple[dict[str, Any], int, Interactions, Interactions]
                ) -> tuple[dict[str, Any], SASRec]:
    """One SASRec fit and its score (run in a worker process)."""
    params, seed, train, test = job
    model = clone(GRIDS["SASRec"][0]).set_params(**params, random_state=seed)
    started, cpu = time.perf_counter(), time.process_time()
    model.fit(train)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    scores = evaluate(model, train, test, K, fit=False)
    return {"params": params, "seed": seed, "ndcg": scores["ndcg"],
            "hit_rate": scores["hit_rate"], "fit_seconds": seconds,
            "fit_cpu_seconds": cpu}, model


def run_sasrec(train: Interactions, test: Interactions, seeds: tuple[int, ...], tune: bool,
               workers: int, log: Callable[[str], None], fixed: dict[str, Any]
               ) -> dict[str, Any]:
    """SASRec's grid on the validation item and every configuration's test runs, in parallel
    processes; the configuration reported is the one the validation item chose."""
    fit, validation = leave_last_out(train)
    grid = [{**fixed, **p} for p in GRIDS["SASRec"][1]] if tune else [dict(fixed)]
    jobs = [(p, seeds[0], fit, validation) for p in grid] if tune else []
    jobs += [(p, seed, train, test) for p in grid for seed in seeds]
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        done = list(pool.map(_sasrec_job, jobs))
    n_val = len(grid) if tune else 0
    tried = [{**row, "seconds": row["fit_seconds"]} for row, _ in done[:n_val]]
    for row in tried:
        log(f"  SASRec {row['params']}: validation NDCG@10 {row['ndcg']:.4f}")
    best = max(tried, key=lambda row: row["ndcg"])["params"] if tried else grid[0]
    runs = [row for row, _ in done[n_val:] if row["params"] == best]
    others = [row for row, _ in done[n_val:] if row["params"] != best]
    for row in runs:
        log(f"SASRec seed {row['seed']}: NDCG@10 {row['ndcg']:.4f} HR@10 {row['hit_rate']:.4f} "
            f"fit {row['fit_seconds']:.1f} s ({row['fit_cpu_seconds']:.1f} s CPU)")
    model = next(m for row, m in done[n_val:] if row["params"] == best)
    return {"params": best, "tuning": tried, "runs": runs, "not_chosen_runs": others,
            **summary(runs), "latency": latency(model, train),
            "example": model.recommend([train.user_ids[0]], n=3).to_dicts()}


def run_dataset(data: Interactions, seeds: tuple[int, ...], tune_sasrec: bool, workers: int,
                log: Callable[[str], None], sasrec_params: dict[str, Any] | None = None,
                sasrec_seeds: int = len(SEEDS), seed_list: list[int] | None = None
                ) -> dict[str, Any]:
    train, test = leave_last_out(data)
    out: dict[str, Any] = {"users": int(data.shape[0]), "items": int(data.shape[1]),
                           "interactions": int(data.nnz), "models": {}}
    for name, (base, _grid) in GRIDS.items():
        if name == "SASRec":
            chosen = tuple(seed_list) if seed_list else seeds[:sasrec_seeds]
            out["models"][name] = run_sasrec(train, test, chosen, tune_sasrec,
                                             workers, log, sasrec_params or {})
            continue
        tuning = tune(name, train, log)
        model = clone(base).set_params(**tuning["best_params"])
        runs = []
        for seed in seeds:
            one = with_seed(model, seed)
            started, cpu = time.perf_counter(), time.process_time()
            one.fit(train)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            scores = evaluate(one, train, test, K, fit=False)
            runs.append({"seed": seed, "ndcg": scores["ndcg"], "hit_rate": scores["hit_rate"],
                         "fit_seconds": seconds, "fit_cpu_seconds": cpu})
            log(f"{name} seed {seed}: NDCG@10 {scores['ndcg']:.4f} HR@10 "
                f"{scores['hit_rate']:.4f} fit {seconds:.1f} s ({cpu:.1f} s CPU)")
        out["models"][name] = {"params": tuning["best_params"], "tuning": tuning["grid"],
                               "runs": runs, **summary(runs)}
    best_classical = max(v["ndcg_mean"] for k, v in out["models"].items() if k != "SASRec")
    out["sasrec_over_best_classical"] = out["models"]["SASRec"]["ndcg_mean"] / best_classical
    return out


def summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    out = {}
    for key in ("ndcg", "hit_rate", "fit_seconds", "fit_cpu_seconds"):
        values = [r[key] for r in runs]
        out[f"{key}_mean"] = statistics.fmean(values)
        out[f"{key}_std"] = statistics.pstdev(values)
    return out


def markdown(results: dict[str, Any]) -> str:
    lines = ["| data set | model | NDCG@10 (mean ± sd) | HR@10 (mean ± sd) | training s wall "
             "(CPU) | best of grid |", "|---|---|---|---|---|---|"]
    for dataset, block in results["datasets"].items():
        for name, m in block["models"].items():
            params = ", ".join(f"{k}={v}" for k, v in m["params"].items()) or "defaults"
            lines.append(f"| {dataset} | {name} | {m['ndcg_mean']:.4f} ± {m['ndcg_std']:.4f} | "
                         f"{m['hit_rate_mean']:.4f} ± {m['hit_rate_std']:.4f} | "
                         f"{m['fit_seconds_mean']:.1f} ({m['fit_cpu_seconds_mean']:.1f}) | "
                         f"{params} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["movielens", "demo"],
                        choices=["movielens", "demo"])
    parser.add_argument("--quick", action="store_true", help="one seed")
    parser.add_argument("--sasrec-grid", action="store_true",
                        help="tune SASRec's epochs on the validation item too")
    parser.add_argument("--sasrec-params", type=json.loads, default={},
                        help='SASRec parameters other than the defaults, e.g. \'{"max_len": 20}\'')
    parser.add_argument("--latency", action="store_true",
                        help="only SASRec's serving latency (a one-epoch model of full size)")
    parser.add_argument("--sasrec-seeds", type=int, default=len(SEEDS),
                        help="seeds of SASRec's test runs (CPU time is scarce)")
    parser.add_argument("--sasrec-seed-list", type=int, nargs="+",
                        help="exactly these seeds for SASRec's test runs (to add seeds later)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the results")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes for SASRec's fits (each on one thread)")
    args = parser.parse_args()
    seeds = SEEDS[:1] if args.quick else SEEDS
    loaders = {"movielens": movielens, "demo": demo_shop}
    if args.latency:
        measured = {name: latency_only(loaders[name]().binarize(), args.sasrec_params)
                    for name in args.datasets}
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "deep_recommend_latency.json").write_text(json.dumps({
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} vCPU, load average at start "
                       f"{os.getloadavg()[0]:.1f}", "latency": measured}, indent=2) + "\n")
        print(json.dumps(measured, indent=2))
        return
    for name in args.datasets:
        results: dict[str, Any] = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} vCPU, load average at start "
                       f"{os.getloadavg()[0]:.1f}", "k": K, "seeds": seeds, "datasets": {}}
        data = loaders[name]().binarize()
        print(f"{name}: {data.shape[0]} people, {data.shape[1]} items, {data.nnz} pairs",
              flush=True)
        results["datasets"][name] = run_dataset(
            data, seeds, args.sasrec_grid, args.workers, lambda text: print(text, flush=True),
            args.sasrec_params, args.sasrec_seeds, args.sasrec_seed_list)
        print(f"SASRec / best classical NDCG@10: "
              f"{results['datasets'][name]['sasrec_over_best_classical']:.2f}", flush=True)
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"deep_recommend_{name}.json"
        path.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(markdown(results))


if __name__ == "__main__":
    main()
