"""One behaviour, every engine: schema migrations, idempotent writes, and identical query results.

The cross-engine tests build each ibis expression once and run it on DuckDB and on Spark over
the same rows; the results must be equal row for row, with the same Arrow types.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import ibis
import pandas as pd
import polars as pl
import polars.testing
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from aidmp.collect.rows import ColumnBuffer
from aidmp.engine.base import SCHEMA_TABLE, Engine, arrow_schema
from aidmp.errors import EngineError, NotFoundError
from aidmp.store.schema import MIGRATIONS, TABLES
from tests.conformance.conftest import event_rows

WINDOW_START = datetime(2026, 11, 3, tzinfo=UTC)
WINDOW_END = datetime(2026, 11, 9, tzinfo=UTC)
UPDATED = datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC)


def unique_rows() -> list[dict[str, Any]]:
    """The event rows an engine must keep: the first delivery of each message id."""
    columns = TABLES["events"].column_names
    seen: dict[str, dict[str, Any]] = {}
    for row in event_rows():
        seen.setdefault(row["message_id"], {c: row.get(c) for c in columns})
    return list(seen.values())


def items(*rows: tuple[str, str, float | None]) -> pa.Table:
    buffer = ColumnBuffer("items")
    for item_id, name, price in rows:
        buffer.add(
            {
                "item_id": item_id,
                "name": name,
                "price": price,
                "source": "catalog",
                "updated_at": UPDATED,
            }
        )
    return buffer.to_arrow()


def stored_items(engine: Engine) -> list[tuple[str, str, float | None]]:
    rows = engine.to_arrow("items").to_pylist()
    return sorted((r["item_id"], r["name"], r["price"]) for r in rows)


# -- schema ----------------------------------------------------------------------------------------
def test_migrate_creates_every_declared_table_once(bare_engine: Engine) -> None:
    latest = max(m.version for m in MIGRATIONS)
    assert bare_engine.schema_version() == 0
    assert bare_engine.migrate() == [m.version for m in MIGRATIONS]
    assert set(bare_engine.tables()) == {*TABLES, SCHEMA_TABLE}
    for name, spec in TABLES.items():
        schema = bare_engine.to_arrow(name).schema
        expected = arrow_schema(spec)
        assert schema.names == expected.names, name
        assert schema.types == expected.types, name
        assert bare_engine.count(name) == 0
    assert bare_engine.migrate() == []
    assert bare_engine.schema_version() == latest
    assert set(bare_engine.tables()) == {*TABLES, SCHEMA_TABLE}


# -- writes --------------------------------------------------------------------------------------
def test_append_stores_each_key_once(engine: Engine, events_batch: pa.Table) -> None:
    expected = unique_rows()
    assert events_batch.num_rows == len(expected) + 6  # six SDK retries in the batch
    first_part = events_batch.slice(0, 100)
    first_ids = set(first_part.column("message_id").to_pylist())

    assert engine.append("events", first_part) == len(first_ids)
    # The whole batch again: only the rows not stored yet go in, retries inside it are skipped.
    assert engine.append("events", events_batch) == len(expected) - len(first_ids)
    assert engine.append("events", events_batch) == 0
    assert engine.append("events", events_batch.slice(0, 0)) == 0
    assert engine.count("events") == len(expected)

    stored = engine.to_arrow("events").sort_by("message_id")
    assert stored.column("message_id").to_pylist() == sorted(r["message_id"] for r in expected)
    by_id = {r["message_id"]: r for r in stored.to_pylist()}
    for row in expected:  # the first delivery is kept, value for value
        assert by_id[row["message_id"]] == row


def test_append_skips_keys_repeated_inside_one_batch(engine: Engine) -> None:
    batch = items(("a", "first a", 1.0), ("b", "b", 2.0), ("a", "second a", 3.0))
    assert engine.append("items", batch) == 2
    assert stored_items(engine) == [("a", "first a", 1.0), ("b", "b", 2.0)]


def test_upsert_replaces_rows_by_key(engine: Engine) -> None:
    engine.append("items", items(("a", "Alien", 9.5), ("b", "Babe", None), ("c", "Casino", 7.0)))

    assert engine.upsert("items", items(("b", "Babe (1995)", 4.5), ("d", "Dune", 11.0))) == 2
    after = [
        ("a", "Alien", 9.5),
        ("b", "Babe (1995)", 4.5),
        ("c", "Casino", 7.0),
        ("d", "Dune", 11.0),
    ]
    assert stored_items(engine) == after
    # Replaying the same upsert changes nothing; new keys alone are simply inserted.
    assert engine.upsert("items", items(("b", "Babe (1995)", 4.5), ("d", "Dune", 11.0))) == 2
    assert stored_items(engine) == after
    assert engine.upsert("items", items(("e", "Emma", 3.0))) == 1
    assert engine.count("items") == 5
    # Other columns keep their values through the rewrite.
    row = engine.to_arrow("items").filter(pc.field("item_id") == "a")
    assert row.column("updated_at").to_pylist() == [UPDATED]
    assert row.column("source").to_pylist() == ["catalog"]


def test_upsert_batch_repeating_a_key_keeps_its_last_row(engine: Engine) -> None:
    engine.append("items", items(("a", "old", 1.0)))
    assert engine.upsert("items", items(("a", "newer", 2.0), ("a", "newest", 3.0))) == 1
    assert stored_items(engine) == [("a", "newest", 3.0)]


def test_rows_by_key_reads_the_rows_with_those_keys(engine: Engine) -> None:
    engine.append("items", items(("a", "Alien", 9.5), ("b", "Babe", None), ("c", "Casino", 7.0)))
    got = engine.rows_by_key("items", ["c", "a", "zz", "a"], ["item_id", "price"])
    assert sorted(got.to_pylist(), key=lambda r: r["item_id"]) == [
        {"item_id": "a", "price": 9.5}, {"item_id": "c", "price": 7.0}]
    assert engine.rows_by_key("items", [], ["item_id"]).num_rows == 0
    with pytest.raises(NotFoundError, match=r"one-column key; valid: .*events"):
        engine.rows_by_key("segment_members", ["x"], ["profile_id"])


def test_delete_in_removes_the_rows_holding_those_values(engine: Engine) -> None:
    # erasure's write: a person's rows by key (declared table) or by profile id (derived)
    engine.append("items", items(("a", "Alien", 9.5), ("b", "Babe", None), ("c", "Casino", 7.0)))
    assert engine.delete_in("items", "item_id", ["c", "a", "zz", "a"]) == 2
    assert stored_items(engine) == [("b", "Babe", None)]
    assert engine.delete_in("items", "item_id", []) == 0
    engine.write_table("profiles", pa.table({"profile_id": ["p1", "p2", "p1x", "p1"],
                                             "age": [1.0, 2.0, 3.0, 4.0]}))
    assert engine.delete_in("profiles", "profile_id", ["p1"]) == 2
    assert sorted(engine.to_arrow("profiles").column("profile_id").to_pylist()) == ["p1x", "p2"]


def test_replace_keyed_swaps_the_rows_of_some_keys(engine: Engine) -> None:
    def traits(*rows: tuple[str, str, str]) -> pa.Table:
        return pa.Table.from_pylist(
            [{"profile_id": p, "key": k, "value": v, "source": "web", "updated_at": UPDATED,
              "rule": "latest"} for p, k, v in rows], schema=arrow_schema(TABLES["traits"]))

    engine.append("traits", traits(("p1", "city", "Oslo"), ("p1", "age", "30"),
                                   ("p2", "city", "Rome"), ("p3", "city", "Lima")))
    engine.scratch_rows("_keys", pa.table({"profile_id": ["p1", "p3"]}))
    engine.scratch_rows("_new", traits(("p1", "city", "Bergen"), ("p1", "tier", "gold")))
    # p1's rows replaced (a key repeated, one added, one gone), p3's removed, p2's kept
    engine.replace_keyed("traits", "profile_id", engine.table("_keys"), engine.table("_new"))
    got = sorted((r["profile_id"], r["key"], r["value"])
                 for r in engine.to_arrow("traits").to_pylist())
    assert got == [("p1", "city", "Bergen"), ("p1", "tier", "gold"), ("p2", "city", "Rome")]
    with pytest.raises(NotFoundError, match="not a table builds rewrite"):
        engine.replace_keyed("events", "message_id", engine.table("_keys"),
                             engine.table("events"))


def test_failures_name_the_problem(engine: Engine, events_batch: pa.Table) -> None:
    with pytest.raises(NotFoundError, match="Valid tables"):
        engine.append("evnts", events_batch)
    with pytest.raises(EngineError):
        engine.append("items", items((None, "no id", 1.0)))  # type: ignore[arg-type]
    assert engine.count("items") == 0
    with pytest.raises(EngineError, match="no_such_column") as info:
        engine.sql("SELECT no_such_column FROM items")
    assert "-- query:" in str(info.value)


# -- one query, two engines ------------------------------------------------------------------------
def per_user_activity(events: ibis.Table) -> ibis.Table:
    """Track events per known user inside a time window: counts, distinct events, first/last."""
    tracked = events.filter(
        events.type == "track",
        events.user_id.notnull(),
        events.timestamp >= WINDOW_START,
        events.timestamp < WINDOW_END,
    )
    return (
        tracked.group_by("user_id")
        .agg(
            events=tracked.count(),
            distinct_events=tracked.event.nunique(),
            first_seen=tracked.timestamp.min(),
            last_seen=tracked.timestamp.max(),
        )
        .order_by([ibis.desc("events"), "user_id"])
    )


def daily_activity(events: ibis.Table) -> ibis.Table:
    """Events and distinct people per UTC day and message type."""
    return (
        events.group_by(["event_date", "type"])
        .agg(
            events=events.count(),
            people=events.user_id.nunique(),
            sources=events.source.nunique(),
        )
        .order_by(["event_date", "type"])
    )


def first_touch(events: ibis.Table) -> ibis.Table:
    """Each known user's first event (a window function)."""
    known = events.filter(events.user_id.notnull())
    ranked = known.mutate(
        rank=ibis.row_number().over(
            ibis.window(group_by="user_id", order_by=["timestamp", "message_id"])
        )
    )
    return (
        ranked.filter(ranked["rank"] == 0)
        .select("user_id", "type", "event", "timestamp", "event_date")
        .order_by("user_id")
    )


QUERIES: dict[str, Callable[[ibis.Table], ibis.Table]] = {
    "per_user_activity": per_user_activity,
    "daily_activity": daily_activity,
    "first_touch": first_touch,
}


def expected_per_user_activity() -> list[dict[str, Any]]:
    """per_user_activity computed in plain Python from the rows, as the reference."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in unique_rows():
        if (
            r["type"] == "track"
            and r["user_id"] is not None
            and WINDOW_START <= r["timestamp"] < WINDOW_END
        ):
            groups[r["user_id"]].append(r)
    result = [
        {
            "user_id": user,
            "events": len(rows),
            "distinct_events": len({r["event"] for r in rows}),
            "first_seen": min(r["timestamp"] for r in rows),
            "last_seen": max(r["timestamp"] for r in rows),
        }
        for user, rows in groups.items()
    ]
    return sorted(result, key=lambda r: (-r["events"], r["user_id"]))


@pytest.mark.spark
@pytest.mark.parametrize("query", list(QUERIES))
def test_one_expression_gives_the_same_rows_on_every_engine(
    loaded_engines: dict[str, Engine], query: str
) -> None:
    duck, spark = loaded_engines["duckdb"], loaded_engines["spark"]
    expr = QUERIES[query](duck.table("events"))  # built once, engine-free

    # Another engine sharing the Spark session may have changed its current database: the
    # compiled SQL must name the engine's own database.
    spark.session.catalog.setCurrentDatabase("default")  # type: ignore[attr-defined]
    on_duckdb = duck.execute(expr)
    on_spark = spark.execute(expr)

    assert on_duckdb.num_rows > 3
    assert on_spark.schema.equals(on_duckdb.schema), (on_spark.schema, on_duckdb.schema)
    assert on_spark.to_pylist() == on_duckdb.to_pylist()
    if query == "per_user_activity":
        assert on_duckdb.to_pylist() == expected_per_user_activity()
        assert on_duckdb.schema.field("first_seen").type == pa.timestamp("us", tz="UTC")


@pytest.mark.spark
def test_whole_table_reads_agree(loaded_engines: dict[str, Engine]) -> None:
    duck, spark = loaded_engines["duckdb"], loaded_engines["spark"]
    expected = len(unique_rows())
    assert duck.count("events") == spark.count("events") == expected

    arrow_duck = duck.to_arrow("events").sort_by("message_id")
    arrow_spark = spark.to_arrow("events").sort_by("message_id")
    assert arrow_spark.schema.equals(arrow_duck.schema)
    assert arrow_spark.equals(arrow_duck)
    assert arrow_duck.num_rows == expected

    frames = [
        e.to_pandas("events").sort_values("message_id", ignore_index=True) for e in (duck, spark)
    ]
    pd.testing.assert_frame_equal(frames[1], frames[0])
    assert str(frames[0]["timestamp"].dtype) == "datetime64[us, UTC]"

    polars_frames = [e.to_polars("events").sort("message_id") for e in (duck, spark)]
    polars.testing.assert_frame_equal(polars_frames[1], polars_frames[0])
    assert polars_frames[0].schema["timestamp"] == pl.Datetime("us", "UTC")
