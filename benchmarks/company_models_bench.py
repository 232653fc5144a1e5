"""Models on company data (issue 18): CLI propensity beside scikit-learn, CLV candidates, K.

1. Propensity on a public customer table with a yes/no outcome: ISLP's ``Caravan`` (5,822
   insurance customers, 85 socio-demographic and product-ownership attributes, ``Purchase``
   Yes/No), read from the ``islp`` wheel (fetched with ``pip download``, never copied into the
   repository). The table goes through the CLI alone (import as identify rows, build,
   ``models fit propensity --target-column Purchase``); scikit-learn's logistic regression and
   histogram gradient boosting are trained on the rows the store trained on and tested on the
   rows it held out, so both sides see the same split.
2. CLV on CDNOW master: every candidate's holdout MAE and aggregate error (1997-09-30 / 1998-06-30).
3. Automatic K on MovieLens-100K per-genre rating counts.
4. Association rules with adaptive support on Groceries and on a 522k-line store with its item
   mix; "bought together" lookup latency from the per-item index beside a scan of all rules.

Run: ``.venv/bin/python benchmarks/company_models_bench.py [--only propensity|clv|k]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from aidmp import DMP
from aidmp.demo.datasets import default_datasets_dir, load_dataset
from aidmp.ml.clustering.model import ProfileClusterer

ISLP = "islp==0.6.0"


def caravan(work: Path) -> pd.DataFrame:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", ISLP, "-q", "-d",
                    str(work)], check=True)
    wheel = next(work.glob("islp-*.whl"))
    with zipfile.ZipFile(wheel) as z, z.open("ISLP/data/Caravan.csv") as f:
        return pd.read_csv(f)


def cli(home: Path, *args: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-m", "aidmp.cli.main", *args, "--home", str(home),
                          "--json"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def propensity(work: Path) -> dict[str, object]:
    table = caravan(work)
    table.insert(0, "customer_id", [f"k{i:05d}" for i in range(len(table))])
    csv, home = work / "caravan.csv", work / "home"
    table.to_csv(csv, index=False)
    start = time.perf_counter()
    cli(home, "import", str(csv), "--source", "crm", "--type", "identify",
        "--user-id-column", "customer_id")
    cli(home, "build")
    fitted = cli(home, "models", "fit", "propensity", "--name", "purchase",
                 "--target-column", "Purchase", "--score")
    seconds = time.perf_counter() - start
    with DMP(home=home) as dmp:
        model = dmp.models.load("purchase")
        held = {dmp.identity.identities_of(p)[0]["id_value"] for p in model.validation_index_}
    test = table["customer_id"].isin(held).to_numpy()
    X = table.drop(columns=["customer_id", "Purchase"])
    y = (table["Purchase"] == "Yes").astype(int).to_numpy()
    aucs = {}
    for name, clf in (("logistic", LogisticRegression(max_iter=5000)),
                      ("hist_gbm", HistGradientBoostingClassifier(random_state=0))):
        pipe = make_pipeline(ColumnTransformer([("num", StandardScaler(), list(X.columns))]),
                             clf).fit(X[~test], y[~test])
        aucs[name] = round(float(roc_auc_score(y[test], pipe.predict_proba(X[test])[:, 1])), 4)
    metrics = fitted["metrics"]
    assert isinstance(metrics, dict)
    card = fitted["params"]["model_card"]  # type: ignore[index]
    return {"table": "ISLP Caravan", "rows": len(table), "held_out": int(test.sum()),
            "cli_auc": round(float(metrics["auc"]), 4), "cli_method": card["method"],
            "sklearn": aucs, "gap_to_best": round(max(aucs.values()) - metrics["auc"], 4),
            "cli_seconds": round(seconds, 1)}


def clv(work: Path) -> dict[str, object]:
    dmp = DMP(home=work / "cdnow")
    load_dataset(dmp, "cdnow", default_datasets_dir() / "cdnow")
    dmp.identity.resolve()
    row = dmp.models.fit_clv(calibration_end="1997-09-30", holdout_end="1998-06-30")
    dmp.close()
    return {"chosen": row["metrics"]["chosen"], "candidates": {
        k: {m: round(v[m], 4) for m in ("mae", "aggregate_error", "mae_vs_naive")}
        for k, v in row["metrics"]["candidates"].items()}}


def choose_k() -> dict[str, object]:
    folder = default_datasets_dir() / "movielens-100k"
    ratings = pd.read_csv(folder / "u.data", sep="\t", names=["user", "item", "rating", "ts"])
    genres = [line.split("|")[0] for line in
              (folder / "u.genre").read_text(encoding="latin-1").splitlines() if line.strip()]
    items = pd.read_csv(folder / "u.item", sep="|", encoding="latin-1",
                        names=["item", "title", "released", "video", "url", *genres])
    counts = ratings.merge(items[["item", *genres]], on="item").groupby("user")[genres].sum()
    frame = counts.reset_index().rename(columns={"user": "profile_id"})
    frame.columns = [str(c) for c in frame.columns]
    out = {}
    for how in ("silhouette", "vote"):
        model = ProfileClusterer(k_range=(2, 8), selection=how).fit(frame)  # type: ignore[arg-type]
        out[how] = {"k": model.selection_["k"], "picks": model.selection_["picks"],
                    "table": model.selection_["table"]}
    return out


def rules() -> dict[str, object]:
    """Adaptive support and lookup latency: Groceries (43k lines) and the same baskets twelve
    times over (118k baskets, 522k lines: a 500k-line store with Groceries' item mix)."""
    from aidmp.ml.rules.auto import adaptive_rules

    text = (default_datasets_dir() / "groceries" / "groceries.csv").read_text()
    base = [line.split(",") for line in text.splitlines() if line]
    out: dict[str, object] = {}
    for name, data in (("groceries", base), ("groceries_x12", base * 12)):
        start = time.perf_counter()
        model, report = adaptive_rules(data, top_items=50, per_item=3)
        fit = time.perf_counter() - start
        top = [t for t in model.items_ if t in set(model.one_item_index_)]
        freq = sorted(top, key=lambda i: -sum(i in b for b in data[:5000]))[:50]
        times = []
        for _ in range(5):
            for item in freq:
                t0 = time.perf_counter()
                model.bought_together(item, n=10)
                times.append((time.perf_counter() - t0) * 1000)
        scan = []
        index = model.one_item_index_
        del model.one_item_index_
        for item in freq:
            t0 = time.perf_counter()
            model.bought_together(item, n=10)
            scan.append((time.perf_counter() - t0) * 1000)
        model.one_item_index_ = index
        out[name] = {"baskets": len(data), "lines": sum(map(len, data)),
                     "min_support": report["min_support"], "rules": len(model.rules_),
                     "covered": report["covered"], "fit_seconds": round(fit, 1),
                     "lookup_ms_p50": round(float(np.percentile(times, 50)), 3),
                     "lookup_ms_p99": round(float(np.percentile(times, 99)), 3),
                     "scan_ms_p50": round(float(np.percentile(scan, 50)), 3)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=["propensity", "clv", "k", "rules"])
    args = parser.parse_args()
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.only in (None, "propensity"):
            results["propensity"] = propensity(work)
        if args.only in (None, "clv"):
            results["clv"] = clv(work)
        if args.only in (None, "k"):
            results["k"] = choose_k()
        if args.only in (None, "rules"):
            results["rules"] = rules()
    print(json.dumps(results, indent=1, default=float))
    np.set_printoptions()


if __name__ == "__main__":
    main()
