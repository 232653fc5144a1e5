"""``POST /v1/campaigns/optimise`` over the real HTTP server."""

from __future__ import annotations

import math

import httpx


def test_optimise_moves_budget_to_the_better_channel(dmp, server):
    read = dmp.keys.create("read", source="ops").secret
    history = []
    # search saturates slowly (b=800), email fast (b=150): at equal spend search's next euro
    # returns more, so budget moves to search
    for channel, a, b in (("search", 4000.0, 800.0), ("email", 1500.0, 150.0)):
        for week in range(30):
            spend = 200.0 + 20 * week
            history.append({"channel": channel, "period": week, "spend": spend,
                            "return": a * (1 - math.exp(-spend / b))})
    body = {"history": history, "total": 1000.0, "current": {"search": 500.0, "email": 500.0}}
    auth = {"Authorization": f"Bearer {read}"}
    queued = httpx.post(f"{server.url}/v1/campaigns/optimise", headers=auth, json=body)
    assert queued.status_code == 202, queued.text  # a campaigns.optimise job, at once
    job = dmp.jobs.wait(queued.json()["id"], timeout=120)
    assert job["state"] == "succeeded", job["error"]
    assert queued.headers["Location"] == f"/v1/jobs/{job['id']}"
    r = httpx.post(f"{server.url}/v1/campaigns/optimise", params={"wait": True}, headers=auth,
                   json=body, timeout=120)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out == job["result"]  # the same plan either way
    plan = {c["unit"]: c["spend"] for c in out["channels"]}
    assert plan["search"] > 600 and plan["email"] < 400
    assert out["expected_return"] >= out["current_return"]
    bad = httpx.post(f"{server.url}/v1/campaigns/optimise",
                     headers={"Authorization": f"Bearer {read}"},
                     json={"history": history, "total": -5})
    assert bad.status_code == 400 and bad.json()["field"] == "total"
