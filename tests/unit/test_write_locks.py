"""Writes to different tables run side by side; writes to one table, and whole-store
operations, wait (aidmp.engine.duckdb.locks and the DuckDB engine that uses it)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import ibis
import pyarrow as pa

from aidmp.engine.base import arrow_schema
from aidmp.engine.duckdb.engine import DuckDBEngine
from aidmp.engine.duckdb.locks import WriteLocks
from aidmp.store.schema import TABLES


def _held_in_thread(ctx: object) -> tuple[threading.Event, threading.Event, threading.Thread]:
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with ctx:  # type: ignore[attr-defined]
            entered.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    assert entered.wait(10)
    return entered, release, t


def test_other_tables_do_not_wait_the_same_table_does() -> None:
    locks = WriteLocks()
    _, release, t = _held_in_thread(locks.table("profiles"))
    with locks.table("events"):  # another table: at once
        assert locks.busy() == ["events", "profiles"]
    got = threading.Event()

    def same() -> None:
        with locks.table("profiles"):
            got.set()

    waiter = threading.Thread(target=same)
    waiter.start()
    assert not got.wait(0.3)  # the same table waits for the holder
    release.set()
    assert got.wait(10)
    t.join()
    waiter.join()
    assert locks.busy() == []


def test_everything_waits_for_writers_and_holds_new_ones() -> None:
    locks = WriteLocks()
    _, release, t = _held_in_thread(locks.table("events"))
    order: list[str] = []

    def whole() -> None:
        with locks.everything():
            order.append("everything")
            time.sleep(0.1)

    def late() -> None:
        with locks.table("segment_members"):
            order.append("late writer")

    w = threading.Thread(target=whole)
    w.start()
    time.sleep(0.2)
    assert order == []  # waiting for the events writer
    late_t = threading.Thread(target=late)
    late_t.start()
    time.sleep(0.2)
    assert order == []  # a new writer does not overtake the waiting whole-store operation
    release.set()
    for th in (t, w, late_t):
        th.join(10)
    assert order == ["everything", "late writer"]


def test_an_append_is_not_held_up_by_a_long_statement_on_another_table(tmp_path: Path) -> None:
    eng = DuckDBEngine(str(tmp_path / "s.duckdb"))
    eng.migrate()
    big = ibis.range(8_000_000).unnest().name("i").as_table().mutate(r=ibis.random()).order_by("r")
    done: list[str] = []

    def build() -> None:
        eng.materialize("_profile_bench", big)
        done.append("build")

    t = threading.Thread(target=build)
    t.start()
    time.sleep(0.2)  # the build's statement is running, holding its table's lock
    schema = arrow_schema(TABLES["segment_members"])
    row = {"segment_id": "s", "profile_id": "p", "entered_at": datetime.now(UTC),
           "exited_at": None, "trigger": "t"}
    assert eng.append("segment_members", pa.Table.from_pylist([row], schema=schema)) == 1
    done.append("append")
    t.join()
    assert done == ["append", "build"]
    assert eng.count("segment_members") == 1 and eng.count("_profile_bench") == 8_000_000
    eng.close()
