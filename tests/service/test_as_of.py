"""One clock with ``--as-of`` (service, issue 15): at a chosen instant every window has both
bounds, the profile and segment values are those computed by hand from the events before it,
and an event after it changes nothing. CLI, REST and the facade agree."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from aidmp import DMP
from aidmp.api.app import create_app
from aidmp.cli.main import app

T = datetime(2026, 6, 1, tzinfo=UTC)  # the instant asked for
AS_OF = "2026-06-01T00:00:00Z"


def _at(days: float) -> str:
    return (T + timedelta(days=days)).isoformat().replace("+00:00", "Z")


def _order(user: str, days: float, revenue: float, n: int) -> dict[str, Any]:
    return {"type": "track", "event": "Order Completed", "userId": user, "messageId": f"o{n}",
            "timestamp": _at(days), "properties": {"revenue": revenue, "order_id": f"o{n}"}}


def _page(user: str, days: float, n: int) -> dict[str, Any]:
    return {"type": "page", "name": "Home", "userId": user, "messageId": f"p{n}",
            "timestamp": _at(days)}


# by hand, at T: ann ordered 10 (T-100d) and 20 (T-10d); her 40 at T+5d does not exist yet.
# bob ordered 5 at T-40d and looked at a page at T-1d. cid only browsed, at T-200d; his order
# at T+1d does not exist yet.
EVENTS = [_order("ann", -100, 10.0, 1), _order("ann", -10, 20.0, 2), _order("ann", 5, 40.0, 3),
          _order("bob", -40, 5.0, 4), _page("bob", -1, 5), _page("cid", -200, 6),
          _order("cid", 1, 99.0, 7)]
AT_T = {  # user -> (events, orders_total, revenue_total, orders_90d, revenue_90d, events_30d)
    "ann": (2, 2, 30.0, 1, 20.0, 1),
    "bob": (2, 1, 5.0, 1, 5.0, 1),
    "cid": (1, 0, 0.0, 0, 0.0, 0),
}
COLUMNS = ("events", "orders_total", "revenue_total", "orders_90d", "revenue_90d",
           "events_30d")


@pytest.fixture()
def home(tmp_path: Path) -> Iterator[Path]:
    with DMP(home=tmp_path / "home") as dmp:
        dmp.events.ingest(EVENTS, source="web")
        dmp.build()
        dmp.segments.create("recent buyers", 'event("Order Completed", within=30d)')
    yield tmp_path / "home"


def _values(dmp: DMP) -> dict[str, tuple[Any, ...]]:
    rows = dmp.engine.execute(dmp.engine.table("profiles")).to_pylist()
    return {r["user_id"]: tuple(r[c] for c in COLUMNS) for r in rows}


def test_build_and_segments_as_of_an_instant_give_the_hand_computed_values(home: Path) -> None:
    runner = CliRunner()
    built = runner.invoke(app, ["build", "--as-of", AS_OF, "--json", "--home", str(home)])
    assert built.exit_code == 0, built.output
    assert orjson.loads(built.stdout)["as_of"] == "2026-06-01T00:00:00+00:00"
    with DMP(home=home) as dmp:
        assert _values(dmp) == AT_T
        ann = dmp.profiles.get("user_id", "ann")["profile"]
        assert ann["last_order_at"] == T - timedelta(days=10)
        assert ann["rfm_recency_days"] == 10
    size = runner.invoke(app, ["segments", "size", "recent_buyers", "--as-of", AS_OF,
                               "--json", "--home", str(home)])
    assert size.exit_code == 0, size.output
    # the window is [T - 30d, T]: ann (T-10d) is in; cid's T+1d order does not exist yet
    assert orjson.loads(size.stdout)["size"] == 1
    preview = runner.invoke(app, ["segments", "size", "--rule",
                                  'event("Order Completed", within=12d)', "--as-of", AS_OF,
                                  "--json", "--home", str(home)])
    assert preview.exit_code == 0, preview.output
    assert orjson.loads(preview.stdout)["size"] == 1  # ann's T-10d order; bob's T-40d is out
    # now (no --as-of): ann's T+5d and cid's T+1d orders are long past 30 days: nobody
    now = runner.invoke(app, ["segments", "size", "recent_buyers", "--json", "--home",
                              str(home)])
    assert orjson.loads(now.stdout)["size"] == 0

    # an event after the instant changes nothing at it
    with DMP(home=home) as dmp:
        dmp.events.ingest([_order("ann", 2, 1000.0, 8), _order("bob", 0.5, 7.0, 9)],
                          source="web")
        dmp.build(as_of=T)
        assert _values(dmp) == AT_T
        assert dmp.segments_at(T).size("recent_buyers")["size"] == 1
        # and the same store without an instant sees everything
        dmp.build()
        latest = _values(dmp)
        assert latest["ann"][:3] == (4, 4, 1070.0) and latest["cid"][:2] == (2, 1)


def test_rest_takes_as_of_and_refuses_a_bad_one_naming_it(home: Path) -> None:
    with DMP(home=home) as dmp:
        client = TestClient(create_app(dmp))
        admin = {"Authorization": f"Bearer {dmp.keys.create('admin', source='t').secret}"}
        r = client.post("/v1/build", params={"as_of": AS_OF, "wait": True}, headers=admin)
        assert r.status_code == 200, r.text
        assert r.json()["as_of"] == "2026-06-01T00:00:00+00:00"
        assert _values(dmp) == AT_T
        size = client.get("/v1/segments/recent_buyers/size", params={"as_of": AS_OF},
                          headers=admin)
        assert size.status_code == 200 and size.json()["size"] == 1
        wide = client.post("/v1/segments/estimate", headers=admin, json={
            "rule": 'event("Order Completed", within=45d)', "as_of": AS_OF})
        assert wide.status_code == 200 and wide.json()["size"] == 2  # ann and bob
        refreshed = client.post("/v1/segments/refresh", params={"wait": True}, headers=admin,
                                json={"segment_ids": ["recent_buyers"], "as_of": AS_OF})
        assert [r["size"] for r in refreshed.json()] == [1]
        for params in ({"as_of": "yesterday"}, {"as_of": "2999-01-01T00:00:00Z"}):
            bad = client.post("/v1/build", params=params, headers=admin)
            assert bad.status_code == 400 and bad.json()["field"].endswith("as_of"), bad.text
        dmp.jobs.close()
    bad = CliRunner().invoke(app, ["build", "--as-of", "2999-01-01", "--home", str(home)])
    assert bad.exit_code == 1
    assert "as_of" in str(bad.exception)


def _touch(user: str, days: float, medium: str, n: int) -> dict[str, Any]:
    return {"type": "page", "name": "Landing", "userId": user, "messageId": f"t{n}",
            "timestamp": _at(days),
            "context": {"campaign": {"source": "x", "medium": medium, "name": medium}}}


def test_campaign_reports_as_of_an_instant(tmp_path: Path) -> None:
    # dan came by email (T-3d) and ordered 50 (T-2d); after T he came by cpc (T+1d) and
    # ordered 70 (T+2d). Costs: email 10 on T-3d, cpc 30 on T+1d.
    home = tmp_path / "home"
    with DMP(home=home) as dmp:
        dmp.events.ingest([_touch("dan", -3, "email", 1), _order("dan", -2, 50.0, 2),
                           _touch("dan", 1, "cpc", 3), _order("dan", 2, 70.0, 4)],
                          source="web")
        dmp.build()
    costs = tmp_path / "costs.csv"
    costs.write_text(f"date,channel,campaign,cost\n{_at(-3)[:10]},email,email,10\n"
                     f"{_at(1)[:10]},cpc,cpc,30\n")
    runner = CliRunner()
    assert runner.invoke(app, ["campaigns", "costs", str(costs), "--home", str(home)]
                         ).exit_code == 0

    def roi(*extra: str) -> dict[str, dict[str, Any]]:
        out = runner.invoke(app, ["campaigns", "roi", "--json", "--home", str(home), *extra])
        assert out.exit_code == 0, out.output
        return {r["channel"]: r for r in orjson.loads(out.stdout)}

    at_t = roi("--as-of", AS_OF)
    assert set(at_t) == {"email"}  # cpc had neither a touch nor a cost yet
    assert (at_t["email"]["revenue"], at_t["email"]["cost"], at_t["email"]["roas"]) == \
        (50.0, 10.0, 5.0)
    everything = roi()
    assert (everything["cpc"]["revenue"], everything["cpc"]["cost"]) == (70.0, 30.0)
    assert everything["email"]["revenue"] == 50.0
    with DMP(home=home) as dmp:
        client = TestClient(create_app(dmp))
        admin = {"Authorization": f"Bearer {dmp.keys.create('admin', source='t').secret}"}
        r = client.get("/v1/campaigns/attribution", params={"as_of": AS_OF}, headers=admin)
        assert r.status_code == 200, r.text
        assert (r.json()["conversions"], r.json()["revenue"]) == (1, 50.0)
        later = client.get("/v1/campaigns/roi", params={"as_of": "2999-01-01T00:00:00Z"},
                           headers=admin)
        assert later.status_code == 400 and later.json()["field"] == "as_of"
        # with bootstrap intervals the attribution is a job: 202 at once, then the result
        boot = {"as_of": AS_OF, "ci": 0.9}
        queued = client.get("/v1/campaigns/attribution", params=boot, headers=admin)
        assert queued.status_code == 202 and queued.json()["kind"] == "campaigns.attribution"
        job = dmp.jobs.wait(queued.json()["id"], timeout=120)
        assert job["state"] == "succeeded", job["error"]
        rows = {r["channel"]: r for r in job["result"]["rows"]}
        assert set(rows) == {"email"} and rows["email"]["last_touch_revenue"] == 50.0
        assert len(rows["email"]["last_touch_ci"]) == 2
        waited = client.get("/v1/campaigns/attribution", params={**boot, "wait": True},
                            headers=admin)
        assert waited.status_code == 200 and waited.json() == job["result"]
        dmp.jobs.close()
    local = runner.invoke(app, ["campaigns", "attribution", "--ci", "0.9", "--as-of", AS_OF,
                                "--json", "--home", str(home)])
    assert local.exit_code == 0, local.output
    assert orjson.loads(local.stdout) == job["result"]


def test_quality_report_as_of_profiles_the_rows_up_to_it(dmp: DMP, datasets: Path) -> None:
    """On CDNOW (purchase lines 1997-01-01 .. 1998-06-30): as of the end of March 1997 only
    the lines dated up to it are profiled, and freshness is measured to the instant."""
    import polars as pl

    from aidmp.demo.datasets import cdnow_frame, load_dataset
    from aidmp.errors import ValidationError

    load_dataset(dmp, "cdnow", datasets / "cdnow")
    raw = cdnow_frame(datasets / "cdnow")
    up_to = raw.filter(pl.col("date") <= "19970331")
    assert 0 < up_to.height < raw.height
    report = dmp.quality.report(as_of="1997-03-31T23:59:59Z")
    assert report["as_of"] == "1997-03-31T23:59:59+00:00"
    src = report["sources"]["cdnow"]
    assert src["rows"] == up_to.height and src["duplicate_keys"] == 0
    assert src["contents"]["properties"]["revenue"]["values"] == up_to.height
    fresh = src["freshness"]
    assert fresh["latest"] == "1997-03-31T00:00:00Z"
    assert fresh["lag_seconds"] == 86_399.0
    assert "profiles" not in report  # the last build is of its own instant, not this one
    whole = dmp.quality.report()
    assert whole["sources"]["cdnow"]["rows"] == raw.height and "as_of" not in whole
    assert whole["sources"]["cdnow"]["freshness"]["latest"] == "1998-06-30T00:00:00Z"
    assert dmp.quality.report(as_of="1996-12-31")["sources"] == {}  # before the first line
    for bad in ("3000-01-01", "last week"):
        with pytest.raises(ValidationError) as exc:
            dmp.quality.report(as_of=bad)
        assert exc.value.field == "as_of"


def test_quality_report_as_of_through_cli_rest_and_jobs(home: Path) -> None:
    # as of T: ann's T-100d and T-10d orders, bob's T-40d order and T-1d page, cid's T-200d
    # page; the newest is bob's page, one day before T
    runner = CliRunner()
    out = runner.invoke(app, ["quality", "report", "--as-of", AS_OF, "--json", "--home",
                              str(home)])
    assert out.exit_code == 0, out.output
    web = orjson.loads(out.stdout)["sources"]["web"]
    assert web["rows"] == 5 and web["freshness"]["lag_seconds"] == 86_400.0
    assert orjson.loads(runner.invoke(app, ["quality", "report", "--json", "--home", str(home)]
                                      ).stdout)["sources"]["web"]["rows"] == len(EVENTS)
    bad = runner.invoke(app, ["quality", "report", "--as-of", "2999-01-01", "--home",
                              str(home)])
    assert bad.exit_code == 1 and "as_of" in str(bad.exception)
    with DMP(home=home) as dmp:
        client = TestClient(create_app(dmp))
        admin = {"Authorization": f"Bearer {dmp.keys.create('admin', source='t').secret}"}
        r = client.get("/v1/quality", params={"as_of": AS_OF}, headers=admin)
        assert r.status_code == 200, r.text
        assert r.json()["sources"]["web"] == web and r.json()["as_of"] == AS_OF.replace(
            "Z", "+00:00")
        for when in ("yesterday", "2999-01-01T00:00:00Z"):
            refused = client.get("/v1/quality", params={"as_of": when}, headers=admin)
            assert refused.status_code == 400 and refused.json()["field"] == "as_of"
        # the job (what a schedule submits) takes the same parameter
        job = dmp.jobs.wait(dmp.jobs.submit("quality.report", {"as_of": AS_OF}), timeout=120)
        assert job["state"] == "succeeded", job["error"]
        assert job["result"]["sources"]["web"] == web
        dmp.jobs.close()
