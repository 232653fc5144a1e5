"""Models fitted in Spark MLlib agree with the single-node fits of DuckDB stores (issue 21).

On a Spark engine the model classes fit inside Spark (``engine.in_engine_ml()``); on DuckDB
they fit on the driver (mlxtend, scikit-learn, implicit). Both paths run here on the shared
datasets and must agree within the tolerances stated per test (docs/engines.md):

* FP-growth on Groceries: the same rules with the same counts, support, confidence and lift
  (exact), and the published arules count (463 rules at .006 / .25 / minlen 2);
* K-Means on standardised MovieLens user features: adjusted Rand >= 0.95 and inertia within 1 %;
* ALS on MovieLens-100K: NDCG@10 within 0.01 of the implicit fit, both above popularity;
* logistic regression on a CDNOW repeat-purchase task: AUC within 0.01 on the same held-out
  customers (gradient-boosted trees: within 0.02).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from sklearn.metrics import adjusted_rand_score, roc_auc_score

from aidmp.collect.rows import ColumnBuffer
from aidmp.demo.datasets import (
    cdnow_frame,
    default_datasets_dir,
    groceries_frame,
    movielens_frames,
)
from aidmp.engine.base import Engine
from aidmp.ml.clustering import ProfileClusterer
from aidmp.ml.propensity.model import PropensityModel
from aidmp.ml.propensity.service import scoring_frame
from aidmp.ml.recommend import ALS, Interactions, Popularity, evaluate, random_split
from aidmp.ml.rules.service import fit_rules
from aidmp.ml.service import Models
from aidmp.spec.events import normalize_message
from tests.conformance.conftest import fresh_engine

pytestmark = pytest.mark.spark

DATA = default_datasets_dir()
ALS_NDCG_TOLERANCE = 0.01
GBT_AUC_TOLERANCE = 0.02


def _groceries_events() -> pa.Table:
    now = datetime.now(UTC)
    stamp = now.isoformat().replace("+00:00", "Z")
    buffer = ColumnBuffer("events")
    buffer.extend(
        normalize_message({"type": "track", "event": "Order Completed",
                           "anonymousId": row["basket_id"], "messageId": row["basket_id"],
                           "timestamp": stamp,
                           "properties": {"order_id": row["basket_id"],
                                          "products": row["products"]}},
                          source="groceries", received_at=now)
        for row in groceries_frame(DATA / "groceries").iter_rows(named=True))
    return buffer.to_arrow()


@pytest.fixture(scope="module")
def stores(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[dict[str, Engine]]:
    """An empty DuckDB and Spark store, shared by the tests of this module."""
    directory: Path = tmp_path_factory.mktemp("mllib")
    with (fresh_engine("duckdb", request, directory) as duck,
          fresh_engine("spark", request, directory) as spark):
        yield {"duckdb": duck, "spark": spark}


def _rules(frame: Any) -> list[tuple[Any, ...]]:
    return [(r.antecedents, r.consequents, int(r.count), round(r.support, 12),
             round(r.confidence, 12), round(r.lift, 9)) for r in frame.itertuples()]


def test_fp_growth_rules_equal_on_groceries(stores: dict[str, Engine]) -> None:
    duck, spark = stores["duckdb"], stores["spark"]
    assert duck.in_engine_ml() is None and spark.in_engine_ml() is not None
    events = _groceries_events()
    for eng in (duck, spark):
        eng.append("events", events)
    fits = {name: fit_rules(eng, min_support=0.006, min_confidence=0.25, min_len=2)
            for name, eng in stores.items()}
    single, mllib = fits["duckdb"][0], fits["spark"][0]
    # arules' published figure for Groceries at support .006, confidence .25, minlen 2
    assert len(single.rules_) == len(mllib.rules_) == 463
    assert mllib.n_baskets_ == single.n_baskets_ == 9835
    assert mllib.items_ == single.items_ and len(mllib.items_) == 169
    assert mllib.min_count_ == single.min_count_ == 60
    assert _rules(mllib.rules_) == _rules(single.rules_)
    assert fits["spark"][2]["itemsets"] == fits["duckdb"][2]["itemsets"]
    assert [r["item"] for r in spark_bought(mllib)] == [r["item"] for r in spark_bought(single)]


def spark_bought(model: Any) -> list[dict[str, Any]]:
    return list(model.bought_together(["whole milk", "yogurt"], n=5).to_dict(orient="records"))


# -- K-Means ----------------------------------------------------------------------------------
def _movielens() -> dict[str, pl.DataFrame]:
    return movielens_frames(DATA / "movielens-100k")


def _user_features() -> pa.Table:
    """Per MovieLens user: age, number of ratings (a right-skewed count) and mean rating."""
    frames = _movielens()
    per_user = frames["ratings"].group_by("user_id").agg(
        pl.len().cast(pl.Int64).alias("n_ratings"), pl.col("rating").mean().alias("mean_rating"))
    return frames["users"].join(per_user, on="user_id").select(
        pl.col("user_id").alias("profile_id"), pl.col("age").cast(pl.Float64), "n_ratings",
        "mean_rating").sort("profile_id").to_arrow()


def test_kmeans_partition_and_inertia_agree(stores: dict[str, Engine]) -> None:
    features = ["age", "n_ratings", "mean_rating"]
    for eng in stores.values():
        eng.write_table("ml_user_features", _user_features())
    frame = stores["duckdb"].to_pandas("ml_user_features")
    single = ProfileClusterer(k=3, features=features, n_init=2).fit(frame)
    spark = stores["spark"]
    mllib = ProfileClusterer(k=3, features=features, n_init=2).fit_in_engine(
        spark, spark.table("ml_user_features"), labels_table="ml_user_clusters")
    assert single.log_columns_ == mllib.log_columns_ == ["n_ratings"]
    labels = spark.to_pandas("ml_user_clusters").set_index("profile_id")["cluster"]
    spark_labels = labels.loc[frame["profile_id"]].to_numpy()
    assert len(labels) == len(frame) == 943
    assert adjusted_rand_score(single.labels_, spark_labels) >= 0.95
    assert mllib.inertia_ == pytest.approx(single.estimator_.inertia_, rel=0.01)
    # the saved model scores on the driver as the engine labelled
    assert (mllib.predict(frame) == spark_labels).mean() >= 0.99


# -- ALS --------------------------------------------------------------------------------------
def test_als_ndcg_close_to_implicit_and_above_popularity(stores: dict[str, Engine]) -> None:
    ratings = _movielens()["ratings"].select(
        pl.col("user_id").alias("profile_id"), "item_id", "rating")
    data = Interactions.from_frame(ratings, "profile_id", "item_id", "rating")
    train, test = random_split(data, 0.2, seed=123)
    train = train.binarize()
    m = train.matrix.tocoo()
    pairs = pa.table({"profile_id": train.user_ids[m.row].astype(str),
                      "item_id": train.item_ids[m.col].astype(str)})
    spark = stores["spark"]
    spark.write_table("ml_als_train", pairs)
    ml = spark.in_engine_ml()
    assert ml is not None
    single = evaluate(ALS().fit(train), train, test, 10)["ndcg"]
    fitted = ALS().fit_in_engine(ml, spark.table("ml_als_train"), train)
    mllib = evaluate(fitted, train, test, 10, fit=False)["ndcg"]
    popular = evaluate(Popularity(), train, test, 10)["ndcg"]
    assert single > popular + 0.02 and mllib > popular + 0.02
    assert mllib == pytest.approx(single, abs=ALS_NDCG_TOLERANCE)


# -- logistic regression / GBT ------------------------------------------------------------------
CUTOFF = date(1997, 9, 30)  # CDNOW's 39-week calibration period ends here
YEARS_LATER = 28


def _cdnow_churn() -> pl.DataFrame:
    """Per customer of the CDNOW sample: behaviour up to the cutoff and whether they bought
    in the 39 weeks after it; every fifth customer (by id) is held out."""
    lines = cdnow_frame(DATA / "cdnow", sample=True).with_columns(
        pl.col("date").str.strptime(pl.Date, "%Y%m%d"))
    past = lines.filter(pl.col("date") <= CUTOFF).group_by("customer_id").agg(
        pl.len().cast(pl.Float64).alias("n_events"),
        pl.col("date").n_unique().cast(pl.Float64).alias("n_days"),
        (pl.lit(CUTOFF) - pl.col("date").max()).dt.total_days().cast(pl.Float64)
        .alias("recency_days"),
        (pl.lit(CUTOFF) - pl.col("date").min()).dt.total_days().cast(pl.Float64)
        .alias("tenure_days"),
        pl.col("revenue").sum().alias("value_sum"), pl.col("revenue").mean().alias("value_mean"))
    future = lines.filter(pl.col("date") > CUTOFF).select("customer_id").unique().with_columns(
        pl.lit(1).alias("label"))
    frame = past.join(future, on="customer_id", how="left").with_columns(
        pl.col("label").fill_null(0).cast(pl.Int64),
        (pl.col("customer_id").cast(pl.Int64) % 5 == 0).alias("held_out"))
    return frame.rename({"customer_id": "profile_id"}).sort("profile_id")


CHURN_FEATURES = ["n_events", "n_days", "recency_days", "tenure_days", "value_sum",
                  "value_mean"]


def test_logistic_and_gbt_auc_agree_on_cdnow(stores: dict[str, Engine]) -> None:
    frame = _cdnow_churn()
    train, held = frame.filter(~pl.col("held_out")), frame.filter(pl.col("held_out"))
    spark = stores["spark"]
    spark.write_table("ml_churn_train", train.drop("held_out").to_arrow())
    spark.write_table("ml_churn_held", held.drop("held_out", "label").to_arrow())
    ml = spark.in_engine_ml()
    assert ml is not None
    y = held["label"].to_numpy()
    X_train = train.select(CHURN_FEATURES).to_pandas()
    X_held = held.select(CHURN_FEATURES).to_pandas()
    aucs: dict[str, dict[str, float]] = {}
    for method in ("logistic", "gbm"):
        # the same boosting rounds and step on both paths
        params = {"gbm": {"max_iter": 15, "learning_rate": 0.2}}
        single = PropensityModel(method=method, n_threads=1, params=params).fit(
            X_train, train["label"].to_numpy())
        mllib = PropensityModel(method=method, params=params).fit_in_engine(
            ml, spark.table("ml_churn_train"), CHURN_FEATURES)
        table = f"ml_churn_scores_{method}"
        ml.classifier_scores(mllib.in_engine_, spark.table("ml_churn_held"), "profile_id",
                             table)
        scores = spark.to_pandas(table).set_index("profile_id")["p"]
        p_engine = scores.loc[held["profile_id"].to_list()].to_numpy()
        aucs[method] = {"single": roc_auc_score(y, single.predict_proba(X_held)[:, 1]),
                        "mllib": roc_auc_score(y, p_engine)}
        if method == "logistic":
            # the saved model scores on the driver exactly as the engine did
            assert mllib.predict_proba(X_held)[:, 1] == pytest.approx(p_engine, abs=1e-9)
        assert mllib.model_card()["estimator"].startswith("MLlib")
    assert len(held) > 400 and 0.2 < y.mean() < 0.5
    assert abs(aucs["logistic"]["mllib"] - aucs["logistic"]["single"]) <= 0.01
    assert abs(aucs["gbm"]["mllib"] - aucs["gbm"]["single"]) <= GBT_AUC_TOLERANCE
    assert min(a for m in aucs.values() for a in m.values()) > 0.75


def _cdnow_events() -> tuple[pa.Table, pa.Table]:
    """The CDNOW sample's purchase lines as ``CD Purchased`` events (moved 28 years on), and the
    ``event_profiles`` rows identity resolution would give them (one profile per customer)."""
    lines = cdnow_frame(DATA / "cdnow", sample=True)
    buffer = ColumnBuffer("events")
    for row in lines.iter_rows(named=True):
        at = datetime.strptime(row["date"], "%Y%m%d").replace(hour=12, tzinfo=UTC)
        # 28 years later (same calendar, no 29 February): the collector refuses times before
        # 2000 (limits.min_timestamp)
        at = at.replace(year=at.year + YEARS_LATER)
        buffer.extend([normalize_message(
            {"type": "track", "event": "CD Purchased", "userId": f"cd-{row['customer_id']}",
             "messageId": f"cdnow-{row['line']}", "timestamp": at.isoformat(),
             "properties": {"revenue": row["revenue"], "quantity": row["quantity"]}},
            source="cdnow", received_at=at)])
    mapping = pa.table({"message_id": [f"cdnow-{x}" for x in lines["line"].to_list()],
                        "profile_id": [f"cd-{c}" for c in lines["customer_id"].to_list()]})
    return buffer.to_arrow(), mapping


def test_propensity_service_fits_and_scores_inside_spark(
        stores: dict[str, Engine], tmp_path: Path) -> None:
    events, mapping = _cdnow_events()
    fits = {}
    for name, eng in stores.items():
        eng.append("events", events)
        eng.write_table("event_profiles", mapping)
        models = Models(eng, tmp_path / name)
        fits[name] = models.fit_propensity(
            "repeat_39w", target_event="CD Purchased", window_days=273,
            cutoff=CUTOFF.replace(year=CUTOFF.year + YEARS_LATER).isoformat(),
            method="logistic")
        if name == "spark":
            written = models.score("repeat_39w")
            model = models.load("repeat_39w")
    duck, spark = fits["duckdb"], fits["spark"]
    assert spark["params"]["in_engine"] and "in_engine" not in duck["params"]
    assert spark["data_window"]["rows"] == duck["data_window"]["rows"] == 2357
    assert spark["data_window"]["positives"] == duck["data_window"]["positives"]
    # different random held-out fifths (Spark's randomSplit, scikit-learn's stratified split)
    assert abs(spark["metrics"]["auc"] - duck["metrics"]["auc"]) <= 0.05
    assert spark["metrics"]["auc"] > 0.75
    # every customer scored, written by Spark, equal to the saved model's driver scores
    assert written["profiles"] == 2357
    stored = stores["spark"].to_pandas("predictions").set_index("profile_id")
    assert set(stored["key"]) == {"p_repeat_39w"} and len(stored) == 2357
    frame = scoring_frame(stores["spark"], spark["params"]).set_index("profile_id")
    expected = model.predict_proba(frame)[:, 1]
    assert stored.loc[frame.index, "value"].to_numpy() == pytest.approx(expected, abs=1e-9)


def test_recommender_service_factorises_in_spark(stores: dict[str, Engine],
                                                 tmp_path: Path) -> None:
    ratings = _movielens()["ratings"].filter(pl.col("user_id").cast(pl.Int64) <= 200)
    now = datetime.now(UTC)
    buffer = ColumnBuffer("events")
    buffer.extend(normalize_message(
        {"type": "track", "event": "Movie Rated", "userId": f"ml-{r['user_id']}",
         "messageId": f"ml-{r['rating_id']}", "timestamp": now.isoformat(),
         "properties": {"item_id": r["item_id"], "rating": r["rating"]}},
        source="movielens", received_at=now) for r in ratings.iter_rows(named=True))
    mapping = pa.table({"message_id": [f"ml-{x}" for x in ratings["rating_id"].to_list()],
                        "profile_id": [f"ml-{u}" for u in ratings["user_id"].to_list()]})
    fits = {}
    for name, eng in stores.items():
        eng.append("events", buffer.to_arrow())
        eng.write_table("event_profiles", mapping)
        models = Models(eng, tmp_path / name)
        fits[name] = models.fit_recommender("movies", method="als", event="Movie Rated",
                                            params={"iterations": 8})
        if name == "spark":
            top = models.recommend("ml-1", n=5, name="movies")
            model = models.load("movies")
    duck, spark = fits["duckdb"]["metrics"], fits["spark"]["metrics"]
    assert fits["spark"]["data_window"] == fits["duckdb"]["data_window"]
    assert spark["popularity_ndcg@10"] == duck["popularity_ndcg@10"]
    assert duck["ndcg@10"] > duck["popularity_ndcg@10"]
    assert spark["ndcg@10"] > spark["popularity_ndcg@10"]
    assert spark["ndcg@10"] == pytest.approx(duck["ndcg@10"], abs=0.02)
    assert model.model_ is None and model.user_factors_.any()  # factors from MLlib
    seen = set(ratings.filter(pl.col("user_id") == "1")["item_id"].to_list())
    assert len(top) == 5 and not seen & {r["item_id"] for r in top}
