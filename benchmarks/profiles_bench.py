"""Profile build speed: ``dmp.build()`` (identity graph + traits + computed traits + RFM +
interests + the wide table) vs the same per-person aggregates in pandas and polars.

The data are the demo generator's realistic events (anonymous browsing that logs in, several
devices per person), ingested straight into the store. The pandas / polars baselines only
aggregate per *user id* (count, revenue, last seen, orders in 90 days) — no identity
resolution, no traits, no RFM or interests — so they are a lower bound on the work, not the
same work. Median of 3 builds; peak RSS of the process.

Run: ``.venv/bin/python benchmarks/profiles_bench.py`` (PEOPLE=20000 by default).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import polars as pl

from aidmp import DMP
from aidmp.demo.generator import DemoConfig, DemoGenerator

PEOPLE = int(os.environ.get("PEOPLE", "20000"))


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="aidmp-profiles-bench-"))
    dmp = DMP(home=home)
    gen = DemoGenerator(DemoConfig(people=PEOPLE, seed=1))
    t0 = time.perf_counter()
    for batch in gen.event_batches(50_000):
        for message in batch:
            message.pop("sentAt", None)  # a replay of history (see aidmp.demo.ingest)
        dmp.events.ingest(batch, source="web")
    ingest_s = time.perf_counter() - t0
    events = dmp.events.count()
    runs, stages = [], []
    for _ in range(3):
        t = time.perf_counter()
        summary = dmp.build()
        runs.append(time.perf_counter() - t)
        stages.append(summary.seconds)
    frame = dmp.engine.to_pandas("events")
    frame["revenue"] = pd.to_numeric(
        frame["properties"].str.extract(r'"revenue":\s*([0-9.]+)')[0], errors="coerce")

    def pandas_agg() -> pd.DataFrame:
        now = frame["timestamp"].max()
        orders = frame["event"] == "Order Completed"
        g = frame.assign(order=orders, recent=orders & (frame["timestamp"] > now
                                                         - pd.Timedelta(days=90)))
        return g.groupby("user_id").agg(events=("message_id", "size"),
                                        revenue=("revenue", "sum"),
                                        last_seen=("timestamp", "max"),
                                        orders=("order", "sum"), orders_90d=("recent", "sum"))

    pl_frame = pl.from_pandas(frame[["user_id", "message_id", "timestamp", "event", "revenue"]])

    def polars_agg() -> pl.DataFrame:
        now = pl_frame["timestamp"].max()
        return pl_frame.group_by("user_id").agg(
            pl.len().alias("events"), pl.col("revenue").sum(), pl.col("timestamp").max(),
            (pl.col("event") == "Order Completed").sum().alias("orders"),
            ((pl.col("event") == "Order Completed")
             & (pl.col("timestamp") > pl.lit(now) - pl.duration(days=90))).sum())

    def timed(fn: object) -> float:
        out = []
        for _ in range(3):
            t = time.perf_counter()
            fn()  # type: ignore[operator]
            out.append(time.perf_counter() - t)
        return statistics.median(out)

    result = {
        "people": PEOPLE, "events": events, "ingest_seconds": round(ingest_s, 2),
        "profiles": summary.profiles, "identifiers": summary.identifiers,
        "profile_columns": summary.columns,
        "aidmp_build_seconds": round(statistics.median(runs), 2),
        "aidmp_stage_seconds": {k: round(statistics.median(s[k] for s in stages), 3)
                                for k in stages[0]},
        "pandas_per_user_aggregates_seconds": round(timed(pandas_agg), 3),
        "polars_per_user_aggregates_seconds": round(timed(polars_agg), 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "profiles.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
