"""Nothing acknowledged is lost: kill -9 between the 200 and the database write, then restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson

from aidmp import DMP
from aidmp.api.server import free_port
from aidmp.collect.collector import Collector, CollectorSettings
from aidmp.collect.wal import frame
from tests.conftest import basic


def _start(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AIDMP_COLLECTOR__FLUSH_INTERVAL_MS": "3600000",
           "AIDMP_COLLECTOR__FLUSH_ROWS": "1000000"}  # never flush on its own
    proc = subprocess.Popen(
        [sys.executable, "-m", "aidmp.cli.main", "serve", "--home", str(home), "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"server did not start: {proc.stderr.read() if proc.stderr else ''}")


def test_kill_minus_9_after_ack_loses_nothing(tmp_path):
    home = tmp_path / "home"
    with DMP(home=home) as dmp:
        write = dmp.keys.create("write", source="web").secret
        admin = dmp.keys.create("admin").secret
    port = free_port()
    proc = _start(home, port)
    try:
        for b in range(3):
            batch = [{"type": "track", "event": "Order Completed", "userId": f"u{i}",
                      "messageId": f"m-{b}-{i}", "properties": {"revenue": i}} for i in range(100)]
            batch.append({"type": "track", "userId": "no-event"})  # quarantined, also durable
            r = httpx.post(f"http://127.0.0.1:{port}/v1/batch", content=orjson.dumps(
                {"batch": batch}), headers=basic(write))
            assert r.status_code == 200 and r.json()["accepted"] == 100
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert list((home / "wal").glob("wal-*.log")), "acknowledged events must be in the WAL"
    with DMP(home=home) as dmp:
        assert dmp.events.count() == 0  # the crash came before any flush

    proc = _start(home, port)  # recovery replays the WAL before serving
    try:
        health = httpx.get(f"http://127.0.0.1:{port}/health").json()
        assert health["collector"]["recovered"] == 300
        stats = httpx.get(f"http://127.0.0.1:{port}/v1/events/stats",
                          headers={"Authorization": f"Bearer {admin}"}).json()
        assert stats["events"] == 300 and stats["users"] == 100
    finally:
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
    with DMP(home=home) as dmp:
        assert dmp.events.count() == 300
        assert dmp.quarantine.count() == 1  # the three identical invalid events are one record
        assert not list((home / "wal").glob("wal-*.log"))


def test_graceful_stop_flushes_the_buffer(tmp_path):
    home = tmp_path / "home"
    with DMP(home=home) as dmp:
        write = dmp.keys.create("write", source="web").secret
    port = free_port()
    proc = _start(home, port)
    r = httpx.post(f"http://127.0.0.1:{port}/v1/track", headers=basic(write),
                   json={"event": "E", "userId": "u1", "messageId": "g1"})
    assert r.status_code == 200
    # While the server owns the database, the CLI counts through it (the event acknowledged
    # a moment ago included) ...
    count = subprocess.run([sys.executable, "-m", "aidmp.cli.main", "events", "count",
                            "--home", str(home)], capture_output=True, text=True, timeout=60)
    assert (count.returncode, count.stdout.strip()) == (0, "1"), count.stderr
    # ... and a command that needs the store itself (init migrates it) says so in one line
    cli = subprocess.run([sys.executable, "-m", "aidmp.cli.main", "init", "--home",
                          str(home)], capture_output=True, text=True, timeout=60)
    assert cli.returncode == 1 and "Traceback" not in cli.stderr
    # (the service names the server holding the store; the engine says the file is in use)
    assert ("holds this store" in cli.stderr or "is in use by another process" in cli.stderr)
    assert "REST API" in cli.stderr and len(cli.stderr.strip().splitlines()) == 1
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) in (0, 130, -signal.SIGINT)
    with DMP(home=home) as dmp:
        assert dmp.events.count() == 1


def test_a_torn_last_frame_is_ignored_and_earlier_records_recovered(dmp):
    wal_dir = dmp.wal_dir
    wal_dir.mkdir(parents=True, exist_ok=True)
    header = orjson.dumps({"r": "2026-11-01T00:00:00+00:00", "s": "web", "t": "batch"})
    body = orjson.dumps({"batch": [{"type": "track", "event": "E", "userId": "u",
                                    "messageId": "w1"}]})
    good = frame(header + b"\n" + body)
    torn = frame(header + b"\n" + body.replace(b"w1", b"w2"))[:-7]  # crash mid-write
    (wal_dir / "wal-000000000001.log").write_bytes(good + torn)
    collector = Collector(dmp.engine, wal_dir, CollectorSettings())
    collector.close()
    assert collector.stats.recovered == 1
    assert [r["message_id"] for r in dmp.events.tail()] == ["w1"]
