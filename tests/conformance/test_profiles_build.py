"""Identity resolution and the profile build give the same profiles on DuckDB and Spark."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import ibis
import pyarrow as pa
import pytest

from aidmp import DMP
from aidmp.demo.generator import DemoConfig, DemoGenerator
from aidmp.engine.base import Engine
from aidmp.profiles import timeline
from tests.conformance.conftest import fresh_engine

# after every demo event and inside the clock window (no more than a day after receipt)
NOW = datetime.now(UTC).isoformat()


def _demo_messages() -> list[dict[str, object]]:
    gen = DemoGenerator(DemoConfig(people=12, seed=5, days=30))
    return [m for batch in gen.event_batches(10_000) for m in batch]


_COLUMNS = ["profile_id", "events", "orders_total", "revenue_total", "rfm_recency_days", "rfm_r",
            "rfm_f", "rfm_m", "rfm_segment", "engagement_score", "purchasing_power",
            "first_name", "top_category", "events_30d"]


def _build(engine: Engine, home: Path) -> tuple[pa.Table, dict[str, object]]:
    """Build on the first 80 % of the demo's messages (by time), then incrementally on the
    rest."""
    dmp = DMP(home=home, engine=engine)
    messages = sorted(_demo_messages(), key=lambda m: str(m.get("timestamp")))
    cut = len(messages) * 4 // 5
    dmp.events.ingest(messages[:cut], source="web")
    first = dmp.build()
    dmp.events.ingest(messages[cut:], source="web")
    summary = dmp.build()
    table = engine.execute(engine.table("profiles").select(*_COLUMNS).order_by("profile_id"))
    return table, {"profiles": summary.profiles, "identifiers": summary.identifiers,
                   "first_full": not first.profiles_incremental,
                   "then_incremental": summary.profiles_incremental}


def _aliases(engine: Engine, home: Path) -> tuple[str, int]:
    """Alias calls after the builds: a previous id no event carries (read as an anonymous id)
    and a device that never logged in, aliased to a known user (read as the anonymous id it
    is, merging them); the user's profile and the identifier count after a build."""
    dmp = DMP(home=home, engine=engine)
    messages = _demo_messages()
    user = next(str(m["userId"]) for m in messages if m.get("userId"))
    known = {m.get("anonymousId") for m in messages if m.get("userId")}
    device = next(str(m["anonymousId"]) for m in messages
                  if m.get("anonymousId") and m["anonymousId"] not in known)
    dmp.events.ingest([{"type": "alias", "messageId": f"alias-{i}", "userId": user,
                        "previousId": prev, "timestamp": NOW}
                       for i, prev in enumerate(["legacy-1", device])], source="web")
    summary = dmp.build()
    assert not summary.identities_incremental  # a new alias call: the whole graph
    g = dmp.identity
    profile = g.profile_of("user_id", user)
    assert g.profile_of("anonymous_id", "legacy-1") == g.profile_of("anonymous_id", device) \
        == profile
    return profile, summary.identifiers


def _timelines(engine: Engine, home: Path) -> dict[str, tuple[int, list[str]]]:
    """The first timeline page of the three busiest people and of one who sends an event
    after the build (read from the event map, then from the events since its watermark)."""
    dmp = DMP(home=home, engine=engine)
    anon = next(str(m["anonymousId"]) for m in _demo_messages() if m.get("anonymousId"))
    dmp.events.ingest([{"type": "track", "event": "Signed Out", "messageId": "late-1",
                        "anonymousId": anon,
                        # now: after every event so far (some are stamped on receipt)
                        "timestamp": datetime.now(UTC).isoformat()}],
                      source="web")
    p = engine.table("profiles")
    busiest = engine.execute(p.order_by([ibis.desc("events"), "profile_id"]).limit(3)
                             .select("profile_id")).column(0).to_pylist()
    out = {}
    for pid in [*busiest, dmp.identity.profile_of("anonymous_id", anon)]:
        page = dmp.profiles.events(pid, size=5)
        out[pid] = (page["total"], [e["message_id"] for e in page["events"]])
        # a long timeline is read in one scan instead of by key: the same page
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(timeline, "PROBE_LIMIT", 0)
            assert dmp.profiles.events(pid, size=5) == page
    return out


def _agree(expected: pa.Table, got: pa.Table) -> None:
    exp, out = expected.to_pylist(), got.to_pylist()
    assert len(exp) == len(out)
    for a, b in zip(exp, out, strict=True):
        for key, value in a.items():
            if isinstance(value, float):
                assert b[key] == pytest.approx(value, rel=1e-9), key
            else:
                assert b[key] == value, key


@pytest.mark.spark
def test_profiles_agree_across_engines(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    with fresh_engine("duckdb", request, tmp_path) as duck:
        expected, counts = _build(duck, tmp_path / "duck")
        # the incremental build gave what a full one gives
        DMP(home=tmp_path / "duck", engine=duck).build(full=True)
        _agree(duck.execute(duck.table("profiles").select(*_COLUMNS).order_by("profile_id")),
               expected)
        timelines = _timelines(duck, tmp_path / "duck")
        aliased = _aliases(duck, tmp_path / "duck")
    with fresh_engine("spark", request, tmp_path) as spark:
        got, spark_counts = _build(spark, tmp_path / "spark")
        assert _timelines(spark, tmp_path / "spark") == timelines
        assert _aliases(spark, tmp_path / "spark") == aliased
    assert spark_counts == counts
    late = [events for _, events in timelines.values() if "late-1" in events]
    assert late and all(events[0] == "late-1" for events in late)  # the newest comes first
    assert counts["profiles"] > 10 and counts["first_full"] and counts["then_incremental"]
    _agree(expected, got)
