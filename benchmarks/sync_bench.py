"""Audience sync of a 1M-member segment: first sync to a CSV file, then a 1 % churn increment.

Data: the membership is built directly in a derived ``profiles`` table (1,100,000 profiles,
1,000,000 of them with ``plan = "pro"``; ``profile_id``, ``user_id``, ``email``), not through
a 1M-profile ``dmp.build()``: the benchmark measures the sync, not the profile build. Churn:
10,000 members leave and 10,000 join (the ``profiles`` table is rewritten before the timed
step). The segment rule ``plan = "pro"`` is compiled and run by the sync itself.

Compared:

* ``aidmp first sync``: segment query + consent + identifier checks + the full CSV + stored
  state (``sync_state_<dest>``) + log row.
* ``aidmp incremental (1 % churn)``: the same checks, diff against the stored state, the
  added / removed CSVs and the new state.
* ``full re-export (Segments.export)``: what a user does without incremental sync: write the
  whole audience again every time.
* ``polars diff of two exports``: the hand-made alternative: read the previous and current
  export CSVs with polars, anti-join both ways, write the added / removed CSVs.
* ``meta hashing, 100k``: first sync of 100,000 members to a Meta Custom Audience file
  (e-mail + phone normalised with phonenumbers, SHA-256): the row-wise part.

Each case runs in a fresh child process (peak RSS is that process's ``ru_maxrss``); the time
is the median of 3 runs of the timed step only.

Run: ``.venv/bin/python benchmarks/sync_bench.py``
"""

from __future__ import annotations

import json
import multiprocessing as mp
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
MEMBERS = 1_000_000
OTHERS = 100_000
CHURN = 10_000
RUNS = 3


def profiles(members: int, others: int, churn: int = 0, phones: bool = False) -> pa.Table:
    n = members + others
    ids = [f"p{i:08d}" for i in range(n)]
    # members are 0..members-1; churn moves the first `churn` out and `churn` others in
    plan = ["pro" if (churn <= i < members + churn) else "free" for i in range(n)]
    data: dict[str, Any] = {"profile_id": ids, "user_id": [f"u{i}" for i in range(n)],
                            "email": [f"user{i}@example.com" for i in range(n)], "plan": plan}
    if phones:
        data["phone"] = [f"+1 415 555 {i % 10_000:04d}" for i in range(n)]
        data["address_country"] = ["US"] * n
    return pa.table(data)


def _setup(home: Path, members: int, others: int, phones: bool = False) -> Any:
    from aidmp import DMP

    dmp = DMP(home=home)
    dmp.engine.write_table("profiles", profiles(members, others, phones=phones))
    dmp.segments.create("Pros", rule='plan = "pro"')
    aud = dmp.audiences
    aud.add_destination({"type": "file", "name": "drop", "folder": str(home / "out")})
    aud.add_destination({"type": "meta_custom_audience", "name": "meta",
                         "folder": str(home / "meta")})
    return dmp, aud


def case_first(home: Path) -> float:
    _, aud = _setup(home, MEMBERS, OTHERS)
    t = time.perf_counter()
    s = aud.sync("pros", "drop")
    took = time.perf_counter() - t
    assert s.added == MEMBERS
    return took


def case_incremental(home: Path) -> float:
    dmp, aud = _setup(home, MEMBERS, OTHERS)
    aud.sync("pros", "drop")
    dmp.engine.write_table("profiles", profiles(MEMBERS, OTHERS, CHURN))
    t = time.perf_counter()
    s = aud.sync("pros", "drop")
    took = time.perf_counter() - t
    assert (s.added, s.removed, s.unchanged) == (CHURN, CHURN, MEMBERS - CHURN)
    return took


def case_export(home: Path) -> float:
    dmp, _ = _setup(home, MEMBERS, OTHERS)
    t = time.perf_counter()
    out = dmp.segments.export("pros", home / "full.csv")
    took = time.perf_counter() - t
    assert out["rows"] == MEMBERS
    return took


def case_polars(home: Path) -> float:
    import polars as pl

    dmp, _ = _setup(home, MEMBERS, OTHERS)
    dmp.segments.export("pros", home / "before.csv")
    dmp.engine.write_table("profiles", profiles(MEMBERS, OTHERS, CHURN))
    t = time.perf_counter()
    dmp.segments.export("pros", home / "after.csv")
    before, after = pl.read_csv(home / "before.csv"), pl.read_csv(home / "after.csv")
    added = after.join(before, on="profile_id", how="anti")
    removed = before.join(after, on="profile_id", how="anti")
    added.write_csv(home / "added.csv")
    removed.write_csv(home / "removed.csv")
    took = time.perf_counter() - t
    assert (added.height, removed.height) == (CHURN, CHURN)
    return took


def case_meta(home: Path) -> float:
    _, aud = _setup(home, 100_000, 10_000, phones=True)
    t = time.perf_counter()
    s = aud.sync("pros", "meta")
    took = time.perf_counter() - t
    assert s.added == 100_000
    return took


CASES: dict[str, tuple[Callable[[Path], float], int]] = {
    "aidmp first sync (file, CSV)": (case_first, MEMBERS),
    "aidmp incremental sync (1 % churn)": (case_incremental, MEMBERS),
    "full re-export (Segments.export)": (case_export, MEMBERS),
    "polars diff of two exports": (case_polars, MEMBERS),
    "aidmp first sync, meta hashing": (case_meta, 100_000),
}


def _child(name: str, queue: Any) -> None:
    home = Path(tempfile.mkdtemp(prefix="sync-bench-"))
    try:
        took = CASES[name][0](home)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        queue.put((took, peak_mb))
    finally:
        shutil.rmtree(home, ignore_errors=True)


def measure(name: str) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    times, peaks = [], []
    for _ in range(RUNS):
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(name, queue))
        proc.start()
        took, peak = queue.get()
        proc.join()
        times.append(took)
        peaks.append(peak)
    return {"case": name, "members": CASES[name][1], "seconds": statistics.median(times),
            "runs": times, "peak_rss_mb": statistics.median(peaks)}


def main() -> None:
    results = [measure(name) for name in CASES]
    print("| case | members | time (s, median of 3) | peak RSS (MB) |")
    print("|---|---:|---:|---:|")
    for r in results:
        print(f"| {r['case']} | {r['members']:,} | {r['seconds']:.2f} | "
              f"{r['peak_rss_mb']:.0f} |")
    out = ROOT / "benchmarks" / "results" / "sync.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"churn": CHURN, "results": results}, indent=2))


if __name__ == "__main__":
    main()
