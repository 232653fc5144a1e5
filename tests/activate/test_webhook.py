"""Webhook delivery to a real HTTP receiver on 127.0.0.1: signature, retry, dead letter."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from aidmp import DMP
from aidmp.activate import Audiences
from aidmp.activate.sync import state_table
from aidmp.segments.webhooks import SIGNATURE_HEADER, load_secret, verify
from tests.activate.conftest import ADS_WITHDRAWN, PROS


class Receiver:
    """Records accepted bodies; answers 500 to the first ``fail_first`` requests (or all)."""

    def __init__(self) -> None:
        self.fail_first = 0
        self.always_fail = False
        self.requests = 0
        self.accepted: list[tuple[bytes, str]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests += 1
                    fail = receiver.always_fail or receiver.requests <= receiver.fail_first
                    if not fail:
                        receiver.accepted.append((body, self.headers[SIGNATURE_HEADER]))
                self.send_response(503 if fail else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def records(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for body, _ in self.accepted:
            data = orjson.loads(body)
            out += data if isinstance(data, list) else [data]
        return out


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def hook(name: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "webhook", "name": name, "url": url, "purpose": "ads", "batch_size": 150,
            "first_delay": 0.05, **extra}


def test_signed_batches_retried_until_delivered(world: DMP, receiver: Receiver) -> None:
    receiver.fail_first = 2
    aud = Audiences(world)
    aud.add_destination(hook("hook_ok", receiver.url))
    s = aud.sync("pros", "hook_ok")
    sent = PROS - len(ADS_WITHDRAWN)
    assert (s.added, s.batches, s.failed_batches, s.stored) == (sent, 3, 0, True)
    assert receiver.requests == 3 + 2  # two 503s, each retried once more
    secret = load_secret(world.home)
    assert all(verify(body, sig, secret) for body, sig in receiver.accepted)
    recs = receiver.records()
    assert len(recs) == sent and len({r["profile_id"] for r in recs}) == sent
    assert {r["change"] for r in recs} == {"added"}
    assert set(recs[0]) == {"segment_id", "destination", "change", "profile_id", "user_id",
                            "email"}
    assert recs[0]["segment_id"] == "pros"


def test_dead_letter_after_last_retry_keeps_state(world: DMP, receiver: Receiver) -> None:
    receiver.always_fail = True
    aud = Audiences(world)
    aud.add_destination(hook("hook_down", receiver.url, attempts=2, first_delay=0.01))
    s = aud.sync("pros", "hook_down")
    assert (s.batches, s.failed_batches, s.stored) == (3, 3, False)
    assert receiver.requests == 6
    dead = Path(world.home) / "activate" / "dead-letter" / "hook_down.jsonl"
    letters = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
    assert [(d["attempts"], d["error"], d["url"]) for d in letters] == \
        [(2, "HTTP 503", receiver.url)] * 3
    assert sum(len(d["body"]) for d in letters) == PROS - len(ADS_WITHDRAWN)
    # nothing stored: the next sync sends everyone again
    assert not world.engine.has_table(state_table("hook_down"))
    receiver.always_fail = False
    again = aud.sync("pros", "hook_down")
    assert (again.first_sync, again.added, again.failed_batches) == \
        (True, PROS - len(ADS_WITHDRAWN), 0)
