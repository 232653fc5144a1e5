"""Imports from real PostgreSQL and MariaDB servers: full, incremental by a cursor column,
a bad row quarantined with its reason, re-runs that store nothing twice, and a password that
never shows."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest
import sqlalchemy as sa

from aidmp.collect.database import DatabaseImporter, _driver_url
from aidmp.errors import BrokerError, ValidationError
from aidmp.spec.imports import ImportMapping
from tests.sources.conftest import PASSWORD

ROWS = [  # id, customer, amount, updated_at
    (1, "c1", 10.5, datetime(2026, 11, 1, 9, 0)),
    (2, "c2", 20.0, datetime(2026, 11, 1, 10, 0)),
    (3, None, 5.0, datetime(2026, 11, 1, 11, 0)),  # no customer: quarantined
    (4, "c1", 7.25, datetime(2026, 11, 2, 9, 0)),
]


def _db(dsn: str) -> sa.Engine:
    return sa.create_engine(_driver_url(dsn))


def _reset(dsn: str, table: str) -> None:
    with _db(dsn).begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        conn.exec_driver_sql(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, customer "
                             "VARCHAR(20), amount NUMERIC(10, 2), updated_at TIMESTAMP NULL)")
        _insert(conn, table, ROWS)


def _insert(conn: sa.Connection, table: str, rows: list[tuple[object, ...]]) -> None:
    conn.execute(sa.text(f"INSERT INTO {table} VALUES (:i, :c, :a, :u)"),
                 [{"i": i, "c": c, "a": a, "u": u} for i, c, a, u in rows])


def _mapping(source: str, **extra: object) -> ImportMapping:
    return ImportMapping(source=source, event="Order Completed", user_id_column="customer",
                         timestamp_column="updated_at", **extra)  # type: ignore[arg-type]


@pytest.fixture(params=["postgresql", "mariadb"])
def dsn(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("postgres_dsn" if request.param == "postgresql"
                                       else "mariadb_dsn"))


def test_full_then_incremental_then_nothing_twice(dsn, dmp, caplog):
    caplog.set_level(logging.DEBUG)
    _reset(dsn, "orders")
    db = DatabaseImporter(dmp.imports, dmp.home / "sources")
    m = _mapping("shop", message_id_column="id")
    first = db.run(dsn, m, table="orders", cursor="updated_at")
    assert (first.counts.read, first.counts.stored, first.counts.quarantined) == (4, 3, 1)
    assert first.mode == "full" and first.cursor_to == "2026-11-02T09:00:00"
    bad = dmp.engine.sql("SELECT field, reason, kind FROM quarantine").to_pylist()
    assert bad == [{"field": "customer", "reason": "missing: no user id or anonymous id",
                    "kind": "import"}]
    with _db(dsn).begin() as conn:
        _insert(conn, "orders", [(5, "c3", 99.0, datetime(2026, 11, 3, 8, 0)),
                                 (6, "c2", 1.0, datetime(2026, 11, 3, 9, 30))])
        # an old row touched again: read again, and its message id is already stored
        conn.exec_driver_sql("UPDATE orders SET updated_at = '2026-11-03 10:00:00' WHERE id = 2")
    second = db.run(dsn, m, table="orders", cursor="updated_at")
    assert second.mode == "incremental" and second.cursor_from == "2026-11-02T09:00:00"
    assert (second.counts.read, second.counts.stored, second.counts.duplicates) == (3, 2, 1)
    assert second.cursor_to == "2026-11-03T10:00:00"
    third = db.run(dsn, m, table="orders", cursor="updated_at")
    assert (third.counts.read, third.counts.stored) == (0, 0)
    assert third.cursor_to == "2026-11-03T10:00:00"  # kept for the next run
    again = db.run(dsn, m, table="orders", cursor="updated_at", full=True)
    assert (again.counts.read, again.counts.stored, again.counts.quarantined) == (6, 0, 1)
    ids = dmp.engine.sql("SELECT message_id, user_id, properties FROM events "
                         "ORDER BY message_id").to_pylist()
    assert [r["message_id"] for r in ids] == [f"shop:{i}" for i in (1, 2, 4, 5, 6)]
    assert dmp.engine.sql("SELECT count(*) FROM quarantine").column(0)[0].as_py() == 1
    assert '"amount":99.0' in ids[3]["properties"].replace(" ", "")
    state = (dmp.home / "sources" / "shop.json").read_text()
    assert PASSWORD not in state and "***" in state
    assert PASSWORD not in caplog.text


def test_a_query_by_increasing_id_without_message_ids(dsn, dmp):
    _reset(dsn, "orders_q")
    db = DatabaseImporter(dmp.imports, dmp.home / "sources", chunk_rows=2)
    m = _mapping("big-orders")
    query = "SELECT id, customer, amount, updated_at FROM orders_q WHERE amount >= 7"
    first = db.run(dsn, m, query=query, cursor="id")
    assert (first.counts.read, first.counts.stored, first.cursor_to) == (3, 3, "4")
    with _db(dsn).begin() as conn:
        _insert(conn, "orders_q", [(7, "c9", 50.0, datetime(2026, 11, 4)),
                                   (8, "c9", 1.0, datetime(2026, 11, 4))])
    second = db.run(dsn, m, query=query, cursor="id")
    assert (second.counts.read, second.counts.stored, second.cursor_to) == (1, 1, "7")
    rerun = db.run(dsn, m, query=query, cursor="id", full=True)  # content ids: stored once
    assert (rerun.counts.read, rerun.counts.stored, rerun.counts.duplicates) == (4, 0, 4)
    with pytest.raises(ValidationError) as err:
        db.run(dsn, m, query=query, cursor="updated_at")
    assert err.value.field == "cursor" and "--full" in err.value.message


def test_bad_options_and_credentials_give_errors_without_the_password(dsn, dmp, monkeypatch):
    _reset(dsn, "orders_e")
    db = DatabaseImporter(dmp.imports, dmp.home / "sources")
    m = _mapping("errs")
    with pytest.raises(ValidationError) as err:
        db.run(dsn, m, table="no_such_table")
    assert err.value.field == "table" and PASSWORD not in str(err.value)
    with pytest.raises(ValidationError) as err:
        db.run(dsn, m, table="orders_e", cursor="changed")
    assert err.value.field == "cursor" and "updated_at" in err.value.message
    with pytest.raises(ValidationError) as err:
        db.run(dsn, m, query="DELETE FROM orders_e")
    assert err.value.field == "query"
    with pytest.raises(ValidationError) as err:
        db.run(dsn, m, query="SELECT nope FROM orders_e")
    assert err.value.field == "query" and PASSWORD not in str(err.value)
    with pytest.raises(ValidationError) as err:
        db.run(dsn.replace("postgresql", "oracle").replace("mysql", "oracle"), m, table="x")
    assert err.value.field == "dsn" and "postgresql, mysql, mariadb" in err.value.message
    monkeypatch.setenv("AIDMP_TEST_DB_PASSWORD", PASSWORD + "-wrong")
    with pytest.raises(BrokerError) as down:
        db.run(dsn, m, table="orders_e")
    assert down.value.field == "dsn" and PASSWORD not in str(down.value)
    assert "***" in str(down.value)
    monkeypatch.delenv("AIDMP_TEST_DB_PASSWORD")
    with pytest.raises(Exception) as unset:
        db.run(dsn, m, table="orders_e")
    assert "AIDMP_TEST_DB_PASSWORD is not set" in str(unset.value)
    assert dmp.engine.sql("SELECT count(*) FROM events").column(0)[0].as_py() == 0
