"""Long-work REST routes answer 202 with a job at once, run it on the job runner, and end with
the result the synchronous route gave (``?wait=true`` still gives it); bad parameters are
refused before any job exists (service, issue 15). Real server, CDNOW sample orders."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aidmp import DMP
from aidmp.api.server import ServerThread
from tests.service.test_jobs import _orders

CUSTOMERS = 2357


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[httpx.Client, DMP, threading.Event]]:
    """A served store of CDNOW orders; jobs wait at their start until the event is set."""
    dmp = DMP(home=tmp_path / "home")
    _orders(dmp)
    admin = dmp.keys.create("admin", source="t").secret
    gate = threading.Event()
    gate.set()
    with ServerThread(dmp) as srv, httpx.Client(
            base_url=srv.url, timeout=120, headers={"Authorization": f"Bearer {admin}"}) as c:
        flush = dmp.jobs.before

        def before() -> None:
            gate.wait(60)
            if flush is not None:
                flush()

        dmp.jobs.before = before
        yield c, dmp, gate
        gate.set()
    dmp.close()


def _follow(c: httpx.Client, answer: httpx.Response) -> dict[str, Any]:
    """The job a 202 answer names, once it has ended."""
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert answer.headers["Location"] == f"/v1/jobs/{job['id']}"
    deadline = time.monotonic() + 120
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.05)
        job = c.get(answer.headers["Location"]).json()
    assert job["state"] == "succeeded", job["error"]
    return job


def _rounded(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return float(f"{value:.8g}") if isinstance(value, float) else value


def _jobs(c: httpx.Client) -> int:
    return len(c.get("/v1/jobs", params={"limit": 1000}).json())


def test_build_answers_at_once_while_the_job_waits_then_gives_the_same_report(
        served: tuple[httpx.Client, DMP, threading.Event]) -> None:
    c, dmp, gate = served
    gate.clear()  # the job cannot finish until the test says so
    started = time.perf_counter()
    r = c.post("/v1/build", params={"full": True})
    elapsed = time.perf_counter() - started
    assert r.status_code == 202 and elapsed < 1.0
    assert r.json()["kind"] == "build" and r.json()["state"] in ("queued", "running")
    assert r.json()["params"] == {"full": True, "as_of": None}
    assert c.get(r.headers["Location"]).json()["state"] in ("queued", "running")
    gate.set()
    job = _follow(c, r)
    assert job["result"]["profiles"] == CUSTOMERS
    waited = c.post("/v1/build", params={"full": True, "wait": True})
    assert waited.status_code == 200
    assert waited.json()["profiles"] == CUSTOMERS
    assert set(waited.json()) == set(job["result"])
    assert dmp.engine.count("profiles") == CUSTOMERS


def test_fit_and_score_run_as_jobs_with_the_synchronous_results(
        served: tuple[httpx.Client, DMP, threading.Event]) -> None:
    c, _, _ = served
    assert c.post("/v1/build", params={"wait": True}).status_code == 200
    fitted = _follow(c, c.post("/v1/models/clv/fit", json={"kind": "clv"}))["result"]
    assert (fitted["name"], fitted["version"], fitted["kind"]) == ("clv", 1, "clv")
    again = c.post("/v1/models/clv/fit", params={"wait": True}, json={"kind": "clv"})
    assert again.status_code == 200 and again.json()["version"] == 2
    # same data, same fit (to the optimiser's last digits)
    assert _rounded(again.json()["params"]) == _rounded(fitted["params"])
    assert _rounded(again.json()["metrics"]) == _rounded(fitted["metrics"])
    scored = _follow(c, c.post("/v1/models/clv/score"))["result"]
    assert scored == {"model": "clv", "version": 2, "profiles": CUSTOMERS,
                      "keys": ["clv_12m", "expected_orders_12m", "p_alive"],
                      "rows": 3 * CUSTOMERS}
    assert c.post("/v1/models/clv/score", params={"wait": True}).json() == scored

    before = _jobs(c)
    bad = c.post("/v1/models/clv/fit", json={"kind": "clv", "options": {"methd": "tree"}})
    assert bad.status_code == 400 and bad.json()["field"] == "methd"
    kind = c.post("/v1/models/clv/fit", json={"kind": "nope"})
    assert kind.status_code == 400 and kind.json()["field"] == "kind"
    name = c.post("/v1/models/Bad Name/fit", json={"kind": "clv"})
    assert name.status_code == 400 and name.json()["field"] == "name"
    missing = c.post("/v1/models/nope/score")
    assert missing.status_code == 404 and "nope" in missing.json()["message"]
    full = c.post("/v1/build", params={"full": "maybe"})
    assert full.status_code == 400 and full.json()["field"] == "full"
    assert _jobs(c) == before  # none of them made a job


def test_segment_refresh_sync_cluster_and_lookalike_run_as_jobs(
        served: tuple[httpx.Client, DMP, threading.Event], tmp_path: Path) -> None:
    c, _, _ = served
    assert c.post("/v1/build", params={"wait": True}).status_code == 200
    created = c.post("/v1/segments", json={"name": "big", "rule": "revenue_total > 100"})
    assert created.status_code == 201, created.text
    seg = created.json()["id"]
    size = c.get(f"/v1/segments/{seg}/size").json()["size"]
    assert 0 < size < CUSTOMERS
    reports = _follow(c, c.post("/v1/segments/refresh", json={"segment_ids": [seg]}))["result"]
    assert [(r["segment_id"], r["size"]) for r in reports] == [(seg, size)]

    dest = {"type": "file", "name": "drop", "folder": str(tmp_path / "drop")}
    assert c.post("/v1/destinations", json=dest).status_code == 201
    synced = _follow(c, c.post(f"/v1/segments/{seg}/sync", json={"destination": "drop"}))
    assert (synced["result"]["added"], synced["result"]["first_sync"]) == (size, True)
    dry = c.post(f"/v1/segments/{seg}/sync", params={"wait": True},
                 json={"destination": "drop", "dry_run": True}).json()
    assert (dry["added"], dry["unchanged"]) == (0, size)

    clustered = _follow(c, c.post("/v1/segments/cluster", json={
        "name": "value", "features": ["revenue_total", "orders_total"], "k": 3}))["result"]
    ids = [cl["segment_id"] for cl in clustered["clusters"]]
    assert len(ids) == 3
    assert sum(c.get(f"/v1/segments/{i}/size").json()["size"] for i in ids) == CUSTOMERS

    look = _follow(c, c.post("/v1/segments/lookalike", json={
        "seed": seg, "name": "like big", "top_n": 100, "purpose": "analytics",
        "features": ["revenue_total", "orders_total", "rfm_recency_days"]}))["result"]
    like = c.get(f"/v1/segments/{look['segment_id']}/size").json()["size"]
    assert like == 100

    before = _jobs(c)
    for path, body, status, field in (
            ("/v1/segments/refresh", {"segment_ids": ["nope"]}, 404, None),
            (f"/v1/segments/{seg}/sync", {"destination": "nowhere"}, 404, None),
            ("/v1/segments/nope/sync", {"destination": "drop"}, 404, None),
            ("/v1/segments/lookalike", {"seed": "nope", "name": "x"}, 404, None),
            ("/v1/segments/cluster", {"name": "v", "k": 1}, 400, "k"),
            ("/v1/segments/refresh", {"segment_ids": []}, 400, "segment_ids")):
        r = c.post(path, json=body)
        assert r.status_code == status, (path, r.text)
        assert field is None or r.json()["field"] == field
    assert _jobs(c) == before
