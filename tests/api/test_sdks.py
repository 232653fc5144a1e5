"""Unchanged Segment and RudderStack Python SDKs against the collector."""

from __future__ import annotations

import orjson
import pytest
from rudderstack.analytics import Client as RudderClient
from segment.analytics import Client as SegmentClient
from segment.analytics.request import APIError


def _rows(dmp, server):
    server.flush()
    return dmp.events.tail(100)


def test_segment_analytics_python(dmp, server, write_key):
    errors: list[Exception] = []
    client = SegmentClient(write_key, host=server.url, sync_mode=True, max_retries=0,
                           on_error=lambda e, batch: errors.append(e))
    client.identify("user-42", {"email": "Ann@Example.com", "plan": "pro"})
    client.track("user-42", "Order Completed", {"order_id": "o1", "revenue": 59.9})
    client.page(anonymous_id="anon-1", name="Home", properties={"path": "/"})
    client.alias("anon-1", "user-42")
    client.flush()
    assert errors == []
    rows = {r["type"]: r for r in _rows(dmp, server)}
    assert set(rows) == {"identify", "track", "page", "alias"}
    assert orjson.loads(rows["identify"]["traits"]) == {"email": "Ann@Example.com",
                                                        "plan": "pro"}
    assert orjson.loads(rows["track"]["properties"])["revenue"] == 59.9
    assert orjson.loads(rows["track"]["context"])["library"]["name"] == "analytics-python"
    assert rows["alias"]["previous_id"] == "anon-1"
    assert rows["page"]["sent_at"] is not None
    assert all(r["source"] == "web" for r in rows.values())


def test_rudder_sdk_python_gzipped_batches(dmp, server, write_key):
    errors: list[Exception] = []
    client = RudderClient(write_key, host=server.url, sync_mode=True, max_retries=0, gzip=True,
                          on_error=lambda e, batch: errors.append(e))
    client.identify("user-7", {"email": "bob@example.com"})
    client.track("user-7", "Product Viewed", {"product_id": "p1"})
    client.flush()
    assert errors == []
    rows = {r["type"]: r for r in _rows(dmp, server)}
    assert set(rows) == {"identify", "track"}
    assert orjson.loads(rows["identify"]["traits"])["email"] == "bob@example.com"
    assert rows["track"]["event"] == "Product Viewed"


def test_sdk_with_a_bad_key_gets_a_401_it_understands(server):
    client = SegmentClient("wrong-key", host=server.url, sync_mode=True, max_retries=0)
    with pytest.raises(APIError) as info:
        client.track("u", "E")
    assert info.value.status == 401
    assert info.value.code == "unauthorized"
    assert info.value.message == "unknown API key"
