"""The service under load: collector and real-time latency before, during and after a full build
job; a CLI command through the server against the same command on the store.

Store: ``--generate N`` events (and N/10 people) made inside the store by
``build_scale_bench.py``'s generator and built once, or a built store given with ``--home DIR``
(copied first so the source stays untouched). A real-time segment
``event("Bench Probe", within=30d)`` is added (an event no generated person has sent, so each
probe of a new customer must make them enter).

One run, with ``aidmp serve``'s app in a thread (uvicorn; WAL fsync on, the default):

- a load thread posts ``/v1/batch`` of ``--batch`` new events ``--rate`` times a second
  (default 20 x 10 = 200 events/s) and records each request's latency (send -> 200): the
  **collector** figure. The load's events (``--load-event``, default ``Bench Load``) are not
  read by the rule, so the evaluator skips them; ``--load-event "Bench Probe"`` makes every
  one of them an event it must evaluate;
- a prober posts one ``Bench Probe`` at a time for a different known customer and records
  the time from the 200 to the membership change being written (the evaluator's
  ``on_change``, as in ``realtime_bench.py``): the **real-time** figure;
- phases: ``before`` (``--phase-s`` seconds), ``during`` (a full build submitted as a job with
  ``POST /v1/jobs``, until it ends), ``after`` (``--after-s`` seconds, default ``--phase-s``;
  its probes are also reported from 20 s on, as ``after+20s``).

Then every acknowledged load event is counted in the store (stored once each: the load's
message ids are new and unique, the table is unique on message_id).

CLI: ``aidmp segments list --json`` and ``aidmp profiles get user_id:<id> --json`` as new
processes, 3 times each, through a running ``aidmp serve`` on the copy and then on the store
with no server (median wall time).

Run: ``.venv/bin/python -m benchmarks.service_bench --generate 1000000 [--phase-s 20]``
(or ``--home DIR``); writes
``benchmarks/results/service.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from aidmp import DMP
from aidmp.api.server import ServerThread, free_port
from aidmp.segments.realtime import MembershipChange
from aidmp.service.runtime import wait_for_handshake

ROOT = Path(__file__).resolve().parent.parent
# a probe event none of the generated people has sent: each probe of a new customer is an entry
PROBE_EVENT = "Bench Probe"
RULE = f'event("{PROBE_EVENT}", within=30d)'


def pct(values: list[float]) -> dict[str, float]:
    """p50 / p99 / max in milliseconds, and how many."""
    if not values:
        return {"n": 0}
    a = np.array(values) * 1000
    return {"n": len(values), "p50": round(float(np.percentile(a, 50)), 1),
            "p99": round(float(np.percentile(a, 99)), 1), "max": round(float(a.max()), 1)}


class Load(threading.Thread):
    """Batches of ``size`` new events, ``rate`` a second; latency per request, by phase."""

    def __init__(self, url: str, key: str, users: list[str], phase: list[str], size: int,
                 rate: float, event: str = "Bench Load") -> None:
        super().__init__(daemon=True)
        self.event = event
        self.url, self.key, self.users, self.phase = url, key, users, phase
        self.size, self.rate = size, rate
        self.lat: dict[str, list[float]] = {}
        self.acked = 0
        self.refused = 0
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, auth=(self.key, ""), timeout=600) as client:
            i = 0
            while not self.stop.is_set():
                start = time.perf_counter()
                batch = [{"type": "track", "event": self.event, "messageId": uuid.uuid4().hex,
                          "userId": self.users[(i * self.size + n) % len(self.users)]}
                         for n in range(self.size)]
                r = client.post("/v1/batch", json={"batch": batch})
                took = time.perf_counter() - start
                if r.status_code == 200:
                    self.acked += self.size
                else:
                    self.refused += 1
                self.lat.setdefault(self.phase[0], []).append(took)
                i += 1
                time.sleep(max(1 / self.rate - took, 0))


def served_run(dmp: DMP, users: list[str], phase_s: float, size: int,
               rate: float, *, after_s: float | None = None,
               load_event: str = "Bench Load") -> dict[str, Any]:
    write = dmp.keys.create("write", source="bench").secret
    admin = dmp.keys.create("admin", source="bench").secret
    recorded: dict[str, float] = {}
    done = threading.Condition()

    def on_change(changes: list[MembershipChange]) -> None:
        now = time.perf_counter()
        with done:
            for c in changes:
                recorded[c.trigger] = now
            done.notify_all()

    phase = ["before"]
    rt: dict[str, list[float]] = {}
    missed: dict[str, int] = {}
    build: dict[str, Any] = {}
    admin_h = {"Authorization": f"Bearer {admin}"}
    with ServerThread(dmp) as srv, httpx.Client(base_url=srv.url, auth=(write, ""),
                                                timeout=600) as client:
        srv.app.state.realtime.on_change = on_change
        load = Load(srv.url, write, users, phase, size, rate, load_event)
        load.start()
        job_id: str | None = None
        t_phase = time.monotonic()
        loadavg = {"before": os.getloadavg()[0]}
        k = 0
        while True:
            now = time.monotonic()
            if phase[0] == "before" and now - t_phase > phase_s:
                phase[0] = "during"
                r = httpx.post(srv.url + "/v1/jobs", json={"kind": "build",
                                                           "params": {"full": True}},
                               headers=admin_h, timeout=600)
                assert r.status_code == 202, r.text
                job_id = r.json()["id"]
                t_phase = now
                loadavg["during"] = os.getloadavg()[0]
            elif phase[0] == "during" and job_id is not None:
                job = httpx.get(f"{srv.url}/v1/jobs/{job_id}", headers=admin_h,
                                timeout=600).json()
                if job["state"] != "running" and job["state"] != "queued":
                    build = {"state": job["state"], "seconds": round(now - t_phase, 1),
                             "error": job["error"]}
                    phase[0] = "after"
                    t_phase = now
                    loadavg["after"] = os.getloadavg()[0]
            elif phase[0] == "after" and now - t_phase > (after_s or phase_s):
                break
            mid = f"probe-{k}"
            customer = users[(k * 7919) % len(users)]
            k += 1
            r = client.post("/v1/track", json={
                "userId": customer, "event": PROBE_EVENT, "messageId": mid,
                "timestamp": datetime.now(UTC).isoformat(), "properties": {"revenue": 9.5}})
            acked = time.perf_counter()
            assert r.status_code == 200, r.text
            trigger = f"realtime:{mid}"
            with done:
                ok = done.wait_for(lambda: trigger in recorded, 10)  # noqa: B023
            # the "after" phase's figures also apart from its first 20 s
            label = phase[0] + ("+20s" if phase[0] == "after" and now - t_phase > 20 else "")
            if ok:
                rt.setdefault(label, []).append(max(recorded[trigger] - acked, 0.0))
            else:  # every probe is a new customer's first probe event: an entry was due
                missed[label] = missed.get(label, 0) + 1
            time.sleep(0.05)
        load.stop.set()
        load.join(60)
        evaluator = dict(srv.app.state.realtime.stats.__dict__)
    t = dmp.engine.table("events")
    t = t.filter([t.event == load_event, ~t.message_id.startswith("probe-")])
    stored = dmp.engine.execute(t.aggregate(n=t.count(), ids=t.message_id.nunique())
                                ).to_pylist()[0]
    return {"load": {"batch": size, "batches_per_s": rate, "event": load_event},
            "build_job": build,
            "loadavg_1min_at_phase_start": loadavg,
            "collector_batch_ms": {p: pct(v) for p, v in load.lat.items()},
            "realtime_ack_to_recorded_ms": {p: pct(v) for p, v in rt.items()},
            "realtime_not_recorded_within_10s": missed, "evaluator": evaluator,
            "load_acknowledged": load.acked, "load_refused_requests": load.refused,
            "load_stored": stored["n"], "load_stored_distinct": stored["ids"]}


def cli_times(home: Path, user: str) -> dict[str, Any]:
    env = {**os.environ, "AIDMP_HOME": str(home)}
    commands = {"segments list": ["segments", "list", "--json"],
                "profiles get": ["profiles", "get", f"user_id:{user}", "--json"]}

    def timed() -> dict[str, float]:
        out = {}
        for name, args in commands.items():
            runs = []
            for _ in range(3):
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "aidmp.cli.main", *args], env=env,
                               check=True, capture_output=True)
                runs.append(time.perf_counter() - t0)
            out[name] = round(statistics.median(runs), 2)
        return out

    port = free_port()
    # --no-warm: the dashboard's warm-up (store-wide aggregates, ~25 s at 10M events) would
    # otherwise share the CPUs with the commands timed here (8.0-8.5 s instead of ~2-3 s for
    # `segments list` in two runs at 10M while it ran)
    proc = subprocess.Popen([sys.executable, "-m", "aidmp.cli.main", "serve", "--port",
                             str(port), "--no-warm"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for_handshake(str(home), 120)
        through = timed()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(120)
    return {"through_server_s": through, "local_s": timed()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, help="a built store (aidmp demo, build_scale_bench)")
    ap.add_argument("--generate", type=int, help="events to generate instead of --home")
    ap.add_argument("--phase-s", type=float, default=20.0)
    ap.add_argument("--after-s", type=float, help="length of the phase after the build "
                    "(default: --phase-s)")
    ap.add_argument("--cli-only", action="store_true", help="only the CLI comparison")
    ap.add_argument("--batch", type=int, default=20, help="events per collector request")
    ap.add_argument("--rate", type=float, default=10.0, help="collector requests per second")
    ap.add_argument("--load-event", default="Bench Load",
                    help=f"the load's event name; {PROBE_EVENT!r} makes every load event one "
                         "the real-time rule reads (each is evaluated live)")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="aidmp-service-bench-")) / "home"
    prep: dict[str, Any] = {}
    if args.home is not None:
        shutil.copytree(args.home, home, ignore=shutil.ignore_patterns("server.json"))
    else:
        from benchmarks.build_scale_bench import GENERATE

        with DMP(home=home) as dmp:
            t0 = time.perf_counter()
            dmp.engine.sql(GENERATE.format(people=max(args.generate // 10, 100),
                                           events=args.generate))
            prep["generate_s"] = round(time.perf_counter() - t0, 1)
            t0 = time.perf_counter()
            dmp.build()
            prep["first_build_s"] = round(time.perf_counter() - t0, 1)
    try:
        dmp = DMP(home=home)
        events = dmp.events.count()
        p = dmp.engine.table("profiles")
        profiles = dmp.engine.count("profiles")
        users = dmp.engine.execute(p.filter(p.user_id.notnull()).select("user_id").order_by(
            "user_id").limit(5000)).column("user_id").to_pylist()
        dmp.segments.create("bench recent buyers", rule=RULE, realtime=True)
        run: dict[str, Any] = {}
        if not args.cli_only:
            run = served_run(dmp, users, args.phase_s, args.batch, args.rate,
                             after_s=args.after_s, load_event=args.load_event)
            print(json.dumps(run, indent=2), flush=True)
        dmp.close()
        cli = cli_times(home, users[0])
    finally:
        shutil.rmtree(home.parent, ignore_errors=True)
    result = {"store": str(args.home or f"generated {args.generate:,} events"),
              "events": events, "profiles": profiles, **prep, **run,
              "cli": cli, "date": datetime.now(UTC).date().isoformat(),
              "machine": "2 vCPU, 24 GB (shared)"}
    out = ROOT / "benchmarks" / "results" / (
        "service_cli.json" if args.cli_only else "service.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
