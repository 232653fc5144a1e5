"""Models on what a company knows (issue 18): a customer table with a yes/no outcome modelled
from the command line alone, CLV regressions beside BG/NBD, and the crashes that were found.

The customer table is shaped like the public bank-marketing table (age, job, marital,
balance, call duration, ``y`` yes/no) and generated with a known logistic signal, so the
best achievable AUC is known to scikit-learn on the same split.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from aidmp import DMP
from aidmp.errors import ValidationError
from aidmp.ml.clustering.model import ProfileClusterer
from aidmp.ml.propensity.frame import binary_target, parse_features, usable_attributes
from tests.cli.test_cli import aidmp, js

JOBS = ["admin.", "blue-collar", "technician", "services", "management", "retired", "student"]


def bank_table(n: int, seed: int = 0) -> pd.DataFrame:
    """A bank-marketing-shaped customer table whose outcome follows a known logistic model."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 90, n)
    job = rng.choice(JOBS, n)
    marital = rng.choice(["married", "single", "divorced"], n, p=[0.6, 0.28, 0.12])
    balance = np.round(rng.lognormal(6, 1.2, n) - 300, 2)
    duration = rng.exponential(250, n).round()
    z = (-3 + 0.004 * duration + 0.9 * (job == "retired") + 1.1 * (job == "student")
         - 0.4 * (marital == "married") + 0.00008 * balance + 0.01 * (age - 40))
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-z)), "yes", "no")
    return pd.DataFrame({"customer_id": [f"c{i:05d}" for i in range(n)], "age": age,
                         "job": job, "marital": marital, "balance": balance,
                         "duration": duration, "cluster_old": rng.integers(0, 3, n), "y": y})


def sklearn_best(table: pd.DataFrame, held_out: set[str]) -> float:
    """The better test AUC of logistic regression and histogram gradient boosting, trained on
    the rows the store trained on and tested on the rows it held out."""
    test = table["customer_id"].isin(held_out)
    X = table[["age", "job", "marital", "balance", "duration"]]
    y = (table["y"] == "yes").astype(int)
    prep = ColumnTransformer([("num", StandardScaler(), ["age", "balance", "duration"]),
                              ("cat", OneHotEncoder(handle_unknown="ignore"), ["job", "marital"])])
    aucs = []
    for clf in (LogisticRegression(max_iter=2000),
                HistGradientBoostingClassifier(random_state=0)):
        model = make_pipeline(prep, clf).fit(X[~test], y[~test])
        aucs.append(roc_auc_score(y[test], model.predict_proba(X[test])[:, 1]))
    return max(aucs)


def test_customer_table_model_from_the_command_line(tmp_path: Path) -> None:
    home, csv = tmp_path / "home", tmp_path / "bank.csv"
    table = bank_table(3000)
    table.to_csv(csv, index=False)
    aidmp(home, "import", str(csv), "--source", "crm", "--type", "identify",
          "--user-id-column", "customer_id")
    aidmp(home, "build")
    fitted = js(home, "models", "fit", "propensity", "--name", "subscribe",
                "--target-column", "y", "--score")
    params = fitted["params"]
    # identifiers, an earlier cluster label and the outcome itself are never features
    assert params["columns"] == ["age", "balance", "duration", "job", "marital"]
    assert params["attributes"] == ["age", "balance", "duration", "job", "marital"]
    assert fitted["data_window"]["rows"] == 3000
    assert fitted["data_window"]["positives"] == int((table["y"] == "yes").sum())
    # scores are visible at once, without another build
    shown = js(home, "models", "show", "subscribe")
    assert shown["scored"] == 3000 and fitted["scored"]["profiles"] == 3000
    person = js(home, "profiles", "get", "user_id:c00001")["profile"]
    assert 0.0 < person["p_subscribe"] < 1.0

    with DMP(home=home) as dmp:
        model = dmp.models.load("subscribe")
        held_out = {dmp.identity.identities_of(pid)[0]["id_value"]
                    for pid in model.validation_index_}
    assert len(held_out) == 600
    assert model.n_fit_ == 3000  # refitted on every row after validation
    best = sklearn_best(table, held_out)
    assert fitted["metrics"]["auc"] >= best - 0.01, (fitted["metrics"]["auc"], best)

    # a chosen list of columns, and a column that is not yes/no: one-line errors
    two = js(home, "models", "fit", "propensity", "--name", "by_two", "--target-column", "y",
             "--features", "duration,job")
    assert two["params"]["columns"] == ["duration", "job"]
    bad = aidmp(home, "models", "fit", "propensity", "--name", "bad", "--target-column", "job",
                ok=False)
    assert bad.returncode == 1 and bad.stderr.startswith("error: job: a yes/no outcome has two")
    unknown = aidmp(home, "models", "fit", "propensity", "--name", "bad", "--target-column",
                    "y", "--features", "age,jobb", ok=False)
    assert unknown.stderr.startswith("error: jobb: not a profile attribute")


def _events(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_churn_on_an_event_that_never_happens_is_a_one_line_error(tmp_path: Path) -> None:
    home = tmp_path / "home"
    rows = [{"user_id": f"u{i}", "event": "Page Viewed", "ts": f"2026-01-{1 + i % 28:02d}"}
            for i in range(60)]
    aidmp(home, "import", str(_events(tmp_path / "e.ndjson", rows)), "--source", "web",
          "--user-id-column", "user_id", "--event-column", "event", "--timestamp-column", "ts")
    aidmp(home, "build")
    churn = aidmp(home, "models", "fit", "churn", "--name", "churn", "--event",
                  "Order Completed", "--window-days", "7", ok=False)
    assert churn.returncode == 1 and "Traceback" not in churn.stderr
    assert churn.stderr.strip().splitlines() == [
        "error: target_event: no one did 'Order Completed' on or before the cutoff "
        "2026-01-21: a churn model needs past doers of the event"]
    never = aidmp(home, "models", "fit", "propensity", "--name", "buy", "--event",
                  "Order Completed", "--window-days", "7", ok=False)
    assert never.stderr.startswith("error: target: every one of the")
    assert "has outcome 0 ('Order Completed' done between 2026-01-21 and 2026-01-28)" \
        in never.stderr


def test_clv_regression_scores_show_at_once(tmp_path: Path) -> None:
    """Orders whose spend per customer follows a known per-customer level: the linear CLV
    regression is fitted, scored and visible in the profile right after the fit."""
    rng = np.random.default_rng(3)
    rows = []
    for i in range(300):
        level, rate = rng.gamma(2.0, 20.0), rng.uniform(0.02, 0.2)
        days = np.flatnonzero(rng.random(360) < rate)
        rows += [{"user_id": f"u{i}", "event": "Order Completed",
                  "ts": str((pd.Timestamp("2025-01-01") + pd.Timedelta(days=int(d))).date()),
                  "revenue": round(level * rng.uniform(0.8, 1.2), 2)} for d in days]
    home = tmp_path / "home"
    aidmp(home, "import", str(_events(tmp_path / "o.ndjson", rows)), "--source", "shop",
          "--user-id-column", "user_id", "--event-column", "event", "--timestamp-column", "ts")
    aidmp(home, "build")
    fitted = js(home, "models", "fit", "clv", "--calibration-end", "2025-08-31",
                "--holdout-end", "2025-12-26", "--method", "linear", "--score")
    cands = fitted["metrics"]["candidates"]
    assert set(cands) == {"naive", "bgnbd", "linear", "tree"}
    assert fitted["metrics"]["chosen"] == fitted["params"]["method"] == "linear"
    assert cands["linear"]["mae"] < cands["naive"]["mae"]
    assert set(fitted["params"]["regression"]) >= {"intercept", "spend_per_day", "orders_per_day"}
    person = js(home, "profiles", "get", "user_id:u7")["profile"]
    assert person["clv_12m"] >= 0 and 0 <= person["p_alive"] <= 1
    assert js(home, "models", "show", "clv")["scored"] == fitted["scored"]["profiles"]
    bad = aidmp(home, "models", "fit", "clv", "--method", "forest", ok=False)
    assert bad.stderr.startswith("error: method: unknown method 'forest'")


def test_feature_choice_and_targets() -> None:
    assert parse_features("events") == ("events", None)
    assert parse_features(["age", " job", "age"]) == ("list", ["age", "job"])
    with pytest.raises(ValidationError, match="unknown feature choice"):
        parse_features("atributes")
    target = binary_target(pd.Series([True, False, None]), None, "y")
    assert target.tolist()[:2] == [1.0, 0.0] and np.isnan(target.iloc[2])
    assert binary_target(pd.Series(["gold", "basic"]), "gold", "tier").tolist() == [1.0, 0.0]
    with pytest.raises(ValidationError) as err:
        binary_target(pd.Series(["gold", "basic"]), None, "tier")
    assert err.value.field == "positive"
    frame = pd.DataFrame({"profile_id": ["a", "b", "c"], "email": ["x", "y", "z"],
                          "p_old": [0.1, 0.2, 0.3], "cluster_id": [1, 2, 1],
                          "plan": ["a", "b", "a"], "flat": [1, 1, 1], "spend": [1.0, 2.0, 3.0]})
    assert usable_attributes(frame, exclude=["spend"]) == ["plan"]


def test_movielens_genre_counts_get_more_than_two_clusters_with_reasons(datasets: Path) -> None:
    """Sparse per-genre rating counts (a few heavy raters) are log-scaled, earlier labels and
    ids are left out, and K is chosen by three criteria with the table kept."""
    folder = datasets / "movielens-100k"
    ratings = pd.read_csv(folder / "u.data", sep="\t", names=["user", "item", "rating", "ts"])
    genres = [line.split("|")[0] for line in
              (folder / "u.genre").read_text(encoding="latin-1").splitlines() if line.strip()]
    items = pd.read_csv(folder / "u.item", sep="|", encoding="latin-1",
                        names=["item", "title", "released", "video", "url", *genres])
    counts = ratings.merge(items[["item", *genres]], on="item").groupby("user")[genres].sum()
    counts.columns = ["genre_" + g.lower().replace("'", "").replace("-", "_") for g in genres]
    frame = counts.reset_index().rename(columns={"user": "profile_id"})
    frame["cluster_previous"] = np.arange(len(frame)) % 2  # an earlier run's label
    frame["account_id"] = np.arange(len(frame))
    model = ProfileClusterer(k_range=(2, 8)).fit(frame)
    assert "cluster_previous" not in model.numeric_ and "account_id" not in model.numeric_
    assert set(model.log_columns_) >= {"genre_drama", "genre_comedy", "genre_action"}
    sel = model.selection_
    assert sel["criterion"] == "vote" and "Calinski-Harabasz" in sel["rule"]
    assert [row["k"] for row in sel["table"]] == list(range(2, 9))
    assert all({"silhouette", "calinski_harabasz", "bic"} <= set(row) for row in sel["table"])
    assert set(sel["picks"]) == {"silhouette", "calinski_harabasz", "bic"}
    bic_best = min(sel["table"], key=lambda row: row["bic"])["k"]
    assert sel["picks"]["bic"] == bic_best
    assert model.n_clusters_ == sel["k"] > 2
