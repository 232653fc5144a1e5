"""``dmp.events``: send Segment messages from Python, count, tail and summarise stored events.

Example:
    >>> from aidmp.engine.duckdb import DuckDBEngine
    >>> eng = DuckDBEngine(":memory:"); _ = eng.migrate()
    >>> ev = Events(eng)
    >>> ev.ingest([{"type": "track", "event": "Signed Up", "userId": "u1", "messageId": "a"},
    ...            {"type": "track", "userId": "u1"}], source="app").to_dict()
    {'accepted': 1, 'stored': 1, 'duplicates': 0, 'quarantined': 1}
    >>> ev.count()
    1
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import ibis

from aidmp.collect.collector import CollectorLimits, process_document
from aidmp.collect.rows import ColumnBuffer, RowFilter, keep_all
from aidmp.engine.base import Engine
from aidmp.errors import ValidationError


@dataclass
class IngestReport:
    """What an ingest call did."""

    accepted: int
    stored: int
    duplicates: int
    quarantined: int

    def to_dict(self) -> dict[str, int]:
        """JSON-ready form."""
        return asdict(self)


class Events:
    """The ``events`` table, seen from Python."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.row_filter: RowFilter = keep_all

    def ingest(self, messages: list[dict[str, Any]], *, source: str) -> IngestReport:
        """Validate and store Segment messages synchronously (invalid ones are quarantined)."""
        if not isinstance(messages, list):
            raise ValidationError("must be a list of message objects", field="messages")
        received = datetime.now(UTC)
        rows, quarantined = process_document(
            {"batch": messages}, path_type="batch", source=source, received_at=received,
            limits=CollectorLimits(),
        ) if messages else ([], [])
        ev, q = ColumnBuffer("events"), ColumnBuffer("quarantine")
        ev.extend(rows)
        q.extend(quarantined)
        stored = self.engine.append("events", self.row_filter(ev.to_arrow()))
        self.engine.append("quarantine", q.to_arrow())
        return IngestReport(len(rows), stored, len(rows) - stored, len(quarantined))

    def count(self, *, source: str | None = None, event: str | None = None) -> int:
        """Number of stored events, optionally for one source and/or event name."""
        t = self.engine.table("events")
        expr = t
        if source:
            expr = expr.filter(t.source == source)
        if event:
            expr = expr.filter(t.event == event)
        return int(self.engine.execute(expr.aggregate(n=expr.count())).column("n")[0].as_py())

    def tail(self, n: int = 10, *, source: str | None = None) -> list[dict[str, Any]]:
        """The ``n`` most recently received events, newest first."""
        t = self.engine.table("events")
        expr = t.filter(t.source == source) if source else t
        expr = expr.order_by([t.received_at.desc(), t.timestamp.desc()]).limit(n)
        return self.engine.execute(expr).to_pylist()

    def stats(self) -> dict[str, Any]:
        """Totals, time range, and counts by type, source and (top 20) event name."""
        t = self.engine.table("events")
        totals = self.engine.execute(t.aggregate(
            events=t.count(), users=t.user_id.nunique(), anonymous_ids=t.anonymous_id.nunique(),
            first=t.timestamp.min(), last=t.timestamp.max(),
        )).to_pylist()[0]

        def by(col: str, limit: int | None = None) -> dict[str, int]:
            expr = t.group_by(col).aggregate(n=t.count()).order_by([ibis.desc("n"), col])
            if limit:
                expr = expr.limit(limit)
            return {str(r[col]): int(r["n"]) for r in self.engine.execute(expr).to_pylist()}

        return {
            **totals,
            "by_type": by("type"),
            "by_source": by("source"),
            "top_events": by("event", 20),
        }
