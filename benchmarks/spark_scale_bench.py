"""Profile build and segment refresh on Spark ``local[2]`` beside DuckDB, same events (issue 21).

The events are generated inside DuckDB by ``build_scale_bench.GENERATE`` (1-3 devices per
person, 60 % log in, page / view / add / order mix over 180 days). The DuckDB run builds on that
store as it is; the Spark run reads the same ``events`` table back through the engine (Arrow,
in slices of ``CHUNK`` rows) and appends it to a fresh Spark store through
``SparkEngine.append`` — the path the collector and imports use. Loading is timed apart from the
build.

Each engine runs in its own Python process, so that each peak RSS is its own: for DuckDB the
process's ``ru_maxrss``; for Spark the driver's ``ru_maxrss`` plus the JVM's high-water mark
(``VmHWM`` of the java child, read from ``/proc`` just before the session stops). The load
average of the machine is recorded before and after each run: the figures mean little without it
on a shared 2-vCPU box.

Measured per engine: ``build_s`` (``dmp.build()``, full: identity graph, traits, computed
traits, RFM, scores, interests, the wide table), ``refresh_s`` (``dmp.segments.refresh()`` of
one rule segment, ``orders_total >= 1 and engagement_score > 0.5``), the member count (must be
equal on both engines) and the profile count.

Run: ``.venv/bin/python benchmarks/spark_scale_bench.py`` (EVENTS=1000000 PEOPLE=100000);
``--engine duckdb|spark`` runs one engine and prints its JSON line (what the driver calls).
Results go to ``benchmarks/results/spark_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_scale_bench import GENERATE

from aidmp import DMP

EVENTS = int(os.environ.get("EVENTS", "1000000"))
PEOPLE = int(os.environ.get("PEOPLE", "100000"))
CHUNK = 250_000
RULE = "orders_total >= 1 and engagement_score > 0.5"
RESULTS = Path(__file__).resolve().parent / "results" / "spark_scale.json"


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 1) for x in os.getloadavg()]


def rss_mb() -> int:
    """This process's peak RSS (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def child_peaks_mb() -> int:
    """The summed peak RSS (VmHWM, MB) of this process's live children (the Spark JVM)."""
    total = 0
    me = str(os.getpid())
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines()
                          if ":" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == me and "VmHWM" in fields:
            total += int(fields["VmHWM"].split()[0]) // 1024
    return total


def generate(home: Path) -> None:
    """A DuckDB store at ``home`` holding the generated events."""
    DMP(home=home).close()
    con = duckdb.connect(str(home / "aidmp.duckdb"))
    con.execute(GENERATE.format(people=PEOPLE, events=EVENTS))
    con.close()


def build_and_refresh(dmp: DMP) -> dict[str, Any]:
    """Time the build and one segment refresh on ``dmp``."""
    t = time.perf_counter()
    dmp.build()
    build_s = time.perf_counter() - t
    print(f"build {build_s:.1f} s, load {load_average()}", file=sys.stderr, flush=True)
    dmp.segments.create("Engaged buyers", rule=RULE)
    t = time.perf_counter()
    reports = dmp.segments.refresh(segment_ids=["engaged_buyers"])
    refresh_s = time.perf_counter() - t
    members = len(dmp.segments.member_ids("engaged_buyers"))
    assert reports and members > 0
    return {"build_s": round(build_s, 2), "refresh_s": round(refresh_s, 2),
            "members": members, "profiles": dmp.engine.count("profiles")}


def run_duckdb(work: Path) -> dict[str, Any]:
    home = work / "duck"
    generate(home)
    with DMP(home=home) as dmp:
        out = build_and_refresh(dmp)
    return {**out, "peak_rss_mb": rss_mb()}


def run_spark(work: Path) -> dict[str, Any]:
    from aidmp.engine.spark import SparkEngine, build_session

    source = work / "source"
    generate(source)
    session = build_session("local[2]", work / "warehouse")
    engine = SparkEngine(session=session, database="aidmp_bench")
    engine.migrate()
    t = time.perf_counter()
    with DMP(home=source) as src:
        events = src.engine.to_arrow("events")
    for offset in range(0, events.num_rows, CHUNK):
        engine.append("events", events.slice(offset, CHUNK))
    del events
    load_s = time.perf_counter() - t
    print(f"load {load_s:.1f} s, load {load_average()}", file=sys.stderr, flush=True)
    dmp = DMP(home=work / "spark", engine=engine)
    out = build_and_refresh(dmp)
    jvm = child_peaks_mb()
    engine.close()
    session.stop()
    return {**out, "load_s": round(load_s, 2), "driver_peak_rss_mb": rss_mb(),
            "jvm_peak_rss_mb": jvm, "peak_rss_mb": rss_mb() + jvm}


def one(engine: str) -> None:
    with tempfile.TemporaryDirectory(prefix=f"spark_bench_{engine}_") as work:
        before = load_average()
        result = run_duckdb(Path(work)) if engine == "duckdb" else run_spark(Path(work))
        print(json.dumps({"engine": engine, **result, "load_before": before,
                          "load_after": load_average()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["duckdb", "spark"])
    args = parser.parse_args()
    if args.engine:
        one(args.engine)
        return
    results: dict[str, Any] = {"events": EVENTS, "people": PEOPLE, "machine": "2 vCPU, 24 GB",
                               "date": time.strftime("%Y-%m-%d")}
    for engine in ("duckdb", "spark"):
        proc = subprocess.run([sys.executable, __file__, "--engine", engine], check=True,
                              capture_output=True, text=True)
        results[engine] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(json.dumps(results[engine]), flush=True)
    assert results["duckdb"]["members"] == results["spark"]["members"]
    assert results["duckdb"]["profiles"] == results["spark"]["profiles"]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
