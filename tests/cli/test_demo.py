"""``aidmp demo`` as a newcomer runs it (``make demo`` without ``--serve``): a real process that
generates the shop, sends it through the collector, builds profiles and segments, and fits the
models a shop starts with, whose scores reach the profiles."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aidmp import DMP


def test_demo_builds_profiles_segments_and_models(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "aidmp.cli.main", "demo", "--home", str(home),
                           "--people", "300", "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    models = out["models"]
    assert set(models) == {"clv", "churn_30d", "rules", "recommend"}
    assert models["clv"]["customers"] > 0
    assert 0.5 < models["churn_30d"]["auc"] <= 1.0
    assert models["rules"]["rules"] > 0
    assert models["recommend"]["ndcg@10"] > 0
    assert set(out["segments"]) == {"champions", "fashion fans who buy",
                                    "at risk big spenders", "lapsed browsers"}
    with DMP(home=home) as dmp:
        assert {m["name"] for m in dmp.models.list()} >= set(models)
        profiles = dmp.engine.execute(
            dmp.engine.table("profiles").select("profile_id", "clv_12m", "p_churn_30d")
        ).to_pylist()
        # the shop's events end within the last week (on the fixed end's weekdays), so its
        # windows, read at the wall clock, are full: most buyers ordered in the last 90 days
        ev = dmp.engine.table("events")
        web = ev.filter(ev.source == "web")
        newest = dmp.engine.execute(web.aggregate(t=web.timestamp.max())).column("t")[0]
        lag = datetime.now(UTC) - newest.as_py()
        assert timedelta(days=-1) < lag < timedelta(days=8)
        windows = dmp.engine.execute(dmp.engine.table("profiles").select(
            "orders_total", "orders_90d", "events_30d", "rfm_recency_days")).to_pylist()
        buyers = [w for w in windows if w["orders_total"]]
        assert sum(1 for w in buyers if w["orders_90d"]) > len(buyers) / 2
        assert sum(1 for w in windows if w["events_30d"]) > len(windows) / 4
        assert min(w["rfm_recency_days"] for w in buyers) < 8
        assert out["segments"]["champions"] > 0
        # every profile was scored for churn, as a probability; customers have a value
        assert len(profiles) == out["build"]["profiles"]
        assert all(0.0 <= p["p_churn_30d"] <= 1.0 for p in profiles)
        assert any((p["clv_12m"] or 0) > 0 for p in profiles)
        # "bought together" answers for the shop's best seller, by product id
        best = dmp.models.show("rules")["metrics"]["top_rules"][0]["antecedents"]
        assert dmp.models.bought_together(best, n=3)
