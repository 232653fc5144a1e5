"""A person's event timeline, newest first, paged.

The events are those the identity graph gave the profile (``event_profiles``: every event read
by the last resolution, whatever identifier tied it to the person, and those real-time
attribution linked since) and those received after the graph's watermark that carry one of
the person's user / CRM / anonymous ids (not attributed yet: the next build does that).

A typical person's events are read by key, one probe of the events' key index each, instead
of scanning every event (10M events: ~2-20 ms instead of ~250 ms); a person with more events
than :data:`PROBE_LIMIT` is read in one scan joined to the event map, which costs the same
whatever their number.

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> _ = dmp.events.ingest([
    ...     {"type": "track", "userId": "u1", "event": "Product Viewed", "messageId": "m1",
    ...      "timestamp": "2026-01-01T00:00:00Z"},
    ...     {"type": "track", "anonymousId": "a1", "userId": "u1", "event": "Order Completed",
    ...      "messageId": "m2", "timestamp": "2026-01-02T00:00:00Z"}], source="web")
    >>> _ = dmp.profiles.build()
    >>> _ = dmp.events.ingest([{"type": "track", "anonymousId": "a1", "event": "Signed Out",
    ...                         "messageId": "m3", "timestamp": "2026-01-03T00:00:00Z"}],
    ...                        source="web")
    >>> page = dmp.profiles.events(dmp.identity.profile_of("user_id", "u1"), size=2)
    >>> page["total"], [e["message_id"] for e in page["events"]]
    (3, ['m3', 'm2'])
"""

from __future__ import annotations

import json
from typing import Any

import ibis
import ibis.expr.types as ir

from aidmp.engine.base import Engine
from aidmp.errors import ValidationError
from aidmp.identity.service import EVENT_PROFILES, IdentityGraph
from aidmp.spec.limits import clip_json

#: A person with at most this many events has them read by key (a probe each, ~0.1-1 ms);
#: above it one scan (~150-300 ms at 10M events) is cheaper.
PROBE_LIMIT = 200
COLUMNS = ("message_id", "type", "event", "timestamp", "source", "properties")


#: deepest nesting of event properties a timeline shows (deeper parts become a short note)
RENDER_DEPTH = 32


def person_ids(identities: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The (user and CRM ids, anonymous ids) among a profile's identities: the identifiers
    an event carries in a column of its own."""
    users = [i["id_value"] for i in identities if i["id_type"] in ("user_id", "crm_id")]
    anons = [i["id_value"] for i in identities if i["id_type"] == "anonymous_id"]
    return users, anons


def carries(ev: ir.Table, users: list[Any], anons: list[Any]) -> ir.BooleanValue:
    """Events carrying one of the ids (``users`` / ``anons``: values or placeholders)."""
    who: ir.BooleanValue = ibis.literal(False)
    if users:
        who = who | ev.user_id.isin(users)
    if anons:
        who = who | ev.anonymous_id.isin(anons)
    return who


def timeline(engine: Engine, identity: IdentityGraph, profile_id: str, *, page: int = 1,
             size: int = 50) -> dict[str, Any]:
    """One page of the person's events, newest first (ties by message id), and their total.

    Raises:
        ValidationError: ``page`` below 1 or ``size`` outside 1..1000.
    """
    if page < 1:
        raise ValidationError(f"page must be 1 or more, got {page}", field="page")
    if not 1 <= size <= 1000:
        raise ValidationError(f"size must be between 1 and 1000, got {size}", field="size")
    users, anons = person_ids(identity.identities_of(profile_id))
    since = identity.watermark() if engine.has_table(EVENT_PROFILES) else None
    keys: set[str] = set()
    if since is not None:
        keys.update(_mapped(engine, profile_id))
    if users or anons:
        keys.update(_fresh(engine, since, users, anons))
    offset = (page - 1) * size
    if len(keys) <= PROBE_LIMIT:
        found = engine.rows_by_key("events", sorted(keys), COLUMNS)
        total = found.num_rows
        rows = found.sort_by([("timestamp", "descending"), ("message_id", "ascending")]
                             ).slice(offset, size).to_pylist()
    else:
        ev, ep = engine.table("events"), engine.table(EVENT_PROFILES)
        mine = ev.filter(ev.message_id.isin(ep.filter(ep.profile_id == profile_id).message_id)
                         | _after(ev, since, users, anons))
        total = int(engine.execute(mine.aggregate(n=mine.count())).column("n")[0].as_py())
        rows = engine.execute(mine.select(*COLUMNS).order_by(
            [ibis.desc("timestamp"), "message_id"]).limit(size, offset=offset)).to_pylist()
    for r in rows:
        # whatever was stored can be shown: nesting beyond RENDER_DEPTH is cut, not recursed
        r["properties"] = json.loads(clip_json(r["properties"], RENDER_DEPTH)) \
            if r["properties"] else None
    return {"profile_id": profile_id, "page": page, "size": size, "total": total,
            "events": rows}


def _mapped(engine: Engine, profile_id: str) -> list[str]:
    """The profile's events in the event map (an index probe on ``profile_id``)."""

    def query(pid: ibis.Value) -> ir.Table:
        ep = engine.table(EVENT_PROFILES)
        return ep.filter(ep.profile_id == pid).select("message_id")

    return [str(m) for m in engine.prepared("timeline.mapped", query, [profile_id])
            .column("message_id").to_pylist()]


def _after(ev: ir.Table, since: Any, users: list[Any], anons: list[Any]) -> ir.BooleanValue:
    """Events carrying the ids, received after ``since`` (every one when None)."""
    who = carries(ev, users, anons)
    return who if since is None else who & (ev.received_at > since)


def _fresh(engine: Engine, since: Any, users: list[str], anons: list[str]) -> list[str]:
    """Events carrying the person's ids received after the graph's watermark (all of them
    before the first resolution): DuckDB skips every row group older than the watermark."""

    def query(*marks: ibis.Value) -> ir.Table:
        ev = engine.table("events")
        after = None if since is None else marks[0].cast(ev.received_at.type())
        ids = marks[1:]
        return ev.filter(_after(ev, after, list(ids[:len(users)]), list(ids[len(users):])
                                )).select("message_id")

    params = [since.isoformat() if since is not None else "", *users, *anons]
    key = f"timeline.fresh:{since is None}:{len(users)}:{len(anons)}"
    return [str(m) for m in engine.prepared(key, query, params).column("message_id").to_pylist()]
