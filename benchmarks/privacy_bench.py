"""Data-subject requests on a large store: access export and erasure of one person.

Generates ``--events`` events of ``--people`` people with the build benchmark's SQL generator
(e-mails in identify traits), builds the profiles, then for ``--people-asked`` persons found
by e-mail times ``dmp.privacy.access`` (the ZIP archive) and ``dmp.privacy.erase`` (every
table, suppression, and the rewrite of the DuckDB file that leaves no deleted byte behind).
Goals (issue 19): erasure <= 10 s and access <= 2 s at 10M events.

    python -m benchmarks.privacy_bench --events 1000000 --people 100000

``--home DIR`` keeps the generated, built store in ``DIR`` and reuses it on later runs (each run
erases the next ``--people-asked`` people in e-mail order, so a reused store shrinks by them);
``--no-compact`` skips the rewrite of the file (minutes at 10M events). Every run also times a
trivial baseline (one ``SELECT count(*) FROM events`` and a pure-Python loop) and records the
load average, so that figures from a shared machine can be judged.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from aidmp import DMP
from benchmarks.build_scale_bench import _generate_and_build

OUT = Path(__file__).parent / "results" / "privacy.json"


def baseline() -> dict[str, float]:
    """Seconds of a pure-Python loop of 10M additions (the machine's speed at this moment)."""
    t = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return {"python_loop_10m_s": round(time.perf_counter() - t, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--people-asked", type=int, default=3)
    parser.add_argument("--home", type=Path, default=None,
                        help="keep (or reuse, when it holds a store) the built store here")
    parser.add_argument("--no-compact", action="store_true",
                        help="skip the rewrite of the file after the erasures")
    args = parser.parse_args()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    load_before = os.getloadavg()
    base = baseline()
    build_s: float | None = None
    if args.home is not None and (args.home / "aidmp.duckdb").exists():
        dmp = DMP(home=args.home)
    else:
        dmp, build_s = _generate_and_build(args.people, args.events, "aidmp-privacy-",
                                           home=args.home)
    t = time.perf_counter()
    n_events = dmp.engine.count("events")
    base["count_events_s"] = round(time.perf_counter() - t, 3)
    size_before = (dmp.home / "aidmp.duckdb").stat().st_size
    ids = dmp.engine.sql(
        "SELECT id_value FROM identities WHERE id_type = 'email' ORDER BY id_value LIMIT ?",
        [args.people_asked]).column("id_value").to_pylist()
    access, erase, removed = [], [], []
    for email in ids:
        t = time.perf_counter()
        archive = dmp.privacy.access("email", email)
        access.append(time.perf_counter() - t)
        t = time.perf_counter()
        report = dmp.privacy.erase("email", email, compact=False)
        erase.append(time.perf_counter() - t)
        removed.append(report["rows"].get("events", 0))
        assert archive and report["rows"]
    compact_s = None
    if not args.no_compact:
        t = time.perf_counter()
        assert dmp.engine.compact()  # one rewrite for the batch of erasures
        compact_s = round(time.perf_counter() - t, 1)
    result = {
        "started": started, "machine": "2 vCPU, 24 GB (shared)",
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()], "baseline": base,
        "events": args.events, "events_in_store": n_events, "people": args.people,
        "build_s": None if build_s is None else round(build_s, 1),
        "db_mb": round(size_before / 2**20), "asked": len(ids),
        "access_s": [round(x, 3) for x in access], "erase_s": [round(x, 2) for x in erase],
        "access_median_s": round(statistics.median(access), 3),
        "erase_median_s": round(statistics.median(erase), 2),
        "compact_s": compact_s,
        "db_mb_after": round((dmp.home / "aidmp.duckdb").stat().st_size / 2**20),
        "events_removed_per_person": removed,
    }
    print(json.dumps(result, indent=2))
    OUT.parent.mkdir(exist_ok=True)
    runs = json.loads(OUT.read_text()) if OUT.exists() else []
    OUT.write_text(json.dumps([*runs, result], indent=2))


if __name__ == "__main__":
    main()
