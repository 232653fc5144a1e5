"""Derived tables (query results, frames) behave the same on every engine."""

from __future__ import annotations

import pyarrow as pa
import pytest

from aidmp.engine.base import Engine
from aidmp.errors import NotFoundError


def test_materialize_write_read_drop(engine: Engine, events_batch: pa.Table) -> None:
    engine.append("events", events_batch)
    t = engine.table("events")
    engine.materialize("work_counts", t.group_by("type").aggregate(n=t.count()))
    counts = engine.table("work_counts")
    assert counts.columns == ("type", "n")
    got = {r["type"]: r["n"] for r in engine.execute(counts).to_pylist()}
    expected: dict[str, int] = {}
    # the batch holds SDK retries: one row per message id is stored
    unique = dict(zip(events_batch.column("message_id").to_pylist(),
                      events_batch.column("type").to_pylist(), strict=True))
    for kind in unique.values():
        expected[kind] = expected.get(kind, 0) + 1
    assert got == expected
    # replace from a query that reads another derived table, then append a frame
    engine.materialize("work_top", counts.filter(counts.n == counts.n.max()))
    engine.write_table("work_top", pa.table({"type": ["x"], "n": pa.array([0], pa.int64())}),
                       mode="append")
    assert engine.count("work_top") == 2
    engine.write_table("work_top", pa.table({"type": ["y"], "n": pa.array([1], pa.int64())}))
    assert engine.execute(engine.table("work_top")).to_pylist() == [{"type": "y", "n": 1}]
    engine.drop("work_top")
    assert not engine.has_table("work_top")
    with pytest.raises(NotFoundError, match="Unknown table 'work_top'"):
        engine.table("work_top")
    with pytest.raises(NotFoundError, match="declared table"):
        engine.drop("events")


def test_replace_rows_of_a_derived_table(engine: Engine) -> None:
    engine.write_table("work_map", pa.table({"message_id": ["m1", "m2", "m3"],
                                             "profile_id": ["p1", "p1", "p2"]}))
    engine.write_table("work_fresh", pa.table({"message_id": ["m2", "m4"],
                                               "profile_id": ["p3", "p3"]}))
    fresh = engine.table("work_fresh")
    # m2 moves to p3, m4 arrives, m1 and m3 stay; the table is kept in profile order
    engine.replace_rows("work_map", "message_id", fresh, fresh, order_by="profile_id")
    got = engine.execute(engine.table("work_map")).to_pylist()
    assert sorted((r["message_id"], r["profile_id"]) for r in got) == [
        ("m1", "p1"), ("m2", "p3"), ("m3", "p2"), ("m4", "p3")]
    with pytest.raises(NotFoundError, match="declared table"):
        engine.replace_rows("events", "message_id", fresh, fresh)
    engine.drop("work_map")
    engine.drop("work_fresh")
