"""Spark's bucketed tables: a write rewrites only the buckets its keys fall in.

Checked on the files of the warehouse folder (names, sizes and modification times) and on the
table's values; plus the stores made before buckets: read as they are, converted by migrate().
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest

from aidmp.engine.base import arrow_schema
from aidmp.engine.spark import SparkEngine
from aidmp.engine.spark.buckets import BUCKET, PARTS_PREFIX, bucket_sql
from aidmp.store.schema import TABLES

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark

BUCKETS = 8
AT = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
Files = dict[Path, tuple[int, int]]


@pytest.fixture
def database(spark_session: SparkSession) -> Iterator[str]:
    name = f"aidmp_buckets_{uuid.uuid4().hex[:10]}"
    yield name
    spark_session.sql(f"DROP DATABASE IF EXISTS {name} CASCADE")


def traits(*rows: tuple[str, str, str]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"profile_id": p, "key": k, "value": v, "source": "web", "updated_at": AT,
          "rule": "latest"} for p, k, v in rows], schema=arrow_schema(TABLES["traits"]))


def stored(eng: SparkEngine) -> list[tuple[str, str, str]]:
    return sorted((r["profile_id"], r["key"], r["value"])
                  for r in eng.to_arrow("traits").to_pylist())


def bucket_of(eng: SparkEngine, people: list[str]) -> dict[str, int]:
    values = ", ".join(f"('{p}')" for p in people)
    rows = eng.sql(f"SELECT profile_id, {bucket_sql(['profile_id'], BUCKETS)} AS b "
                   f"FROM VALUES {values} AS t(profile_id)").to_pylist()
    return {r["profile_id"]: r["b"] for r in rows}


def folder(session: SparkSession, database: str, table: str) -> Path:
    warehouse = session.conf.get("spark.sql.warehouse.dir") or ""
    return Path(warehouse.removeprefix("file:")) / f"{database}.db" / table


def parquet_files(where: Path) -> Files:
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in where.rglob("*.parquet")}


def in_bucket(path: Path, bucket: int) -> bool:
    return f"{BUCKET}={bucket}" in path.parts


@pytest.fixture
def loaded(spark_session: SparkSession, database: str
           ) -> Iterator[tuple[SparkEngine, dict[str, int], Path]]:
    """An engine of 8 buckets holding two traits of 24 people, each bucket in its own files."""
    eng = SparkEngine(session=spark_session, database=database, buckets=BUCKETS)
    eng.migrate()
    people = [f"p{i:02d}" for i in range(24)]
    eng.append("traits", traits(*[(p, k, f"{k}-{p}") for p in people for k in ("city", "plan")]))
    yield eng, bucket_of(eng, people), folder(spark_session, database, PARTS_PREFIX + "traits")
    eng.close()


def test_upsert_of_keys_in_one_bucket_leaves_the_other_buckets_files_untouched(
        loaded: tuple[SparkEngine, dict[str, int], Path]) -> None:
    eng, buckets, where = loaded
    before = parquet_files(where)
    assert {int(p.parent.name.split("=")[1]) for p in before} == set(range(BUCKETS))
    target = buckets["p03"]
    # another stored person of the same bucket, and a new person who falls in it too
    mate = next(p for p, b in sorted(buckets.items()) if b == target and p != "p03")
    newcomer = next(p for p, b in bucket_of(eng, [f"n{i}" for i in range(200)]).items()
                    if b == target)
    assert eng.upsert("traits", traits(("p03", "city", "Bergen"), (mate, "tier", "gold"),
                                       (newcomer, "city", "Lima"))) == 3
    after = parquet_files(where)
    others = {p: v for p, v in before.items() if not in_bucket(p, target)}
    assert {p: v for p, v in after.items() if not in_bucket(p, target)} == others
    # the bucket's old files are gone, its new ones are all new
    changed = {p for p in after if in_bucket(p, target)}
    assert changed and not changed & set(before)
    assert not any(in_bucket(p, target) for p in set(before) & set(after))
    expected = {(p, k, f"{k}-{p}") for p in buckets for k in ("city", "plan")}
    expected = (expected - {("p03", "city", "city-p03")}) | {
        ("p03", "city", "Bergen"), (mate, "tier", "gold"), (newcomer, "city", "Lima")}
    assert stored(eng) == sorted(expected)
    # appending after the swap lands in the bucket's new folder and is read back
    assert eng.append("traits", traits((newcomer, "plan", "pro"), ("p03", "city", "x"))) == 1
    assert (newcomer, "plan", "pro") in stored(eng)
    assert eng.count("traits") == len(expected) + 1


def test_replace_keyed_and_delete_in_rewrite_only_their_buckets(
        loaded: tuple[SparkEngine, dict[str, int], Path]) -> None:
    eng, buckets, where = loaded
    target = buckets["p05"]
    before = parquet_files(where)
    eng.scratch_rows("_keys", pa.table({"profile_id": ["p05"]}))
    eng.scratch_rows("_new", traits(("p05", "city", "Oslo"), ("p05", "age", "41")))
    eng.replace_keyed("traits", "profile_id", eng.table("_keys"), eng.table("_new"))
    after = parquet_files(where)
    assert {p: v for p, v in after.items() if not in_bucket(p, target)} == {
        p: v for p, v in before.items() if not in_bucket(p, target)}
    rows = stored(eng)
    assert [r for r in rows if r[0] == "p05"] == [("p05", "age", "41"), ("p05", "city", "Oslo")]
    assert len(rows) == 2 * len(buckets)

    # erasure of every person of one bucket: that bucket's partition goes, the rest stay
    doomed = sorted(p for p, b in buckets.items() if b == target)
    before = parquet_files(where)
    assert eng.delete_in("traits", "profile_id", [*doomed, "nobody"]) == 2 * len(doomed)
    after = parquet_files(where)
    assert not any(in_bucket(p, target) for p in after)
    assert after == {p: v for p, v in before.items() if not in_bucket(p, target)}
    assert {r[0] for r in stored(eng)} == set(buckets) - set(doomed)
    assert eng.delete_in("traits", "profile_id", ["nobody"]) == 0
    # a full replace (keep_only) still works on the bucketed table, and keeps its layout
    t = eng.table("traits")
    eng.keep_only("traits", t.filter(t.key == "plan"))
    assert stored(eng) == sorted((p, "plan", f"plan-{p}") for p in set(buckets) - set(doomed))


def test_a_store_made_before_buckets_is_read_then_converted_by_migrate(
        spark_session: SparkSession, database: str) -> None:
    old = SparkEngine(session=spark_session, database=database, buckets=0)
    old.migrate()
    old.append("traits", traits(("p1", "city", "Oslo"), ("p2", "city", "Rome")))
    old.upsert("traits", traits(("p2", "city", "Milan")))
    names = set(old.tables())
    old.close()
    plain = folder(spark_session, database, "traits")
    assert list(plain.rglob("*.parquet"))

    eng = SparkEngine(session=spark_session, database=database, buckets=BUCKETS)
    # before migrate(): the plain table is read and written as it was
    assert stored(eng) == [("p1", "city", "Oslo"), ("p2", "city", "Milan")]
    eng.upsert("traits", traits(("p1", "city", "Bergen")))
    assert eng.migrate() == []  # no schema change, but the tables move into buckets
    assert set(eng.tables()) == names
    assert not plain.exists()
    parts = folder(spark_session, database, PARTS_PREFIX + "traits")
    assert {p.parent.name for p in parts.rglob("*.parquet")} <= {
        f"{BUCKET}={b}" for b in range(BUCKETS)}
    assert stored(eng) == [("p1", "city", "Bergen"), ("p2", "city", "Milan")]
    eng.upsert("traits", traits(("p2", "city", "Turin"), ("p3", "city", "Lima")))
    assert stored(eng) == [("p1", "city", "Bergen"), ("p2", "city", "Turin"),
                           ("p3", "city", "Lima")]
    eng.close()

    # a conversion interrupted after the plain table was dropped: the view is made on open
    spark_session.sql(f"DROP VIEW {database}.traits")
    again = SparkEngine(session=spark_session, database=database, buckets=BUCKETS)
    assert "traits" in again.tables()
    assert again.count("traits") == 3
    again.close()


def test_a_swap_stopped_after_its_buckets_were_dropped_is_finished_on_open(
        spark_session: SparkSession, loaded: tuple[SparkEngine, dict[str, int], Path],
        database: str) -> None:
    eng, buckets, where = loaded
    target = buckets["p07"]
    rows = stored(eng)
    eng.close()
    # what a crash leaves: the bucket's new folder written, the swap noted, the old partition
    # dropped (with its files), the new one not added yet
    old = next(p.parent for p in where.rglob("*.parquet") if in_bucket(p, target))
    fresh = where / "_gcrashed" / f"{BUCKET}={target}"
    shutil.copytree(old, fresh)
    parts = f"{database}.{PARTS_PREFIX}traits"
    spark_session.sql(f"ALTER TABLE {parts} SET TBLPROPERTIES "
                      f"('aidmp.swap' = 'file:{where / '_gcrashed'}|{target}')")
    spark_session.sql(f"ALTER TABLE {parts} DROP PARTITION ({BUCKET} = {target})")
    assert not old.exists()
    assert spark_session.table(parts).count() < len(rows)

    again = SparkEngine(session=spark_session, database=database, buckets=BUCKETS)
    assert stored(again) == rows
    props = {r["key"] for r in spark_session.sql(f"SHOW TBLPROPERTIES {parts}").collect()}
    assert "aidmp.swap" not in props
    again.close()
