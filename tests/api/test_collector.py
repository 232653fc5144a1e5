"""The Segment HTTP Tracking API over a real server on 127.0.0.1."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from aidmp.store.schema import MIGRATIONS
from tests.conftest import basic


def post(server, path, body, key=None, headers=None, raw=None):
    h = {"Content-Type": "application/json", **(basic(key) if key else {}), **(headers or {})}
    content = raw if raw is not None else orjson.dumps(body)
    return httpx.post(server.url + path, content=content, headers=h, timeout=30)


def stored(dmp, server):
    server.flush()
    return {r["message_id"]: r for r in dmp.engine.to_arrow("events").to_pylist()}


@pytest.mark.parametrize(
    ("path", "msg", "column", "value"),
    [
        ("/v1/track", {"event": "Order Completed", "userId": "u1",
                       "properties": {"revenue": 30.5}}, "event", "Order Completed"),
        ("/v1/identify", {"userId": "u1", "traits": {"email": "ann@example.com"}}, "type",
         "identify"),
        ("/v1/page", {"anonymousId": "a1", "name": "Home"}, "event", "Home"),
        ("/v1/screen", {"anonymousId": "a1", "name": "Cart"}, "type", "screen"),
        ("/v1/group", {"userId": "u1", "groupId": "acme"}, "group_id", "acme"),
        ("/v1/alias", {"userId": "u1", "previousId": "a1"}, "previous_id", "a1"),
    ],
)
def test_every_call_type_is_stored(dmp, server, write_key, path, msg, column, value):
    mid = str(uuid.uuid4())
    r = post(server, path, {**msg, "messageId": mid}, key=write_key)
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "accepted": 1, "quarantined": 0}
    row = stored(dmp, server)[mid]
    assert row[column] == value
    assert row["source"] == "web"
    assert row["type"] == path.rsplit("/", 1)[1]


def test_browser_cors_preflight_and_text_plain_beacons(dmp, server, write_key):
    pre = httpx.options(server.url + "/v1/t", headers={
        "Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] in ("*", "https://shop.example")
    r = post(server, "/v1/t", {"writeKey": write_key, "event": "Viewed", "anonymousId": "b1",
                               "messageId": "beacon-1"},
             headers={"Content-Type": "text/plain", "Origin": "https://shop.example"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"
    assert stored(dmp, server)["beacon-1"]["anonymous_id"] == "b1"


def test_write_key_in_body_and_analytics_js_short_paths(dmp, server, write_key):
    r = post(server, "/v1/t", {"writeKey": write_key, "event": "Viewed", "anonymousId": "a9",
                               "messageId": "js-1"})
    assert r.status_code == 200, r.text
    r = post(server, "/v1/b", {"writeKey": write_key, "context": {"library": {"name": "js"}},
                               "batch": [{"type": "page", "anonymousId": "a9",
                                          "messageId": "js-2"}]})
    assert r.status_code == 200
    rows = stored(dmp, server)
    assert rows["js-1"]["event"] == "Viewed"
    # batch-level context applies to each message
    assert orjson.loads(rows["js-2"]["context"]) == {"library": {"name": "js"}}


@pytest.mark.parametrize(
    ("headers", "body_key"),
    [({}, None), ({"Authorization": "Basic " + "bm9wZTo="}, None), ({}, "nope"),
     ({"Authorization": "Basic !!!"}, None)],
)
def test_missing_or_unknown_key_is_401_with_json(server, headers, body_key):
    body = {"event": "E", "userId": "u", **({"writeKey": body_key} if body_key else {})}
    r = post(server, "/v1/track", body, headers=headers)
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorized"


def test_revoked_and_wrong_scope_keys_are_refused(dmp, server):
    created = dmp.keys.create("write", source="web")
    dmp.keys.revoke(created.key.key_id)
    r = post(server, "/v1/track", {"event": "E", "userId": "u"}, key=created.secret)
    assert r.status_code == 401 and "revoked" in r.json()["message"]
    reader = dmp.keys.create("read").secret
    r = post(server, "/v1/track", {"event": "E", "userId": "u"}, key=reader)
    assert r.status_code == 403 and r.json()["error"] == "forbidden"


def test_malformed_json_is_400_and_names_the_body(server, write_key):
    r = post(server, "/v1/batch", None, key=write_key, raw=b'{"batch": [')
    assert r.status_code == 400
    assert r.json()["field"] == "body" and "malformed JSON" in r.json()["message"]


def test_oversize_batch_and_event_are_413(server, write_key):
    big = {"event": "E", "userId": "u", "properties": {"x": "y" * 40_000}}
    r = post(server, "/v1/track", big, key=write_key)
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    batch = {"batch": [{"type": "track", "event": "E", "userId": "u",
                        "properties": {"x": "y" * 20_000}} for _ in range(30)]}
    r = post(server, "/v1/batch", batch, key=write_key)
    assert r.status_code == 413 and "limit is 512000" in r.json()["message"]
    bomb = gzip.compress(orjson.dumps(batch))  # small on the wire, too big inflated
    r = post(server, "/v1/batch", None, key=write_key, raw=bomb,
             headers={"Content-Encoding": "gzip"})
    assert r.status_code == 413 and "decompressed" in r.json()["message"]


def test_invalid_events_of_a_batch_are_quarantined_and_valid_ones_stored(dmp, server, write_key):
    batch = [
        {"type": "track", "event": "Order Completed", "userId": "u1", "messageId": "ok-1"},
        {"type": "track", "userId": "u1", "messageId": "bad-1"},
        {"type": "identify", "messageId": "bad-2", "traits": {"plan": "pro"}},
        {"type": "track", "event": "E", "userId": "u2", "timestamp": "31/12/2026"},
        {"type": "track", "event": "E", "userId": "u3", "properties": {"x": "y" * 40_000}},
        {"type": "page", "anonymousId": "a1", "messageId": "ok-2"},
    ]
    r = post(server, "/v1/batch", {"batch": batch}, key=write_key)
    assert r.status_code == 200
    body = r.json()
    assert (body["accepted"], body["quarantined"]) == (2, 4)
    assert [e["field"] for e in body["errors"]] == [
        "batch[1].event", "batch[2].userId/anonymousId", "batch[3].timestamp", "batch[4].message"]
    assert set(stored(dmp, server)) == {"ok-1", "ok-2"}
    q = dmp.quarantine.list(source="web")
    assert len(q) == 4
    assert {row["reason"] for row in q} >= {"required for a track call (the event name)",
                                           "one of them is required"}
    assert json.loads(q[0]["payload"])["type"] == "track"


def test_same_message_id_is_stored_once(dmp, server, write_key):
    msg = {"type": "track", "event": "Order Completed", "userId": "u1", "messageId": "dup-1"}
    for _ in range(3):
        assert post(server, "/v1/batch", {"batch": [msg, msg]}, key=write_key).status_code == 200
        server.flush()
    assert dmp.events.count() == 1


def test_sent_at_corrects_client_clock_skew(dmp, server, write_key):
    skewed = datetime.now(UTC) + timedelta(hours=3)  # the phone's clock is 3 hours fast
    msg = {"type": "track", "event": "E", "userId": "u", "messageId": "skew",
           "timestamp": (skewed - timedelta(minutes=5)).isoformat(),
           "sentAt": skewed.isoformat()}
    post(server, "/v1/batch", {"batch": [msg]}, key=write_key)
    row = stored(dmp, server)["skew"]
    true_time = row["received_at"] - timedelta(minutes=5)
    assert abs((row["timestamp"] - true_time).total_seconds()) < 0.01


def test_gzip_body_as_rudderstack_sends_it(dmp, server, write_key):
    body = gzip.compress(orjson.dumps({"batch": [
        {"type": "identify", "userId": "u7", "anonymousId": None, "messageId": "rs-1",
         "context": {"traits": {"email": "x@y.z"}}, "channel": "server",
         "integrations": {"All": True}}]}))
    r = post(server, "/v1/batch", None, key=write_key, raw=body,
             headers={"Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    row = stored(dmp, server)["rs-1"]
    assert orjson.loads(row["traits"]) == {"email": "x@y.z"}
    assert orjson.loads(row["integrations"]) == {"All": True}


def test_health_docs_and_openapi(server):
    h = httpx.get(server.url + "/health").json()
    assert h["status"] == "ok" and h["engine"] == "duckdb"
    assert h["schema_version"] == MIGRATIONS[-1].version
    assert httpx.get(server.url + "/docs").status_code == 200
    paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    for p in ("/v1/track", "/v1/identify", "/v1/page", "/v1/screen", "/v1/group", "/v1/alias",
              "/v1/batch", "/v1/quarantine", "/v1/keys"):
        assert p in paths


def test_admin_endpoints_need_admin_keys(dmp, server, write_key, admin_key):
    assert httpx.get(server.url + "/v1/quarantine").status_code == 401
    r = httpx.get(server.url + "/v1/quarantine", headers={"Authorization": f"Bearer {write_key}"})
    assert r.status_code == 403
    auth = {"Authorization": f"Bearer {admin_key}"}
    post(server, "/v1/batch", {"batch": [{"type": "track", "userId": "u"}]}, key=write_key)
    server.flush()
    q = httpx.get(server.url + "/v1/quarantine", headers=auth).json()
    assert [row["field"] for row in q] == ["batch[0].event"]
    r = httpx.post(server.url + "/v1/keys", json={"scope": "read", "source": "bi"}, headers=auth)
    assert r.status_code == 201 and r.json()["secret"].startswith("aidmp_r_")
    r = httpx.post(server.url + "/v1/keys", json={"scope": "root"}, headers=auth)
    assert r.status_code == 400 and r.json()["field"] == "scope"
    stats = httpx.get(server.url + "/v1/events/stats", headers=auth).json()
    assert stats["events"] == 0
