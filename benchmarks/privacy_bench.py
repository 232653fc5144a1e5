"""Data-subject requests on a large store: access export and erasure of one person.

Generates ``--events`` events of ``--people`` people with the build benchmark's SQL generator
(e-mails in identify traits), builds the profiles, then for ``--people-asked`` persons found
by e-mail times ``dmp.privacy.access`` (the ZIP archive) and ``dmp.privacy.erase`` (every
table, suppression, and the rewrite of the DuckDB file that leaves no deleted byte behind).
Goals (issue 19): erasure <= 10 s and access <= 2 s at 10M events.

    python benchmarks/privacy_bench.py --events 1000000 --people 100000
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from benchmarks.build_scale_bench import _generate_and_build

OUT = Path(__file__).parent / "results" / "privacy.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--people-asked", type=int, default=3)
    args = parser.parse_args()
    dmp, build_s = _generate_and_build(args.people, args.events, "aidmp-privacy-")
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
    t = time.perf_counter()
    assert dmp.engine.compact()  # one rewrite for the batch of erasures
    compact_s = time.perf_counter() - t
    result = {
        "events": args.events, "people": args.people, "build_s": round(build_s, 1),
        "db_mb": round(size_before / 2**20), "asked": len(ids),
        "access_s": [round(x, 3) for x in access], "erase_s": [round(x, 2) for x in erase],
        "access_median_s": round(statistics.median(access), 3),
        "erase_median_s": round(statistics.median(erase), 2),
        "compact_s": round(compact_s, 1),
        "db_mb_after": round((dmp.home / "aidmp.duckdb").stat().st_size / 2**20),
        "events_removed_per_person": removed,
    }
    print(json.dumps(result, indent=2))
    OUT.parent.mkdir(exist_ok=True)
    runs = json.loads(OUT.read_text()) if OUT.exists() else []
    OUT.write_text(json.dumps([*runs, result], indent=2))


if __name__ == "__main__":
    main()
