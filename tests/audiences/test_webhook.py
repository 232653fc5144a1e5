"""Webhook delivery to a real HTTP receiver on 127.0.0.1: signature, retry, dead letter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from aidmp import DMP
from aidmp.audiences.sync import state_table
from aidmp.segments.webhooks import load_secret, verify
from tests.audiences.conftest import ADS_WITHDRAWN, PROS
from tests.webhook_receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def hook(name: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "webhook", "name": name, "url": url, "purpose": "advertising",
            "batch_size": 150, "first_delay": 0.05, **extra}


def test_signed_batches_retried_until_delivered(world: DMP, receiver: Receiver) -> None:
    receiver.statuses = [503, 503]
    aud = world.audiences
    aud.add_destination(hook("hook_ok", receiver.url))
    s = aud.sync("pros", "hook_ok")
    sent = PROS - len(ADS_WITHDRAWN)
    assert (s.added, s.batches, s.failed_batches, s.stored) == (sent, 3, 0, True)
    assert len(receiver.calls) == 3 + 2  # two 503s, each retried once more
    secret = load_secret(world.home)
    assert all(verify(body, sig, secret) for body, sig in receiver.accepted)
    recs = receiver.records()
    assert len(recs) == sent and len({r["profile_id"] for r in recs}) == sent
    assert {r["change"] for r in recs} == {"added"}
    assert set(recs[0]) == {"segment_id", "destination", "change", "profile_id", "user_id",
                            "email"}
    assert recs[0]["segment_id"] == "pros"


def test_dead_letter_after_last_retry_keeps_state(world: DMP, receiver: Receiver) -> None:
    receiver.default = 503
    aud = world.audiences
    aud.add_destination(hook("hook_down", receiver.url, attempts=2, first_delay=0.01))
    s = aud.sync("pros", "hook_down")
    assert (s.batches, s.failed_batches, s.stored) == (3, 3, False)
    assert len(receiver.calls) == 6
    dead = Path(world.home) / "activate" / "dead-letter" / "hook_down.jsonl"
    letters = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
    assert [(d["attempts"], d["error"], d["url"]) for d in letters] == \
        [(2, "HTTP 503", receiver.url)] * 3
    assert sum(len(d["body"]) for d in letters) == PROS - len(ADS_WITHDRAWN)
    # nothing stored: the next sync sends everyone again
    assert not world.engine.has_table(state_table("hook_down"))
    receiver.default = 200
    again = aud.sync("pros", "hook_down")
    assert (again.first_sync, again.added, again.failed_batches) == \
        (True, PROS - len(ADS_WITHDRAWN), 0)
