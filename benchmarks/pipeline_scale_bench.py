"""The whole pipeline a user runs, at 1M and 10M events on DuckDB and 1M on Spark (issue 21).

Stages, each through the product's own API (what ``aidmp import|build|segments refresh|models
fit|audiences sync`` call):

1. ``files``: the bench writes the input first (not part of the pipeline): Parquet files of
   ``PART`` events each, in four shapes a shop exports — page views, product views / adds to
   cart, orders (revenue and a ``products`` list) and identifies (e-mail, age). The events are
   those of ``build_scale_bench.GENERATE`` (1-3 devices per person, 60 % log in, 180 days),
   made by DuckDB's ``range`` so that writing them is quick.
2. ``import``: ``dmp.imports.file(folder, mapping)`` per shape, the importer's directory
   path: every row validated, message ids from the file, idempotent append.
3. ``build``: ``dmp.build()`` (identity graph, traits, computed traits, RFM, scores,
   interests, the wide table).
4. ``segments``: four rules created, then ``dmp.segments.refresh()`` of all of them (profile
   attributes, an RFM class, a top category, and an event rule over the raw events: added to
   the cart twice or more, never ordered).
5. ``model``: ``dmp.models.fit("churn", ...)``, 60-day churn propensity (model selection on a
   held-out fifth, refit on every row).
6. ``export``: a file destination, ``dmp.audiences.sync`` of the engaged buyers (user id and
   e-mail per member, CSV).

Per stage: wall seconds, the peak RSS during the stage (a thread samples ``/proc`` every
0.2 s: this process plus every descendant, i.e. Spark's JVM, reported apart as ``jvm``), the
store's disk size after it (``du`` of the home folder: DuckDB file, its WAL, models and
exports; Spark's warehouse lives in it), the 1-minute load average before and after, and the
memory available (``MemAvailable``) before it. Before each stage of a run of 10M events or
more the bench waits (up to ``WAIT_S``) until at least ``MIN_AVAILABLE_GB`` are available:
the machine is shared, and other engineers build 10M stores too.

Run one configuration (each in its own process, results merged into
``benchmarks/results/pipeline_scale.json`` under ``<label>``)::

    .venv/bin/python benchmarks/pipeline_scale_bench.py --engine duckdb --events 1000000 \
        --label duckdb_1M_start
    AIDMP_ENGINE__KIND=spark .venv/bin/python benchmarks/pipeline_scale_bench.py \
        --engine spark --events 1000000 --label spark_1M

``--people`` defaults to a tenth of the events. Stores live under ``/tmp`` and are deleted at
the end (``--keep`` leaves them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

RESULTS = Path(__file__).resolve().parent / "results" / "pipeline_scale.json"
PART = 1_000_000
MIN_AVAILABLE_GB = 10.0
WAIT_S = 900
RULES = {
    "Engaged buyers": "orders_total >= 1 and engagement_score > 0.5",
    "At risk": 'rfm_segment in ("at risk", "hibernating")',
    "Fashion fans": 'top_category = "fashion" and events >= 5',
    "Cart not bought": 'event("Product Added", count >= 2) and not event("Order Completed")',
}

# The events of build_scale_bench.GENERATE, as columns a shop's export would have.
EVENTS_SQL = """
WITH ev AS (
  SELECT i, hash(i) AS h, (hash(i) % {people}) AS p FROM range({start}, {stop}) t(i)
), x AS (
  SELECT i, p, h, (h >> 8) % 100 AS kind_roll, (h >> 16) % 3 AS dev,
    TIMESTAMPTZ '2026-05-01 00:00:00+00' + to_seconds(((h >> 24) % (180 * 86400))::BIGINT) AS ts,
    ['fashion','books','sports','home','beauty','toys','garden','music']
      [1 + ((p * 7 + (h >> 40) % 3) % 8)::INT] AS category,
    round(5 + ((h >> 32) % 20000) / 100.0, 2) AS price
  FROM ev
)
SELECT 'm' || i AS message_id, kind_roll,
  CASE WHEN p % 10 < 6 AND kind_roll >= 85 THEN 'u' || p END AS user_id,
  'a' || p || '_' || (dev % (1 + p % 3)) AS anonymous_id,
  ts AS timestamp, category, price, p
FROM x
"""
SHAPES: dict[str, tuple[str, dict[str, Any]]] = {
    # shape: (SELECT over EVENTS_SQL's rows, import mapping)
    "pages": ("SELECT message_id, anonymous_id, 'Product' AS name, timestamp, category, price "
              "FROM e WHERE kind_roll < 55",
              {"type": "page", "event_column": "name", "anonymous_id_column": "anonymous_id"}),
    "shop": ("SELECT message_id, CASE WHEN kind_roll < 85 THEN 'Product Viewed' "
             "ELSE 'Product Added' END AS event, user_id, anonymous_id, timestamp, category, "
             "price FROM e WHERE kind_roll >= 55 AND kind_roll < 93",
             {"event_column": "event", "user_id_column": "user_id",
              "anonymous_id_column": "anonymous_id"}),
    "orders": ("SELECT message_id, user_id, anonymous_id, timestamp, 'o' || message_id AS "
               "order_id, price AS revenue, [{'category': category, 'price': price}] AS "
               "products FROM e WHERE kind_roll >= 93 AND kind_roll < 97",
               {"event": "Order Completed", "user_id_column": "user_id",
                "anonymous_id_column": "anonymous_id"}),
    "identifies": ("SELECT message_id, user_id, anonymous_id, timestamp, "
                   "'person' || p || '@mail.example' AS email, 18 + p % 60 AS age "
                   "FROM e WHERE kind_roll >= 97",
                   {"type": "identify", "user_id_column": "user_id",
                    "anonymous_id_column": "anonymous_id"}),
}


def load_average() -> float:
    """The 1-minute load average."""
    return round(os.getloadavg()[0], 1)


def available_gb() -> float:
    """``MemAvailable`` of the machine, GB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def disk_mb(path: Path) -> float:
    """Bytes under ``path`` (as ``du -sb``), MB."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += (Path(root) / f).lstat().st_size
            except OSError:
                continue
    return round(total / 1e6, 1)


def _tree_rss_kb() -> tuple[int, int]:
    """(this process's RSS, its descendants' summed RSS) in KB, read from ``/proc``."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines()
                          if ":" in line)
            pid = int(status.parent.name)
            parents[pid] = int(fields["PPid"])
            rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
        except (OSError, KeyError, ValueError):
            continue
    me = os.getpid()
    kids: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        kids.setdefault(ppid, []).append(pid)
    below, todo = 0, list(kids.get(me, []))
    while todo:
        pid = todo.pop()
        below += rss.get(pid, 0)
        todo += kids.get(pid, [])
    return rss.get(me, 0), below


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds (user + system, every thread) used so far by this process and by its live
    descendants (the Spark JVM), the latter read from ``/proc/<pid>/stat``."""
    own = os.times()
    tick = os.sysconf("SC_CLK_TCK")
    me, below = os.getpid(), 0.0
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
            used[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    todo = [pid for pid, ppid in parents.items() if ppid == me]
    while todo:
        pid = todo.pop()
        below += used.get(pid, 0.0)
        todo += [c for c, ppid in parents.items() if ppid == pid]
    return own.user + own.system, below + own.children_user + own.children_system


class Sampler:
    """Samples the process tree's RSS every ``every`` seconds in a thread; ``peak()`` gives
    the highest (self, descendants, both together) since the last ``reset()``, MB."""

    def __init__(self, every: float = 0.2) -> None:
        self.every = every
        self._peak = (0, 0, 0)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(self.every)

    def sample(self) -> None:
        me, below = _tree_rss_kb()
        with self._lock:
            a, b, c = self._peak
            self._peak = (max(a, me), max(b, below), max(c, me + below))

    def reset(self) -> None:
        with self._lock:
            self._peak = (0, 0, 0)

    def peak(self) -> dict[str, int]:
        self.sample()
        with self._lock:
            a, b, c = self._peak
        return {"process": a // 1024, "children": b // 1024, "total": c // 1024}

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def wait_for_memory(needed: float, events: int) -> float:
    """Seconds waited until ``needed`` GB are available (runs below 10M events do not wait).

    Raises:
        SystemExit: still too little memory after ``WAIT_S`` seconds.
    """
    if events < 10_000_000:
        return 0.0
    t = time.perf_counter()
    while available_gb() < needed:
        if time.perf_counter() - t > WAIT_S:
            raise SystemExit(f"error: memory: {available_gb()} GB available after waiting "
                             f"{WAIT_S} s; a {events}-event step needs {needed} GB")
        print(f"waiting: {available_gb()} GB available", file=sys.stderr, flush=True)
        time.sleep(15)
    return round(time.perf_counter() - t, 1)


def write_files(folder: Path, events: int, people: int) -> dict[str, int]:
    """The input Parquet files, ``PART`` events per file and shape; rows per shape."""
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    rows = dict.fromkeys(SHAPES, 0)
    for k, start in enumerate(range(0, events, PART)):
        stop = min(events, start + PART)
        con.execute(f"CREATE OR REPLACE TEMP TABLE e AS "
                    f"{EVENTS_SQL.format(people=people, start=start, stop=stop)}")
        for shape, (select, _mapping) in SHAPES.items():
            (folder / shape).mkdir(parents=True, exist_ok=True)
            path = folder / shape / f"part-{k:04d}.parquet"
            con.execute(f"COPY ({select}) TO '{path}' (FORMAT parquet)")
            row = con.execute(f"SELECT count(*) FROM ({select})").fetchone()
            rows[shape] += int(row[0]) if row else 0
    con.close()
    return rows


def run(engine: str, events: int, people: int, work: Path,
        partial: Callable[[dict[str, Any]], None] = lambda _: None) -> dict[str, Any]:
    """The pipeline on a fresh store in ``work``; per-stage figures (also handed to
    ``partial`` after each stage, so that a run stopped part way leaves what it measured)."""
    from aidmp import DMP
    from aidmp.spec.imports import ImportMapping

    sampler = Sampler()
    home, files = work / "home", work / "files"
    stages: dict[str, dict[str, Any]] = {}
    facts: dict[str, Any] = {}

    @contextmanager
    def stage(name: str) -> Iterator[dict[str, Any]]:
        waited = wait_for_memory(MIN_AVAILABLE_GB, events)
        info: dict[str, Any] = {"available_gb_before": available_gb(),
                                "load_before": load_average(), "waited_for_memory_s": waited}
        sampler.reset()
        cpu = cpu_seconds()
        t = time.perf_counter()
        yield info
        info["seconds"] = round(time.perf_counter() - t, 2)
        after = cpu_seconds()
        info["cpu_s"] = {"process": round(after[0] - cpu[0], 1),
                         "children": round(after[1] - cpu[1], 1)}
        info["peak_rss_mb"] = sampler.peak()
        info["load_after"] = load_average()
        info["disk_mb"] = disk_mb(home) if home.exists() else 0.0
        stages[name] = info
        print(f"{name}: {json.dumps(info)}", file=sys.stderr, flush=True)
        partial({"engine": engine, "events": events, "people": people, **facts,
                 "incomplete": True, "stages": stages})

    with stage("files") as info:
        facts["rows_per_shape"] = write_files(files, events, people)
        info["input_mb"] = disk_mb(files)
    t = time.perf_counter()
    dmp = DMP(home=home)
    facts["open_s"] = round(time.perf_counter() - t, 2)
    facts["engine_class"] = type(dmp.engine).__name__
    with stage("import") as info:
        reports = {}
        for shape, (_select, mapping) in SHAPES.items():
            m = ImportMapping(source="web", timestamp_column="timestamp",
                              message_id_column="message_id", **mapping)
            r = dmp.imports.file(files / shape, m)
            reports[shape] = {"read": r.read, "stored": r.stored,
                              "quarantined": r.quarantined, "seconds": round(r.seconds, 2)}
        info["per_shape"] = reports
        stored = sum(r["stored"] for r in reports.values())
        assert stored == events, (stored, events)
    with stage("build") as info:
        summary = dmp.build()
        info["stage_s"] = summary.seconds
        facts["profiles"] = summary.profiles
        facts["identifiers"] = summary.identifiers
    with stage("segments") as info:
        for name, rule in RULES.items():
            dmp.segments.create(name, rule=rule)
        dmp.segments.refresh()
        sizes = {s["id"]: dmp.segments.size(s["id"])["size"] for s in dmp.segments.list()}
        facts["segment_sizes"] = sizes
        assert all(n > 0 for n in sizes.values()), sizes
    with stage("model") as info:
        row = dmp.models.fit("churn", "churn_60d", target_event="Order Completed",
                             window_days=60)
        card = row["params"].get("model_card", {})
        facts["model"] = {"kind": row["kind"], "auc": row["metrics"].get("auc"),
                          "people": row["data_window"].get("rows"),
                          "positives": row["data_window"].get("positives"),
                          "chosen": card.get("summary")}
    with stage("export") as info:
        dmp.audiences.add_destination({"type": "file", "name": "drop",
                                       "folder": str(home / "exports"),
                                       "columns": ["user_id", "email"]})
        sync = dmp.audiences.sync("engaged_buyers", "drop").to_dict()
        facts["export"] = {k: sync[k] for k in ("members", "added", "skipped_no_identifier")}
        facts["export_files"] = len(sync["files"])
        facts["export_files_kb"] = round(sum(Path(f).stat().st_size for f in sync["files"]
                                             if Path(f).exists()) / 1000)
    dmp.close()
    sampler.stop()
    pipeline = PIPELINE
    return {"engine": engine, "events": events, "people": people, **facts,
            "pipeline_s": round(sum(stages[s]["seconds"] for s in pipeline), 1),
            "peak_rss_mb": max(stages[s]["peak_rss_mb"]["total"] for s in pipeline),
            "store_disk_mb": stages["export"]["disk_mb"],
            "bytes_per_event": round(stages["export"]["disk_mb"] * 1e6 / events, 1),
            "stages": stages}


def merge(label: str, result: dict[str, Any]) -> None:
    """Put ``result`` under ``label`` in the results file (others' runs kept)."""
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data.setdefault("machine", "2 vCPU, 24 GB (shared with other engineers' sessions)")
    data.setdefault("runs", {})[label] = result
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")


PIPELINE = ("import", "build", "segments", "model", "export")


def derive(runs: dict[str, dict[str, Any]], small: str, large: str, cores: int = 2
           ) -> dict[str, Any]:
    """What the runs ``small`` and ``large`` (10x the events, same engine) say: the time ratio
    per stage and in all, events/s per core per stage at the larger size, peak memory per 10M
    events and disk per event; then, EXTRAPOLATED, what 1B events would take (linear in the
    events from the larger run; stages assumed to spread over cores as they did here). With CPU
    seconds recorded, the per-core rate is events per CPU second (load-independent), else
    events per wall second over ``cores``."""
    a, b = runs[small], runs[large]
    scale = b["events"] / a["events"]
    ratio = {s: round(b["stages"][s]["seconds"] / max(a["stages"][s]["seconds"], 1e-9), 2)
             for s in PIPELINE}
    ratio["pipeline"] = round(b["pipeline_s"] / a["pipeline_s"], 2)
    per_core = {s: round(b["events"] / b["stages"][s]["seconds"] / cores)
                for s in PIPELINE}
    per_core["pipeline"] = round(b["events"] / b["pipeline_s"] / cores)
    if all("cpu_s" in r["stages"][st] for r in (a, b) for st in PIPELINE):
        cpu = {r: {st: sum(x["stages"][st]["cpu_s"].values()) for st in PIPELINE}
               for r, x in ((small, a), (large, b))}
        ratio["cpu_pipeline"] = round(sum(cpu[large].values()) / sum(cpu[small].values()), 2)
        # CPU seconds do not grow when other sessions take the cores: the rate per core
        per_core = {st: round(b["events"] / max(cpu[large][st], 1e-9)) for st in PIPELINE}
        per_core["pipeline"] = round(b["events"] / sum(cpu[large].values()))
    billion = 1_000_000_000
    core_hours = {s: round(billion / per_core[s] / 3600, 1) for s in (*PIPELINE, "pipeline")}
    return {
        "small": small, "large": large, "events_ratio": scale, "time_ratio": ratio,
        "events_per_s_per_core": per_core,
        "peak_rss_mb": {small: a["peak_rss_mb"], large: b["peak_rss_mb"]},
        "peak_rss_mb_per_10M_events": round(b["peak_rss_mb"] * 1e7 / b["events"]),
        "disk_bytes_per_event": b["bytes_per_event"],
        "extrapolated_1B": {
            "label": "EXTRAPOLATED (linear from the larger run), not measured",
            "core_hours": core_hours,
            "store_disk_gb": round(b["bytes_per_event"] * billion / 1e9),
            "peak_rss_gb_if_one_machine": round(b["peak_rss_mb"] * billion / b["events"] / 1e3),
        },
    }


def main(argv: list[str] | None = None, runner: Callable[..., dict[str, Any]] = run) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, help="default: events / 10")
    parser.add_argument("--label", help="key in the results file; default engine_events")
    parser.add_argument("--keep", action="store_true", help="keep the store afterwards")
    parser.add_argument("--derive", nargs=2, metavar=("SMALL", "LARGE"),
                        help="add what two recorded runs say (ratios, per-core rates, the 1B "
                             "extrapolation) to the results file under derived, and stop")
    args = parser.parse_args(argv)
    if args.derive:
        data = json.loads(RESULTS.read_text())
        out = derive(data["runs"], *args.derive)
        data.setdefault("derived", {})[f"{args.derive[0]}->{args.derive[1]}"] = out
        RESULTS.write_text(json.dumps(data, indent=2) + "\n")
        print(json.dumps(out, indent=2))
        return
    if args.engine == "spark":
        os.environ["AIDMP_ENGINE__KIND"] = "spark"
        os.environ.setdefault("AIDMP_ENGINE__MASTER", "local[2]")
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    elif os.environ.get("AIDMP_ENGINE__KIND", "duckdb") != "duckdb":
        parser.error("--engine duckdb with AIDMP_ENGINE__KIND set to another engine")
    people = args.people or max(1, args.events // 10)
    work = Path(tempfile.mkdtemp(prefix=f"pipeline_scale_{args.engine}_", dir="/tmp"))
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    label = args.label or f"{args.engine}_{args.events}"

    def partial(result: dict[str, Any]) -> None:
        merge(label, {**result, "started": started})

    try:
        result = runner(args.engine, args.events, people, work, partial)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    result["started"] = started
    result["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    result["git"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                   text=True, cwd=Path(__file__).parent).stdout.strip()
    merge(label, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
