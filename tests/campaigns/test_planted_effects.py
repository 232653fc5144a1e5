"""Campaign measurement recovers the effects the demo's campaign study planted.

The study (:mod:`aidmp.demo.campaigns`) knows which channel caused every order, the newsletter
test's effect from both potential outcomes of every customer, and each channel's true response
curve. The store only sees the events and the costs, like a real shop would.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from aidmp import DMP
from aidmp.api.app import create_app
from aidmp.campaigns.optimiser.model import BudgetOptimiser
from aidmp.demo.campaigns import CampaignStudy, StudyConfig
from aidmp.demo.generator import DemoConfig, DemoGenerator
from aidmp.errors import ValidationError
from tests.cli.test_cli import aidmp as cli

LOOKBACK = 3.0  # the study's orders follow their click within 2 days


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DMP, dict[str, Any]]]:
    data = CampaignStudy(DemoGenerator(DemoConfig(people=30_000, seed=42)).people(),
                         StudyConfig(seed=7)).generate()
    home = tmp_path_factory.mktemp("study") / "home"
    with DMP(home=home) as dmp:
        dmp.events.ingest(data.messages, source="campaigns")
        dmp.build()
        dmp.campaigns.import_costs(data.costs)
        yield dmp, data.truth


def test_the_study_is_deterministic_and_plants_what_it_says() -> None:
    people = DemoGenerator(DemoConfig(people=400, seed=5)).people()
    a = CampaignStudy(people, StudyConfig(seed=3, days=28, experiment_days=14)).generate()
    b = CampaignStudy(people, StudyConfig(seed=3, days=28, experiment_days=14)).generate()
    assert a.messages == b.messages and a.truth == b.truth
    orders = [m for m in a.messages if m.get("event") == "Order Completed"]
    planted = sum(c["caused_orders"] for c in a.truth["channels"].values()) + \
        a.truth["organic_orders"] + a.truth["experiment"]["caused_orders"]
    # every order the truth counts is in the data, and no other
    assert len(orders) == planted
    # a caused order never carries a campaign (it is not itself a touch)
    assert all("campaign" not in m["context"] for m in orders)
    stamps = [m["timestamp"] for m in a.messages]
    assert stamps == sorted(stamps) and "sentAt" not in a.messages[0]
    costs = a.costs.to_pylist()
    assert {r["channel"] for r in costs} == {"cpc", "paid_social", "display", "email"}
    spent = {ch: sum(r["cost"] for r in costs if r["channel"] == ch) for ch in a.truth["channels"]}
    assert spent == pytest.approx({ch: t["spend"] for ch, t in a.truth["channels"].items()})


def test_last_touch_recovers_the_caused_orders_within_the_bootstrap_interval(
        study: tuple[DMP, dict[str, Any]]) -> None:
    dmp, truth = study
    report = dmp.campaigns.attribution(lookback_days=LOOKBACK, ci=0.95, n_boot=300)
    rows = {r["channel"]: r for r in report["rows"]}
    planted = {ch: t["caused_orders"] for ch, t in truth["channels"].items()}
    planted["email"] = truth["experiment"]["caused_orders"]
    assert set(rows) == set(planted)
    for ch, n in planted.items():
        low, high = rows[ch]["last_touch_ci"]
        assert low <= n <= high, (ch, n, low, high)
        # the interval is informative, not everything
        assert high - low < 0.4 * n
    revenue = {ch: t["caused_revenue"] for ch, t in truth["channels"].items()}
    for ch, r in revenue.items():
        low, high = rows[ch]["last_touch_revenue_ci"]
        assert low <= r <= high, (ch, r, low, high)


def test_markov_ranks_the_channels_like_the_truth(study: tuple[DMP, dict[str, Any]]) -> None:
    dmp, truth = study
    report = dmp.campaigns.attribution(lookback_days=LOOKBACK, ci=0.95, n_boot=200)
    rows = {r["channel"]: r for r in report["rows"]}
    planted = {ch: t["caused_orders"] for ch, t in truth["channels"].items()}
    planted["email"] = truth["experiment"]["caused_orders"]
    by_truth = sorted(planted, key=planted.__getitem__)
    assert sorted(rows, key=lambda c: rows[c]["markov"]) == by_truth
    for ch, n in planted.items():
        # removal effects lean towards the busiest channel (display: most clicks, fewest
        # orders per click), so this is a tolerance, not the interval
        assert abs(rows[ch]["markov"] - n) <= 0.3 * n, (ch, rows[ch]["markov"], n)
        low, high = rows[ch]["markov_ci"]
        assert low < rows[ch]["markov"] < high
    # the busiest channel is the one Markov over-credits
    assert rows["display"]["markov"] > planted["display"]


def test_holdout_experiment_recovers_the_planted_uplift(
        study: tuple[DMP, dict[str, Any]]) -> None:
    dmp, truth = study
    result = dmp.campaigns.experiment("newsletter_holdout")
    exp = truth["experiment"]
    assert result["arms_from"] == "recorded" and result["control"] == "holdout"
    assert result["sizes"] == exp["arms"]
    conv = result["comparisons"]["exposed"]["conversion"]
    low, high = conv["uplift_ci"]
    assert low <= exp["ate_conversion"] <= high
    assert low > 0  # the effect is there, and detected
    rev = result["comparisons"]["exposed"]["revenue"]
    for ci in ("welch_ci", "bootstrap_ci"):
        assert rev[ci][0] <= exp["ate_revenue_per_person"] <= rev[ci][1]


def test_uplift_model_finds_the_customers_the_newsletter_moves(
        study: tuple[DMP, dict[str, Any]]) -> None:
    dmp, truth = study
    exp = truth["experiment"]
    # the planted effect: under-35s respond about three times as much
    assert exp["ate_conversion_under_35"] > 2.5 * exp["ate_conversion_35_plus"]
    n = exp["arms"]["holdout"] + exp["arms"]["exposed"]
    report = dmp.campaigns.uplift("newsletter_holdout", ["age"], top=int(0.4 * n))
    assert report["people"] == n and report["treatment"] == "exposed"
    assert report["qini"] > 0.1
    deciles = report["deciles"]
    observed = [d["observed_uplift"] for d in deciles]
    assert np.mean(observed[:4]) > 2 * np.mean(observed[-4:])
    # the top decile's predicted uplift is near the planted under-35 effect
    assert abs(deciles[0]["predicted_uplift"] - exp["ate_conversion_under_35"]) < 0.025
    p = dmp.engine.table("profiles")
    age = {r["profile_id"]: r["age"] for r in dmp.engine.execute(
        p.select("profile_id", "age")).to_pylist()}
    young = np.mean([age[r["profile_id"]] < 35 for r in report["top"]])
    share = np.mean([a < 35 for a in age.values() if a is not None])
    assert share < 0.5 and young > 0.7
    with pytest.raises(ValidationError, match="not numeric profile columns: \\['top_category'\\]"):
        dmp.campaigns.uplift("newsletter_holdout", ["top_category"])


def test_optimiser_moves_budget_to_the_channel_with_the_higher_marginal_return(
        study: tuple[DMP, dict[str, Any]]) -> None:
    dmp, truth = study
    history = dmp.campaigns.history(lookback_days=LOOKBACK, fittable=True)
    # e-mail costs the same every send: no curve can be fitted, so it is set aside
    assert history.schema.metadata[b"skipped"] == b"email"
    assert set(history["channel"].to_pylist()) == set(truth["channels"])
    opt = BudgetOptimiser().fit(history)
    current = opt.current_
    for ch, t in truth["channels"].items():
        assert current[ch] == pytest.approx(t["mean_daily_spend"], rel=1e-6)
    # fitted marginal returns at the current spend rank like the true ones
    fitted = {ch: float(opt.curves_[ch].marginal(current[ch])) for ch in current}
    true = {ch: t["marginal_return_at_plan"] for ch, t in truth["channels"].items()}
    assert max(fitted, key=fitted.__getitem__) == max(true, key=true.__getitem__) == "cpc"
    assert fitted["cpc"] == pytest.approx(true["cpc"], rel=0.35)
    result = opt.allocate(sum(current.values()))
    plan = {c.unit: c for c in result.channels}
    assert plan["cpc"].spend > 1.5 * current["cpc"]
    assert plan["paid_social"].spend < current["paid_social"]
    assert plan["display"].spend < current["display"]
    # the same money is expected to earn more, and the marginal returns are equalised
    assert result.expected_return > 1.1 * result.current_return
    marginal = [c.marginal_roi for c in result.channels if c.spend > 0]
    assert max(marginal) - min(marginal) < 0.25 * max(marginal)


def test_cli_and_rest_over_the_study(study: tuple[DMP, dict[str, Any]], tmp_path: Path) -> None:
    dmp, truth = study
    # the CLI runs as its own process, on a copy of the store (the fixture holds the file)
    dmp.engine.checkpoint()
    home = tmp_path / "copy"
    shutil.copytree(dmp.home, home)
    client = TestClient(create_app(dmp))
    key = dmp.keys.create("read", source="analyst").secret
    auth = {"Authorization": f"Bearer {key}"}
    body = client.post("/v1/campaigns/optimise?wait=true", json={"lookback_days": LOOKBACK},
                       headers=auth)
    assert body.status_code == 200, body.text
    out = body.json()
    assert out["skipped_channels"] == ["email"]
    spend = {c["unit"]: c["spend"] for c in out["channels"]}
    assert max(spend, key=spend.__getitem__) == "cpc"
    png = client.get("/v1/campaigns/plots/attribution", params={"lookback_days": LOOKBACK},
                     headers=auth)
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    page = client.get("/v1/campaigns/plots/experiment",
                      params={"experiment_id": "newsletter_holdout", "format": "html"},
                      headers=auth)
    assert page.status_code == 200 and page.text.startswith("<!doctype html>")
    bad = client.get("/v1/campaigns/plots/experiment", headers=auth)
    assert bad.status_code == 400 and bad.json()["field"] == "experiment_id"
    up = client.get("/v1/campaigns/experiments/newsletter_holdout/uplift",
                    params={"features": ["age"], "folds": 3, "top": 2}, headers=auth)
    assert up.status_code == 200, up.text
    assert up.json()["qini"] > 0 and len(up.json()["top"]) == 2
    bad = client.get("/v1/campaigns/experiments/newsletter_holdout/uplift",
                     params={"features": ["nope"]}, headers=auth)
    assert bad.status_code == 400 and bad.json()["field"] == "features"
    ci = client.get("/v1/campaigns/attribution", headers=auth,
                    params={"lookback_days": LOOKBACK, "ci": 0.9, "wait": True}).json()
    assert all(r["last_touch_ci"][0] <= r["last_touch"] <= r["last_touch_ci"][1]
               for r in ci["rows"])
    plot = tmp_path / "exp.png"
    proc = cli(home, "campaigns", "experiment", "newsletter_holdout", "--plot", str(plot),
               "--json")
    data = json.loads(proc.stdout)
    assert data["arms_from"] == "recorded" and plot.read_bytes()[:4] == b"\x89PNG"
    proc = cli(home, "campaigns", "optimise", "--lookback-days", str(LOOKBACK), "--json")
    plan = json.loads(proc.stdout)
    assert plan["total"] == pytest.approx(
        sum(t["mean_daily_spend"] for t in truth["channels"].values()), rel=1e-6)
    proc = cli(home, "campaigns", "uplift", "newsletter_holdout", "--feature", "age", "--folds",
               "3")
    assert "Qini coefficient" in proc.stdout and "deciles of predicted uplift" in proc.stdout
    proc = cli(home, "campaigns", "attribution", "--plot", str(tmp_path / "a.gif"), ok=False)
    assert proc.returncode != 0
    assert proc.stderr.startswith("error: plot: plot file must end in .png or .html")
    assert "Traceback" not in proc.stderr


def test_history_needs_costs_and_valid_options(tmp_path: Path) -> None:
    with DMP(home=tmp_path / "h") as dmp:
        dmp.events.ingest([{"type": "track", "event": "Order Completed", "userId": "u1",
                            "messageId": "m1", "properties": {"revenue": 5}}], source="w")
        dmp.build()
        with pytest.raises(ValidationError, match="no campaign costs"):
            dmp.campaigns.history()
        dmp.campaigns.import_costs(pa.table({"date": ["2026-01-01"], "channel": ["cpc"],
                                             "campaign": ["x"], "cost": [1.0]}))
        with pytest.raises(ValidationError, match="period must be day or week"):
            dmp.campaigns.history(period="month")
        with pytest.raises(ValidationError, match="model must be one of"):
            dmp.campaigns.history(model="markov")
        weekly = dmp.campaigns.history(period="week").to_pylist()
        assert weekly == [{"channel": "cpc", "period": "2025-12-29", "spend": 1.0,
                           "return": 0.0}]
