"""Importing a PostgreSQL table: aidmp's database source against what a user would write.

A fresh PostgreSQL 15 (Debian's, started here) holds an ``orders`` table of BENCH_ROWS rows
(id, customer, amount, updated_at). Timed, each on a fresh DuckDB store:

1. ``dmp.sources.run(...)``: full import with a cursor (streamed in 50,000-row chunks
   through the file importer: mapping, validation, de-duplication, store write);
2. the same source again after 1,000 rows changed: the incremental run;
3. the hand-written way: ``pandas.read_sql`` of the whole table through SQLAlchemy, then
   ``polars.from_pandas`` and the same ``Importer.frame`` (no cursor, no chunking).

Run: ``.venv/bin/python benchmarks/database_import_bench.py`` (BENCH_ROWS, default 200000).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import polars as pl
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import postgres_server  # noqa: E402

ROWS = int(os.environ.get("BENCH_ROWS", "200000"))
PASSWORD = "bench-pw"


def main() -> None:
    from aidmp import DMP
    from aidmp.spec.imports import ImportMapping

    os.environ["BENCH_PG_PASSWORD"] = PASSWORD
    mapping = ImportMapping(source="orders", event="Order Completed",
                            user_id_column="customer", timestamp_column="updated_at",
                            message_id_column="id")
    with postgres_server(PASSWORD) as (port, user):
        dsn = f"postgresql://{user}:${{BENCH_PG_PASSWORD}}@127.0.0.1:{port}/postgres"
        url = f"postgresql+psycopg://{user}:{PASSWORD}@127.0.0.1:{port}/postgres"
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TABLE orders AS SELECT g AS id, 'c' || mod(g, 50000) AS customer, "
                "mod(g, 997) / 10.0 AS amount, TIMESTAMP '2026-01-01' + g * INTERVAL '1 second' "
                f"AS updated_at FROM generate_series(1, {ROWS}) g")
            conn.exec_driver_sql("ALTER TABLE orders ADD PRIMARY KEY (id)")
        results: dict[str, float] = {}
        with DMP(home=tempfile.mkdtemp()) as dmp:
            started = time.perf_counter()
            full = dmp.sources.run(dsn, mapping, table="orders", cursor="updated_at")
            results["aidmp full"] = time.perf_counter() - started
            assert full.counts.stored == ROWS, full.to_dict()
            with engine.begin() as conn:
                conn.exec_driver_sql("UPDATE orders SET updated_at = now() WHERE id <= 1000")
            started = time.perf_counter()
            inc = dmp.sources.run(dsn, mapping, table="orders", cursor="updated_at")
            results["aidmp incremental (1,000 changed)"] = time.perf_counter() - started
            assert inc.counts.read == 1000 and inc.counts.stored == 0, inc.to_dict()
        with DMP(home=tempfile.mkdtemp()) as dmp:
            started = time.perf_counter()
            df = pl.from_pandas(pd.read_sql("SELECT * FROM orders", engine))
            report = dmp.imports.frame(df, mapping)
            results["pandas.read_sql + Importer.frame"] = time.perf_counter() - started
            assert report.stored == ROWS
        engine.dispose()
    print(f"\n| way ({ROWS:,} rows) | seconds | rows/s |")
    print("|---|---|---|")
    for name, secs in results.items():
        n = 1000 if "incremental" in name else ROWS
        print(f"| {name} | {secs:.2f} | {n / secs:,.0f} |")


if __name__ == "__main__":
    main()
