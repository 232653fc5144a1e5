"""Profile build at scale: 10M events / 1M people vs pandas and hand-written DuckDB SQL.

Events are generated inside DuckDB (so generation does not dominate): 1M people, 1-3 devices
each, 60 % of people log in (identify with user id, anonymous id and e-mail), a page / product
view / add-to-cart / order mix with categories, prices and revenue over 180 days. They are
written straight into the store's ``events`` table; then ``dmp.build()`` runs the whole pipeline
(identity graph, traits, computed traits, RFM, engagement, purchasing power, interests, the wide
table).

Baselines compute the per-person aggregates that need no identity resolution (events, orders,
revenue, last seen, orders in 90 days, keyed by user id else anonymous id): hand-written DuckDB
SQL (the limit) and pandas. They do less work than the build; the ratio is an upper bound on
aidmp's overhead. Also: identity edges, profile lookup p50/p99 in process and over HTTP.

Run: ``.venv/bin/python benchmarks/build_scale_bench.py`` (PEOPLE=1000000 EVENTS=10000000).
``--home DIR`` keeps the generated, built store in ``DIR``; ``--home DIR --lookups-only`` reuses
such a store and measures the lookups alone, updating only their figures in the results file.

Lookups (300 identifiers drawn from the first 2,000 stored, a fresh ``DMP``): the first pass right
after opening the store (DuckDB's buffer pool is empty: every column segment and index node a
lookup touches is read and checksummed on first use), then the same identifiers again (warm),
then over HTTP, then in process again with one event ingested before each lookup (the data
version moves, so the newest build and the events since it are read again, and the since-build
counters have fresh events to count; those events are removed afterwards).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import httpx

from aidmp import DMP
from aidmp.api.server import ServerThread

PEOPLE = int(os.environ.get("PEOPLE", "1000000"))
EVENTS = int(os.environ.get("EVENTS", "10000000"))

GENERATE = """
INSERT INTO events BY NAME
WITH ev AS (
  SELECT i, hash(i) AS h, (hash(i) % {people}) AS p FROM range({events}) t(i)
), x AS (
  SELECT i, p, h,
    (h >> 8) % 100 AS kind_roll,
    (h >> 16) % 3 AS dev,
    TIMESTAMPTZ '2026-05-01 00:00:00+00' + to_seconds(((h >> 24) % (180 * 86400))::BIGINT) AS ts,
    ['fashion','books','sports','home','beauty','toys','garden','music']
      [1 + ((p * 7 + (h >> 40) % 3) % 8)::INT] AS cat,
    round(5 + ((h >> 32) % 20000) / 100.0, 2) AS price
  FROM ev
)
SELECT
  'm' || i AS message_id,
  CASE WHEN kind_roll < 55 THEN 'page' WHEN kind_roll < 97 THEN 'track' ELSE 'identify' END AS type,
  CASE WHEN kind_roll < 55 THEN 'Product'
       WHEN kind_roll < 85 THEN 'Product Viewed'
       WHEN kind_roll < 93 THEN 'Product Added'
       WHEN kind_roll < 97 THEN 'Order Completed' END AS event,
  CASE WHEN p % 10 < 6 AND (kind_roll >= 97 OR (kind_roll >= 85 AND kind_roll < 97))
       THEN 'u' || p END AS user_id,
  'a' || p || '_' || (dev % (1 + p % 3)) AS anonymous_id,
  ts AS timestamp, ts AS original_timestamp, ts AS received_at,
  CASE WHEN kind_roll >= 97 THEN NULL
       WHEN kind_roll >= 93 THEN '{{"revenue": ' || price || ', "products": [{{"category": "'
                                 || cat || '", "price": ' || price || '}}]}}'
       ELSE '{{"category": "' || cat || '", "price": ' || price || '}}' END AS properties,
  CASE WHEN kind_roll >= 97 THEN '{{"email": "person' || p || '@mail.example", "age": '
                                 || (18 + p % 60) || '}}' END AS traits,
  'web' AS source,
  ts::DATE AS event_date
FROM x
"""

HAND_SQL = """
SELECT coalesce(user_id, anonymous_id) AS person, count(*) AS events,
       count(*) FILTER (WHERE event = 'Order Completed') AS orders,
       sum(TRY_CAST(json_extract_string(properties, '$.revenue') AS DOUBLE))
           FILTER (WHERE event = 'Order Completed') AS revenue,
       max(timestamp) AS last_seen,
       count(*) FILTER (WHERE event = 'Order Completed'
                        AND timestamp > (SELECT max(timestamp) FROM events) - INTERVAL 90 DAY)
           AS orders_90d
FROM events GROUP BY 1
"""


def rss_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


def measure_lookups(home: Path) -> dict[str, object]:
    """Profile lookup latencies on a built store (see the module docstring)."""
    dmp = DMP(home=home)
    ids = dmp.engine.execute(dmp.engine.table("identities").select("id_type", "id_value")
                             .limit(2000)).to_pylist()
    random.seed(1)
    sample = random.sample(ids, min(300, len(ids)))

    def timed(before: Callable[[int], None] | None = None) -> list[float]:
        out = []
        for i, r in enumerate(sample):
            if before is not None:
                before(i)
            t = time.perf_counter()
            dmp.profiles.get(r["id_type"], r["id_value"])
            out.append(time.perf_counter() - t)
        return out

    cold = timed()
    warm = timed()

    read = dmp.keys.create("read", source="bench").secret
    http = []
    with ServerThread(dmp) as srv, httpx.Client(base_url=srv.url, headers={
            "Authorization": f"Bearer {read}"}) as client:
        for r in sample:
            t = time.perf_counter()
            client.get(f"/v1/profiles/{r['id_type']}:{r['id_value']}").raise_for_status()
            http.append(time.perf_counter() - t)

    def one_event(i: int) -> None:
        r = sample[i]
        key = "userId" if r["id_type"] == "user_id" else "anonymousId"
        dmp.events.ingest([{"type": "track", "event": "Order Completed", key: r["id_value"]
                            if r["id_type"] in ("user_id", "anonymous_id") else f"x{i}",
                            "properties": {"revenue": 1.0}}], source="bench-live")

    live = timed(one_event)
    dmp.close()
    # leave the store as it was built (the live pass's events would count as "since build")
    con = duckdb.connect(str(home / "aidmp.duckdb"))
    con.execute("DELETE FROM events WHERE source = 'bench-live'")
    con.execute("DELETE FROM api_keys WHERE source = 'bench'")
    con.execute("CHECKPOINT")
    con.close()
    return {
        "lookup_in_process_ms": {"p50": pct(cold, 0.5), "p99": pct(cold, 0.99)},
        "lookup_in_process_warm_ms": {"p50": pct(warm, 0.5), "p99": pct(warm, 0.99)},
        "lookup_in_process_after_each_write_ms": {"p50": pct(live, 0.5),
                                                  "p99": pct(live, 0.99)},
        "lookup_http_ms": {"p50": pct(http, 0.5), "p99": pct(http, 0.99)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, help="keep the generated store in this folder")
    parser.add_argument("--lookups-only", action="store_true",
                        help="reuse the built store in --home; measure the lookups only")
    args = parser.parse_args()
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    if args.lookups_only:
        if args.home is None or not (args.home / "aidmp.duckdb").exists():
            parser.error("--lookups-only needs --home with a built store")
        lookups = measure_lookups(args.home)
        path = out / "build_scale.json"
        result = json.loads(path.read_text()) if path.exists() else {}
        result.update(lookups)
        path.write_text(json.dumps(result, indent=2))
        print(json.dumps(lookups, indent=2))
        return
    if args.home is not None and (args.home / "aidmp.duckdb").exists():
        parser.error(f"{args.home} already holds a store: add --lookups-only, or pick a new folder")
    home = args.home or Path(tempfile.mkdtemp(prefix="aidmp-scale-"))
    home.mkdir(parents=True, exist_ok=True)
    DMP(home=home).close()
    db = str(home / "aidmp.duckdb")
    con = duckdb.connect(db)
    t = time.perf_counter()
    con.execute(GENERATE.format(people=PEOPLE, events=EVENTS))
    gen_s = time.perf_counter() - t
    hand = []
    for _ in range(3):
        t = time.perf_counter()
        con.execute(f"CREATE OR REPLACE TABLE hand AS {HAND_SQL}")
        hand.append(time.perf_counter() - t)
    con.close()
    rss_before_build = rss_mb()
    dmp = DMP(home=home)
    t = time.perf_counter()
    summary = dmp.build()
    build_s = time.perf_counter() - t
    rss_build = rss_mb()
    edges = dmp.engine.count("event_profiles")
    # lookups are served by another process than the batch build (`aidmp serve`)
    dmp.close()
    lookups = measure_lookups(home)
    dmp = DMP(home=home)
    frame = dmp.engine.to_pandas("events")
    dmp.close()
    rss_pandas_load = rss_mb()

    def pandas_agg() -> None:
        f = frame
        person = f["user_id"].fillna(f["anonymous_id"])
        orders = f["event"] == "Order Completed"
        revenue = f["properties"].str.extract(r'"revenue": ([0-9.]+)')[0].astype(float)
        now = f["timestamp"].max()
        import pandas as pd

        g = pd.DataFrame({"person": person, "orders": orders, "revenue": revenue.where(orders),
                          "ts": f["timestamp"],
                          "recent": orders & (f["timestamp"] > now - pd.Timedelta(days=90))})
        g.groupby("person").agg(events=("ts", "size"), orders=("orders", "sum"),
                                revenue=("revenue", "sum"), last_seen=("ts", "max"),
                                orders_90d=("recent", "sum"))

    t = time.perf_counter()
    pandas_agg()
    pandas_s = time.perf_counter() - t
    result = {
        "people": PEOPLE, "events": EVENTS, "generate_s": round(gen_s, 1),
        "aidmp_build_s": round(build_s, 1), "aidmp_stage_s": summary.seconds,
        "profiles": summary.profiles, "identifiers": summary.identifiers,
        "profile_columns": summary.columns, "identity_edges_events_mapped": edges,
        "peak_rss_mb_after_build": rss_build, "rss_mb_before_build": rss_before_build,
        "hand_written_duckdb_s": round(statistics.median(hand), 2),
        "pandas_s": round(pandas_s, 1), "peak_rss_mb_with_pandas": rss_pandas_load,
        **lookups,
    }
    (out / "build_scale.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
