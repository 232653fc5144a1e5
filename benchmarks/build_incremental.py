"""Incremental builds on a built 10M-event store (``build_scale_bench.py --home DIR
--incremental``).

Three rounds of 1,000 new events (10 % log-ins of known devices with an e-mail, 20 % new
visitors, 70 % more product views of known devices), stamped one hour, one day and two days after
the store's newest event. After each round: ``dmp.build()`` (identities and profiles both
incremental), timed with its stages and the number of people recomputed. Then a build with
nothing new (it keeps the profiles), then a full build, whose ``profiles`` must equal what the
incremental builds left (every column; floats within 1.5e-6 + 1e-9 relative, the rounding of
interest scores).
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aidmp import DMP

ROUNDS_HOURS = (1, 24, 48)


def _messages(tag: str, at: datetime, people: int, n: int = 1000) -> list[dict[str, Any]]:
    rng = random.Random(tag)
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    out: list[dict[str, Any]] = []
    for i in range(n):
        p = rng.randrange(people)
        kind = rng.random()
        base = {"messageId": f"{tag}-{i}", "timestamp": stamp}
        if kind < 0.1:  # a known device logs in
            out.append({**base, "type": "identify", "userId": f"u{p}", "anonymousId": f"a{p}_0",
                        "traits": {"email": f"person{p}@mail.example"}})
        elif kind < 0.3:  # someone new
            out.append({**base, "type": "page", "anonymousId": f"{tag}-new-{i}",
                        "name": "Product", "properties": {"category": "books", "price": 10}})
        else:  # more of a known device
            out.append({**base, "type": "track", "event": "Product Viewed",
                        "anonymousId": f"a{p}_0",
                        "properties": {"category": "books", "price": 10}})
    return out


def _differing_columns(dmp: DMP) -> dict[str, int]:
    """Columns of ``profiles`` that differ from the copy ``_bench_incremental`` (rows per
    column, in one pass), matched on profile_id; rows only on one side count under ``rows``.
    A NULL on one side only is a difference."""
    sql = dmp.engine.sql  # two tables of one store, compared in DuckDB's SQL
    cols = [(r["column_name"], r["data_type"]) for r in sql(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = "
        "'profiles' AND table_schema = 'main' AND column_name <> 'profile_id'").to_pylist()]

    def differs(name: str, kind: str) -> str:
        a, b = f'p."{name}"', f'q."{name}"'
        if kind in ("DOUBLE", "FLOAT"):
            cond = f"({a} IS NULL) <> ({b} IS NULL) OR abs({a} - {b}) > 1.5e-6 + 1e-9 * abs({a})"
        else:
            cond = f"{a} IS DISTINCT FROM {b}"
        # rows on both sides only (the others count under "rows")
        return f"count(*) FILTER (WHERE q.profile_id = p.profile_id AND ({cond}))"

    names = ["rows", *(n for n, _ in cols)]
    row = sql(
        'SELECT count(*) FILTER (WHERE p.profile_id IS NULL OR q.profile_id IS NULL) AS "rows", '
        + ", ".join(f'{differs(n, k)} AS "{n}"' for n, k in cols)
        + " FROM profiles p FULL JOIN _bench_incremental q USING (profile_id)").to_pylist()[0]
    return {name: int(row[name]) for name in names if row[name]}


def measure_incremental(home: Path, people: int) -> dict[str, object]:
    """Incremental build figures on the built store in ``home`` (see the module docstring)."""
    dmp = DMP(home=home)
    try:
        ev = dmp.engine.table("events")
        newest = dmp.engine.execute(ev.aggregate(t=ev.timestamp.max())).column("t")[0].as_py()
        if not dmp.build().profiles_incremental:  # a store built before incremental builds
            dmp.build()
        rounds = []
        for hours in ROUNDS_HOURS:
            tag = f"inc-{int(newest.timestamp())}-{hours}h"
            dmp.events.ingest(_messages(tag, newest + timedelta(hours=hours), people),
                              source="web")
            t = time.perf_counter()
            summary = dmp.build()
            took = round(time.perf_counter() - t, 2)
            rounds.append({"hours_after_newest": hours, "build_s": took,
                           "incremental": summary.profiles_incremental,
                           "identities_incremental": summary.identities_incremental,
                           "people_recomputed": summary.profiles_recomputed,
                           "merges": summary.merges, "stage_s": summary.seconds})
            print(rounds[-1], flush=True)
        t = time.perf_counter()
        idle = dmp.build()
        nothing_s = round(time.perf_counter() - t, 2)
        dmp.engine.sql("CREATE OR REPLACE TABLE _bench_incremental AS SELECT * FROM profiles")
        t = time.perf_counter()
        dmp.build(full=True)
        full_s = round(time.perf_counter() - t, 2)
        differing = _differing_columns(dmp)
        dmp.engine.sql("DROP TABLE _bench_incremental")
    finally:
        dmp.close()
    return {"incremental_build": {
        "rounds": rounds, "nothing_new_build_s": nothing_s,
        "nothing_new_people_recomputed": idle.profiles_recomputed,
        "nothing_new_profiles_reused": idle.profiles_reused,
        "full_build_after_s": full_s, "columns_differing_from_full_build": differing}}
