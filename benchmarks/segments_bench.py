"""Segment rules on 1M profiles and 10M events: the compiled ibis query vs hand-written SQL.

Data (generated inside DuckDB, seeded): 1,000,000 profiles with age (normal 38 +- 13, 18-80,
3 % unknown), gender, country (20 countries, Zipf-like), purchasing_power (50/35/15 % low /
medium / high), interest_fashion (Beta(2, 5)-like); 10,000,000 track events over two years,
skewed over people (a power of a uniform picks the profile, so a few are very active), 60 %
``Product Viewed``, 30 % ``Page Viewed``, 10 % ``Order Completed`` with a JSON ``revenue``
(log-normal-ish), plus ``event_profiles`` mapping each event to its profile.

The rule has five predicates, one of them on event history::

    age between 25 and 45 and country in ("DE", "FR", "NL") and purchasing_power != "low"
    and interest("fashion") > 0.3
    and event("Order Completed", within=365d, count >= 2, where revenue > 20)

"hand-written" is the SQL a DuckDB user would write for the same audience. Both return the
member ids (fetched as Arrow); time is the median of 3 runs after one warm-up. "aidmp end to
end" adds parsing, the catalog look-up and compiling (``Segments.compile``).

Run: ``.venv/bin/python benchmarks/segments_bench.py``
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from aidmp.engine.duckdb import DuckDBEngine
from aidmp.segments.service import Segments

ROOT = Path(__file__).resolve().parent.parent
PROFILES = 1_000_000
EVENTS = 10_000_000
AS_OF = datetime(2026, 1, 1, tzinfo=UTC)
RULE = ('age between 25 and 45 and country in ("DE", "FR", "NL") and purchasing_power != "low" '
        'and interest("fashion") > 0.3 and '
        'event("Order Completed", within=365d, count >= 2, where revenue > 20)')
HAND_SQL = """
SELECT p.profile_id FROM profiles p
WHERE p.age BETWEEN 25 AND 45 AND p.country IN ('DE', 'FR', 'NL')
  AND p.purchasing_power <> 'low' AND p.interest_fashion > 0.3
  AND p.profile_id IN (
    SELECT ep.profile_id FROM events e JOIN event_profiles ep ON e.message_id = ep.message_id
    WHERE e.type = 'track' AND e.event = 'Order Completed'
      AND e.timestamp >= TIMESTAMPTZ '2025-01-01 00:00:00+00'
      AND TRY_CAST(json_extract_string(e.properties, '$.revenue') AS DOUBLE) > 20
    GROUP BY ep.profile_id HAVING count(*) >= 2)
"""

COUNTRIES = ["DE", "FR", "GB", "NL", "ES", "IT", "US", "PL", "SE", "BE", "AT", "CH", "DK",
             "NO", "FI", "IE", "PT", "CZ", "HU", "RO"]


def generate(engine: DuckDBEngine) -> None:
    countries = "[" + ", ".join(f"'{c}'" for c in COUNTRIES) + "]"
    engine.sql("SELECT setseed(0.42)")
    engine.sql(f"""
        CREATE TABLE profiles AS
        SELECT 'p' || lpad(i::VARCHAR, 7, '0') AS profile_id,
               CASE WHEN random() < 0.03 THEN NULL
                    ELSE least(80, greatest(18, round(38 + 13 * sqrt(-2 * ln(random()))
                                                       * cos(2 * pi() * random()))))
               END::DOUBLE AS age,
               CASE WHEN random() < 0.5 THEN 'f' WHEN random() < 0.96 THEN 'm' ELSE 'x' END
                   AS gender,
               {countries}[1 + least(19, floor(-ln(random()) * 4))::INT] AS country,
               CASE WHEN random() < 0.5 THEN 'low' WHEN random() < 0.7 THEN 'medium'
                    ELSE 'high' END AS purchasing_power,
               -- a Beta(2, 5)-shaped interest: the 2nd smallest of 6 uniforms
               list_sort([random() for _ in range(6)])[2] AS interest_fashion
        FROM range({PROFILES}) t(i)
    """)
    engine.sql(f"""
        CREATE TEMP TABLE _ev AS
        SELECT 'm' || i AS message_id,
               'p' || lpad(floor({PROFILES} * pow(random(), 1.6))::BIGINT::VARCHAR, 7, '0')
                   AS profile_id,
               random() AS r,
               TIMESTAMPTZ '2026-01-01 00:00:00+00' - to_seconds((random() * 730 * 86400)::BIGINT)
                   AS ts,
               round(exp(3.3 + 0.9 * sqrt(-2 * ln(random())) * cos(2 * pi() * random())), 2)
                   AS revenue
        FROM range({EVENTS}) t(i)
    """)
    engine.sql("""
        INSERT INTO events (message_id, type, event, user_id, timestamp, received_at,
                            properties, source, event_date)
        SELECT message_id, 'track',
               CASE WHEN r < 0.1 THEN 'Order Completed' WHEN r < 0.7 THEN 'Product Viewed'
                    ELSE 'Page Viewed' END,
               profile_id, ts, ts,
               CASE WHEN r < 0.1 THEN '{"revenue":' || revenue || ',"currency":"EUR"}'
                    ELSE '{"product_id":"' || (r * 1000)::INT || '"}' END,
               'bench', ts::DATE
        FROM _ev
    """)
    engine.sql("CREATE TABLE event_profiles AS SELECT message_id, profile_id FROM _ev")
    engine.sql("DROP TABLE _ev")


def median_time(fn: Callable[[], pa.Table], runs: int = 3) -> tuple[float, pa.Table]:
    result = fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="segments_bench_"))
    try:
        engine = DuckDBEngine(folder / "bench.duckdb")
        engine.migrate()
        start = time.perf_counter()
        generate(engine)
        gen_s = time.perf_counter() - start
        segs = Segments(engine, as_of=AS_OF)
        compiled = segs.compile(rule=RULE)
        ours_s, ours = median_time(lambda: engine.execute(compiled.expr))
        e2e_s, _ = median_time(lambda: engine.execute(segs.compile(rule=RULE).expr))
        hand_s, hand = median_time(lambda: engine.sql(HAND_SQL))
        ours_ids = sorted(ours.column("profile_id").to_pylist())
        hand_ids = sorted(hand.column("profile_id").to_pylist())
        assert ours_ids == hand_ids, "the compiled query and the hand-written SQL disagree"
        results = {
            "profiles": PROFILES, "events": engine.count("events"), "rule": RULE,
            "members": len(ours_ids), "generate_s": round(gen_s, 2),
            "aidmp_compiled_query_s": round(ours_s, 4),
            "aidmp_end_to_end_s": round(e2e_s, 4), "hand_written_sql_s": round(hand_s, 4),
            "ratio_compiled_vs_hand": round(ours_s / hand_s, 3),
            "cpu_count": os.cpu_count(), "load_average_1m_after": round(os.getloadavg()[0], 2),
        }
        engine.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "segments.json").write_text(json.dumps(results, indent=2))
    print(f"1M profiles, {results['events']:,} events; {results['members']:,} members; "
          f"data generated in {results['generate_s']} s\n")
    print("| query (median of 3) | time (s) | members |")
    print("|---|---|---|")
    print(f"| hand-written DuckDB SQL | {hand_s:.3f} | {len(hand_ids):,} |")
    print(f"| aidmp compiled ibis query | {ours_s:.3f} | {len(ours_ids):,} |")
    print(f"| aidmp end to end (parse + catalog + compile + run) | {e2e_s:.3f} | "
          f"{len(ours_ids):,} |")
    print(f"\ncompiled / hand-written: {ours_s / hand_s:.2f}x")


if __name__ == "__main__":
    main()
