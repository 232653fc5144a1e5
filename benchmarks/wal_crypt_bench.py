"""Collector throughput with the write-ahead log sealed (AES-GCM) vs in clear, same run.

The collector acknowledges a batch once its raw request is in the write-ahead log and
``fdatasync``'d; with ``$AIDMP_WAL_KEYS`` set every frame is sealed with AES-GCM
(``cryptography``) before it is written (:mod:`aidmp.collect.walcrypt`). This runs the
collector benchmark's load (one uvicorn worker, 100-event batches of about 60 KB, ``wrk -t1
-c8``) against a fresh home per run, alternating clear and sealed (``--reps`` each, the order
of the first pair swapped every other pair so a drift in the machine's load hits both alike),
and checks after each run that every acknowledged event reached the store. Besides events/s
it records the events acknowledged per CPU-second of the server process (``/proc``), which a
busy machine disturbs far less than the wall-clock rate. Before each pair
it times a trivial baseline (a pure-Python loop of 10M additions) and records the load
average, so that figures from a shared machine can be judged. Goal (issue 19): sealed at most
15 % slower (ratio of medians >= 0.85). Also the microseconds AES-GCM takes to seal and open
one request's frame, timed alone (what encryption adds to each request, whatever the load).

Run: ``.venv/bin/python -m benchmarks.wal_crypt_bench [--reps 3] [--seconds 10]`` (needs
Debian's ``wrk``). Results: ``benchmarks/results/wal_crypt.json`` (appended).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import collector_bench as cb

OUT = Path(__file__).parent / "results" / "wal_crypt.json"


def loop_baseline() -> float:
    """Seconds of a pure-Python loop of 10M additions (the machine's current speed)."""
    t = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return round(time.perf_counter() - t, 3)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seal_cost(body: bytes, key_hex: str, n: int = 2000) -> dict[str, float]:
    """Microseconds to seal and to open one request's frame (the work encryption adds to a
    request, measured alone: robust to the machine's load, unlike the throughput)."""
    from aidmp.collect.walcrypt import FrameCipher

    cipher = FrameCipher([bytes.fromhex(key_hex)])
    t = time.perf_counter()
    for _ in range(n):
        sealed = cipher.seal(body)
    seal_us = (time.perf_counter() - t) / n * 1e6
    t = time.perf_counter()
    for _ in range(n):
        cipher.open(sealed)
    return {"seal_us": round(seal_us, 1),
            "open_us": round((time.perf_counter() - t) / n * 1e6, 1)}


def one_run(body_file: Path, key_hex: str | None) -> dict[str, float]:
    """One wrk run against a fresh home; ``key_hex`` seals the log."""
    from aidmp import DMP
    from aidmp.api.server import free_port

    env = {k: v for k, v in os.environ.items() if k != "AIDMP_WAL_KEYS"}
    if key_hex is not None:
        env["AIDMP_WAL_KEYS"] = key_hex
    home = Path(tempfile.mkdtemp(prefix="aidmp-walcrypt-"))
    try:
        with DMP(home=home) as dmp:
            key = dmp.keys.create("write", source="bench").secret
        port = free_port()
        proc = subprocess.Popen([str(cb.ROOT / ".venv/bin/aidmp"), "serve", "--home", str(home),
                                 "--port", str(port)], stderr=subprocess.DEVNULL, env=env)
        try:
            cb.wait_up(f"http://127.0.0.1:{port}/health", proc)
            auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
            cpu_before = _cpu_s(proc.pid)
            r = cb.run_wrk(port, body_file, auth)
            # CPU seconds the server spent per acknowledged event: what the work costs, far
            # less sensitive to other processes' load than the wall-clock throughput
            r["server_cpu_s"] = round(_cpu_s(proc.pid) - cpu_before, 2)
            r["events_per_cpu_s"] = round(r["requests"] * 100 / max(r["server_cpu_s"], 1e-9))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
        sealed = [p for p in (home / "wal").glob("wal-*.log") if p.stat().st_size]
        saved = os.environ.get("AIDMP_WAL_KEYS")
        if key_hex is not None:
            os.environ["AIDMP_WAL_KEYS"] = key_hex
        try:
            with DMP(home=home) as dmp:
                r["stored"] = dmp.events.count()
        finally:
            if saved is None:
                os.environ.pop("AIDMP_WAL_KEYS", None)
            else:
                os.environ["AIDMP_WAL_KEYS"] = saved
        r["wal_segments_left"] = len(sealed)
        assert r["non_2xx"] == 0, r
        assert r["stored"] >= r["requests"] * 100, r  # every acknowledged event is stored
        return r
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install -y wrk")
    cb.DURATION = args.seconds
    key_hex = secrets.token_hex(32)
    body_file = Path(tempfile.mkdtemp()) / "batch.json"
    body_file.write_text(cb.batch_template())
    started = datetime.now(UTC).isoformat(timespec="seconds")
    runs: dict[str, list[dict[str, float]]] = {"clear": [], "sealed": []}
    pairs = []
    for rep in range(args.reps):
        load = [round(x, 2) for x in os.getloadavg()]
        base = loop_baseline()
        order = ("clear", "sealed") if rep % 2 == 0 else ("sealed", "clear")
        for mode in order:
            r = one_run(body_file, key_hex if mode == "sealed" else None)
            runs[mode].append(r)
            print(mode, round(r["events_per_s"]), "events/s", r["events_per_cpu_s"],
                  "events/CPU-s", flush=True)
        pairs.append({"rep": rep, "order": order, "loadavg": load, "python_loop_10m_s": base,
                      "ratio_sealed_to_clear": round(runs["sealed"][-1]["events_per_s"]
                                                     / runs["clear"][-1]["events_per_s"], 3)})
    med = {m: statistics.median(r["events_per_s"] for r in rs) for m, rs in runs.items()}
    result = {
        "started": started, "machine": "2 vCPU, 24 GB (shared)",
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "body_bytes": body_file.stat().st_size, "seconds_per_run": args.seconds,
        "events_per_s_median": {m: round(v) for m, v in med.items()},
        "p99_ms_median": {m: statistics.median(r["p99_ms"] for r in rs)
                          for m, rs in runs.items()},
        "ratio_sealed_to_clear": round(med["sealed"] / med["clear"], 3),
        "events_per_cpu_s_median": {m: round(statistics.median(r["events_per_cpu_s"]
                                                               for r in rs))
                                    for m, rs in runs.items()},
        "aes_gcm_per_request": seal_cost(body_file.read_bytes(), key_hex),
        "pairs": pairs, "runs": runs,
    }
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    OUT.parent.mkdir(exist_ok=True)
    previous = json.loads(OUT.read_text()) if OUT.exists() else []
    OUT.write_text(json.dumps([*previous, result], indent=2))


if __name__ == "__main__":
    main()
