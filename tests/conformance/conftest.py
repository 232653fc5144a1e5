"""Fixtures of the conformance suite: the same tests, run on every engine.

The Spark session is session-scoped and started lazily, the first time a Spark-parametrised
test asks for it, so a DuckDB-only run (``-m "not spark"`` or ``-k duckdb``) never starts a JVM.
Each Spark test gets its own database on the shared session, dropped afterwards.

The events used everywhere are ~200 Segment messages generated deterministically (a small web
shop plus a MovieLens-like slice of ratings, with SDK retries and clock skew), normalised by
``normalize_message`` and buffered by ``ColumnBuffer`` exactly as the collector does.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest

from aidmp.collect.rows import ColumnBuffer
from aidmp.engine.base import Engine
from aidmp.spec.events import normalize_message

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

ENGINES = ["duckdb", pytest.param("spark", marks=pytest.mark.spark)]

SHOP_EVENTS = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed")
PAGES = ("Home", "Search", "Product", "Cart")
START = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def spark_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """One local[2] Spark session for the whole run, with its warehouse in a temp folder."""
    from aidmp.engine.spark import build_session

    warehouse = tmp_path_factory.mktemp("spark") / "warehouse"
    session = build_session("local[2]", warehouse, catalog="hive")
    yield session
    session.stop()


@contextmanager
def fresh_engine(
    kind: str, request: pytest.FixtureRequest, directory: Path, *, migrate: bool = True
) -> Iterator[Engine]:
    """An engine with nothing in it: a new DuckDB file, or a new database on the Spark session."""
    engine: Engine
    if kind == "duckdb":
        from aidmp.engine.duckdb import DuckDBEngine

        engine = DuckDBEngine(directory / f"{uuid.uuid4().hex[:8]}.duckdb")
        try:
            if migrate:
                engine.migrate()
            yield engine
        finally:
            engine.close()
        return
    from aidmp.engine.spark import SparkEngine

    session: SparkSession = request.getfixturevalue("spark_session")
    database = f"aidmp_test_{uuid.uuid4().hex[:10]}"
    engine = SparkEngine(session=session, database=database)
    try:
        if migrate:
            engine.migrate()
        yield engine
    finally:
        engine.close()
        session.sql(f"DROP DATABASE IF EXISTS {database} CASCADE")


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh, migrated engine of each kind."""
    with fresh_engine(request.param, request, tmp_path) as eng:
        yield eng


@pytest.fixture(params=ENGINES)
def bare_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh engine of each kind, not migrated yet."""
    with fresh_engine(request.param, request, tmp_path, migrate=False) as eng:
        yield eng


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def segment_messages() -> list[tuple[dict[str, Any], str, datetime]]:
    """~200 (message, source, received_at) triples, the same on every call."""
    rng = random.Random(20261101)
    users = [f"user-{i:02d}" for i in range(1, 13)]
    out: list[tuple[dict[str, Any], str, datetime]] = []
    for i in range(130):
        at = START + timedelta(minutes=rng.randrange(10 * 24 * 60), seconds=rng.randrange(60))
        kind = rng.choices(["track", "page", "identify", "screen", "group"], [10, 4, 1, 1, 1])[0]
        msg: dict[str, Any] = {
            "type": kind,
            "messageId": f"web-{i:04d}",
            "anonymousId": f"anon-{rng.randrange(20):02d}",
            "timestamp": _iso(at),
            "context": {"ip": f"203.0.113.{rng.randrange(1, 255)}", "library": {"name": "js"}},
        }
        if rng.random() < 0.85 or kind == "identify":
            msg["userId"] = rng.choice(users)
        if kind == "track":
            msg["event"] = rng.choice(SHOP_EVENTS)
            msg["properties"] = {"sku": f"sku-{rng.randrange(40)}", "price": rng.randrange(5, 200)}
        elif kind in ("page", "screen"):
            msg["name"] = rng.choice(PAGES)
        elif kind == "identify":
            msg["traits"] = {"plan": rng.choice(["free", "pro"]), "email": f"{i}@example.com"}
        else:
            msg["groupId"] = f"acct-{rng.randrange(4)}"
        received = at + timedelta(seconds=2)
        if i % 5 == 0:
            # The device clock runs 30 s fast: the skew correction must move the timestamp.
            msg["timestamp"] = _iso(at + timedelta(seconds=30))
            msg["sentAt"] = _iso(at + timedelta(seconds=31))
        out.append((msg, "web", received))
    for _ in range(60):
        # MovieLens-like ratings (u.data: user id, item id, rating 1-5): numeric user ids and no
        # messageId, so the collector derives a deterministic one.
        at = datetime(2026, 11, 3, tzinfo=UTC) + timedelta(seconds=rng.randrange(7 * 86400))
        msg = {
            "type": "track",
            "event": "Movie Rated",
            "userId": rng.randrange(1, 9),
            "properties": {"movieId": rng.randrange(1, 1683), "rating": rng.randint(1, 5)},
            "timestamp": _iso(at),
        }
        out.append((msg, "movielens", at + timedelta(hours=1)))
    for k in range(4):
        msg = {"type": "alias", "previousId": f"anon-{k:02d}", "userId": users[k]}
        msg["messageId"] = f"alias-{k}"
        out.append((msg, "web", START + timedelta(days=k, hours=3)))
    # SDK retries: the same message delivered again later (a different received_at), which
    # must not be stored twice; the first delivery is the one kept. (A message without a
    # messageId sent again later is another event: its generated id includes the receive time.)
    for index in (3, 17, 42, 99, 111, 127):
        msg, source, received = out[index]
        out.append((msg, source, received + timedelta(seconds=5)))
    return out


def event_rows() -> list[dict[str, Any]]:
    """The normalised ``events`` rows of :func:`segment_messages`, retries included."""
    return [
        normalize_message(msg, source=source, received_at=received)
        for msg, source, received in segment_messages()
    ]


@pytest.fixture(scope="session")
def events_batch() -> pa.Table:
    """The events as one Arrow batch, built the way the collector builds its batches."""
    buffer = ColumnBuffer("events")
    buffer.extend(event_rows())
    return buffer.to_arrow()


@pytest.fixture(scope="module")
def loaded_engines(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    events_batch: pa.Table,
) -> Iterator[dict[str, Engine]]:
    """A DuckDB and a Spark engine holding the same events (shared by the read-only tests)."""
    directory = tmp_path_factory.mktemp("loaded")
    with (
        fresh_engine("duckdb", request, directory) as duck,
        fresh_engine("spark", request, directory) as spark,
    ):
        for eng in (duck, spark):
            eng.append("events", events_batch)
        yield {"duckdb": duck, "spark": spark}
