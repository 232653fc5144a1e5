"""The delivery outbox against a real local receiver that fails, times out and recovers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from aidmp import DMP
from aidmp.errors import ValidationError
from aidmp.segments.webhooks import load_secret, verify
from aidmp.service.outbox import Outbox, OutboxWorker
from tests.webhook_receiver import Receiver


@pytest.fixture()
def dmp(tmp_path: Path) -> Iterator[DMP]:
    d = DMP(home=tmp_path, service={"deliveries": {
        "first_retry_s": 0.05, "max_retry_s": 0.2, "timeout_s": 0.5, "retry_for_hours": 1}})
    yield d
    d.close()


def _until(cond, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_fails_times_out_then_recovers_with_one_idempotency_key(dmp: DMP) -> None:
    rx = Receiver(statuses=[503, 500, 429])
    outbox = Outbox(dmp)
    worker = OutboxWorker(dmp, outbox).start()
    try:
        rx.delay_s = 1.0  # the first attempt times out (timeout_s 0.5)
        body = orjson.dumps({"segment_id": "s", "profile_id": "p1"})
        dlv = outbox.enqueue("webhook:s", rx.url, body)
        rx.wait(1, timeout=10)
        rx.delay_s = 0.0
        _until(lambda: outbox.list("delivered"))
    finally:
        worker.stop()
        rx.close()
    # a timeout, 503, 500, 429 (retried), then 200
    assert [c["status"] for c in rx.calls] == [503, 500, 429, 200, 200][: len(rx.calls)]
    assert rx.calls[-1]["status"] == 200
    assert {c["idempotency_key"] for c in rx.calls} == {dlv}
    assert all(verify(c["body"], c["signature"], load_secret(dmp.home)) for c in rx.calls)
    row = outbox.list("delivered")[0]
    assert row["id"] == dlv and row["attempts"] == len(rx.calls) and row["last_status"] == 200
    assert outbox.stats.delivered == 1 and outbox.stats.retries == len(rx.calls) - 1


def test_permanent_4xx_dead_at_once_then_replayed(dmp: DMP) -> None:
    rx = Receiver(statuses=[400])
    outbox = Outbox(dmp)
    worker = OutboxWorker(dmp, outbox).start()
    try:
        dlv = outbox.enqueue("audience:x", rx.url, b"[]")
        _until(lambda: outbox.list("dead"))
        assert len(rx.calls) == 1  # not retried
        dead = outbox.list("dead")[0]
        assert dead["id"] == dlv and dead["last_status"] == 400 and dead["attempts"] == 1
        assert outbox.replay() == {"replayed": 1}
        _until(lambda: outbox.list("delivered"))
    finally:
        worker.stop()
        rx.close()
    assert [c["status"] for c in rx.calls] == [400, 200]
    with pytest.raises(ValidationError) as err:
        outbox.replay(["dlv_unknown"])
    assert err.value.field == "ids"


def test_given_up_after_the_retry_window_and_survives_a_restart(tmp_path: Path) -> None:
    dmp = DMP(home=tmp_path, service={"deliveries": {
        "first_retry_s": 0.05, "max_retry_s": 0.1, "timeout_s": 0.5,
        "retry_for_hours": 1.5 / 3600}})  # 1.5 s
    rx = Receiver(default=503)
    try:
        outbox = Outbox(dmp)
        outbox.enqueue("webhook:s", rx.url, b"{}")
        dmp.close()  # stored before any attempt: a restart keeps it
        dmp = DMP(home=tmp_path, service={"deliveries": {
            "first_retry_s": 0.05, "max_retry_s": 0.1, "timeout_s": 0.5,
            "retry_for_hours": 1.5 / 3600}})
        outbox = Outbox(dmp)
        assert len(outbox.list("pending")) == 1
        worker = OutboxWorker(dmp, outbox).start()
        _until(lambda: outbox.list("dead"))
        worker.stop()
        assert len(rx.calls) >= 2 and all(c["status"] == 503 for c in rx.calls)
        assert outbox.list("dead")[0]["attempts"] == len(rx.calls)
    finally:
        rx.close()
        dmp.close()


def test_plain_http_only_to_this_machine(dmp: DMP) -> None:
    outbox = Outbox(dmp)
    with pytest.raises(ValidationError) as err:
        outbox.enqueue("webhook:s", "http://example.com/hook", b"{}")
    assert err.value.field == "url"
    outbox.enqueue("webhook:s", "https://example.com/hook", b"{}")  # stored, not sent here
    allowed = Outbox(dmp, dmp.settings.service.deliveries.model_copy(
        update={"allow_insecure_http": True}))
    allowed.enqueue("webhook:s", "http://example.com/hook", b"{}")
    assert len(outbox.list("pending")) == 2


def test_deliveries_routes(dmp: DMP) -> None:
    from aidmp.api.server import ServerThread

    admin = dmp.keys.create("admin").secret
    rx = Receiver(statuses=[404])
    try:
        with ServerThread(dmp) as srv:
            outbox = srv.app.state.service.outbox
            outbox.enqueue("webhook:s", rx.url, b"{}")
            _until(lambda: outbox.list("dead"))
            h = {"Authorization": f"Bearer {admin}"}
            listed = httpx.get(srv.url + "/v1/deliveries", params={"state": "dead"},
                               headers=h, timeout=60).json()
            assert [d["last_status"] for d in listed["deliveries"]] == [404]
            assert listed["stats"]["dead"] == 1
            assert httpx.post(srv.url + "/v1/deliveries/replay", json={},
                              headers=h, timeout=60).json() == {"replayed": 1}
            _until(lambda: outbox.list("delivered"))
    finally:
        rx.close()


def test_served_real_time_webhooks_go_through_the_outbox(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from aidmp.api.server import ServerThread

    rx = Receiver()
    dmp = DMP(home=tmp_path, collector={"fsync": False})
    try:
        dmp.events.ingest([{"type": "identify", "userId": "u1", "traits": {"plan": "pro"}}],
                          source="app")
        dmp.build()
        dmp.segments.create("buyers", rule='event("Order Completed", within=30d)',
                            realtime=True, webhook_url=rx.url)
        key = dmp.keys.create("write").secret
        with ServerThread(dmp) as srv:
            r = httpx.post(srv.url + "/v1/track", auth=(key, ""), timeout=60, json={
                "userId": "u1", "event": "Order Completed",
                "timestamp": datetime.now(UTC).isoformat()})
            assert r.status_code == 200
            rx.wait(1)
            outbox = srv.app.state.service.outbox
            _until(lambda: outbox.list("delivered"))
            row = outbox.list("delivered")[0]
        change = orjson.loads(rx.calls[0]["body"])
        assert change["segment_id"] == "buyers" and change["change"] == "entered"
        assert rx.calls[0]["idempotency_key"] == row["id"] and row["topic"] == "webhook:buyers"
    finally:
        rx.close()
        dmp.close()
