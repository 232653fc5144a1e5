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


def test_missing_message_id_is_deterministic_per_request_and_position():
    # the same request replayed from the WAL (same receive time, same position) gets the same
    # id; two identical clicks (another request, or another place in the batch) are two events
    msg = {"type": "track", "event": "E", "userId": "u", "timestamp": "2026-11-01T00:00:00Z"}
    first = norm(msg)["message_id"]
    assert first == norm(dict(msg))["message_id"] == message_id_for(msg, "web", NOW, 0)
    assert norm({**msg, "event": "F"})["message_id"] != first
    assert message_id_for(msg, "web", NOW, 1) != first
    assert message_id_for(msg, "web", NOW + timedelta(microseconds=1), 0) != first


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


def test_fast_path_stores_what_the_per_message_path_stores() -> None:
    """msgspec's whole-batch decode and pydantic's per-message judgement give equal rows."""
    from aidmp.collect.collector import CollectorLimits, process_body, process_document

    received = datetime(2026, 11, 1, 12, 0, 5, tzinfo=UTC)
    doc = {
        "sentAt": "2026-11-01T12:00:01Z",
        "context": {"library": {"name": "analytics-python", "version": "2.3"}},
        "batch": [
            {"type": "track", "event": "Order Completed", "userId": 42, "messageId": 7,
             "timestamp": "2026-11-01T11:59:59.5+01:00", "properties": {"revenue": 9.5,
                                                                         "ok": True}},
            {"type": "identify", "anonymousId": "a1", "messageId": "m2", "userId": "",
             "context": {"traits": {"email": "Ann@X.com"}, "ip": "1.2.3.4"}},
            {"type": "page", "name": "Home", "anonymousId": "a1", "messageId": "m3",
             "originalTimestamp": "2026-11-01T10:00:00", "integrations": {"All": False}},
            {"type": "alias", "previousId": "a1", "userId": 3.5, "messageId": "m4"},
            {"type": "group", "groupId": "g1", "userId": "u1", "messageId": "m5",
             "traits": {"name": "ACME"}, "sentAt": "2026-11-01T12:00:02Z"},
        ],
    }
    limits = CollectorLimits()

    def both(d: dict[str, object]) -> tuple[object, object]:
        fast = process_body(orjson.dumps(d), path_type="batch", source="web",
                            received_at=received, limits=limits)
        slow = process_document(d, path_type="batch", source="web", received_at=received,
                                limits=limits)
        return fast, slow

    fast, slow = both(doc)
    assert fast == slow and fast[1] == []
    rows = fast[0]
    assert [r["user_id"] for r in rows] == ["42", None, None, "3.5", "u1"]
    assert rows[0]["message_id"] == "7" and rows[1]["traits"] == '{"email":"Ann@X.com"}'
    # messages the structs leave to pydantic, alone or next to valid ones: same outcome
    for odd in ({"type": "track", "event": "E", "userId": True, "messageId": "x"},
                {"type": "track", "event": "E", "userId": "u"},  # no messageId
                {"type": "track", "userId": "u", "messageId": "x"},  # no event
                {"type": "track", "event": "E", "userId": "u" * 600, "messageId": "x"},
                {"type": "track", "event": "E", "userId": "u", "messageId": "x",
                 "timestamp": 1767225600},
                {"type": "track", "event": "E", "userId": "u", "messageId": "x",
                 "properties": ["not", "an", "object"]},
                {"type": "track", "event": "E", "userId": "u", "messageId": "x",
                 "properties": {"blob": "z" * 40_000}}):
        fast, slow = both({"batch": [doc["batch"][0], odd]})
        assert fast == slow, odd
        assert len(fast[0]) + len(fast[1]) == 2


def test_event_values_follow_the_events_table_columns() -> None:
    from aidmp.collect.rows import ColumnBuffer
    from aidmp.spec.events import EVENT_COLUMNS

    assert ColumnBuffer("events").schema.names == list(EVENT_COLUMNS)
