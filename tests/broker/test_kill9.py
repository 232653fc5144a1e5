"""Collector-only processes → broker → loader → store, with ``kill -9`` of the loader and of a
collector mid-stream: every acknowledged event is stored, none twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from aidmp import DMP
from aidmp.api.server import free_port
from aidmp.collect.broker.factory import open_broker
from aidmp.collect.broker.service import broker_status, key_file
from aidmp.config import load_settings
from tests.conftest import basic


def _spawn(*args: str, home: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "aidmp.cli.main", *args, "--home", str(home)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _collector(home: Path, port: int) -> subprocess.Popen[bytes]:
    proc = _spawn("serve", "--collector-only", "--port", str(port), home=home)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"collector did not start: {proc.stderr.read() if proc.stderr else ''}")


def _loader(home: Path) -> subprocess.Popen[bytes]:
    keys = key_file(load_settings(home))
    keys.unlink(missing_ok=True)  # the collectors keep the keys they read already
    proc = _spawn("loader", home=home)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the loader exports the key hashes once it runs
        if keys.exists():
            return proc
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("loader did not start")


def _home(tmp_path: Path, broker: dict[str, Any]) -> tuple[Path, str]:
    home = tmp_path / "home"
    home.mkdir()
    (home / "aidmp.yaml").write_text(yaml.safe_dump({"broker": broker}))
    with DMP(home=home) as dmp:
        secret = dmp.keys.create("write", source="web").secret
    return home, secret


class Sender(threading.Thread):
    """Posts 40-event batches, one after another, and remembers which were acknowledged."""

    def __init__(self, port: int, key: str) -> None:
        super().__init__(daemon=True)
        self.url = f"http://127.0.0.1:{port}/v1/batch"
        self.headers = basic(key)
        self.acked: list[str] = []
        self.sent: set[str] = set()
        self.failed = 0
        self.stop = threading.Event()

    def post(self, n: int) -> None:
        ids = [f"b{n}-{i}" for i in range(40)]
        body = {"batch": [{"type": "track", "event": "Viewed", "userId": f"u{n % 97}",
                           "messageId": m, "properties": {"n": n}} for m in ids]}
        self.sent.update(ids)
        try:
            r = httpx.post(self.url, content=orjson.dumps(body), headers=self.headers,
                           timeout=10)
        except httpx.TransportError:
            self.failed += 1
            time.sleep(0.02)
            return
        if r.status_code == 200:
            assert r.json()["accepted"] == 40
            self.acked += ids
        else:
            self.failed += 1

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            self.post(n)
            n += 1
        self.post(0)  # a client retry of an acknowledged batch: stored once


def _stored(home: Path) -> list[str]:
    with DMP(home=home) as dmp:
        return [str(m) for m in dmp.engine.sql("SELECT message_id FROM events")
                .column(0).to_pylist()]


def test_kill_9_of_loader_and_collector_loses_nothing_stores_nothing_twice(tmp_path, broker_config):
    home, secret = _home(tmp_path, broker_config)
    port = free_port()
    loader = _loader(home)
    collector = _collector(home, port)
    sender = Sender(port, secret)
    sender.start()
    try:
        time.sleep(2.0)
        loader.send_signal(signal.SIGKILL)  # mid-stream: consumed, maybe stored, not committed
        loader.wait()
        acked_while_loader_down = len(sender.acked)
        time.sleep(0.5)
        loader = _loader(home)
        time.sleep(1.5)
        collector.send_signal(signal.SIGKILL)  # mid-stream: in-flight requests unanswered
        collector.wait()
        acked_before_collector_kill = len(sender.acked)
        time.sleep(0.3)
        collector = _collector(home, port)
        deadline = time.monotonic() + 30
        while len(sender.acked) < acked_before_collector_kill + 400 and \
                time.monotonic() < deadline:  # traffic goes on through the new collector
            time.sleep(0.1)
        sender.stop.set()
        sender.join(30)
        broker = open_broker(load_settings(home).broker, client_id="test")  # type: ignore[arg-type]
        deadline = time.monotonic() + 30
        while broker.lag().messages and time.monotonic() < deadline:
            time.sleep(0.1)
        # tansu's end offset can lag one batch behind (ADR 0012): let the loader poll again
        time.sleep(1.0)
        status = broker_status(load_settings(home), interval=0.2)
        broker.close()
    finally:
        sender.stop.set()
        for proc in (collector, loader):
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    assert status["lag_messages"] == 0
    assert status["produced"] > 0
    # traffic went on through both kills
    assert len(sender.acked) >= acked_before_collector_kill + 400
    assert acked_before_collector_kill > acked_while_loader_down > 0
    stored = _stored(home)
    acked = set(sender.acked)
    assert len(stored) == len(set(stored))  # nothing twice (the retried batch included)
    assert acked <= set(stored)  # nothing acknowledged lost
    assert set(stored) <= sender.sent
    assert os.path.exists(key_file(load_settings(home)))
