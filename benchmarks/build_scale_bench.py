"""Profile build at scale: 10M events / 1M people vs hand-written DuckDB SQL and pandas.

Events are generated inside DuckDB (so generation does not dominate): 1M people, 1-3 devices
each, 60 % of people log in (identify with user id, anonymous id and e-mail), a page / product
view / add-to-cart / order mix with categories, prices and revenue over 180 days. They are
written straight into the store's ``events`` table; then ``dmp.build()`` runs the whole pipeline
(identity graph, traits, computed traits, RFM, engagement, purchasing power, interests, the wide
table).

Three baselines on the same ``events`` table, two hand-written in DuckDB SQL, one in pandas
(the full-pipeline ones live in ``build_baseline_sql.py`` and ``build_baseline_pandas.py``):

- ``hand_written_duckdb_s`` (``HAND_SQL``, and pandas doing the same, ``pandas_s``): one GROUP BY
  of the aggregates that need no identity resolution (events, orders, revenue, last seen, orders
  in 90 days, keyed by user id else anonymous id). It does far less than the build: no identity
  graph, no traits, RFM, scores or interests. ``aidmp_build_s`` over it is an upper bound on
  aidmp's overhead, not a like-for-like comparison.
- ``hand_full_pipeline_s`` (``hand_full_pipeline``, median of 3 runs, per step in
  ``hand_full_pipeline_step_s``): the build's work written by hand, as a skilled engineer would
  for this data: identity graph from the user id, anonymous id and e-mail (star edges around each
  event's strongest identifier, components by min-label propagation in a Python loop), every
  event's profile, the default computed traits, RFM, engagement, purchasing power, decayed
  interest scores, latest traits, one wide ``hand_profiles`` row per person. ``--check-hand``
  asserts that it gives the same profiles as ``dmp.build()`` (every column, 20,000 people /
  200,000 events). It is specialised to what the generated data holds, so it skips what aidmp
  does in general (other identifier types and normalisers, blocked values, shared-identifier
  hubs, conflict splits and per-type limits, catalogue categories, rating weights, typed trait
  discovery) and what aidmp records besides the profiles (per-identifier first / last seen,
  events and sources, merge records, trait provenance, the build record, indexes).
  ``ratio_build_to_hand_full`` is aidmp's cost over doing the same work by hand; it is measured
  after the build, the lookups and pandas (so that the RSS peaks above are the build's own).
- ``pandas_full_pipeline_s`` (``pandas_full_pipeline``, ONE run, per step in
  ``pandas_full_pipeline_step_s``): the same work as ``hand_full_pipeline`` (the same
  identifiers, strongest-identifier rule, formulas and specialisation to the generated data) as a
  data scientist would write it in pandas on the events frame (read from the store through Arrow,
  ``pandas_load_s``, as for ``pandas_s``): JSON parsed with orjson, identity resolution as
  ``scipy.sparse.csgraph.connected_components`` over a sparse graph of ``pd.factorize``'d
  identifiers, groupby aggregations, percent ranks from ``rank(method="min")``. It runs
  essentially on one core (the JSON loop is Python, pandas' groupbys are single-threaded; DuckDB
  uses all). ``--check-pandas`` asserts that it gives the same profiles as ``dmp.build()`` (every
  column, 20,000 people / 200,000 events). ``peak_rss_mb_after_pandas_full`` is the process peak
  after it (the frame included); ``ratio_build_to_pandas_full`` is aidmp's time over it.

Also: identity edges, profile lookup p50/p99 in process and over HTTP.

Run: ``.venv/bin/python benchmarks/build_scale_bench.py`` (PEOPLE=1000000 EVENTS=10000000);
``--check-hand`` and ``--check-pandas`` run an agreement check alone.
``--home DIR`` keeps the generated, built store in ``DIR``; ``--home DIR --lookups-only`` reuses
such a store and measures the lookups alone, updating only their figures in the results file;
``--home DIR --incremental`` measures incremental builds after new events on it and checks them
against a full build (``build_incremental.py``); ``--home DIR --quality-only`` times the
data-quality report on it.

Lookups (300 identifiers drawn from the first 2,000 stored, a fresh ``DMP``): the first pass right
after opening the store (DuckDB's buffer pool is empty: every column segment and index node a
lookup touches is read and checksummed on first use), then the same identifiers again (warm),
then over HTTP, then in process again with one event ingested before each lookup (the data
version moves, so the newest build and the events since it are read again, and the since-build
counters have fresh events to count; those events are removed afterwards). Then the first
timeline page (50 events, newest first) of the same people, twice.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pandas as pd

from aidmp import DMP
from aidmp.api.server import ServerThread

if __package__ in (None, ""):  # run as a script: the repository root makes `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.build_baseline_pandas import pandas_full_pipeline
from benchmarks.build_baseline_sql import hand_full_pipeline, time_hand_full_pipeline
from benchmarks.build_incremental import measure_incremental

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


def measure_quality(home: Path, runs: int = 3) -> dict[str, object]:
    """``dmp.quality.report()`` (every source and the profiles) on a built store, ``runs``
    times in one process."""
    dmp = DMP(home=home)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        report = dmp.quality.report()
        times.append(round(time.perf_counter() - t, 2))
    dmp.close()
    web = next(iter(report["sources"].values()))
    return {"quality_report_s": times, "quality_report_rows": web["rows"],
            "quality_report_likely_duplicates": web["likely_duplicates"]}


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
    # timelines: the first page (50 events) of the same people, first pass then again
    people = [dmp.identity.profile_of(r["id_type"], r["id_value"]) for r in sample]

    def pages() -> list[float]:
        out = []
        for pid in people:
            t = time.perf_counter()
            dmp.profiles.events(pid, page=1, size=50)
            out.append(time.perf_counter() - t)
        return out

    timeline_cold, timeline_warm = pages(), pages()
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
        "timeline_first_page_ms": {"p50": pct(timeline_cold, 0.5),
                                   "p99": pct(timeline_cold, 0.99)},
        "timeline_first_page_warm_ms": {"p50": pct(timeline_warm, 0.5),
                                        "p99": pct(timeline_warm, 0.99)},
    }


def _generate_and_build(people: int, events: int, prefix: str, home: Path | None = None
                        ) -> tuple[DMP, float]:
    """A fresh store holding ``events`` generated events of ``people`` people, built by
    ``dmp.build()``; the open DMP and the build's seconds (in ``home``, else a new temporary
    folder)."""
    if home is None:
        home = Path(tempfile.mkdtemp(prefix=prefix))
    home.mkdir(parents=True, exist_ok=True)
    DMP(home=home).close()
    con = duckdb.connect(str(home / "aidmp.duckdb"))
    con.execute(GENERATE.format(people=people, events=events))
    con.close()
    dmp = DMP(home=home)
    t = time.perf_counter()
    dmp.build()
    return dmp, time.perf_counter() - t


def compare_with_aidmp(con: duckdb.DuckDBPyConnection, name: str, nan_is_null: bool = False
                       ) -> tuple[dict[str, object], list[str]]:
    """Compare the profiles in ``{name}_profiles``, ``{name}_identities`` (node as
    ``type:value``, profile_id) and ``{name}_event_profiles`` (message_id, profile_id) with
    aidmp's on ``con``: the same identifiers and events, the same people (each of these profiles
    maps to one aidmp profile through the identifiers they share, and back) and, per person, the
    same value in every column both have (numbers within 1e-6; ``nan_is_null``: NaN counts as
    NULL). A summary, and what disagrees (empty when all agrees)."""

    def one(sql: str) -> Any:
        row = con.execute(sql).fetchone()
        assert row is not None
        return row[0] if len(row) == 1 else row

    # the same identifiers, and the same partition of them into people
    nodes = one(f"""
        SELECT count(*) FILTER (WHERE h.node IS NULL), count(*) FILTER (WHERE i.node IS NULL),
               count(*)
        FROM {name}_identities h
        FULL JOIN (SELECT id_type || ':' || id_value AS node, profile_id FROM identities
                   WHERE status = 'linked') i USING (node)""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE chk_pairs AS
        SELECT DISTINCT h.profile_id AS hand_id, i.profile_id AS aidmp_id
        FROM {name}_identities h
        JOIN identities i ON h.node = i.id_type || ':' || i.id_value""")
    pairs, hand_ids, aidmp_ids = one(
        "SELECT count(*), count(DISTINCT hand_id), count(DISTINCT aidmp_id) FROM chk_pairs")
    hand_n, aidmp_n = one(f"SELECT (SELECT count(*) FROM {name}_profiles), "
                          "(SELECT count(*) FROM profiles)")
    events_mapped = one(f"""
        SELECT count(*) FILTER (WHERE c.aidmp_id IS DISTINCT FROM a.profile_id), count(*)
        FROM {name}_event_profiles h FULL JOIN event_profiles a USING (message_id)
        LEFT JOIN chk_pairs c ON c.hand_id = h.profile_id""")
    # every column both profile tables have, compared person by person
    hand_cols = {r[0]: r[1] for r in con.execute(f"DESCRIBE {name}_profiles").fetchall()}
    aidmp_cols = {r[0]: r[1] for r in con.execute("DESCRIBE profiles").fetchall()}
    common = [c for c in hand_cols if c in aidmp_cols and c != "profile_id"]
    numeric = ("DOUBLE", "FLOAT", "DECIMAL")

    def differs(c: str) -> str:
        h, a = f'h."{c}"::DOUBLE', f'a."{c}"::DOUBLE'
        if any(hand_cols[c].startswith(n) for n in numeric) or \
                any(aidmp_cols[c].startswith(n) for n in numeric):
            if nan_is_null:
                h, a = (f"(CASE WHEN NOT isnan({h}) THEN {h} END)",
                        f"(CASE WHEN NOT isnan({a}) THEN {a} END)")
            return (f"count(*) FILTER (WHERE ({h} IS NULL) <> ({a} IS NULL) "
                    f"OR abs({h} - {a}) > 1e-6 + 1e-9) AS \"{c}\"")
        return f'count(*) FILTER (WHERE h."{c}" IS DISTINCT FROM a."{c}") AS "{c}"'

    cur = con.execute(f"""
        SELECT count(*) AS compared, {', '.join(differs(c) for c in common)}
        FROM chk_pairs p JOIN {name}_profiles h ON h.profile_id = p.hand_id
        JOIN profiles a ON a.profile_id = p.aidmp_id""")
    row = cur.fetchone()
    assert row is not None and cur.description is not None
    counts = dict(zip([d[0] for d in cur.description], row, strict=True))
    compared = counts.pop("compared")
    con.execute("DROP TABLE chk_pairs")
    summary: dict[str, object] = {
        "profiles_aidmp": aidmp_n, f"profiles_{name}": hand_n,
        "identifiers": nodes[2], "identifiers_only_in_aidmp": nodes[0],
        f"identifiers_only_in_{name}": nodes[1], "profile_pairs": pairs,
        "events_in_another_profile": events_mapped[0], "events_mapped": events_mapped[1],
        "profiles_compared": compared, "columns_compared": len(common),
        "columns_only_in_aidmp": sorted(set(aidmp_cols) - set(hand_cols)),
        f"columns_only_in_{name}": sorted(set(hand_cols) - set(aidmp_cols)),
        "mismatches": {c: n for c, n in counts.items() if n},
    }
    problems = []
    required = ("events", "orders_total", "revenue_total", "orders_90d", "last_seen",
                "rfm_segment", "engagement_score", "purchasing_power", "top_category")
    missing = [c for c in required if c not in common]
    missing += [] if any(c.startswith("interest_") for c in common) else ["interest_*"]
    if missing:
        problems.append(f"columns not compared: {missing}")
    if not aidmp_n == hand_n == pairs == hand_ids == aidmp_ids == compared:
        problems.append(f"not the same people: {aidmp_n} aidmp profiles, {hand_n} {name} "
                        f"profiles, {pairs} pairs of {hand_ids} {name} and {aidmp_ids} aidmp "
                        f"profiles, {compared} compared")
    if not nodes[0] == nodes[1] == 0 or events_mapped[0] != 0:
        problems.append("not the same identifiers, or events in another profile")
    if summary["mismatches"]:
        problems.append(f"columns that differ: {summary['mismatches']}")
    return summary, problems


def check_hand_matches(people: int = 20000, events: int = 200000) -> dict[str, object]:
    """Generate ``events`` events of ``people`` people, run ``dmp.build()`` and the hand-written
    full pipeline on the same store, and assert that both give the same profiles: the same
    people (each hand profile maps to one aidmp profile through the identifiers they share, and
    back) and, per person, the same value in every column both tables have (numbers within
    1e-6). Returns (and prints) a summary."""
    from aidmp.engine.duckdb.engine import DuckDBEngine

    dmp, build_s = _generate_and_build(people, events, "aidmp-hand-check-")
    assert isinstance(dmp.engine, DuckDBEngine)
    con = dmp.engine._cursor()
    steps = hand_full_pipeline(con)
    compared, problems = compare_with_aidmp(con, "hand")
    dmp.close()
    return _report("hand-written full pipeline", compared, problems, {
        "people": people, "events": events, **compared,
        "aidmp_build_s": round(build_s, 2), "hand_full_pipeline_s": steps,
        "ratio_build_to_hand_full": round(build_s / steps["total"], 2)})


def _report(what: str, compared: dict[str, object], problems: list[str],
            summary: dict[str, object]) -> dict[str, object]:
    """Print an agreement check's summary, fail on any problem, and return the summary."""
    print(json.dumps(summary, indent=2))
    assert not problems, problems
    print(f"{what} agrees with dmp.build() on {compared['profiles_compared']} profiles, "
          f"{compared['columns_compared']} columns")
    return summary


def check_pandas_matches(people: int = 20000, events: int = 200000) -> dict[str, object]:
    """As ``check_hand_matches``, for ``pandas_full_pipeline``: generate the events, run
    ``dmp.build()``, read the ``events`` table into pandas as ``main()`` does, run the pandas
    pipeline on it and assert that it gives the same profiles as aidmp (the same identifiers,
    events and people, every shared column equal: numbers within 1e-6 with NaN as NULL,
    timestamps and strings equal). Returns (and prints) a summary."""
    from aidmp.engine.duckdb.engine import DuckDBEngine

    dmp, build_s = _generate_and_build(people, events, "aidmp-pandas-check-")
    assert isinstance(dmp.engine, DuckDBEngine)
    t = time.perf_counter()
    frame = dmp.engine.to_pandas("events")
    load_s = time.perf_counter() - t
    keep: dict[str, pd.DataFrame] = {}
    profiles, steps = pandas_full_pipeline(frame, keep)
    del frame
    con = dmp.engine._cursor()
    con.register("pandas_profiles", profiles)
    con.register("pandas_identity_rows", keep["identities"])
    con.execute("""CREATE TEMP VIEW pandas_identities AS
                   SELECT id_type || ':' || id_value AS node, profile_id
                   FROM pandas_identity_rows""")
    con.register("pandas_event_profiles", keep["event_profiles"])
    compared, problems = compare_with_aidmp(con, "pandas", nan_is_null=True)
    dmp.close()
    return _report("pandas full pipeline", compared, problems, {
        "people": people, "events": events, **compared,
        "aidmp_build_s": round(build_s, 2), "pandas_load_s": round(load_s, 2),
        "pandas_full_pipeline_s": steps,
        "ratio_build_to_pandas_full": round(build_s / steps["total"], 2)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, help="keep the generated store in this folder")
    parser.add_argument("--lookups-only", action="store_true",
                        help="reuse the built store in --home; measure the lookups only")
    parser.add_argument("--quality-only", action="store_true",
                        help="reuse the built store in --home; time the data-quality report")
    parser.add_argument("--incremental", action="store_true",
                        help="reuse the built store in --home; measure incremental builds after "
                             "new events and check them against a full build")
    parser.add_argument("--check-hand", action="store_true",
                        help="check that the hand-written full pipeline gives the same profiles "
                             "as dmp.build() (20,000 people, 200,000 events) and exit")
    parser.add_argument("--check-pandas", action="store_true",
                        help="check that the pandas full pipeline gives the same profiles as "
                             "dmp.build() (20,000 people, 200,000 events) and exit")
    args = parser.parse_args()
    if args.check_hand:
        check_hand_matches()
        return
    if args.check_pandas:
        check_pandas_matches()
        return
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    if args.lookups_only or args.incremental or args.quality_only:
        if args.home is None or not (args.home / "aidmp.duckdb").exists():
            parser.error("--lookups-only, --quality-only and --incremental need --home with a "
                         "built store")
        figures = (measure_lookups(args.home) if args.lookups_only
                   else measure_quality(args.home) if args.quality_only
                   else measure_incremental(args.home, PEOPLE))
        path = out / "build_scale.json"
        result = json.loads(path.read_text()) if path.exists() else {}
        result.update(figures)
        path.write_text(json.dumps(result, indent=2))
        print(json.dumps(figures, indent=2))
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
    t = time.perf_counter()
    frame = dmp.engine.to_pandas("events")
    pandas_load_s = time.perf_counter() - t
    dmp.close()
    rss_pandas_load = rss_mb()

    def pandas_agg(f: Any) -> None:
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
    pandas_agg(frame)
    pandas_s = time.perf_counter() - t
    # the build's work in pandas on the same frame: one run only (it is slow at this scale)
    pandas_profiles, pandas_full = pandas_full_pipeline(frame)
    rss_pandas_full = rss_mb()
    # the hand-written full pipeline last: the RSS figures above are process peaks, and it would
    # otherwise be counted in them (the pandas frames are let go first)
    del frame, pandas_profiles
    con = duckdb.connect(db)
    hand_full = time_hand_full_pipeline(con)
    con.close()
    result = {
        "people": PEOPLE, "events": EVENTS, "generate_s": round(gen_s, 1),
        "aidmp_build_s": round(build_s, 1), "aidmp_stage_s": summary.seconds,
        "profiles": summary.profiles, "identifiers": summary.identifiers,
        "profile_columns": summary.columns, "identity_edges_events_mapped": edges,
        "peak_rss_mb_after_build": rss_build, "rss_mb_before_build": rss_before_build,
        "hand_written_duckdb_s": round(statistics.median(hand), 2),
        "hand_full_pipeline_s": hand_full["total"], "hand_full_pipeline_step_s": hand_full,
        "ratio_build_to_hand_full": round(build_s / hand_full["total"], 2),
        "pandas_s": round(pandas_s, 1), "pandas_load_s": round(pandas_load_s, 1),
        "peak_rss_mb_with_pandas": rss_pandas_load,
        "pandas_full_pipeline_runs": 1, "pandas_full_pipeline_s": pandas_full["total"],
        "pandas_full_pipeline_step_s": pandas_full,
        "peak_rss_mb_after_pandas_full": rss_pandas_full,
        "ratio_build_to_pandas_full": round(build_s / pandas_full["total"], 2),
        **lookups,
    }
    (out / "build_scale.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
