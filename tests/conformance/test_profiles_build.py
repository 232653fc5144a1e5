"""Identity resolution and the profile build give the same profiles on DuckDB and Spark."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from aidmp import DMP
from aidmp.demo.generator import DemoConfig, DemoGenerator
from aidmp.engine.base import Engine
from tests.conformance.conftest import fresh_engine


def _demo_messages() -> list[dict[str, object]]:
    gen = DemoGenerator(DemoConfig(people=12, seed=5, days=30))
    return [m for batch in gen.event_batches(10_000) for m in batch]


def _build(engine: Engine, home: Path) -> tuple[pa.Table, dict[str, object]]:
    dmp = DMP(home=home, engine=engine)
    dmp.events.ingest(_demo_messages(), source="web")
    summary = dmp.build()
    cols = ["profile_id", "events", "orders_total", "revenue_total", "rfm_recency_days", "rfm_r",
            "rfm_f", "rfm_m", "rfm_segment",
            "engagement_score", "purchasing_power", "first_name", "top_category"]
    table = engine.execute(engine.table("profiles").select(*cols).order_by("profile_id"))
    return table, {"profiles": summary.profiles, "identifiers": summary.identifiers}


@pytest.mark.spark
def test_profiles_agree_across_engines(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    with fresh_engine("duckdb", request, tmp_path) as duck:
        expected, counts = _build(duck, tmp_path / "duck")
    with fresh_engine("spark", request, tmp_path) as spark:
        got, spark_counts = _build(spark, tmp_path / "spark")
    assert spark_counts == counts
    assert counts["profiles"] > 10
    exp, out = expected.to_pylist(), got.to_pylist()
    assert len(exp) == len(out)
    for a, b in zip(exp, out, strict=True):
        for key, value in a.items():
            if isinstance(value, float):
                assert b[key] == pytest.approx(value, rel=1e-9), key
            else:
                assert b[key] == value, key
