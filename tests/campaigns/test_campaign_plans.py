"""A campaign from definition to measurement: audience, holdout left out at sync, planned and
imported costs, credited conversions and the holdout test against a planted effect."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from fastapi.testclient import TestClient

from aidmp import DMP
from aidmp.api.app import create_app
from aidmp.campaigns.experiments import assign
from aidmp.errors import NotFoundError, ValidationError
from tests.cli.test_cli import aidmp as cli

N = 4000
BASE, EXTRA, CLICK = 0.05, 0.08, 0.3  # organic order rate, planted extra orders, click rate


def _identify(i: int) -> dict[str, Any]:
    return {"type": "identify", "userId": f"u{i}", "messageId": f"id{i}",
            "timestamp": "2026-02-01T09:00:00Z",
            "traits": {"email": f"c{i}@shop.example", "tier": "gold" if i % 2 else "silver"}}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DMP, dict[str, Any]]]:
    root = tmp_path_factory.mktemp("plans")
    with DMP(home=root / "home") as dmp:
        dmp.events.ingest([_identify(i) for i in range(N)], source="web")
        dmp.build()
        dmp.segments.create("customers", "events >= 1")
        plan = dmp.campaigns.create("Spring mail", "Email", date(2026, 3, 1), date(2026, 3, 14),
                                    daily_cost=10.0, audience="customers", holdout=0.2)
        aud = dmp.audiences
        aud.add_destination({"type": "file", "name": "esp", "folder": str(root / "out")})
        synced = aud.sync("customers", "esp", campaign="spring_mail")
        sent = pacsv.read_csv(synced.files[0]).to_pylist()
        # the campaign runs on the people who were sent; everyone may buy anyway
        rng = np.random.default_rng(5)
        base = rng.random(N) < BASE
        extra = rng.random(N) < EXTRA
        clicks = rng.random(N) < CLICK
        exposed = np.zeros(N, dtype=bool)
        exposed[[int(str(r["user_id"])[1:]) for r in sent]] = True
        events: list[dict[str, Any]] = []
        credited = 0
        for i in range(N):
            day = 2 + i % 12
            if exposed[i] and (clicks[i] or extra[i]):
                events.append({"type": "page", "userId": f"u{i}", "messageId": f"c{i}",
                               "timestamp": f"2026-03-{day:02d}T10:00:00Z",
                               "context": {"campaign": {"source": "newsletter",
                                                        "medium": "email",
                                                        "name": "spring_mail"}}})
            if exposed[i] and extra[i]:
                credited += 1
                events.append({"type": "track", "event": "Order Completed", "userId": f"u{i}",
                               "messageId": f"x{i}", "timestamp": f"2026-03-{day:02d}T12:00:00Z",
                               "properties": {"revenue": 40.0}})
            if base[i]:
                # organic orders come before any click: no touch in their look-back
                events.append({"type": "track", "event": "Order Completed", "userId": f"u{i}",
                               "messageId": f"o{i}", "timestamp": "2026-03-01T08:00:00Z",
                               "properties": {"revenue": 30.0}})
        dmp.events.ingest(events, source="web")
        dmp.campaigns.import_costs(pa.table({"date": ["2026-03-02"], "channel": ["email"],
                                             "campaign": ["spring_mail"], "cost": [25.0]}))
        dmp.build()
        truth = {"plan": plan, "synced": synced, "sent": sent, "exposed": exposed,
                 "credited": credited, "touches": int((exposed & (clicks | extra)).sum()),
                 "ate": float(((base | extra).astype(float) - base).mean())}
        yield dmp, truth


def test_definition_and_planned_cost(world: tuple[DMP, dict[str, Any]]) -> None:
    _, truth = world
    plan = truth["plan"]
    assert (plan["id"], plan["channel"], plan["utm_campaign"], plan["days"]) == \
        ("spring_mail", "email", "spring_mail", 14)
    assert plan["planned_cost"] == 140.0 and plan["holdout_share"] == 0.2


def test_sync_leaves_the_holdout_out(world: tuple[DMP, dict[str, Any]]) -> None:
    dmp, truth = world
    synced = truth["synced"]
    members = sorted(dmp.segments.member_ids("customers"))
    arms = dict(zip(members, assign("spring_mail", members, {"holdout": 0.2, "exposed": 0.8}),
                    strict=True))
    held = {p for p, a in arms.items() if a == "holdout"}
    assert synced.members == N and synced.skipped_holdout == len(held)
    assert 0.17 * N < len(held) < 0.23 * N
    assert {r["profile_id"] for r in truth["sent"]} == set(members) - held
    dmp.segments.create("other", "events >= 2")
    with pytest.raises(ValidationError, match="targets 'customers', not 'other'"):
        dmp.audiences.sync("other", "esp", campaign="spring_mail")


def test_performance_costs_credit_and_holdout_test(world: tuple[DMP, dict[str, Any]]) -> None:
    dmp, truth = world
    perf = dmp.campaigns.performance("spring_mail")
    # 14 planned days at 10, one of them replaced by an imported 25
    assert perf["cost"] == 155.0
    assert perf["touches"] == perf["people_reached"] == truth["touches"]
    assert perf["conversions"] == truth["credited"]
    assert perf["revenue"] == 40.0 * truth["credited"]
    assert perf["roas"] == pytest.approx(40.0 * truth["credited"] / 155.0)
    assert perf["audience_size"] == N
    test = perf["holdout_test"]
    assert test["sizes"]["exposed"] == len(truth["sent"])
    conv = test["comparisons"]["exposed"]["conversion"]
    assert conv["uplift_ci"][0] <= truth["ate"] <= conv["uplift_ci"][1]
    assert conv["uplift_ci"][0] > 0
    # the ROI report by campaign sees the same cost (planned + imported)
    by_campaign = {(r["channel"], r["campaign"]): r for r in dmp.campaigns.roi("campaign")}
    assert by_campaign[("email", "spring_mail")]["cost"] == 155.0


def test_bad_definitions(world: tuple[DMP, dict[str, Any]]) -> None:
    dmp, _ = world
    c = dmp.campaigns
    cases = [
        (dict(name="Report", channel="cpc"), "name", "reserved"),
        (dict(name="Spring mail", channel="cpc"), "name", "exists"),
        (dict(name="x", channel=" "), "channel", "give the channel"),
        (dict(name="x", channel="cpc", end=date(2026, 2, 1)), "end", "before start"),
        (dict(name="x", channel="cpc", daily_cost=-1.0), "daily_cost", ">= 0"),
        (dict(name="x", channel="cpc", holdout=0.7), "holdout", "(0, 0.5]"),
        (dict(name="x", channel="cpc", audience="nope"), "audience", "unknown segment"),
    ]
    for kwargs, field, text in cases:
        args = {"start": date(2026, 3, 1), "end": date(2026, 3, 2), **kwargs}
        with pytest.raises(ValidationError) as err:
            c.create(args.pop("name"), args.pop("channel"), args.pop("start"), args.pop("end"),
                     **args)
        assert err.value.field == field and text in str(err.value), (kwargs, str(err.value))
    with pytest.raises(NotFoundError, match="no campaign 'nope'; known: spring_mail"):
        c.performance("nope")


def test_rest_and_cli(world: tuple[DMP, dict[str, Any]], tmp_path: Path) -> None:
    dmp, truth = world
    client = TestClient(create_app(dmp))
    admin = {"Authorization": f"Bearer {dmp.keys.create('admin', source='ops').secret}"}
    made = client.post("/v1/campaigns", json={"name": "Search", "channel": "cpc",
                                              "start": "2026-03-01", "end": "2026-03-31",
                                              "daily_cost": 5}, headers=admin)
    assert made.status_code == 201 and made.json()["planned_cost"] == 155.0
    bad = client.post("/v1/campaigns", json={"name": "Roi", "channel": "cpc",
                                             "start": "2026-03-01", "end": "2026-03-31"},
                      headers=admin)
    assert bad.status_code == 400 and bad.json()["field"] == "name"
    bad = client.post("/v1/campaigns", json={"name": "Y", "channel": "cpc",
                                             "start": "2026-03-01", "end": "2026-03-31",
                                             "holdout": 0.9}, headers=admin)
    assert bad.status_code == 400 and "holdout" in json.dumps(bad.json())
    ids = [r["id"] for r in client.get("/v1/campaigns", headers=admin).json()]
    assert ids == ["search", "spring_mail"]
    perf = client.get("/v1/campaigns/spring_mail", headers=admin).json()
    assert perf["conversions"] == truth["credited"] and perf["cost"] == 155.0
    # report routes are not shadowed by campaign ids
    assert isinstance(client.get("/v1/campaigns/roi", headers=admin).json(), list)
    assert client.delete("/v1/campaigns/search", headers=admin).json()["deleted"] is True
    assert client.get("/v1/campaigns/search", headers=admin).status_code == 404
    dmp.engine.checkpoint()
    home = tmp_path / "copy"
    shutil.copytree(dmp.home, home)
    listed = json.loads(cli(home, "campaigns", "list", "--json").stdout)
    assert [r["id"] for r in listed] == ["spring_mail"]
    shown = json.loads(cli(home, "campaigns", "show", "spring_mail", "--json").stdout)
    assert shown["holdout_test"]["sizes"]["exposed"] == len(truth["sent"])
    proc = cli(home, "campaigns", "create", "Late", "--channel", "cpc", "--start", "2026-03-05",
               "--end", "2026-03-01", ok=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: end: end 2026-03-01 is before start 2026-03-05"
    cli(home, "campaigns", "delete", "spring_mail")
    assert json.loads(cli(home, "campaigns", "list", "--json").stdout) == []
