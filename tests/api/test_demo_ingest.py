"""The demo replays history through the real collector without moving it to "now"."""

from __future__ import annotations

from datetime import timedelta

from aidmp.demo.generator import DemoConfig
from aidmp.demo.ingest import run_demo


def test_replayed_history_keeps_its_timestamps(dmp):
    result = run_demo(dmp, people=40, seed=11)
    assert result["events_quarantined"] == 0
    t = dmp.engine.table("events")
    web = t.filter(t.source == "web")
    row = dmp.engine.execute(web.aggregate(first=web.timestamp.min(), last=web.timestamp.max(),
                                           n=web.count())).to_pylist()[0]
    cfg = DemoConfig(people=40, seed=11)
    # the generator's window, widened by the largest planted device clock skew (hours)
    assert cfg.end - timedelta(days=cfg.days + 1) <= row["first"]
    assert row["last"] <= cfg.end + timedelta(days=1)
    # events spread over months, not squeezed into the seconds the replay took
    assert row["last"] - row["first"] > timedelta(days=60)
    assert row["n"] == result["events_stored"]
