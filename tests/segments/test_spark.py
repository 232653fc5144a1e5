"""The same compiled queries on Spark (local[2]): same members as DuckDB's known answers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from aidmp.engine.base import Engine
from aidmp.segments.service import Segments

from .conftest import AS_OF, build_world
from .test_service import CASES

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark_world(tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[tuple[Engine, dict[str, str]]]:
    from aidmp.engine.spark import SparkEngine, build_session

    base = tmp_path_factory.mktemp("segments_spark")
    dmp, pid = build_world(base / "home")
    session = build_session("local[2]", base / "warehouse", catalog="hive")
    database = f"aidmp_seg_{uuid.uuid4().hex[:8]}"
    engine = SparkEngine(session=session, database=database)
    engine.migrate()
    for name in ("events", "consents"):
        engine.append(name, dmp.engine.to_arrow(name))
    for name in ("profiles", "event_profiles"):
        engine.write_table(name, dmp.engine.to_arrow(name))
    dmp.close()
    yield engine, pid
    engine.close()
    session.sql(f"DROP DATABASE IF EXISTS {database} CASCADE")
    session.stop()


def test_known_members_on_spark(spark_world: tuple[Engine, dict[str, str]]) -> None:
    engine, pid = spark_world
    user = {v: k for k, v in pid.items()}
    segs = Segments(engine, as_of=AS_OF)
    # a representative subset: each kind of predicate, kept short because Spark runs each
    # query in seconds
    for rule, expected in [CASES[i] for i in (0, 1, 3, 6, 8, 15)]:
        got = engine.execute(segs.compile(rule=rule).expr).column("profile_id").to_pylist()
        assert {user[p] for p in got} == expected, rule


def test_refresh_and_overlap_on_spark(spark_world: tuple[Engine, dict[str, str]],
                                      tmp_path: Path) -> None:
    engine, _ = spark_world
    segs = Segments(engine, as_of=AS_OF)
    segs.create("recent", rule='event("Order Completed", within=30d)')  # u1 u3
    segs.create("germans", rule='country = "DE"')  # u1 u3 u5
    assert segs.overlap(["recent", "germans"])["matrix"] == [[2, 2], [2, 3]]
    reports = {r.segment_id: (r.entered, r.exited) for r in segs.refresh(build_id="s1")}
    assert reports == {"recent": (2, 0), "germans": (3, 0)}
    assert [s["id"] for s in segs.list()] == ["germans", "recent"]
