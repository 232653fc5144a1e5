"""``aidmp serve`` with a broker: requests go through the broker, the loader stores them,
quarantines the invalid ones, feeds the real-time evaluator and reports its lag."""

from __future__ import annotations

import subprocess
import sys

import httpx
import orjson
import yaml
from typer.testing import CliRunner

from aidmp import DMP
from aidmp.api.server import ServerThread
from aidmp.cli.main import app as cli
from tests.conftest import basic


def test_serve_with_a_broker_stores_quarantines_and_evaluates_in_real_time(tmp_path, redis_config):
    home = tmp_path / "home"
    home.mkdir()
    (home / "aidmp.yaml").write_text(yaml.safe_dump({"broker": redis_config}))
    dmp = DMP(home=home)
    key = dmp.keys.create("write", source="web").secret
    dmp.events.ingest([{"type": "identify", "userId": "u1", "messageId": "m0"}], source="web")
    dmp.build()
    dmp.segments.create("Buyers", rule='event("Order Completed")', realtime=True)
    body = {"batch": [
        {"type": "track", "event": "Order Completed", "userId": "u1", "messageId": "m2",
         "properties": {"revenue": 12.5}},
        {"type": "track", "userId": "u2", "messageId": "m3"},  # no event name
    ]}
    with ServerThread(dmp) as server:
        r = httpx.post(server.url + "/v1/batch", content=orjson.dumps(body), headers=basic(key))
        assert r.status_code == 200
        assert r.json()["accepted"] == 1 and r.json()["quarantined"] == 1
        again = httpx.post(server.url + "/v1/batch", content=orjson.dumps(body),
                           headers=basic(key))  # a client retry
        assert again.status_code == 200
        loading = server.app.state.broker
        loading.drain(timeout=20)
        health = httpx.get(server.url + "/health").json()
        status = CliRunner().invoke(cli, ["broker", "status", "--home", str(home), "--json",
                                          "--interval", "0.2"])
    try:
        ids = dmp.engine.sql("SELECT message_id FROM events ORDER BY 1").column(0).to_pylist()
        assert ids == ["m0", "m2"]
        reasons = dmp.engine.sql("SELECT field, reason FROM quarantine").to_pylist()
        assert reasons == [{"field": "batch[1].event",
                            "reason": "required for a track call (the event name)"}]
        members = dmp.engine.sql("SELECT segment_id, trigger FROM segment_members").to_pylist()
        assert members == [{"segment_id": "buyers", "trigger": "realtime:m2"}]
    finally:
        dmp.close()
    broker = health["broker"]
    assert broker["kind"] == "redis"
    assert broker["loader"]["messages"] == 2 and broker["loader"]["events"] == 2
    assert broker["loader"]["stored"] == 1 and broker["loader"]["duplicates"] == 1
    assert broker["consumer_lag"]["messages"] == 0 and broker["consumer_lag"]["produced"] == 2
    assert broker["events_per_s"] > 0
    assert 0 <= broker["end_to_end_lag_ms"]["p50"] <= broker["end_to_end_lag_ms"]["p99"] < 10_000
    assert health["collector"]["produced_batches"] == 2
    assert status.exit_code == 0, status.output
    out = orjson.loads(status.output)
    assert (out["kind"], out["lag_messages"], out["produced"]) == ("redis", 0, 2)
    assert ":***@" not in out["where"] and out["group"] == "aidmp-loader"


def _aidmp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aidmp.cli.main", *args], capture_output=True,
                          text=True, timeout=120)


def test_broker_errors_are_one_line_and_name_the_field(tmp_path):
    none = _aidmp("broker", "status", "--home", str(tmp_path / "h"))
    assert none.returncode == 1 and "Traceback" not in none.stderr
    assert "error: broker: no broker is configured" in none.stderr
    home = tmp_path / "bad"
    home.mkdir()
    (home / "aidmp.yaml").write_text(yaml.safe_dump({"broker": {"kind": "nats"}}))
    bad = _aidmp("serve", "--collector-only", "--home", str(home))
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "error: broker" in bad.stderr and "'kafka', 'redis'" in bad.stderr
