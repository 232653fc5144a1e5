"""Cleaning speed: aidmp.quality's column normalisers, dedupe and report vs the usual tools.

Baselines are what a user would otherwise write: a per-row loop over ``phonenumbers`` /
``pycountry`` / the scalar e-mail rules, ``pandas.to_datetime(format="mixed")``, a pandas
drop-duplicates + group-diff for event de-duplication, pandas one-liners for a profile.
Median of 3 runs; peak RSS of the whole process is reported once (Rust/C++ allocations of
polars and DuckDB are invisible to tracemalloc, so per-case Python-heap figures would mislead).

Run: ``.venv/bin/python benchmarks/quality_bench.py`` (ROWS=200000 by default).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import phonenumbers
import polars as pl
import pyarrow as pa
import pycountry

from aidmp import DMP
from aidmp.demo.datasets import cdnow_frame, default_datasets_dir
from aidmp.engine.base import arrow_schema
from aidmp.quality import (
    country_column,
    dedupe_events,
    email_column,
    normalize_email,
    phone_column,
    profile_source,
    timestamp_column,
)
from aidmp.store.schema import TABLES

ROWS = int(os.environ.get("ROWS", "200000"))
RESULTS = Path(__file__).parent / "results" / "quality.json"


def median_time(fn: Callable[[], object], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def data(n: int) -> dict[str, list[str]]:
    rng = np.random.default_rng(11)
    users = rng.integers(0, n // 4, n)
    emails = [f" User{u}+tag@Example{u % 50}.COM " if u % 23 else f"user{u}@example..com"
              for u in users]
    phones = [f"(415) 555-{u % 10_000:04d}" if u % 7 else f"+44 20 7946 {u % 10_000:04d}"
              for u in users % 20_000]
    base = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    secs = (base + rng.integers(0, 86400 * 30, n) // 60 * 60).astype(int)
    stamps = [datetime.fromtimestamp(int(s), UTC) for s in secs]
    texts = [s.strftime("%Y-%m-%dT%H:%M:%SZ") if i % 3 == 0 else
             s.strftime("%m/%d/%Y %H:%M") if i % 3 == 1 else s.strftime("%d %b %Y %H:%M")
             for i, s in enumerate(stamps)]
    names = ["Germany", "UK", "USA", "France", "DEU", "es", "Italia", "Netherlands", "Narnia"]
    countries = [names[i] for i in rng.integers(0, len(names), n)]
    return {"email": emails, "phone": phones, "timestamp": texts, "country": countries}


def phone_loop(values: list[str]) -> list[str | None]:
    out: list[str | None] = []
    for v in values:
        try:
            num = phonenumbers.parse(v, "US")
        except phonenumbers.NumberParseException:
            out.append(None)
            continue
        ok = phonenumbers.is_valid_number(num)
        out.append(phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
                   if ok else None)
    return out


def country_loop(values: list[str]) -> list[str | None]:
    out: list[str | None] = []
    for v in values:
        try:
            out.append(pycountry.countries.lookup(v).alpha_2)
        except LookupError:
            out.append(None)
    return out


def events_table(n: int) -> pa.Table:
    rng = np.random.default_rng(5)
    people = rng.integers(0, n // 20, n)
    start = np.datetime64("2024-01-01T00:00:00", "us")
    ts = start + (np.sort(rng.integers(0, 86400 * 7, n)) * 1_000_000).astype("timedelta64[us]")
    # 5 % of rows repeat the previous row of the same person 2 s later (a retry).
    repeat = rng.random(n) < 0.05
    events = rng.choice(["Viewed", "Clicked", "Added"], n)
    now = pd.Timestamp("2024-02-01", tz="UTC")
    cols = {
        "message_id": [f"m{i}" for i in range(n)], "type": ["track"] * n,
        "event": events, "user_id": [f"u{p}" for p in people], "anonymous_id": [None] * n,
        "group_id": [None] * n, "previous_id": [None] * n,
        "timestamp": pd.to_datetime(ts).tz_localize("UTC"), "original_timestamp": [None] * n,
        "sent_at": [None] * n, "received_at": [now] * n,
        "properties": [f'{{"p":{p % 3}}}' for p in people], "traits": [None] * n,
        "context": [None] * n, "integrations": [None] * n, "source": ["bench"] * n,
        "event_date": [None] * n,
    }
    frame = pd.DataFrame(cols)
    dup = frame[repeat].copy()
    dup["message_id"] = dup["message_id"] + "r"
    dup["timestamp"] = dup["timestamp"] + pd.Timedelta(seconds=2)
    frame = pd.concat([frame, dup], ignore_index=True)
    return pa.Table.from_pandas(frame, schema=arrow_schema(TABLES["events"]),
                                preserve_index=False)


def pandas_dedupe(frame: pd.DataFrame, window: int) -> int:
    once = frame.drop_duplicates("message_id")
    person = once["user_id"].fillna(once["anonymous_id"])
    keyed = once.assign(_p=person).sort_values(["timestamp", "received_at", "message_id"])
    gap = keyed.groupby(["_p", "type", "event", "properties"], dropna=False)["timestamp"].diff()
    return int((gap <= pd.Timedelta(seconds=window)).sum())


def pandas_profile(frame: pd.DataFrame) -> dict[str, object]:
    return {
        "rows": len(frame), "duplicates": int(frame.duplicated().sum()),
        "missing": frame.isna().sum().to_dict(), "distinct": frame.nunique().to_dict(),
        "quartiles": frame.select_dtypes("number").quantile([0.25, 0.75]).to_dict(),
    }


def main() -> None:
    cols = data(ROWS)
    rows: list[dict[str, object]] = []

    def case(name: str, ours: Callable[[], object], theirs: Callable[[], object],
             baseline: str) -> None:
        a, b = median_time(ours), median_time(theirs)
        rows.append({"case": name, "aidmp_s": round(a, 3), "baseline": baseline,
                     "baseline_s": round(b, 3), "speedup": round(b / a, 1)})
        print(f"  {name}: {a:.3f}s vs {b:.3f}s", flush=True)

    email = pl.Series(cols["email"])
    case("email, vectorised", lambda: email_column(email),
         lambda: [normalize_email(v) for v in cols["email"]], "per-row loop, same rules")
    phone = pl.Series(cols["phone"])
    case("phone → E.164 (20k distinct)", lambda: phone_column(phone),
         lambda: phone_loop(cols["phone"]), "phonenumbers per row")
    stamps = pl.Series(cols["timestamp"])
    case("timestamps, 3 formats", lambda: timestamp_column(stamps),
         lambda: pd.to_datetime(pd.Series(cols["timestamp"]), format="mixed", utc=True,
                                errors="coerce"), "pandas to_datetime(mixed)")
    country = pl.Series(cols["country"])
    case("country → ISO-2", lambda: country_column(country),
         lambda: country_loop(cols["country"]), "pycountry.lookup per row")

    with tempfile.TemporaryDirectory() as home, DMP(home=home) as dmp:
        table = events_table(ROWS)
        dmp.engine.append("events", table)
        frame = table.to_pandas()
        t = dmp.engine.table("events")
        ours = dedupe_events(t, window_seconds=5)
        dropped = ours.summarize(dmp.engine, max_ids=0).dropped
        assert dropped == pandas_dedupe(frame, 5), "aidmp and pandas disagree"
        case(f"dedupe {table.num_rows:,} events (DuckDB)",
             lambda: dmp.engine.execute(ours.kept.aggregate(n=ours.kept.count())),
             lambda: pandas_dedupe(frame, 5), "pandas drop_duplicates + groupby diff")

    cdnow = cdnow_frame(default_datasets_dir() / "cdnow").drop("line")
    cdnow_pd = cdnow.to_pandas()
    case("profile CDNOW (69,659 rows)", lambda: profile_source(cdnow, infer=False),
         lambda: pandas_profile(cdnow_pd), "pandas isna/duplicated/nunique/quantile")

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n{ROWS:,} values per normaliser case; median of 3; peak RSS {peak_mb:,.0f} MB\n")
    print("| case | aidmp (s) | baseline | baseline (s) | speed-up |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['aidmp_s']} | {r['baseline']} | {r['baseline_s']} | "
              f"{r['speedup']}x |")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"rows": ROWS, "peak_rss_mb": round(peak_mb),
                                   "cases": rows}, indent=2))


if __name__ == "__main__":
    main()
