"""Retention: raw events and quarantined records are deleted after the days the rules allow.

Rules name a source and/or an event (``None`` matches any) and the days their raw events are
kept; the most specific matching rule wins (source and event, then event, then source, then a
rule for everything). Profiles, traits and model scores stay: an incremental build keeps the
per-person results it already has, so aggregates survive the raw events (a ``--full`` build
afterwards recomputes them from what is left). Runs as the ``retention`` job, so a schedule
can run it every night.

Example:
    >>> from datetime import UTC, datetime
    >>> from aidmp.engine.duckdb import DuckDBEngine
    >>> from aidmp.collect.events import Events
    >>> eng = DuckDBEngine(":memory:"); _ = eng.migrate()
    >>> _ = Events(eng).ingest([
    ...     {"type": "track", "event": "Page", "userId": "u1", "messageId": "old",
    ...      "timestamp": "2026-01-01T00:00:00Z"},
    ...     {"type": "track", "event": "Page", "userId": "u1", "messageId": "new",
    ...      "timestamp": "2026-11-30T00:00:00Z"}], source="web")
    >>> policy = RetentionPolicy(rules=[RetentionRule(days=90)])
    >>> apply_retention(eng, policy, now=datetime(2026, 12, 1, tzinfo=UTC))["events"]
    1
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import ibis
from pydantic import BaseModel, ConfigDict, Field

from aidmp.engine.base import Engine


class RetentionRule(BaseModel):
    """How long raw events of a source and/or an event name are kept."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str | None = None
    """Only events of this source (any when absent)."""
    event: str | None = None
    """Only events of this name (any when absent)."""
    days: int = Field(ge=1, le=36_500)
    """Days after their timestamp that the events are kept."""


class RetentionPolicy(BaseModel):
    """The retention rules of an installation (none: keep everything)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rules: list[RetentionRule] = Field(default_factory=list)
    """Per source / event; the most specific matching rule applies."""
    quarantine_days: int | None = Field(default=None, ge=1, le=36_500)
    """Days refused records are kept (none: until replayed or deleted by hand)."""


def _specificity(rule: RetentionRule) -> int:
    return (2 if rule.event is not None else 0) + (1 if rule.source is not None else 0)


def apply_retention(engine: Engine, policy: RetentionPolicy, *,
                    now: datetime | None = None) -> dict[str, Any]:
    """Delete what the policy no longer allows; return rows deleted per table."""
    now = now or datetime.now(UTC)
    out: dict[str, Any] = {"events": 0, "quarantine": 0, "rules": len(policy.rules)}
    ev = engine.table("events")
    done = ibis.literal(False)  # events matched by a more specific rule
    for rule in sorted(policy.rules, key=_specificity, reverse=True):
        match = ibis.literal(True)
        if rule.source is not None:
            match = match & (ev.source == rule.source)
        if rule.event is not None:
            match = match & (ev.event == rule.event)
        expired = match & ~done & (ev.timestamp < now - timedelta(days=rule.days))
        out["events"] += engine.delete_rows("events", ev.filter(expired).select("message_id"))
        done = done | match
    if policy.quarantine_days is not None:
        q = engine.table("quarantine")
        old = q.filter(q.received_at < now - timedelta(days=policy.quarantine_days))
        out["quarantine"] = engine.delete_rows("quarantine", old.select("id"))
    return out
