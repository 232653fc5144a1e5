"""Accuracy of differentially private segment sizes and overlaps against epsilon, demo shop.

Builds the demo shop (``--people``, the ``aidmp demo`` generator ingested over HTTP) in
``--home`` (kept and reused), defines four segments, then for each epsilon makes
``--releases`` real releases through ``dmp.privacy.dp`` (``segment_sizes`` of the four and
``overlaps`` of the four: 10 cells), each spending its epsilon from the tracked budget, and
compares the released counts with the exact ones: median and mean relative error (|noisy -
exact| / exact, over segments or cells and releases), mean absolute error next to the Laplace
scale (sensitivity / epsilon, the expected absolute error before rounding and clipping), and
the budget the ledger recorded. A trivial baseline (a pure-Python loop of 10M additions) and
the load average are recorded with the timings.

    python -m benchmarks.dp_bench --people 1000 --releases 40
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from aidmp import DMP
from aidmp.demo.ingest import run_demo

OUT = Path(__file__).parent / "results" / "dp.json"
SEGMENTS = {"buyers": 'event("Order Completed")', "browsers": 'event("Product Viewed")',
            "carts": 'event("Product Added")', "engaged": "events >= 10"}
EPSILONS = (0.1, 0.5, 1.0, 2.0, 5.0)


def _errors(noisy: np.ndarray, exact: np.ndarray) -> dict[str, float]:
    err = np.abs(noisy - exact)
    rel = err / np.maximum(exact, 1)
    return {"median_rel_error_pct": round(float(np.median(rel)) * 100, 3),
            "mean_rel_error_pct": round(float(rel.mean()) * 100, 3),
            "p90_rel_error_pct": round(float(np.quantile(rel, 0.9)) * 100, 3),
            "mean_abs_error": round(float(err.mean()), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--releases", type=int, default=40)
    parser.add_argument("--home", type=Path, default=None,
                        help="keep (or reuse, when it holds the demo) the store here")
    args = parser.parse_args()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    load_before = os.getloadavg()
    t = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    loop_s = time.perf_counter() - t
    home = args.home or Path(tempfile.mkdtemp(prefix="aidmp-dp-"))
    fresh = not (home / "aidmp.duckdb").exists()
    dmp = DMP(home=home, privacy={"dp_budget": 1e6})
    t = time.perf_counter()
    if fresh:
        run_demo(dmp, people=args.people, campaigns=False)
        dmp.build()
    demo_s = time.perf_counter() - t
    have = {s["id"] for s in dmp.segments.list()}
    for name, rule in SEGMENTS.items():
        if name not in have:
            dmp.segments.create(name, rule)
    ids = list(SEGMENTS)
    sizes = np.array([dmp.segments.size(s)["size"] for s in ids], dtype=float)
    members = {s: set(dmp.segments.member_ids(s)) for s in ids}
    pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i:]]
    cells = np.array([len(members[a] & members[b]) for a, b in pairs], dtype=float)
    spent_before = dmp.privacy.dp.spent()
    rows = []
    t_all = time.perf_counter()
    for eps in EPSILONS:
        dp = dmp.privacy.dp
        t = time.perf_counter()
        got_sizes = [dp.segment_sizes(ids, epsilon=eps, actor="bench")
                     for _ in range(args.releases)]
        got_over = [dp.overlaps(ids, epsilon=eps, actor="bench") for _ in range(args.releases)]
        secs = time.perf_counter() - t
        noisy_sizes = np.array([[r["sizes"][s] for s in ids] for r in got_sizes], dtype=float)
        noisy_cells = np.array([[c["people"] for c in r["overlaps"]] for r in got_over],
                               dtype=float)
        rows.append({
            "epsilon": eps,
            "sizes": {"laplace_scale": got_sizes[0]["noise_scale"],
                      **_errors(noisy_sizes, sizes)},
            "overlaps": {"laplace_scale": got_over[0]["noise_scale"],
                         **_errors(noisy_cells, cells)},
            "epsilon_spent": round(eps * 2 * args.releases, 3),
            "ms_per_release": round(secs / (2 * args.releases) * 1000, 1),
        })
        print(json.dumps(rows[-1]), flush=True)
    spent = dmp.privacy.dp.spent() - spent_before
    result = {
        "started": started, "machine": "2 vCPU, 24 GB (shared)",
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "python_loop_10m_s": round(loop_s, 3), "demo_build_s": round(demo_s, 1) if fresh else None,
        "people": args.people, "profiles": dmp.engine.count("profiles"),
        "segments": dict(zip(ids, sizes.astype(int).tolist(), strict=True)),
        "overlap_cells": {f"{a}&{b}": int(n) for (a, b), n in zip(pairs, cells, strict=True)},
        "median_exact_size": statistics.median(sizes.tolist()),
        "releases_per_epsilon": args.releases, "by_epsilon": rows,
        "budget_spent_in_ledger": round(spent, 3),
        "releases_s": round(time.perf_counter() - t_all, 1),
    }
    print(json.dumps({k: v for k, v in result.items() if k != "by_epsilon"}, indent=2))
    dmp.close()
    OUT.parent.mkdir(exist_ok=True)
    previous = json.loads(OUT.read_text()) if OUT.exists() else []
    if isinstance(previous, dict):
        previous = [previous]
    OUT.write_text(json.dumps([*previous, result], indent=2))


if __name__ == "__main__":
    main()
