"""File import speed: ``aidmp import`` of a 1M-row orders CSV vs DuckDB's own ``read_csv``.

DuckDB's ``CREATE TABLE AS SELECT * FROM read_csv(...)`` is the limit: it only parses and
stores. aidmp also validates every row (ids, timestamps), builds JSON properties, derives
message ids, routes bad rows to the quarantine and de-duplicates against what is stored.
Measured twice: with an id column, and keyed by a content hash (no id column).

Run: ``.venv/bin/python benchmarks/import_bench.py`` (ROWS=1000000 by default).
"""

from __future__ import annotations

import json
import os
import resource
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from aidmp import DMP
from aidmp.spec.imports import ImportMapping

ROWS = int(os.environ.get("ROWS", "1000000"))


def make_csv(path: Path, n: int) -> None:
    """Orders shaped like an e-commerce export; 0.1 % of rows have a broken timestamp."""
    rng = np.random.default_rng(7)
    start = np.datetime64("2025-01-01T00:00:00")
    seconds = rng.integers(0, 365 * 86400, n)
    ts = (start + seconds.astype("timedelta64[s]")).astype(str)
    ts = np.where(rng.random(n) < 0.001, "31/02/2025 25:00", ts)
    pl.DataFrame({
        "order_id": [f"o{i:08d}" for i in range(n)],
        "customer_id": [f"c{c:07d}" for c in rng.zipf(1.3, n) % 200_000],
        "ordered_at": ts,
        "revenue": np.round(rng.lognormal(3.5, 0.8, n), 2),
        "currency": rng.choice(["EUR", "USD", "GBP"], n),
        "channel": rng.choice(["web", "app", "store"], n, p=[0.6, 0.3, 0.1]),
        "category": rng.choice(["fashion", "electronics", "home", "beauty", "sports"], n),
    }).write_csv(path)


def timed(fn):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="aidmp-import-bench-"))
    csv = folder / "orders.csv"
    make_csv(csv, ROWS)
    results: dict[str, object] = {"rows": ROWS, "csv_mb": round(csv.stat().st_size / 1e6, 1)}

    con = duckdb.connect(str(folder / "plain.duckdb"))
    secs, _ = timed(lambda: con.execute(
        f"CREATE TABLE orders AS SELECT * FROM read_csv('{csv}')"))
    results["duckdb_read_csv"] = {"seconds": round(secs, 2), "rows_per_s": round(ROWS / secs)}
    con.close()

    for label, id_col in (("aidmp_with_id_column", "order_id"), ("aidmp_content_hash", None)):
        with DMP(home=folder / label) as dmp:
            mapping = ImportMapping(
                source="orders", event="Order Completed", user_id_column="customer_id",
                timestamp_column="ordered_at", message_id_column=id_col)
            secs, report = timed(lambda: dmp.imports.file(csv, mapping))  # noqa: B023
            again, second = timed(lambda: dmp.imports.file(csv, mapping))  # noqa: B023
            results[label] = {
                "seconds": round(secs, 2), "rows_per_s": round(ROWS / secs),
                "stored": report.stored, "quarantined": report.quarantined,
                "reimport_seconds": round(again, 2), "reimport_stored": second.stored,
            }
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "import.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
