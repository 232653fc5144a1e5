"""Model quality through the whole platform: datasets loaded by the real importers, identities
resolved, models fitted from the store by ``dmp.models`` (``aidmp.ml.service``).

- CLV: BG/NBD + Gamma-Gamma on the CDNOW master file (store), 39-week calibration to
  1997-09-30 and holdout to 1998-06-30, beside the figures the CLV module's own benchmark
  measured (``benchmarks/results/clv.json``); plus the 2,357-customer sample through the
  estimators directly, beside Fader, Hardie & Lee's published parameters.
- Propensity: repeat purchase within 90 days on CDNOW (cutoff 1998-04-01), logistic and auto;
  churn (no purchase within 90 days of 1997-09-30).
- Rules: Groceries baskets from the store, rule counts beside R arules' published counts.
- Recommenders: MovieLens-100K ratings from the store, NDCG@10 etc. under the service's stated
  protocol (per-profile random 80/20, seed 123, relevant = held-out rating >= 4), beside the
  popularity baseline of the same split and the recommend benchmark's protocol A.

Fit time is the median of 3 fits (each registers a version; the registry cost is included).

Run: ``.venv/bin/python benchmarks/model_quality.py``
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from aidmp import DMP
from aidmp.demo.datasets import cdnow_frame, default_datasets_dir, load_dataset
from aidmp.ml.clv import BGNBD, GammaGamma, transaction_summary
from aidmp.ml.service import Models

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PUBLISHED_SAMPLE = {"bgnbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
                    "gamma_gamma": {"p": 6.25, "q": 3.74, "gamma": 15.44},
                    "source": "Fader, Hardie & Lee 2005 (BG/NBD; Gamma-Gamma)"}
ARULES = {(0.001, 0.8): 410, (0.001, 0.5): 5668}


def timed(fn: Callable[[], dict[str, Any]], runs: int = 3) -> tuple[dict[str, Any], float]:
    """The last result and the median seconds of ``runs`` calls."""
    times, out = [], {}
    for _ in range(runs):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, statistics.median(times)


def loaded(name: str, folder: str, home: Path) -> tuple[DMP, Models]:
    dmp = DMP(home=home / name)
    load_dataset(dmp, name, default_datasets_dir() / folder)
    dmp.identity.resolve()
    return dmp, dmp.models


def clv_part(home: Path) -> dict[str, Any]:
    lines = cdnow_frame(default_datasets_dir() / "cdnow", sample=True)
    s = transaction_summary(lines, customer_col="customer_id", date_col="date",
                            value_col="revenue", date_format="%Y%m%d",
                            calibration_end="1997-09-30", observation_end="1998-06-30")
    x, t_x, age, m = (s.column(c).to_numpy() for c in ("frequency", "recency", "T",
                                                       "monetary_value"))
    sample = {"bgnbd": BGNBD().fit(x, t_x, age).params_,
              "gamma_gamma": GammaGamma().fit(x[x > 0], m[x > 0]).params_}
    dmp, models = loaded("cdnow", "cdnow", home)
    row, seconds = timed(lambda: models.fit_clv(calibration_end="1997-09-30",
                                                holdout_end="1998-06-30"))
    start = time.perf_counter()
    scored = models.score("clv")
    score_s = time.perf_counter() - start
    bench = RESULTS / "clv.json"
    measured = json.loads(bench.read_text())[1] if bench.exists() else None
    out = {"sample_estimators": sample, "published_sample": PUBLISHED_SAMPLE,
           "master_store": {"params": row["params"], "metrics": row["metrics"],
                            "fit_s": seconds, "score_s": score_s,
                            "scored_profiles": scored["profiles"]},
           "master_clv_bench": None if measured is None else {
               "bgnbd": measured["bgnbd"]["aidmp"], "holdout": measured["holdout"]}}
    out["propensity"] = propensity_part(models)
    dmp.close()
    return out


def propensity_part(models: Models) -> list[dict[str, Any]]:
    rows = []
    cases: tuple[tuple[str, dict[str, Any]], ...] = (
        ("repeat purchase 90d, logistic", {"name": "order_90d", "method": "logistic"}),
        ("repeat purchase 90d, auto", {"name": "order_90d_auto", "method": "auto"}),
        ("churn 90d after 1997-09-30, logistic", {"name": "churn_90d", "method": "logistic",
                                                 "kind": "churn", "cutoff": "1997-09-30"}),
    )
    for label, kwargs in cases:
        runs = 1 if kwargs["method"] == "auto" else 3
        row, seconds = timed(partial(models.fit_propensity, target_event="Order Completed",
                                     window_days=90, **kwargs), runs)
        m = row["metrics"]
        rows.append({"model": label, "picked": row["params"]["model_card"]["method"],
                     "auc": m["auc"], "lift_top10": m["lift_top10"], "base_rate": m["base_rate"],
                     "mean_predicted": m["mean_predicted"], "rows": row["data_window"]["rows"],
                     "cutoff": row["data_window"]["cutoff"], "fit_s": seconds, "runs": runs})
    return rows


def rules_part(home: Path) -> list[dict[str, Any]]:
    dmp, models = loaded("groceries", "groceries", home)
    out = []
    for (support, confidence), published in ARULES.items():
        row, seconds = timed(partial(models.fit_rules, min_support=support,
                                     min_confidence=confidence))
        out.append({"min_support": support, "min_confidence": confidence,
                    "rules": row["metrics"]["rules"], "arules_published": published,
                    "baskets": row["metrics"]["baskets"], "fit_s": seconds})
    dmp.close()
    return out


def recommend_part(home: Path) -> dict[str, Any]:
    dmp, models = loaded("movielens", "movielens-100k", home)
    rows = {}
    for method in ("popularity", "item_knn", "user_knn", "als"):
        row, seconds = timed(partial(models.fit_recommender, name=method, method=method,
                                     weight_property="rating", relevant_min=4))
        start = time.perf_counter()
        pid = dmp.identity.profile_of("user_id", "1")
        for _ in range(20):
            models.recommend(pid, 10, name=method)
        rows[method] = {**{k: v for k, v in row["metrics"].items() if k != "protocol"},
                        "fit_s": seconds, "recommend_ms": (time.perf_counter() - start) / 20
                        * 1000}
        protocol = row["metrics"]["protocol"]
    bench = RESULTS / "recommend.json"
    ref = None
    if bench.exists():
        quality = json.loads(bench.read_text())["quality"]
        key = next((k for k in quality if k.startswith("A ")), None)
        ref = None if key is None else {"protocol": key, **{
            name: quality[key][label]["ndcg"] for name, label in (
                ("popularity", "Popularity"), ("item_knn", "ItemKNN"),
                ("user_knn", "UserKNN"), ("als", "ALS")) if label in quality[key]}}
    dmp.close()
    return {"protocol": protocol, "models": rows, "recommend_bench_ndcg": ref}


def markdown(res: dict[str, Any]) -> str:
    clv = res["clv"]
    lines = ["| CLV | data | r | alpha | a | b | p | q | gamma |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    pub, est = clv["published_sample"], clv["sample_estimators"]
    for label, params in (("published (FHL 2005)", pub), ("aidmp estimators", est)):
        b, g = params["bgnbd"], params["gamma_gamma"]
        lines.append(f"| {label} | sample 2,357 | {b['r']:.4f} | {b['alpha']:.3f} | "
                     f"{b['a']:.4f} | {b['b']:.3f} | {g['p']:.3f} | {g['q']:.3f} | "
                     f"{g['gamma']:.2f} |")
    store = clv["master_store"]
    b, g = store["params"]["bgnbd"], store["params"]["gamma_gamma"]
    lines.append(f"| dmp.models.fit_clv (store) | master 23,570 | {b['r']:.4f} | "
                 f"{b['alpha']:.3f} | {b['a']:.4f} | {b['b']:.3f} | {g['p']:.3f} | "
                 f"{g['q']:.3f} | {g['gamma']:.2f} |")
    if clv["master_clv_bench"]:
        mb = clv["master_clv_bench"]["bgnbd"]
        lines.append(f"| clv_bench (estimators) | master 23,570 | {mb['r']:.4f} | "
                     f"{mb['alpha']:.3f} | {mb['a']:.4f} | {mb['b']:.3f} | | | |")
    h = store["metrics"]["holdout"]
    lines += ["", "| CLV holdout (39 weeks, master) | actual | expected | aggregate error | MAE |"
              " fit s | score s |", "|---|---:|---:|---:|---:|---:|---:|",
              f"| store | {h['actual_transactions']:,.0f} | {h['expected_transactions']:,.1f} | "
              f"{h['aggregate_error']:+.1%} | {h['mae']:.3f} | {store['fit_s']:.2f} | "
              f"{store['score_s']:.2f} |"]
    lines += ["", "| propensity (CDNOW) | picked | AUC | lift top 10% | base rate | mean p | "
              "rows | fit s |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for p in clv["propensity"]:
        lines.append(f"| {p['model']} | {p['picked']} | {p['auc']:.3f} | {p['lift_top10']:.2f} "
                     f"| {p['base_rate']:.3f} | {p['mean_predicted']:.3f} | {p['rows']:,} | "
                     f"{p['fit_s']:.2f} |")
    lines += ["", "| rules (Groceries) | support | confidence | aidmp rules | arules published |"
              " fit s |", "|---|---:|---:|---:|---:|---:|"]
    for r in res["rules"]:
        lines.append(f"| store baskets | {r['min_support']} | {r['min_confidence']} | "
                     f"{r['rules']:,} | {r['arules_published']:,} | {r['fit_s']:.2f} |")
    rec = res["recommend"]
    ref = rec["recommend_bench_ndcg"] or {}
    lines += ["", f"Recommenders (MovieLens-100K), {rec['protocol']}:", "",
              "| method | NDCG@10 | precision@10 | recall@10 | hit rate | coverage | vs "
              "popularity | bench protocol A NDCG | fit s | recommend ms |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, m in rec["models"].items():
        lift = m["ndcg@10"] / m["popularity_ndcg@10"]
        bench = ref.get(name)
        lines.append(f"| {name} | {m['ndcg@10']:.4f} | {m['precision@10']:.4f} | "
                     f"{m['recall@10']:.4f} | {m['hit_rate@10']:.3f} | {m['coverage@10']:.3f} "
                     f"| {lift:.2f}x | {'' if bench is None else f'{bench:.4f}'} | "
                     f"{m['fit_s']:.2f} | {m['recommend_ms']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        results = {"clv": clv_part(home), "rules": rules_part(home),
                   "recommend": recommend_part(home)}
    print(markdown(results))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "model_quality.json"
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
