"""Collector throughput and latency vs a bare FastAPI app, with wrk over loopback.

The bare app validates with pydantic and keeps the bytes (STACK-NOTES' framework limit); a
second bare run only decodes the JSON (``BARE_PARSE_ONLY=1``), the stricter limit. All
servers: one uvicorn worker (uvloop + httptools), 100-event batches of realistic
e-commerce messages with unique messageIds, `wrk -t1 -c8 -d10s --latency` (bounded), 3 runs,
median. aidmp runs with durability on (WAL + fdatasync group commit before the 200) and
after each run the stored event count is checked against the requests wrk completed.

Run: ``.venv/bin/python benchmarks/collector_bench.py`` (needs Debian's ``wrk``).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
DURATION = int(os.environ.get("BENCH_SECONDS", "10"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))


def batch_template(n: int = 100) -> str:
    """A 100-message batch shaped like analytics.js / SDK traffic (about 60 KB)."""
    msgs = []
    for i in range(n):
        kind = ("page", "track", "track", "identify")[i % 4]
        m = {"type": kind, "messageId": f"__ID__-{i}", "anonymousId": f"anon-{i % 17}",
             "userId": f"u_{i % 13:06d}" if i % 3 else None,
             "timestamp": "2026-11-01T12:00:00.000Z", "sentAt": "2026-11-01T12:00:00.050Z",
             "context": {"ip": "203.0.113.9", "locale": "en-GB",
                         "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0",
                         "library": {"name": "analytics.js", "version": "5.2.0"},
                         "campaign": {"source": "google", "medium": "cpc", "name": "bf-2026"},
                         "page": {"path": "/p/sku-123", "url": "https://shop.example/p/sku-123"}}}
        if kind == "track":
            m["event"] = "Product Viewed" if i % 8 else "Order Completed"
            m["properties"] = {"product_id": f"sku-{i}", "category": "fashion", "price": 49.99,
                               "currency": "EUR", "quantity": 1}
        elif kind == "page":
            m["name"] = "Product"
            m["properties"] = {"title": "Blue shoe", "path": "/p/sku-123"}
        else:
            m["traits"] = {"email": f"user{i}@example.com", "first_name": "Ann"}
            m["userId"] = f"u_{i:06d}"
        msgs.append(m)
    return json.dumps({"batch": msgs})


def wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            if proc.poll() is not None:
                raise RuntimeError("server exited") from None
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def run_wrk(port: int, body_file: Path, auth: str) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", "-c8", f"-d{DURATION}s", "--latency", "-s",
         str(ROOT / "benchmarks" / "post_batch.lua"), f"http://127.0.0.1:{port}"],
        capture_output=True, text=True, check=True,
        env={**os.environ, "BODY_FILE": str(body_file), "AUTH_HEADER": auth}).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        assert m, out
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v

    return {"events_per_s": rps * 100, "requests": total, "p50_ms": pct("50"),
            "p99_ms": pct("99"), "non_2xx": int(non2xx.group(1)) if non2xx else 0}


def bench_aidmp(body_file: Path) -> list[dict[str, float]]:
    results = []
    for _ in range(RUNS):
        home = Path(tempfile.mkdtemp(prefix="aidmp-bench-"))
        from aidmp import DMP
        from aidmp.api.server import free_port

        with DMP(home=home) as dmp:
            key = dmp.keys.create("write", source="bench").secret
        port = free_port()
        proc = subprocess.Popen([str(ROOT / ".venv/bin/aidmp"), "serve", "--home", str(home),
                                 "--port", str(port)], stderr=subprocess.DEVNULL)
        try:
            wait_up(f"http://127.0.0.1:{port}/health", proc)
            auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
            r = run_wrk(port, body_file, auth)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        with DMP(home=home) as dmp:
            r["stored"] = dmp.events.count()
        assert r["non_2xx"] == 0, r
        # wrk may close connections with requests in flight at the end: those were never
        # acknowledged to wrk but may be stored, so stored >= completed * 100.
        assert r["stored"] >= r["requests"] * 100, r
        results.append(r)
        shutil.rmtree(home, ignore_errors=True)
    return results


def bench_bare(body_file: Path, parse_only: bool = False) -> list[dict[str, float]]:
    results = []
    from aidmp.api.server import free_port

    env = {**os.environ, "BARE_PARSE_ONLY": "1" if parse_only else "0"}
    for _ in range(RUNS):
        port = free_port()
        proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/uvicorn"), "benchmarks.bare_app:app", "--port", str(port),
             "--log-level", "warning", "--no-access-log"], cwd=ROOT, stderr=subprocess.DEVNULL,
            env=env)
        try:
            wait_up(f"http://127.0.0.1:{port}/docs", proc)
            results.append(run_wrk(port, body_file, ""))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    return results


def median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install -y wrk")
    body_file = Path(tempfile.mkdtemp()) / "batch.json"
    body_file.write_text(batch_template())
    bare = bench_bare(body_file)
    parse_only = bench_bare(body_file, parse_only=True)
    ours = bench_aidmp(body_file)
    keys = ("events_per_s", "p50_ms", "p99_ms")
    summary = {
        "body_bytes": body_file.stat().st_size,
        "bare_fastapi": {k: median(bare, k) for k in keys},
        "bare_fastapi_parse_only": {k: median(parse_only, k) for k in keys},
        "aidmp_durable": {k: median(ours, k) for k in keys},
        "runs": {"bare": bare, "bare_parse_only": parse_only, "aidmp": ours},
    }
    ours_eps = summary["aidmp_durable"]["events_per_s"]
    summary["ratio"] = ours_eps / summary["bare_fastapi"]["events_per_s"]
    summary["ratio_parse_only"] = ours_eps / summary["bare_fastapi_parse_only"]["events_per_s"]
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "collector.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
