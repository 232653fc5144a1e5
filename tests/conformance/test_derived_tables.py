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
