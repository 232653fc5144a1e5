"""``dmp.quality``: the data-quality report per source and for the last build.

Per source: the events' figures (rows, missing rates per column, outliers, freshness), likely
duplicates (same person, event and properties within a minute, beyond the message-id
de-duplication the store already does), records refused into the quarantine by reason, what
the events carry (numeric properties with negative values and outliers, refunds and
cancellations: :mod:`aidmp.quality.contents`), and identifiers refused by identity resolution
by reason; the expected inputs no event carries (:mod:`aidmp.profiles.inputs`). For the
build: the profiles table's figures.

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> _ = dmp.events.ingest([{"type": "track", "userId": "u1", "event": "Signed Up",
    ...                          "timestamp": "2026-01-01T00:00:00Z"}], source="web")
    >>> report = dmp.quality.report()
    >>> report["sources"]["web"]["rows"], report["sources"]["web"]["likely_duplicates"]
    (1, 0)
"""

from __future__ import annotations

from typing import Any

from aidmp.engine.base import Engine
from aidmp.identity.extract import refused
from aidmp.profiles.inputs import missing_inputs
from aidmp.quality.contents import event_contents
from aidmp.quality.dedupe import window_repeats
from aidmp.quality.report import profile_source
from aidmp.spec.profiles import ProfileConfig

_EVENT_COLUMNS = ("message_id", "type", "event", "user_id", "anonymous_id", "timestamp",
                  "received_at", "properties", "traits", "context")


class Quality:
    """Quality figures of what is stored."""

    def __init__(self, engine: Engine, profiles: ProfileConfig | None = None) -> None:
        self.engine = engine
        self.profiles = profiles or ProfileConfig()

    def sources(self) -> list[str]:
        """Sources that delivered events."""
        t = self.engine.table("events")
        return [r["source"] for r in self.engine.execute(
            t.select("source").distinct().order_by("source")).to_pylist()]

    def source_report(self, source: str) -> dict[str, Any]:
        """Figures of one source's events."""
        eng = self.engine
        ev = eng.table("events")
        mine = ev.filter(ev.source == source)
        report = profile_source(mine.select(*_EVENT_COLUMNS), engine=eng, name=source,
                                key_columns=["message_id"], timestamp_column="timestamp",
                                outlier_columns=[], infer=False)
        # stored events are unique by message id: only the time window's repeats are counted
        # (one window over the events; a full de-duplication ran three, twice)
        repeats = window_repeats(mine, window_seconds=60)
        dupes = int(eng.execute(repeats.aggregate(n=repeats.count())).column("n")[0].as_py())
        q = eng.table("quarantine")
        qs = q.filter([q.source == source, q.replayed_at.isnull()])
        refused = {f"{r['field']}: {r['reason']}": int(r["n"]) for r in eng.execute(
            qs.group_by(["field", "reason"]).aggregate(n=qs.count())
            .order_by(["field", "reason"])).to_pylist()}
        out = report.model_dump(mode="json")
        out["likely_duplicates"] = dupes
        out["quarantined"] = refused
        out["contents"] = event_contents(eng, mine, refund_event=self.profiles.refund_event)
        return out

    def report(self) -> dict[str, Any]:
        """The whole report: every source, refused identifiers, and the last build's profiles."""
        eng = self.engine
        out: dict[str, Any] = {"sources": {s: self.source_report(s) for s in self.sources()}}
        out["missing_inputs"] = missing_inputs(eng, self.profiles)
        refused_ids = refused(eng)
        if refused_ids:
            out["identifiers_refused"] = refused_ids
        if eng.has_table("profiles"):
            prof = profile_source(eng.table("profiles"), engine=eng, name="profiles",
                                  key_columns=["profile_id"], timestamp_column="last_seen",
                                  infer=False, outlier_columns=[
                                      c for c in ("revenue_total", "orders_total", "events")
                                      if c in eng.table("profiles").columns])
            out["profiles"] = prof.model_dump(mode="json")
        return out
