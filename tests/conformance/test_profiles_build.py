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


_COLUMNS = ["profile_id", "events", "orders_total", "revenue_total", "rfm_recency_days", "rfm_r",
            "rfm_f", "rfm_m", "rfm_segment", "engagement_score", "purchasing_power",
            "first_name", "top_category", "events_30d"]


def _build(engine: Engine, home: Path) -> tuple[pa.Table, dict[str, object]]:
    """Build on the first 80 % of the demo's messages (by time), then incrementally on the
    rest."""
    dmp = DMP(home=home, engine=engine)
    messages = sorted(_demo_messages(), key=lambda m: str(m.get("timestamp")))
    cut = len(messages) * 4 // 5
    dmp.events.ingest(messages[:cut], source="web")
    first = dmp.build()
    dmp.events.ingest(messages[cut:], source="web")
    summary = dmp.build()
    table = engine.execute(engine.table("profiles").select(*_COLUMNS).order_by("profile_id"))
    return table, {"profiles": summary.profiles, "identifiers": summary.identifiers,
                   "first_full": not first.profiles_incremental,
                   "then_incremental": summary.profiles_incremental}


def _agree(expected: pa.Table, got: pa.Table) -> None:
    exp, out = expected.to_pylist(), got.to_pylist()
    assert len(exp) == len(out)
    for a, b in zip(exp, out, strict=True):
        for key, value in a.items():
            if isinstance(value, float):
                assert b[key] == pytest.approx(value, rel=1e-9), key
            else:
                assert b[key] == value, key


@pytest.mark.spark
def test_profiles_agree_across_engines(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    with fresh_engine("duckdb", request, tmp_path) as duck:
        expected, counts = _build(duck, tmp_path / "duck")
        # the incremental build gave what a full one gives
        DMP(home=tmp_path / "duck", engine=duck).build(full=True)
        _agree(duck.execute(duck.table("profiles").select(*_COLUMNS).order_by("profile_id")),
               expected)
    with fresh_engine("spark", request, tmp_path) as spark:
        got, spark_counts = _build(spark, tmp_path / "spark")
    assert spark_counts == counts
    assert counts["profiles"] > 10 and counts["first_full"] and counts["then_incremental"]
    _agree(expected, got)
