"""Model cards' charts, the clusters' map with "save as segment", dead-letter replay, the live
jobs list and the Qini curve: each page shows the values the store and the services hold.

One store: 60 people in two plain groups (30 buyers of five orders, 30 one-page visitors), an
A/B test seen by all of them (treatment buys more from age 40 on), two clusters fitted by
``cluster_segments``, two registered propensity versions (charts in the metrics; an older
one with them in ``params["model_card"]`` only), a dead letter and a running job.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from aidmp import DMP
from aidmp.api.server import ServerThread
from aidmp.engine.base import arrow_schema
from aidmp.segments.learned import cluster_segments
from aidmp.store.schema import TABLES
from tests.dashboard.conftest import Site, csrf_of, signed_in

NOW = datetime.now(UTC)
LIFT = [{"decile": d, "count": 10, "positives": 11 - d, "rate": (11 - d) / 10,
         "lift": round((11 - d) / 5.5, 4), "cumulative_gains_pct": 10.0 * d}
        for d in range(1, 11)]
CALIBRATION = [{"decile": d, "count": 10, "mean_predicted": round(1 - d / 10 + 0.05, 4),
                "observed_rate": round((11 - d) / 10, 4)} for d in range(1, 11)]
IMPORTANCES = [{"feature": "recency_days", "importance": 0.21, "std": 0.01},
               {"feature": "orders_total", "importance": 0.35, "std": 0.02},
               {"feature": "age", "importance": 0.004, "std": 0.001}]


def people() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for i in range(60):
        user, age = f"u{i}", 20 + i % 40
        when = (NOW - timedelta(days=30)).isoformat()
        out.append({"type": "identify", "userId": user, "messageId": f"id-{i}",
                    "timestamp": when, "traits": {"age": age}})
        out.append({"type": "track", "userId": user, "event": "Experiment Viewed",
                    "messageId": f"x-{i}", "timestamp": when,
                    "properties": {"experiment_id": "exp1",
                                   "variation_name": "control" if i % 2 else "treatment"}})
        orders = 5 if i < 30 else (1 if i % 2 == 0 and age >= 40 else 0)
        for n in range(orders):
            out.append({"type": "track", "userId": user, "event": "Order Completed",
                        "messageId": f"o-{i}-{n}",
                        "timestamp": (NOW - timedelta(days=20 - n)).isoformat(),
                        "properties": {"revenue": 100.0, "currency": "EUR"}})
        if orders == 0:
            out.append({"type": "page", "userId": user, "name": "Home", "messageId": f"p-{i}",
                        "timestamp": (NOW - timedelta(days=2)).isoformat()})
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    dmp = DMP(home=Path(tmp_path_factory.mktemp("dash-parts")) / "home")
    dmp.events.ingest(people(), source="web")
    dmp.build()
    cluster_segments(dmp, "tiers", features=["orders_total", "revenue_total"], k=2)
    dmp.segments.delete("tiers_1")  # its "save as segment" button then shows
    reg = dmp.models.registry
    reg.register("buy_next", {"fitted": "stand-in"}, kind="propensity", params={"method": "x"},
                 metrics={"auc": 0.8, "lift": LIFT, "calibration": CALIBRATION,
                          "importances": IMPORTANCES})
    reg.register("old_card", {"fitted": "stand-in"}, kind="propensity", params={
        "model_card": {"importances": IMPORTANCES[:1],
                       "metrics": {"lift": LIFT[:2], "calibration": CALIBRATION[:2]}}},
        metrics={"auc": 0.7})
    dmp.engine.upsert("outbox", pa.Table.from_pylist([{
        "id": "dlv_dead1", "topic": "webhook:buyers", "url": "http://127.0.0.1:9/hook",
        "body": b"{}", "headers": None, "state": "dead", "attempts": 8, "next_at": NOW,
        "last_status": 503, "last_error": "503 from the receiver", "created_at": NOW,
        "delivered_at": None}], schema=arrow_schema(TABLES["outbox"])))
    keys = {s: dmp.keys.create(s, source="tests").secret for s in ("admin", "read", "analyst")}
    with ServerThread(dmp) as server:
        yield Site(server.url, dmp, keys["admin"], keys["read"], keys["analyst"])
    dmp.close()


def charts_in(page: str) -> dict[str, dict[str, object]]:
    """The ECharts options of a page by their ``data-kind`` (or their order)."""
    out = {}
    for i, m in enumerate(re.finditer(r'data-chart="([^"]*)"(?: data-kind="(\w+)")?', page)):
        out[m.group(2) or str(i)] = json.loads(html.unescape(m.group(1)))
    return out


def series(option: dict[str, object]) -> dict[str, list[object]]:
    return {s["name"]: s["data"] for s in option["series"]}  # type: ignore[attr-defined]


def test_model_card_draws_lift_calibration_and_importance(site: Site) -> None:
    page = signed_in(site, site.read).get("/models").text
    card = page[page.index("buy_next"):page.index("old_card")]
    drawn = charts_in(card)
    assert series(drawn["lift"]) == {"Lift": [round(r["lift"], 3) for r in LIFT]}
    assert drawn["lift"]["xAxis"]["data"] == [str(d) for d in range(1, 11)]  # type: ignore[index]
    assert series(drawn["calibration"]) == {
        "Predicted": [r["mean_predicted"] for r in CALIBRATION],
        "Observed": [r["observed_rate"] for r in CALIBRATION]}
    # largest first in the table, at the top of the horizontal bars
    rows = re.findall(r"<tr><td>(\w+)</td><td class=\"num\">([\d.]+)</td></tr>", card)
    assert rows == [("orders_total", "0.35"), ("recency_days", "0.21"), ("age", "0.004")]
    assert series(drawn["importance"]) == {"Importance": [0.004, 0.21, 0.35]}
    # a version saved before the metrics kept them: read from its model card
    old = charts_in(page[page.index("old_card"):])
    assert series(old["lift"]) == {"Lift": [round(LIFT[0]["lift"], 3), round(LIFT[1]["lift"], 3)]}
    assert series(old["calibration"])["Observed"] == [1.0, 0.9]
    assert series(old["importance"]) == {"Importance": [0.21]}


def test_cluster_map_shows_the_projection_and_saves_a_cluster(site: Site) -> None:
    dmp = site.dmp
    row = dmp.models.show("cluster_tiers")
    projection, clusters = row["params"]["projection"], row["params"]["clusters"]
    assert projection["rows"] == 60 and len(projection["x"]) == 60
    assert sorted(c["size"] for c in clusters) == [30, 30]
    client = signed_in(site, site.admin)
    page = client.get("/analysis").text
    section = page[page.index('data-model="cluster_tiers"'):]
    section = section[:section.index("</section>")]
    (chart,) = charts_in(section).values()
    points = series(chart)
    assert set(points) == {"Cluster 0", "Cluster 1"}
    assert sorted(len(p) for p in points.values()) == [30, 30]
    assert [[x, y] for x, y, c in zip(projection["x"], projection["y"], projection["cluster"],
                                      strict=True) if c == 0] == points["Cluster 0"]
    assert "60" in section and "100.0%" not in section
    for c in clusters:
        assert html.escape(c["description"]) in section
    # cluster 0 kept its segment; cluster 1's was deleted, so it offers "save as segment"
    assert 'href="/segments/tiers_0"' in section
    assert section.count("Save as segment") == 1
    r = client.post("/analysis/clusters/save", data={
        "model": "cluster_tiers", "cluster": "1", "csrf": csrf_of(page)},
        follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/segments/tiers_1"
    saved = dmp.segments.get("tiers_1")
    assert saved["rule"] == "cluster_tiers = 1"
    size = next(c["size"] for c in clusters if c["cluster"] == 1)
    assert dmp.segments.size("tiers_1")["size"] == size == 30
    assert "Save as segment" not in client.get("/analysis").text
    bad = client.post("/analysis/clusters/save", data={
        "model": "cluster_tiers", "cluster": "7", "csrf": csrf_of(page)})
    assert bad.status_code == 400 and "no clustering model" in bad.text


def test_dead_letters_are_replayed_from_the_audiences_page(site: Site) -> None:
    reader = signed_in(site, site.read)
    page = reader.get("/audiences").text
    assert "503 from the receiver" in page and 'id="replay"' not in page
    assert reader.post("/audiences/replay", data={"csrf": csrf_of(page)}).status_code == 403
    admin = signed_in(site, site.admin)
    page = admin.get("/audiences").text
    assert "Send the 1 again" in page
    r = admin.post("/audiences/replay", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/audiences?replayed=1"
    assert "1 messages queued again." in admin.get(r.headers["location"]).text
    (entry,) = [e for e in site.dmp.audit.entries(action="deliveries.replay")]
    assert json.loads(entry["detail"]) == {"replayed": 1}
    assert admin.post("/audiences/replay", data={"csrf": "stale"}).status_code == 401


def test_jobs_list_polls_while_a_job_runs_and_shows_its_progress(site: Site) -> None:
    row = {"id": "job_test_running", "kind": "build", "params": "{}", "state": "running",
           "stage": "traits", "done": 3, "total": 10, "result": None, "error": None,
           "submitted_by": "tests", "created_at": NOW + timedelta(hours=1),
           "started_at": NOW, "finished_at": None}
    site.dmp.engine.upsert("jobs", pa.Table.from_pylist([row],
                                                        schema=arrow_schema(TABLES["jobs"])))
    client = signed_in(site, site.read)
    for path in ("/settings", "/settings/jobs-list"):
        page = client.get(path).text
        listing = page[page.index('id="jobs-list"'):]
        assert 'hx-trigger="every 2s, jobs-changed from:body"' in listing[:200]
        assert 'data-active="1"' in listing[:300]
        job = listing[listing.index('data-job="job_test_running"'):]
        job = job[:job.index("</tr>")]
        assert '<progress max="10" value="3"' in job and "3 / 10" in job and "traits" in job
    site.dmp.engine.upsert("jobs", pa.Table.from_pylist(
        [{**row, "state": "succeeded", "finished_at": NOW}], schema=arrow_schema(TABLES["jobs"])))
    done = client.get("/settings/jobs-list").text
    assert 'hx-trigger="jobs-changed from:body"' in done and "every 2s" not in done
    assert "<progress" not in done and "succeeded" in done


def test_qini_curve_of_the_experiment(site: Site) -> None:
    client = signed_in(site, site.read)
    fragment = client.get("/campaigns/experiments/exp1").text
    assert 'hx-get="/campaigns/experiments/exp1/uplift"' in fragment
    assert '<option value="age">age</option>' in fragment
    got = client.get("/campaigns/experiments/exp1/uplift", params={"features": "age"}).text
    report = site.dmp.campaigns.uplift("exp1", ["age"])
    assert report["treatment"] == "treatment" and report["people"] == 60
    curve = report["qini_curve"]
    assert curve[0] == {"share": 0.0, "incremental": 0.0, "random": 0.0}
    assert curve[-1]["share"] == 1.0 and curve[-1]["incremental"] == curve[-1]["random"]
    (chart,) = charts_in(got).values()
    assert series(chart) == {"Uplift model": [round(p["incremental"], 3) for p in curve],
                             "Random targeting": [round(p["random"], 3) for p in curve]}
    assert chart["xAxis"]["data"][-1] == "100%"  # type: ignore[index]
    assert f'data-qini="{report["qini"]}"' in got
    assert "treatment against control" in got
    bad = client.get("/campaigns/experiments/exp1/uplift", params={"features": "email"}).text
    assert "not numeric profile columns" in bad
