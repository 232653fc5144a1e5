"""kill -9 while a build runs (issue 16): no acknowledged event is lost or stored twice, and
the next build gives the same profiles as a build that was never interrupted."""

from __future__ import annotations

import contextlib
import signal
import threading
import time

import httpx
import orjson

from aidmp import DMP
from aidmp.api.server import free_port
from tests.api.test_durability import _start
from tests.conftest import basic


def test_kill_minus_9_during_a_build(tmp_path):
    home = tmp_path / "home"
    with DMP(home=home) as dmp:
        write = dmp.keys.create("write", source="web").secret
        admin = dmp.keys.create("admin").secret
    port = free_port()
    proc = _start(home, port)
    url = f"http://127.0.0.1:{port}"
    acked = 0
    try:
        for b in range(5):
            batch = [{"type": "track", "event": "Order Completed", "userId": f"u{i % 50}",
                      "messageId": f"m-{b}-{i}", "properties": {"revenue": i}}
                     for i in range(200)]
            r = httpx.post(url + "/v1/batch", content=orjson.dumps({"batch": batch}),
                           headers=basic(write), timeout=30)
            assert r.status_code == 200
            acked += r.json()["accepted"]
        answer: list[int] = []

        def run_build() -> None:
            # the server dies under it (a TransportError): what this test does
            with contextlib.suppress(httpx.TransportError):
                answer.append(httpx.post(url + "/v1/build", timeout=30, headers={
                    "Authorization": f"Bearer {admin}"}).status_code)

        build = threading.Thread(target=run_build, daemon=True)
        build.start()
        time.sleep(1.0)  # the build has flushed the collector and is running its stages
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    build.join(timeout=30)
    assert answer == [202]  # answered at once; the build job then ran until the kill
    with DMP(home=home) as dmp:
        # the WAL replays what the crash cut off; the store holds each event once
        dmp.build()
        assert dmp.events.count() == acked == 1000
        interrupted = dmp.profiles.get("user_id", "u7")["profile"]
        full = dmp.build(full=True)
        assert full.profiles == 50
        assert dmp.profiles.get("user_id", "u7")["profile"]["revenue_total"] == \
            interrupted["revenue_total"] == sum(i for i in range(200) if i % 50 == 7) * 5
