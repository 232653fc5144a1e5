"""Campaign measurement end to end: ingest, build, costs, ROI / ROAS, attribution, experiment."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from aidmp import DMP
from aidmp.campaigns import Campaigns
from aidmp.errors import NotFoundError, ValidationError


def _touch(user: str, day: int, campaign: dict[str, str]) -> dict[str, Any]:
    return {"type": "page", "name": "Landing", "userId": user,
            "timestamp": f"2026-03-{day:02d}T10:00:00Z", "context": {"campaign": campaign}}


def _order(user: str, day: int, revenue: float) -> dict[str, Any]:
    return {"type": "track", "event": "Order Completed", "userId": user,
            "timestamp": f"2026-03-{day:02d}T12:00:00Z", "properties": {"revenue": revenue}}


CPC = {"source": "google", "medium": "CPC", "name": "spring"}
EMAIL = {"source": "newsletter", "medium": "email", "name": "march"}
FB = {"source": "facebook", "name": "brand"}  # no medium: the channel is the source


@pytest.fixture()
def built(tmp_path: Path) -> Iterator[tuple[DMP, Campaigns]]:
    with DMP(home=tmp_path / "home") as dmp:
        dmp.events.ingest([
            _touch("u1", 3, CPC), _touch("u1", 4, EMAIL), _order("u1", 5, 100.0),
            _touch("u2", 3, EMAIL), _order("u2", 4, 40.0),
            _touch("u3", 3, FB),
            _order("u4", 4, 10.0),
            {"type": "track", "event": "Product Viewed", "userId": "u4",
             "timestamp": "2026-03-03T09:00:00Z"},
        ], source="web")
        dmp.build()
        costs = tmp_path / "costs.csv"
        costs.write_text("date,channel,campaign,cost\n2026-03-02,cpc,spring,50\n"
                         "2026-03-03,email,march,20\n2026-03-03,facebook,brand,30\n")
        campaigns = Campaigns(dmp.engine)
        assert campaigns.import_costs(costs) == 3
        yield dmp, campaigns


def test_touchpoints_from_utm(built: tuple[DMP, Campaigns]) -> None:
    dmp, campaigns = built
    rows = dmp.engine.execute(campaigns.touchpoints()).to_pylist()
    assert sorted((r["channel"], r["campaign"]) for r in rows) == [
        ("cpc", "spring"), ("email", "march"), ("email", "march"), ("facebook", "brand")]
    conv = dmp.engine.execute(campaigns.conversions()).to_pylist()
    assert sorted(r["revenue"] for r in conv) == [10.0, 40.0, 100.0]


def test_roi_and_roas_by_channel_campaign_week(built: tuple[DMP, Campaigns]) -> None:
    _, campaigns = built
    by_channel = {r["channel"]: r for r in campaigns.roi("channel")}
    assert by_channel["email"] == {"channel": "email", "conversions": 2.0, "revenue": 140.0,
                                   "cost": 20.0, "roas": 7.0, "roi": 6.0}
    assert by_channel["cpc"]["roas"] == 0.0 and by_channel["cpc"]["roi"] == -1.0
    assert by_channel["facebook"]["cost"] == 30.0
    first = {r["channel"]: r["revenue"] for r in campaigns.roi("channel", model="first_touch")}
    assert first == {"cpc": 100.0, "email": 40.0, "facebook": 0.0}
    by_campaign = {(r["channel"], r["campaign"]): r["roas"] for r in campaigns.roi("campaign")}
    assert by_campaign[("email", "march")] == 7.0
    weeks = campaigns.roi("week")
    assert {str(r["week"]) for r in weeks} == {"2026-03-02"}  # Monday of that week
    assert sum(r["revenue"] for r in weeks) == 140.0 and sum(r["cost"] for r in weeks) == 100.0
    with pytest.raises(ValidationError, match="by must be"):
        campaigns.roi("country")


def test_attribution_side_by_side(built: tuple[DMP, Campaigns]) -> None:
    _, campaigns = built
    out = campaigns.attribution()
    assert out["conversions"] == 2 and out["unattributed"] == 1 and out["revenue"] == 140.0
    rows = {r["channel"]: r for r in out["rows"]}
    assert rows["cpc"]["linear"] == 0.5 and rows["email"]["linear"] == 1.5
    # chain: start->cpc->email->conv, start->email->conv, start->facebook->null; P(conv)=2/3.
    # without email nothing converts (effect 1); without cpc 1/3 does (effect 1/2)
    assert out["removal_effects"] == pytest.approx({"cpc": 0.5, "email": 1.0, "facebook": 0.0})
    assert rows["email"]["markov"] == pytest.approx(4 / 3)
    assert rows["cpc"]["markov_revenue"] == pytest.approx(140 / 3, abs=1e-5)


def test_roi_by_segment(built: tuple[DMP, Campaigns]) -> None:
    dmp, campaigns = built
    p1, p2 = (dmp.identity.profile_of("user_id", u) for u in ("u1", "u2"))
    ts = pa.timestamp("us", tz="UTC")
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    dmp.engine.append("segment_members", pa.table({
        "segment_id": ["vip", "vip"], "profile_id": [p1, p2],
        "entered_at": pa.array([t0, t0], ts), "exited_at": pa.array([None, t0], ts),
        "trigger": ["test", "test"]}))
    rows = campaigns.roi("segment")
    # only u1's spell is open; u1 holds the one cpc touch (all its cost) and 1 of the 2
    # email touches (half the email cost); last touch credits email with u1's order
    assert rows == [
        {"segment_id": "vip", "channel": "cpc", "conversions": 0.0, "revenue": 0.0,
         "cost": 50.0, "roas": 0.0, "roi": -1.0},
        {"segment_id": "vip", "channel": "email", "conversions": 1.0, "revenue": 100.0,
         "cost": 10.0, "roas": 10.0, "roi": 9.0}]


def _halves(dmp: DMP, experiment: str) -> dict[str, int]:
    """The split the documented rule gives: SHA-256 of ``experiment:profile_id``, its first 8
    bytes as a fraction of 2**64, below 0.5 -> the first arm."""
    pids = dmp.engine.to_arrow("profiles").column("profile_id").to_pylist()
    first = sum(int.from_bytes(hashlib.sha256(f"{experiment}:{p}".encode()).digest()[:8],
                               "big") / 2.0**64 < 0.5 for p in pids)
    return {"holdout": first, "exposed": len(pids) - first}


def test_experiment_and_report(built: tuple[DMP, Campaigns]) -> None:
    dmp, campaigns = built
    res = campaigns.experiment("exp-1", arms={"holdout": 0.5, "exposed": 0.5})
    assert res["sizes"] == _halves(dmp, "exp-1") and res["control"] == "holdout"
    if res["sizes"]["exposed"] < 2:
        assert res["comparisons"]["exposed"]["conversion"] is None  # one person: no test
    ab = campaigns.experiment("exp-7")
    assert sum(ab["sizes"].values()) == 4
    assert res == campaigns.experiment("exp-1", arms={"holdout": 0.5, "exposed": 0.5})
    report = campaigns.report()
    assert report["attribution"]["conversions"] == 2
    assert {r["channel"] for r in report["by_channel"]} == {"cpc", "email", "facebook"}


def test_missing_inputs(tmp_path: Path) -> None:
    with DMP(home=tmp_path / "h") as dmp:
        campaigns = Campaigns(dmp.engine)
        with pytest.raises(NotFoundError, match="build"):
            campaigns.touchpoints()
        bad = tmp_path / "bad.csv"
        bad.write_text("date,channel,cost\n2026-01-01,cpc,3\n")
        with pytest.raises(ValidationError, match="campaign"):
            campaigns.import_costs(bad)
        bad.write_text("date,channel,campaign,cost\n2026-01-01,cpc,x,abc\n")
        with pytest.raises(ValidationError, match="cost"):
            campaigns.import_costs(bad)


@pytest.mark.filterwarnings("ignore:Using `httpx`")
def test_cli_and_rest_edges(built: tuple[DMP, Campaigns]) -> None:
    import orjson
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from aidmp.api.routes import campaigns as routes
    from aidmp.cli.campaigns import app as cli

    dmp, _ = built
    runner = CliRunner()
    out = runner.invoke(cli, ["sample-size", "--baseline", "0.1", "--mde", "0.02", "--json"])
    assert out.exit_code == 0 and orjson.loads(out.stdout) == {"per_arm": 3841}

    api = FastAPI()
    api.state.dmp = dmp
    api.include_router(routes.router)
    key = dmp.keys.create("read", source="ops").secret
    client = TestClient(api, headers={"Authorization": f"Bearer {key}"})
    got = client.get("/v1/campaigns/attribution").json()
    assert got["conversions"] == 2
    assert {r["channel"]: r["last_touch_revenue"] for r in got["rows"]}["email"] == 140.0
    roi = client.get("/v1/campaigns/roi", params={"by": "channel"}).json()
    assert {r["channel"]: r["roas"] for r in roi}["email"] == 7.0
    assert client.get("/v1/campaigns/sample-size",
                      params={"baseline": 0.1, "mde": 0.02}).json() == {"per_arm": 3841}
    exp = client.get("/v1/campaigns/experiments/exp-1", params={"holdout": 0.5}).json()
    assert exp["sizes"] == _halves(dmp, "exp-1")
