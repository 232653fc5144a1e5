"""Real-time segment membership: re-evaluate the people an event touches, record and push changes.

``aidmp serve`` attaches a :class:`RealtimeEvaluator` to the collector when the DMP has
real-time segments. After each flush stores events, the evaluator

1. attributes the events to profiles through identifiers already in ``identities`` (the
   identifier types whose event field is a column, e.g. ``user_id`` and ``anonymous_id``,
   strongest first) and appends the (message_id, profile_id) pairs to ``event_profiles``, so
   event predicates see them at once; events of people the graph does not know yet are left
   for the next build;
2. evaluates every segment with ``realtime=True`` whose rule is real-time capable, restricted
   to the touched profiles, and compares the result with their open spells in
   ``segment_members``: an entry opens a spell (trigger ``realtime:<message_id>``), an exit
   closes one;
3. pushes each segment's changes to its ``webhook_url`` (:mod:`aidmp.segments.webhooks`).

What is live and what needs a build: event-history predicates (``event``, ``count``, ``sum``...
over ``events`` + ``event_profiles``), consents and ``in_segment`` of other real-time segments
are evaluated live; trait predicates read the ``profiles`` columns of the last build, so a
changed trait (an identify call), a new person, a new identifier link (a login merging an
anonymous profile), and exits caused only by time passing (a ``within=30d`` window running out
with no new event) are picked up by the next ``dmp.build()``.

Example:
    >>> import tempfile, pyarrow.compute as pc
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> _ = dmp.events.ingest([{"type": "identify", "userId": "u1", "messageId": "m0"}], source="w")
    >>> _ = dmp.profiles.build()
    >>> _ = dmp.segments.create("Buyers", rule='event("Order Completed")', realtime=True)
    >>> ev = RealtimeEvaluator(dmp, sender=None)
    >>> _ = dmp.events.ingest([{"type": "track", "event": "Order Completed", "userId": "u1",
    ...                         "messageId": "m2"}], source="w")
    >>> changes = ev.on_events(dmp.engine.to_arrow("events").filter(
    ...     pc.equal(pc.field("message_id"), "m2")))
    >>> [(c.segment_id, c.change, c.trigger) for c in changes]
    [('buyers', 'entered', 'realtime:m2')]
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import ibis
import pyarrow as pa

from aidmp.engine.base import arrow_schema
from aidmp.errors import AidmpError
from aidmp.identity.resolve import EVENT_PROFILES
from aidmp.segments.compiler import catalog_of, compile_spec
from aidmp.segments.service import Segments, spec_from
from aidmp.segments.webhooks import WebhookSender
from aidmp.store.schema import TABLES

if TYPE_CHECKING:
    from aidmp.collect.collector import Collector
    from aidmp.dmp import DMP

log = logging.getLogger("aidmp.realtime")

_MEMBERS_SCHEMA = arrow_schema(TABLES["segment_members"])
_LINK_SCHEMA = pa.schema([("message_id", pa.string()), ("profile_id", pa.string())])
# Per-batch work tables: the queries read the batch from them, so their SQL stays the same
# from batch to batch and is compiled once.
_KEYS = "_realtime_keys"
_KEYS_SCHEMA = pa.schema([("message_id", pa.string()), ("rank", pa.int64()),
                          ("id_type", pa.string()), ("id_value", pa.string())])
_TOUCHED = "_realtime_touched"
_TOUCHED_SCHEMA = pa.schema([("profile_id", pa.string())])


@dataclass(frozen=True)
class _Prepared:
    segment_id: str
    webhook_url: str | None
    members_sql: str
    spells_sql: str


@dataclass(frozen=True)
class MembershipChange:
    """One recorded entry into or exit from a segment."""

    segment_id: str
    profile_id: str
    change: Literal["entered", "exited"]
    at: datetime
    trigger: str

    def to_json(self) -> dict[str, Any]:
        """The webhook form: ``at`` as ISO-8601 text."""
        return {"segment_id": self.segment_id, "profile_id": self.profile_id,
                "change": self.change, "at": self.at.isoformat(), "trigger": self.trigger}


@dataclass
class RealtimeStats:
    """Counters since start."""

    batches: int = 0
    events: int = 0
    attributed: int = 0
    unknown: int = 0
    entered: int = 0
    exited: int = 0
    errors: int = 0
    last_ms: float = 0.0


class RealtimeEvaluator:
    """Keeps real-time segments' spells current as events arrive (see the module docstring).

    Args:
        dmp: the installation (engine, identity rules, home for the webhook secret).
        sender: where webhook deliveries go; ``"default"`` makes a :class:`WebhookSender`
            under ``dmp.home``, ``None`` records changes without pushing them.
        on_change: called with each batch of recorded changes (after they are written).
        segments_ttl: seconds the real-time segments and their compiled queries are kept; a
            segment created or deleted while serving is seen after at most this long, and a
            ``within=`` window's start lags "now" by at most this long.
    """

    def __init__(self, dmp: DMP, *, sender: WebhookSender | Literal["default"] | None = "default",
                 on_change: Callable[[list[MembershipChange]], object] | None = None,
                 segments_ttl: float = 2.0) -> None:
        self.dmp = dmp
        self.engine = dmp.engine
        self.sender = WebhookSender(dmp.home) if sender == "default" else sender
        self.on_change = on_change
        self.segments_ttl = segments_ttl
        self.stats = RealtimeStats()
        self._lock = threading.Lock()
        self._prepared: list[_Prepared] = []
        self._prepared_at = -float("inf")
        self._links_sql = ""
        self._refused: set[str] = set()
        # Identifier types found in an event column, strongest first: the live attribution
        # cannot read JSON paths (traits.email) without the build's extraction.
        self._id_types = [(t.name, path, t.sources, set(t.exclude_sources))
                          for t in sorted(dmp.settings.identity.types, key=lambda t: t.priority)
                          for path in t.paths if "." not in path]

    # -- prepared queries ------------------------------------------------------------------------
    def _prepare(self) -> list[_Prepared]:
        """The real-time segments (those used by others first) with their SQL, compiled once per
        ``segments_ttl``: compiling an ibis query costs more than running it here."""
        if time.monotonic() - self._prepared_at <= self.segments_ttl:
            return self._prepared
        eng = self.engine
        s = eng.table("segments")
        rows = Segments(self.dmp)._refresh_order(eng.execute(s.filter(s.realtime)).to_pylist())
        prepared: list[_Prepared] = []
        if rows:
            self._ensure_work_tables()
            touched = eng.table(_TOUCHED).profile_id
            catalog = catalog_of(eng, {r["id"]: bool(r["realtime"]) for r in rows})
            at = datetime.now(UTC)
            for row in rows:
                compiled = compile_spec(spec_from(row["spec"]), eng, catalog=catalog, as_of=at,
                                        realtime_segments=catalog.segments)
                if not compiled.realtime_capable:
                    if row["id"] not in self._refused:
                        self._refused.add(row["id"])
                        log.warning("segment %r is marked real-time but %s; it is refreshed "
                                    "by builds only", row["id"], compiled.reason)
                    continue
                e = compiled.expr
                m = eng.table("segment_members")
                prepared.append(_Prepared(
                    row["id"], row.get("webhook_url"),
                    eng.compile(e.filter(e.profile_id.isin(touched)).select("profile_id")
                                .distinct()),
                    eng.compile(m.filter([m.segment_id == row["id"], m.exited_at.isnull(),
                                          m.profile_id.isin(touched)]))))
            self._links_sql = self._links_query()
        self._prepared, self._prepared_at = prepared, time.monotonic()
        return prepared

    def _ensure_work_tables(self) -> None:
        have = set(self.engine.tables())
        if _KEYS not in have:
            self.engine.write_table(_KEYS, _KEYS_SCHEMA.empty_table())
        if _TOUCHED not in have:
            self.engine.write_table(_TOUCHED, _TOUCHED_SCHEMA.empty_table())
        if EVENT_PROFILES not in have:
            self.engine.write_table(EVENT_PROFILES, _LINK_SCHEMA.empty_table())

    def _links_query(self) -> str:
        eng = self.engine
        k, i, ep = eng.table(_KEYS), eng.table("identities"), eng.table(EVENT_PROFILES)
        found = k.join(i, [k.id_type == i.id_type, k.id_value == i.id_value]).filter(
            i.status != "blocked").select(k.message_id, i.profile_id, k.rank)
        stored = ep.filter(ep.message_id.isin(k.message_id)).select(
            "message_id", "profile_id", rank=ibis.literal(-1, type="int64"))
        return eng.compile(found.union(stored, distinct=False))

    # -- attribution ---------------------------------------------------------------------------
    def attribute(self, rows: pa.Table) -> dict[str, str]:
        """message_id -> profile_id for the events of ``rows`` whose identifiers are known.

        New pairs are appended to ``event_profiles``; already linked messages (a replayed or
        duplicate event) keep their stored link.
        """
        ids = rows.column("message_id").to_pylist()
        sources = rows.column("source").to_pylist() if "source" in rows.column_names else None
        keys: dict[str, list[Any]] = {"message_id": [], "rank": [], "id_type": [],
                                      "id_value": []}
        for rank, (id_type, column, only, excluded) in enumerate(self._id_types):
            if column not in rows.column_names:
                continue
            for i, value in enumerate(rows.column(column).to_pylist()):
                src = sources[i] if sources else None
                if value is None or src in excluded or (only is not None and src not in only):
                    continue
                for name, v in zip(keys, (ids[i], rank, id_type,
                                          self.dmp.identity.normalise(id_type, str(value))),
                                   strict=True):
                    keys[name].append(v)
        self.engine.write_table(_KEYS, pa.table(keys, schema=_KEYS_SCHEMA))
        best: dict[str, tuple[int, str]] = {}
        for r in self.engine.sql(self._links_sql).to_pylist():
            if r["message_id"] not in best or r["rank"] < best[r["message_id"]][0]:
                best[r["message_id"]] = (r["rank"], r["profile_id"])
        new = {m: p for m, (rank, p) in best.items() if rank >= 0}
        if new:
            self.engine.write_table(EVENT_PROFILES, pa.table(
                [list(new), list(new.values())], schema=_LINK_SCHEMA), mode="append")
        self.stats.attributed += len(new)
        self.stats.unknown += len(set(ids) - set(best))
        return {m: p for m, (_, p) in best.items()}

    # -- evaluation ----------------------------------------------------------------------------
    def on_events(self, rows: pa.Table) -> list[MembershipChange]:
        """Attribute stored event rows, re-evaluate their profiles, record and push changes.

        This is the collector listener; it is also safe to call directly (tests, replays).
        """
        started = time.perf_counter()
        with self._lock:
            try:
                prepared = self._prepare()
                if not prepared:
                    return []
                links = self.attribute(rows)
                # The trigger of a profile is its latest event of the batch.
                trigger: dict[str, str] = {}
                for message_id in rows.column("message_id").to_pylist():
                    if message_id in links:
                        trigger[links[message_id]] = f"realtime:{message_id}"
                changes = self._evaluate(trigger, prepared) if trigger else []
            except AidmpError:
                self.stats.errors += 1
                log.exception("real-time evaluation failed; the next build catches up")
                return []
            finally:
                self.stats.batches += 1
                self.stats.events += rows.num_rows
                self.stats.last_ms = (time.perf_counter() - started) * 1000
        if changes and self.on_change is not None:
            self.on_change(changes)
        return changes

    def _evaluate(self, trigger: dict[str, str],
                  prepared: list[_Prepared]) -> list[MembershipChange]:
        self.engine.write_table(_TOUCHED, pa.table({"profile_id": sorted(trigger)},
                                                   schema=_TOUCHED_SCHEMA))
        at = datetime.now(UTC)
        out: list[MembershipChange] = []
        for seg in prepared:
            changes = self._apply(seg, trigger, at)
            if changes and seg.webhook_url and self.sender is not None:
                self.sender.send(seg.webhook_url, [c.to_json() for c in changes])
            out += changes
        return out

    def _apply(self, seg: _Prepared, trigger: dict[str, str],
               at: datetime) -> list[MembershipChange]:
        now = set(self.engine.sql(seg.members_sql).column("profile_id").to_pylist())
        spells = self.engine.sql(seg.spells_sql).to_pylist()
        members = {s["profile_id"] for s in spells}
        entered = sorted(now - members)
        closed = [{**s, "exited_at": at} for s in spells if s["profile_id"] not in now]
        if entered:
            self.engine.append("segment_members", pa.Table.from_pylist(
                [{"segment_id": seg.segment_id, "profile_id": p, "entered_at": at,
                  "exited_at": None, "trigger": trigger[p]} for p in entered],
                schema=_MEMBERS_SCHEMA))
        if closed:
            self.engine.upsert("segment_members",
                               pa.Table.from_pylist(closed, schema=_MEMBERS_SCHEMA))
        self.stats.entered += len(entered)
        self.stats.exited += len(closed)
        return ([MembershipChange(seg.segment_id, p, "entered", at, trigger[p])
                 for p in entered]
                + [MembershipChange(seg.segment_id, s["profile_id"], "exited", at,
                                    trigger[s["profile_id"]]) for s in closed])

    def close(self) -> None:
        """Deliver (or dead-letter) the queued webhooks and stop the sender."""
        if self.sender is not None:
            self.sender.close()


def has_realtime_segments(dmp: DMP) -> bool:
    """Whether any stored segment is marked real-time."""
    s = dmp.engine.table("segments")
    live = s.filter(s.realtime)
    n = dmp.engine.execute(live.aggregate(n=live.count())).column("n")[0]
    return bool(n.as_py())


def attach(dmp: DMP, collector: Collector, *,
           sender: WebhookSender | Literal["default"] | None = "default",
           ) -> RealtimeEvaluator | None:
    """Start a :class:`RealtimeEvaluator` on ``collector`` if the DMP has real-time segments."""
    if not has_realtime_segments(dmp):
        return None
    evaluator = RealtimeEvaluator(dmp, sender=sender)
    collector.add_listener(evaluator.on_events)
    return evaluator


__all__ = ["MembershipChange", "RealtimeEvaluator", "RealtimeStats", "attach",
           "has_realtime_segments"]
