"""``dmp.quality``: the data-quality report per source and for the last build.

Per source: the events' figures (rows, missing rates per column, outliers, freshness), likely
duplicates (same person, event and properties within a minute, beyond the message-id
de-duplication the store already does), records refused into the quarantine by reason, what
the events carry (numeric properties with negative values and outliers, refunds and
cancellations: :mod:`aidmp.quality.contents`), and identifiers refused by identity resolution
by reason; the expected inputs no event carries (:mod:`aidmp.profiles.inputs`). For the
build: the profiles table's figures.

As of an instant (``report(as_of=...)``: ``aidmp quality report --as-of``) the report reads the
store as it stood then: only events with ``timestamp <= as_of``, quarantined records received
up to it, freshness lag measured to it; the profiles' figures are left out (the last build
describes its own instant, not that one).

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

from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir

from aidmp.engine.base import Engine
from aidmp.identity.extract import refused
from aidmp.profiles.inputs import missing_inputs
from aidmp.quality.contents import event_contents
from aidmp.quality.dedupe import window_repeats
from aidmp.quality.report import profile_source
from aidmp.spec.clock import point_in_time
from aidmp.spec.profiles import ProfileConfig

_EVENT_COLUMNS = ("message_id", "type", "event", "user_id", "anonymous_id", "timestamp",
                  "received_at", "properties", "traits", "context")


class Quality:
    """Quality figures of what is stored."""

    def __init__(self, engine: Engine, profiles: ProfileConfig | None = None) -> None:
        self.engine = engine
        self.profiles = profiles or ProfileConfig()

    def _events(self, as_of: datetime | None) -> ir.Table:
        """The stored events, those with ``timestamp <= as_of`` when given."""
        ev = self.engine.table("events")
        if as_of is None:
            return ev
        return ev.filter(ev.timestamp <= ibis.literal(as_of, type="timestamp('UTC')"))

    def sources(self, *, as_of: datetime | str | None = None) -> list[str]:
        """Sources that delivered events (up to ``as_of``, when given)."""
        t = self._events(point_in_time(as_of))
        return [r["source"] for r in self.engine.execute(
            t.select("source").distinct().order_by("source")).to_pylist()]

    def source_report(self, source: str, *, as_of: datetime | str | None = None
                      ) -> dict[str, Any]:
        """Figures of one source's events (those up to ``as_of``, when given: see the module
        docstring).

        Raises:
            ValidationError: ``as_of`` is not an ISO-8601 instant or lies in the future
                (naming ``as_of``).
        """
        eng = self.engine
        when = point_in_time(as_of)
        ev = self._events(when)
        mine = ev.filter(ev.source == source)
        report = profile_source(mine.select(*_EVENT_COLUMNS), engine=eng, name=source,
                                key_columns=["message_id"], timestamp_column="timestamp",
                                outlier_columns=[], infer=False, now=when)
        # stored events are unique by message id: only the time window's repeats are counted
        # (one window over the events; a full de-duplication ran three, twice)
        repeats = window_repeats(mine, window_seconds=60)
        dupes = int(eng.execute(repeats.aggregate(n=repeats.count())).column("n")[0].as_py())
        q = eng.table("quarantine")
        qs = q.filter([q.source == source, q.replayed_at.isnull()])
        if when is not None:  # refused records have no event time: what had arrived by then
            qs = qs.filter(qs.received_at <= ibis.literal(when, type="timestamp('UTC')"))
        refused = {f"{r['field']}: {r['reason']}": int(r["n"]) for r in eng.execute(
            qs.group_by(["field", "reason"]).aggregate(n=qs.count())
            .order_by(["field", "reason"])).to_pylist()}
        out = report.model_dump(mode="json")
        out["likely_duplicates"] = dupes
        out["quarantined"] = refused
        out["contents"] = event_contents(eng, mine, refund_event=self.profiles.refund_event)
        return out

    def report(self, *, as_of: datetime | str | None = None) -> dict[str, Any]:
        """The whole report: every source, refused identifiers, and the last build's profiles;
        as of an instant (ISO-8601 text or a datetime, UTC; see the module docstring), with
        ``as_of`` in the report.

        Raises:
            ValidationError: ``as_of`` is not an ISO-8601 instant or lies in the future
                (naming ``as_of``).
        """
        eng = self.engine
        when = point_in_time(as_of)
        out: dict[str, Any] = {"sources": {s: self.source_report(s, as_of=when)
                                           for s in self.sources(as_of=when)}}
        out["missing_inputs"] = missing_inputs(eng, self.profiles, as_of=when)
        refused_ids = refused(eng)
        if refused_ids:
            out["identifiers_refused"] = refused_ids
        if when is not None:
            out["as_of"] = when.isoformat()
        elif eng.has_table("profiles"):
            prof = profile_source(eng.table("profiles"), engine=eng, name="profiles",
                                  key_columns=["profile_id"], timestamp_column="last_seen",
                                  infer=False, outlier_columns=[
                                      c for c in ("revenue_total", "orders_total", "events")
                                      if c in eng.table("profiles").columns])
            out["profiles"] = prof.model_dump(mode="json")
        return out
