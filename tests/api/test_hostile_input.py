"""Hostile input on a real server: every problem a 4xx naming the field, the good messages of a
batch stored, limits enforced before the work (issue 16)."""

from __future__ import annotations

import logging
import socket
import time
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from aidmp.api.server import ServerThread
from tests.conftest import basic


def post(server, path, body=None, key=None, raw=None, headers=None):
    h = {"Content-Type": "application/json", **(basic(key) if key else {}), **(headers or {})}
    content = raw if raw is not None else orjson.dumps(body)
    return httpx.post(server.url + path, content=content, headers=h, timeout=30)


def stored(dmp, server):
    # the flusher thread may be writing a buffer it took a moment ago: wait for its counter
    collector = server.app.state.collector
    deadline = time.monotonic() + 10
    server.flush()
    while collector.stats.stored + collector.stats.duplicates < collector.stats.accepted \
            and time.monotonic() < deadline:
        time.sleep(0.02)
    return {r["message_id"]: r for r in dmp.engine.to_arrow("events").to_pylist()}


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def test_timestamps_outside_the_window_are_quarantined_with_a_reason(dmp, server, write_key):
    now = datetime.now(UTC)
    batch = [
        # year 9999 sent at 0001: the skew correction would overflow
        {"type": "track", "event": "E", "userId": "u", "messageId": "overflow",
         "timestamp": "9999-12-31T23:59:59Z", "sentAt": "0001-01-01T00:00:00Z"},
        {"type": "track", "event": "E", "userId": "u", "messageId": "year-1",
         "timestamp": "0001-01-01T00:00:00Z"},
        # a device clock reset to 0001 at sending: "corrected" to year ~4052
        {"type": "track", "event": "E", "userId": "u", "messageId": "reset",
         "timestamp": now.isoformat(), "sentAt": "0001-01-01T00:00:00Z"},
        {"type": "track", "event": "E", "userId": "u", "messageId": "offset-overflow",
         "timestamp": "9999-12-31T23:00:00-05:00"},
        {"type": "track", "event": "E", "userId": "u", "messageId": "ok",
         "timestamp": (now - timedelta(hours=1)).isoformat()},
    ]
    r = post(server, "/v1/batch", {"batch": batch}, key=write_key)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["accepted"], body["quarantined"]) == (1, 4)
    assert [e["field"] for e in body["errors"]] == [f"batch[{i}].timestamp" for i in range(4)]
    assert "limits.min_timestamp" in body["errors"][1]["reason"]
    assert "limits.max_future_skew" in body["errors"][2]["reason"]
    assert set(stored(dmp, server)) == {"ok"}
    r = post(server, "/v1/track", batch[0], key=write_key)  # one message: a 400 naming it
    assert r.status_code == 400 and r.json()["field"] == "timestamp"


@pytest.mark.parametrize("depth", [40, 300, 1_100, 20_000])
def test_deep_nesting_quarantines_that_message_only(dmp, server, write_key, depth):
    deep = nested(depth)
    raw = ('{"batch": [{"type": "track", "event": "E", "userId": "u", "messageId": "deep", '
           f'"properties": {deep}}}, {{"type": "track", "event": "E", "userId": "u", '
           '"messageId": "fine", "properties": {"x": {"y": [1]}}}]}').encode()
    r = post(server, "/v1/batch", raw=raw, key=write_key)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["accepted"], body["quarantined"]) == (1, 1)
    assert body["errors"][0] == {"field": "batch[0].message",
                                 "reason": "nested more than 32 levels deep (limits.max_depth)"}
    assert set(stored(dmp, server)) == {"fine"}
    q = dmp.quarantine.list(source="web")
    assert len(q) == 1 and q[0]["payload"].startswith('{"type": "track"')
    single = ('{"event": "E", "userId": "u", "properties": ' + deep + "}").encode()
    r = post(server, "/v1/track", raw=single, key=write_key)
    assert r.status_code == 400 and r.json()["field"] == "message"


def test_lone_surrogate_quarantines_one_message(dmp, server, write_key):
    raw = (b'{"batch": [{"type": "track", "event": "E\\ud800", "userId": "u", "messageId": "bad"},'
           b' {"type": "track", "event": "E", "userId": "u", "messageId": "good"}]}')
    r = post(server, "/v1/batch", raw=raw, key=write_key)
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], r.json()["quarantined"]) == (1, 1)
    assert r.json()["errors"][0]["field"] == "batch[0].message"
    assert set(stored(dmp, server)) == {"good"}
    assert dmp.quarantine.replay().still_invalid == 1  # still refused, with a reason


def test_big_integer_user_id_is_the_same_text_through_batch_and_track(dmp, server, write_key):
    big = b"1000000000000000000000000000000"
    post(server, "/v1/batch", key=write_key, raw=b'{"batch": [{"type": "track", "event": "E", '
         b'"messageId": "b1", "userId": ' + big + b'}]}')
    post(server, "/v1/track", key=write_key,
         raw=b'{"event": "E", "messageId": "t1", "userId": ' + big + b'}')
    # a message only the per-message path takes (no messageId) gives the same text too
    post(server, "/v1/batch", key=write_key, raw=b'{"batch": [{"type": "track", "event": "F", '
         b'"userId": ' + big + b', "properties": {"n": ' + big + b'}}]}')
    rows = stored(dmp, server)
    assert {r["user_id"] for r in rows.values()} == {big.decode()}
    assert len(rows) == 3


def test_identical_clicks_without_message_id_are_two_events(dmp, server, write_key):
    click = {"type": "track", "event": "Clicked", "anonymousId": "a1",
             "timestamp": datetime.now(UTC).isoformat()}
    r = post(server, "/v1/batch", {"batch": [click, click]}, key=write_key)
    assert r.json()["accepted"] == 2
    r = post(server, "/v1/track", click, key=write_key)
    assert r.json()["accepted"] == 1
    assert len(stored(dmp, server)) == 3  # the response counts were the truth


@pytest.mark.parametrize("write_key_value", [12345, ["k"], {"k": 1}, True])
def test_non_string_write_key_is_401(server, write_key_value):
    r = post(server, "/v1/track", {"writeKey": write_key_value, "event": "E", "userId": "u"})
    assert r.status_code == 401 and r.json()["field"] == "writeKey"


def test_malformed_json_without_a_key_is_401_not_a_parser_error(server):
    for path in ("/v1/batch", "/v1/track", "/v1/segments", "/v1/keys"):
        r = post(server, path, raw=b'{"batch": [{{{')
        assert r.status_code == 401, (path, r.text)
        assert r.json()["error"] == "unauthorized"


def _raw_chunked(server: ServerThread, path: str, total: int, headers: str = "") -> bytes:
    """POST ``total`` bytes chunked (no Content-Length); the answer's bytes."""
    with socket.create_connection((server.host, server.port), timeout=30) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Transfer-Encoding: chunked\r\n{headers}\r\n".encode())
        chunk = b"x" * 65536
        sent = 0
        try:
            while sent < total:
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except OSError:
            pass  # the server answered and closed before the end: what we want
        return s.recv(65536)


def test_body_without_length_is_cut_at_the_limit_with_413(server, write_key):
    answer = _raw_chunked(server, "/v1/batch", 64 * 1024 * 1024)  # 64 MB offered, no key
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"payload_too_large" in answer and b"x-request-id" in answer.lower()


def test_json_routes_check_the_key_before_reading_the_body(server, admin_key):
    answer = _raw_chunked(server, "/v1/segments", 64 * 1024 * 1024)  # no key: 401 at once
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    with socket.create_connection((server.host, server.port), timeout=30) as s:
        s.sendall(f"POST /v1/segments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin_key}"
                  f"\r\nContent-Length: {50 * 1024 * 1024}\r\n\r\n{{{{{{".encode())
        answer = s.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]  # the declared length alone


@pytest.mark.parametrize(("query", "field"), [
    ("/v1/quarantine?limit=-1", "limit"),
    ("/v1/quarantine?limit=99999999999999999999", "limit"),
    ("/v1/events?n=0", "n"),
    ("/v1/campaigns/roi?lookback_days=1e308", "lookback_days"),
    ("/v1/campaigns/roi?lookback_days=nan", "lookback_days"),
    ("/v1/campaigns/attribution?half_life_days=inf", "half_life_days"),
    ("/v1/campaigns/experiments/x?end=9999-12-31T00:00:00", "end"),
    ("/v1/campaigns/sample-size?baseline=2&mde=0.1", "baseline"),
    ("/v1/segments/s/members?page_size=-5", "page_size"),
    ("/v1/audit?since=0001-01-01T00:00:00", "since"),
    ("/v1/identity/merges?limit=0", "limit"),
])
def test_bad_query_parameters_are_400_naming_the_field(server, admin_key, query, field):
    r = httpx.get(server.url + query, headers={"Authorization": f"Bearer {admin_key}"},
                  timeout=30)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field and r.json()["error"] == "invalid_input"


def test_time_zone_offsets_in_query_times_are_taken(server, admin_key):
    for query in ("/v1/audit?since=2026-01-01T00:00:00%2B23:59",
                  "/v1/audit?until=2199-12-31T23:59:59-23:59"):
        r = httpx.get(server.url + query, headers={"Authorization": f"Bearer {admin_key}"})
        assert r.status_code == 200 and isinstance(r.json(), list), r.text


def test_a_500_says_only_a_request_id_and_the_log_has_the_rest(dmp, caplog):
    srv = ServerThread(dmp)
    logging.getLogger("aidmp.api").addHandler(caplog.handler)  # "aidmp" does not propagate

    def boom() -> None:
        raise RuntimeError("secret detail ann@example.com")

    srv.app.add_api_route("/v1/boom", boom, methods=["GET"])
    try:
        with srv:
            r = httpx.get(srv.url + "/v1/boom?email=ann@example.com",
                          headers={"X-Request-ID": "req-42"})
    finally:
        logging.getLogger("aidmp.api").removeHandler(caplog.handler)
    assert r.status_code == 500 and r.headers["x-request-id"] == "req-42"
    assert set(r.json()) == {"error", "code", "message", "request_id"}
    assert r.json()["request_id"] == "req-42" and "ann@" not in r.text
    record = next(rec for rec in caplog.records if rec.name == "aidmp.api")
    text = record.getMessage()
    assert text.startswith("unhandled RuntimeError on GET /v1/boom (request req-42)\nTraceback")
    assert 'in boom\n    raise RuntimeError("secret' in text  # the frame, not the message
    assert "ann@" not in text.replace('RuntimeError("secret detail ann@example.com")', "")


def test_timeline_of_deep_stored_data_is_shown_depth_limited(dmp, server, admin_key):
    # data stored before the depth limit existed (or by another door) must still be shown
    import pyarrow as pa

    from aidmp.engine.base import arrow_schema
    from aidmp.store.schema import TABLES

    row = {c.name: None for c in TABLES["events"].columns}
    now = datetime.now(UTC)
    row.update(message_id="old-deep", type="track", event="E", user_id="deep-user",
               timestamp=now, received_at=now, source="web", event_date=now.date(),
               properties=nested(900))
    dmp.engine.append("events", pa.Table.from_pylist([row], schema=arrow_schema(TABLES["events"])))
    dmp.build()
    r = httpx.get(server.url + "/v1/profiles/user_id:deep-user/events",
                  headers={"Authorization": f"Bearer {admin_key}"}, timeout=60)
    assert r.status_code == 200, r.text
    props = r.json()["events"][0]["properties"]
    depth = 0
    while isinstance(props, dict):
        props, depth = props["a"], depth + 1
    assert (depth, props) == (32, "<nested deeper than 32 levels>")
