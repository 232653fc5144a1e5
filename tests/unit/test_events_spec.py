"""Segment message validation and normalisation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from aidmp.errors import ValidationError
from aidmp.spec.events import message_id_for, normalize_message

NOW = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)


def norm(msg: dict, **kw):
    return normalize_message(msg, source="web", received_at=NOW, **kw)


def test_clock_skew_is_corrected_with_sent_at():
    # The device clock is 1 hour fast: it says the event happened at 13:00 and was sent at 13:00:10,
    # but the server received it at 12:00:00, so it really happened at 11:59:50.
    row = norm({"type": "track", "event": "E", "userId": "u", "messageId": "m",
                "timestamp": "2026-11-01T13:00:00Z", "sentAt": "2026-11-01T13:00:10Z"})
    assert row["timestamp"] == NOW - timedelta(seconds=10)
    assert row["original_timestamp"] == datetime(2026, 11, 1, 13, tzinfo=UTC)
    assert row["received_at"] == NOW
    assert row["event_date"].isoformat() == "2026-11-01"


def test_without_sent_at_the_client_timestamp_is_kept_and_offsets_become_utc():
    row = norm({"type": "track", "event": "E", "userId": "u",
                "timestamp": "2026-10-01T10:00:00+02:00"})
    assert row["timestamp"] == datetime(2026, 10, 1, 8, tzinfo=UTC)


def test_without_any_timestamp_the_receive_time_is_used():
    assert norm({"type": "page", "anonymousId": "a"})["timestamp"] == NOW


def test_numeric_ids_become_text_and_objects_are_json():
    row = norm({"type": "track", "event": "Order Completed", "userId": 123,
                "properties": {"revenue": 9.5, "products": [{"id": 1}]}})
    assert row["user_id"] == "123"
    assert orjson.loads(row["properties"]) == {"revenue": 9.5, "products": [{"id": 1}]}


def test_rudderstack_identify_traits_in_context_are_used():
    row = norm({"type": "identify", "userId": "u1", "anonymousId": None,
                "context": {"traits": {"email": "a@b.co"}}, "channel": "server"})
    assert orjson.loads(row["traits"]) == {"email": "a@b.co"}
    assert row["anonymous_id"] is None


def test_endpoint_type_is_the_default_and_page_name_is_the_event():
    row = norm({"anonymousId": "a", "name": "Home"}, default_type="page")
    assert (row["type"], row["event"]) == ("page", "Home")


def test_missing_message_id_gets_a_deterministic_one():
    msg = {"type": "track", "event": "E", "userId": "u", "timestamp": "2026-11-01T00:00:00Z"}
    assert norm(msg)["message_id"] == norm(dict(msg))["message_id"] == message_id_for(msg, "web")
    assert norm({**msg, "event": "F"})["message_id"] != norm(msg)["message_id"]


@pytest.mark.parametrize(
    ("msg", "field", "problem"),
    [
        ({"type": "track", "userId": "u"}, "event", "required for a track call"),
        ({"type": "track", "event": "E"}, "userId/anonymousId", "one of them is required"),
        ({"type": "identify", "userId": ""}, "userId/anonymousId", "one of them is required"),
        ({"type": "alias", "userId": "u"}, "previousId", "required for an alias call"),
        ({"type": "group", "userId": "u"}, "groupId", "required for a group call"),
        ({"type": "trak", "userId": "u"}, "type", "must be one of track, identify"),
        ({"type": "track", "event": "E", "userId": "u", "timestamp": "yesterday"}, "timestamp",
         "valid datetime"),
        ({"type": "track", "event": "E", "userId": "u", "properties": [1]}, "properties",
         "valid dictionary"),
        ({"type": "track", "event": "E", "userId": True}, "userId", "string"),
        ("not an object", "event", "must be a JSON object"),
    ],
)
def test_invalid_messages_name_the_field_and_the_problem(msg, field, problem):
    with pytest.raises(ValidationError) as info:
        norm(msg)
    assert info.value.field == field
    assert problem in info.value.message
    assert info.value.http_status == 400
