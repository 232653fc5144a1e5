"""Soak: ``aidmp serve`` under a steady load for ten minutes, RSS sampled, DuckDB capped.

The server runs as its own process (``aidmp serve``) with ``engine.memory_limit`` set (default
here 512MB) and durability on. Four client threads post 100-message batches paced to a steady
rate (default 2,000 events/s); every minute an admin key runs an incremental build and reads a
timeline and the event stats (the queries that make DuckDB allocate). The server's RSS is read
from ``/proc/<pid>/status`` every 5 s. At the end the stored count is checked against the
acknowledged messages (none lost, none twice) and the RSS series is summarised: after a
two-minute warm-up it should be flat (slope near 0 MB/min), and its growth above the warm
baseline must stay under the DuckDB limit.

Run: ``.venv/bin/python benchmarks/soak_bench.py`` (``SOAK_SECONDS``, ``SOAK_RATE``,
``SOAK_MEMORY_LIMIT`` to change the defaults). Writes benchmarks/results/soak.json.
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SECONDS = int(os.environ.get("SOAK_SECONDS", "600"))
RATE = int(os.environ.get("SOAK_RATE", "2000"))
MEMORY_LIMIT = os.environ.get("SOAK_MEMORY_LIMIT", "512MB")
WARMUP = min(120, SECONDS // 5)


def rss_mb(pid: int) -> float:
    """Resident set size of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def batch(n: int = 100) -> bytes:
    """A batch of ``n`` e-commerce messages with fresh ids (about 40 KB)."""
    tag = uuid.uuid4().hex
    msgs = []
    for i in range(n):
        kind = ("page", "track", "track", "identify")[i % 4]
        m: dict[str, object] = {"type": kind, "messageId": f"{tag}-{i}",
                                "anonymousId": f"anon-{tag[:6]}-{i % 9}",
                                "context": {"page": {"url": "https://shop.example/p/1"}}}
        if kind == "track":
            m.update(event="Product Viewed", userId=f"u{i % 500}",
                     properties={"sku": f"sku-{i}", "price": 19.5 + i, "tags": ["a", "b"]})
        elif kind == "identify":
            m.update(userId=f"u{i % 500}", traits={"email": f"u{i % 500}@example.com"})
        else:
            m["name"] = "Home"
        msgs.append(m)
    return json.dumps({"batch": msgs}).encode()


def main() -> None:
    from aidmp import DMP
    from aidmp.api.server import free_port

    home = Path(tempfile.mkdtemp(prefix="aidmp-soak-"))
    with DMP(home=home) as dmp:
        write = dmp.keys.create("write", source="web").secret
        admin = dmp.keys.create("admin").secret
    port = free_port()
    env = {**os.environ, "AIDMP_ENGINE__KIND": "duckdb", "AIDMP_ENGINE__MEMORY_LIMIT": MEMORY_LIMIT}
    proc = subprocess.Popen([sys.executable, "-m", "aidmp.cli.main", "serve", "--home",
                             str(home), "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=(home / "serve.log").open("wb"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    auth = {"Authorization": "Basic " + base64.b64encode(f"{write}:".encode()).decode(),
            "Content-Type": "application/json"}
    admin_h = {"Authorization": f"Bearer {admin}"}
    stop = threading.Event()
    acked = [0] * 4
    errors = [0] * 4
    latencies: list[float] = []
    per_thread_interval = 100 * 4 / RATE  # seconds between one thread's batches

    def load(k: int) -> None:
        with httpx.Client(timeout=30) as client:
            nxt = time.monotonic()
            while not stop.is_set():
                body = batch()
                t = time.perf_counter()
                try:
                    r = client.post(url + "/v1/batch", content=body, headers=auth)
                    if r.status_code == 200:
                        acked[k] += r.json()["accepted"]
                    else:
                        errors[k] += 1
                except httpx.HTTPError:
                    errors[k] += 1
                latencies.append(time.perf_counter() - t)
                nxt += per_thread_interval
                time.sleep(max(0.0, nxt - time.monotonic()))

    threads = [threading.Thread(target=load, args=(k,), daemon=True) for k in range(4)]
    started = time.monotonic()
    for t in threads:
        t.start()
    samples: list[tuple[float, float]] = []
    builds: list[float] = []

    def reads() -> None:  # a build, a timeline and the stats each minute, one at a time
        while not stop.wait(60):
            t = time.perf_counter()
            r = httpx.post(url + "/v1/build?wait=true", headers=admin_h, timeout=900)
            builds.append(round(time.perf_counter() - t, 2) if r.status_code == 200 else -1)
            httpx.get(url + "/v1/profiles/user_id:u7/events", headers=admin_h, timeout=60)
            httpx.get(url + "/v1/events/stats", headers=admin_h, timeout=60)

    reader = threading.Thread(target=reads, daemon=True)
    reader.start()
    while (now := time.monotonic()) - started < SECONDS:  # RSS sampled on its own clock
        samples.append((round(now - started, 1), round(rss_mb(proc.pid), 1)))
        time.sleep(5)
    stop.set()
    for t in threads:
        t.join()
    reader.join(timeout=900)
    stats = httpx.get(url + "/v1/events/stats", headers=admin_h, timeout=60).json()
    health = httpx.get(url + "/health", timeout=10).json()
    proc.terminate()
    proc.wait(timeout=60)
    with DMP(home=home) as dmp:
        stored = dmp.events.count()
    warm = [(t, r) for t, r in samples if t >= WARMUP]
    xs, ys = [t / 60 for t, _ in warm], [r for _, r in warm]
    slope = statistics.linear_regression(xs, ys).slope if len(warm) > 2 else float("nan")
    base = ys[0] if ys else float("nan")
    limit_mb = float(MEMORY_LIMIT.rstrip("MB")) if MEMORY_LIMIT.endswith("MB") else None
    lat = sorted(latencies)
    result = {
        "seconds": SECONDS, "target_events_per_s": RATE, "memory_limit": MEMORY_LIMIT,
        "acknowledged": sum(acked), "stored": stored, "request_errors": sum(errors),
        "events_per_s": round(sum(acked) / SECONDS, 1),
        "batch_p50_ms": round(lat[len(lat) // 2] * 1000, 1),
        "batch_p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 1),
        "builds_s": builds, "rss_start_mb": samples[0][1], "rss_after_warmup_mb": base,
        "rss_max_mb": max(r for _, r in samples), "rss_end_mb": samples[-1][1],
        "rss_slope_after_warmup_mb_per_min": round(slope, 2),
        "growth_after_warmup_mb": round(max(ys) - base, 1) if ys else None,
        "growth_within_duckdb_limit": (max(ys) - base) < limit_mb if limit_mb and ys else None,
        "stats_events": stats.get("events"), "health_flush_errors":
            health.get("collector", {}).get("flush_errors"),
        "rss_samples": samples,
    }
    out = ROOT / "benchmarks" / "results" / "soak.json"
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "rss_samples"}, indent=2))
    assert stored == sum(acked), "acknowledged events lost or duplicated"


if __name__ == "__main__":
    main()
