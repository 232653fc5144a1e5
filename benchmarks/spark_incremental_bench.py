"""Incremental writes on Spark: whole-table rewrite vs hash-bucketed partitions (issue 21).

One ``traits`` table of ``ROWS`` rows (``ROWS / 4`` people with four traits each) is stored
once per layout in its own database of one Spark ``local[2]`` session:

* ``plain``: the layout of stores made before buckets (``SparkEngine(buckets=0)``): an upsert
  that hits a stored key rewrites the whole table into a staging table and swaps it in, and
  ``replace_keyed`` is ``INSERT OVERWRITE`` of the whole table from a staged copy.
* ``buckets=N``: the table partitioned by ``pmod(xxhash64(profile_id), N)``; only the buckets
  that the written keys fall in get new files (:mod:`aidmp.engine.spark.buckets`).

Timed, each ``REPEAT`` times (median reported), on every layout in the same run:

* ``upsert_1000``: :meth:`upsert` of 1,000 rows, half of them stored keys (another random
  500 people's ``plan`` trait changed), half new people;
* ``replace_keyed_1000``: :meth:`replace_keyed` of 1,000 random stored people (their four
  traits replaced by three new ones: what the incremental profile build does, ADR 0005);
* ``upsert_10``: :meth:`upsert` of 10 rows, 5 stored (a service's small write).

Beside the time: the Parquet files written and deleted and the bytes written in the table's
warehouse folder (file names, sizes and mtimes compared before and after each write). Every
layout gets the same writes from the same seed; the tables' contents must be equal at the end
(count and a hash of every row), which the script checks.

Run: ``.venv/bin/python benchmarks/spark_incremental_bench.py`` (``ROWS=1000000``
``LAYOUTS=0,8,32,128`` ``REPEAT=3``). Results: ``benchmarks/results/spark_incremental.json``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from aidmp.engine.spark import SparkEngine, build_session
from aidmp.store.schema import TABLES

ROWS = int(os.environ.get("ROWS", "1000000"))
LAYOUTS = [int(x) for x in os.environ.get("LAYOUTS", "0,8,32,128").split(",")]
REPEAT = int(os.environ.get("REPEAT", "3"))
KEYS = ("plan", "city", "device", "tier")
CHUNK = int(os.environ.get("CHUNK", "250000"))  # Arrow slices (the driver JVM has 1 GB)
RESULTS = Path(__file__).resolve().parent / "results" / "spark_incremental.json"
NOW = datetime(2026, 12, 7, tzinfo=UTC)


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def traits(people: np.ndarray, keys: tuple[str, ...], value: str) -> pa.Table:
    """One row per person and key, every value ``value``-<person>."""
    ids = np.repeat(np.array([f"p{p:09d}" for p in people], dtype=object), len(keys))
    names = np.tile(np.array(keys, dtype=object), len(people))
    cols = TABLES["traits"].column_names
    data: dict[str, Any] = {
        "profile_id": ids,
        "key": names,
        "value": np.array([f"{value}-{p}" for p in ids], dtype=object),
        "source": np.full(len(ids), "bench", dtype=object),
        "updated_at": pa.array([NOW] * len(ids), pa.timestamp("us", tz="UTC")),
        "rule": pa.nulls(len(ids), pa.string()),
    }
    return pa.table({c: data[c] for c in cols})


def files(folder: Path) -> dict[str, tuple[int, int]]:
    """Parquet files under ``folder``: path -> (size, mtime in ns)."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*.parquet")}


def touched(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
            ) -> dict[str, int]:
    """Files written (new or changed), deleted, bytes written, files left alone."""
    written = [p for p, v in after.items() if before.get(p) != v]
    return {
        "files_written": len(written),
        "files_deleted": len([p for p in before if p not in after]),
        "bytes_written": sum(after[p][0] for p in written),
        "files_untouched": len([p for p, v in before.items() if after.get(p) == v]),
        "files_total": len(after),
        "bytes_total": sum(v[0] for v in after.values()),
    }


def content(eng: SparkEngine) -> tuple[int, int]:
    """Row count and an order-free hash of every row of ``traits``."""
    row = eng.sql("SELECT count(*) AS n, sum(pmod(xxhash64(profile_id, key, value, source, "
                  "updated_at, rule), 1000000007)) AS h FROM traits").to_pylist()[0]
    return int(row["n"]), int(row["h"] or 0)


def run_layout(session: Any, warehouse: Path, buckets: int) -> dict[str, Any]:
    database = f"bench_b{buckets}"
    session.sql(f"DROP DATABASE IF EXISTS {database} CASCADE")
    eng = SparkEngine(session=session, database=database, buckets=buckets)
    eng.migrate()
    folder = warehouse / f"{database}.db" / ("traits" if buckets == 0 else "_aidmp_parts_traits")
    people = ROWS // len(KEYS)
    start = time.perf_counter()
    for first in range(0, people, CHUNK // len(KEYS)):
        chunk = np.arange(first, min(people, first + CHUNK // len(KEYS)))
        eng.append("traits", traits(chunk, KEYS, "v0"))
    load_s = time.perf_counter() - start
    rng = np.random.default_rng(21)
    out: dict[str, Any] = {"buckets": buckets, "load_s": round(load_s, 1), "ops": {}}
    next_new = people

    def timed(name: str, action: Any) -> None:
        before = files(folder)
        load = load_average()[0]
        t0 = time.perf_counter()
        action()
        seconds = time.perf_counter() - t0
        record = {"s": round(seconds, 3), "load1": load, **touched(before, files(folder))}
        out["ops"].setdefault(name, []).append(record)
        print(json.dumps({"buckets": buckets, "op": name, **record}), flush=True)

    for rep in range(REPEAT):
        stored = rng.choice(people, 500, replace=False)
        fresh = np.arange(next_new, next_new + 500)
        next_new += 500
        batch = pa.concat_tables([traits(stored, ("plan",), f"u{rep}"),
                                  traits(fresh, ("plan",), f"u{rep}")])
        timed("upsert_1000", lambda batch=batch: eng.upsert("traits", batch))

        replaced = rng.choice(people, 1000, replace=False)
        eng.scratch_rows("_bench_people", pa.table({"profile_id": [f"p{p:09d}" for p in replaced]}))
        eng.scratch_rows("_bench_rows", traits(replaced, KEYS[:3], f"r{rep}"))
        timed("replace_keyed_1000", lambda: eng.replace_keyed(
            "traits", "profile_id", eng.table("_bench_people"), eng.table("_bench_rows")))

        small = pa.concat_tables([traits(rng.choice(people, 5, replace=False), ("city",),
                                         f"s{rep}"),
                                  traits(np.arange(next_new, next_new + 5), ("city",), f"s{rep}")])
        next_new += 5
        timed("upsert_10", lambda small=small: eng.upsert("traits", small))
    out["content"] = list(content(eng))
    out["median"] = {
        name: {
            "s": statistics.median(r["s"] for r in runs),
            "bytes_written": statistics.median(r["bytes_written"] for r in runs),
            "files_written": statistics.median(r["files_written"] for r in runs),
            "files_untouched": statistics.median(r["files_untouched"] for r in runs),
            "bytes_total": runs[-1]["bytes_total"],
        }
        for name, runs in out["ops"].items()
    }
    eng.close()
    session.sql(f"DROP DATABASE IF EXISTS {database} CASCADE")
    return out


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="aidmp-spark-incr-") as tmp:
        warehouse = Path(tmp) / "warehouse"
        session = build_session("local[2]", warehouse)
        warehouse = Path((session.conf.get("spark.sql.warehouse.dir") or "").removeprefix("file:"))
        report: dict[str, Any] = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": "2 vCPU / 24 GB, shared",
            "rows": ROWS,
            "repeat": REPEAT,
            "load_before": load_average(),
            "layouts": [],
        }
        for buckets in LAYOUTS:
            report["layouts"].append(run_layout(session, warehouse, buckets))
        report["load_after"] = load_average()
        session.stop()
    contents = {tuple(layout["content"]) for layout in report["layouts"]}
    report["same_content"] = len(contents) == 1
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    previous[str(ROWS)] = report
    RESULTS.write_text(json.dumps(previous, indent=1) + "\n")
    for layout in report["layouts"]:
        print(layout["buckets"], layout["load_s"], json.dumps(layout["median"]))
    print("same content on every layout:", report["same_content"], report["load_before"],
          report["load_after"])
    if not report["same_content"]:
        sys.exit("layouts disagree on the table's content")


if __name__ == "__main__":
    main()
