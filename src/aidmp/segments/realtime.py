"""Real-time segment membership: re-evaluate the people an event touches, record and push changes.

``aidmp serve`` attaches a :class:`RealtimeEvaluator` to the collector when the DMP has
real-time segments. Each flush hands the stored rows to the evaluator's own thread (the
collector's flusher never waits for an evaluation; batches that arrive while one runs are
evaluated together next), which

0. keeps the track events whose name a real-time rule reads (:func:`event_names` of each
   segment and of the live segments it reads; every event when a segment has no event
   predicate): others cannot change a live answer and wait for the next build;
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
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from aidmp.engine.base import arrow_schema
from aidmp.errors import AidmpError, EngineError
from aidmp.identity.service import EVENT_PROFILES
from aidmp.segments.compiler import catalog_of, compile_spec
from aidmp.segments.service import Segments, event_names, segment_refs, spec_from
from aidmp.segments.webhooks import WebhookSender
from aidmp.spec.segments import Condition
from aidmp.store.schema import TABLES

if TYPE_CHECKING:
    from aidmp.collect.collector import Collector
    from aidmp.dmp import DMP

log = logging.getLogger("aidmp.realtime")

_MEMBERS_SCHEMA = arrow_schema(TABLES["segment_members"])
_LINK_SCHEMA = pa.schema([("message_id", pa.string()), ("profile_id", pa.string())])
# Work tables of earlier versions (the batch was written to them before each query).
_OLD_WORK_TABLES = ("_realtime_keys", "_realtime_touched")
# The batch reaches the queries as bound parameters: each query is compiled once with marker
# literals, ``IN ('<marker>')`` becomes ``IN (?, ?, ...)`` with one ``?`` per value and a lone
# ``'<marker>'`` one ``?``. The SQL text stays the same per batch size and nothing is written
# before the batch is read.
_VALUES = "__aidmp_realtime_values__"
_MESSAGES = "__aidmp_realtime_messages__"
_PROFILES = "__aidmp_realtime_profiles__"
_AT = "__aidmp_realtime_at__"
_HISTORY = "__aidmp_realtime_history__"  # every event of the touched profiles
_LISTS = frozenset({_VALUES, _MESSAGES, _PROFILES, _HISTORY})
_NAMES = "|".join(sorted(_LISTS | {_AT}))
_MARKER = re.compile(rf"IN\s*\(\s*'({_NAMES})'\s*\)|'({_NAMES})'", re.IGNORECASE)
# Values per IN list; a bigger batch (a flush of a busy collector) is taken in chunks.
_CHUNK = 256


@dataclass(frozen=True)
class _Bound:
    """Engine SQL compiled once with marker literals, bound with a batch's values."""

    parts: tuple[str, ...]
    slots: tuple[tuple[str, bool], ...]  # (marker, is a list) between consecutive parts

    @classmethod
    def of(cls, sql: str) -> _Bound:
        """Split compiled SQL at its markers.

        Raises:
            EngineError: a list marker outside ``IN (...)`` (it would bind one value only).
        """
        parts, slots, pos = [], [], 0
        for m in _MARKER.finditer(sql):
            parts.append(sql[pos:m.start()])
            slot = (m.group(1), True) if m.group(1) else (m.group(2), False)
            if slot[0] in _LISTS and not slot[1]:
                raise EngineError("real-time query", f"{slot[0]} is not an IN list in:\n{sql}")
            slots.append(slot)
            pos = m.end()
        parts.append(sql[pos:])
        return cls(tuple(parts), tuple(slots))

    def bind(self, values: dict[str, Sequence[object]]) -> tuple[str, list[object]]:
        """The SQL and its parameters; ``values[marker]`` is a list for a list marker (never
        empty) and a one-value list otherwise."""
        out, params = [self.parts[0]], list[object]()
        for (marker, is_list), part in zip(self.slots, self.parts[1:], strict=True):
            given = values[marker]
            if is_list:
                out.append("IN (" + ", ".join("?" * len(given)) + ")")
                params += given
            else:
                out.append("?")
                params.append(given[0])
            out.append(part)
        return "".join(out), params


@dataclass(frozen=True)
class _Round:
    """Segments evaluated together: none reads another's membership (``in_segment``), so one
    query answers them all; a round starts once the rounds it reads are written."""

    segments: tuple[tuple[str, str | None], ...]  # (segment id, webhook url), refresh order
    query: _Bound


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
    skipped: int = 0
    """Events no real-time segment reads (not attributed or evaluated live)."""
    queued: int = 0
    """Event rows handed over by flushes and not evaluated yet."""
    lag_ms: float = 0.0
    """For the last evaluation: from its oldest batch's hand-over to the changes written."""


def _chunks(values: Sequence[str]) -> list[Sequence[str]]:
    return [values[i:i + _CHUNK] for i in range(0, len(values), _CHUNK)]


class RealtimeEvaluator:
    """Keeps real-time segments' spells current as events arrive (see the module docstring).

    Per batch it runs two queries and at most three writes, whatever the number of segments:
    the attribution lookup, the ``event_profiles`` append, one query evaluating every
    real-time segment for the touched profiles together with their open spells, and one
    append (entries) and one upsert (exits) of ``segment_members``. The queries are compiled
    once; the batch's identifiers, profile ids and "now" are bound as parameters.

    Args:
        dmp: the installation (engine, identity rules, home for the webhook secret).
        sender: where webhook deliveries go; ``"default"`` makes a :class:`WebhookSender`
            under ``dmp.home``, ``None`` records changes without pushing them.
        on_change: called with each batch of recorded changes (after they are written).
        segments_ttl: how often (seconds) the stored real-time segments, the ``profiles``
            columns and the model scores are looked at again; the queries are recompiled only
            when one of them changed, so a segment created or deleted while serving is seen
            after at most this long. ``within=`` windows always end at the batch's time.
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
        # hand-over from the flusher: (monotonic time handed over, rows); see :meth:`submit`
        self._inbox: list[tuple[float, pa.Table]] = []
        self._inbox_ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._busy = False  # a taken batch is being evaluated
        self._rounds: list[_Round] = []
        self._checked_at = -float("inf")
        self._signature: object = None
        self._links: _Bound | None = None
        self._history: _Bound | None = None
        self._refused: set[str] = set()
        # the track events that can change a real-time segment (None: any event)
        self._triggers: frozenset[str] | None = None
        # Identifier types found in an event column, strongest first: the live attribution
        # cannot read JSON paths (traits.email) without the build's extraction.
        self._id_types = [(t.name, path, t.sources, set(t.exclude_sources))
                          for t in sorted(dmp.settings.identity.types, key=lambda t: t.priority)
                          for path in t.paths if "." not in path]

    # -- prepared queries ------------------------------------------------------------------------
    def warm(self) -> None:
        """Compile the queries now instead of on the first event (``attach`` does this at
        start). A failure (no profiles yet...) is left for the first event to report."""
        with self._lock:
            try:
                self._prepare()
            except AidmpError:
                log.debug("real-time queries not compiled yet", exc_info=True)

    def _current_signature(self) -> object:
        """What the compiled queries depend on: the real-time segments' rows, the ``profiles``
        columns and the model score keys (three small queries compiled once)."""
        eng = self.engine
        try:
            s = eng.table("segments")
            rows = eng.prepared("aidmp.realtime.segments",
                                lambda: s.filter(s.realtime).order_by("id"), []).to_pylist()
            if not rows:
                return ()
            profiles = eng.prepared("aidmp.realtime.profiles",
                                    lambda: eng.table("profiles").limit(0), []).schema
            p = eng.table("predictions")
            keys = eng.prepared("aidmp.realtime.model_keys",
                                lambda: p.select("key").distinct(), []).column("key")
        except AidmpError:
            return None  # e.g. no profiles yet: compile, which says what is missing
        return rows, profiles, sorted(str(k) for k in keys.to_pylist())

    def _prepare(self) -> list[_Round]:
        """The evaluation rounds, recompiled when what they depend on changed (looked at once
        per ``segments_ttl``): compiling an ibis query costs more than running it here."""
        if time.monotonic() - self._checked_at <= self.segments_ttl:
            return self._rounds
        signature = self._current_signature()
        if signature is not None and signature == self._signature:
            self._checked_at = time.monotonic()
            return self._rounds
        eng = self.engine
        s = eng.table("segments")
        rows = Segments(self.engine).refresh_order(eng.execute(s.filter(s.realtime)).to_pylist())
        rounds: list[_Round] = []
        if rows:
            self._ensure_tables()
            catalog = catalog_of(eng, {r["id"]: bool(r["realtime"]) for r in rows})
            at = ibis.literal(_AT).cast("timestamp('UTC')")
            only = [ibis.literal(_PROFILES)]
            level: dict[str, int] = {}
            parts: dict[int, list[tuple[str, str | None, ir.Table]]] = {}
            names: dict[str, frozenset[str] | None] = {}
            for row in rows:
                spec = spec_from(row["spec"])
                compiled = compile_spec(spec, eng, catalog=catalog, as_of=at,
                                        realtime_segments=catalog.segments, profile_ids=only,
                                        message_ids=[ibis.literal(_HISTORY)])
                if not compiled.realtime_capable:
                    if row["id"] not in self._refused:
                        self._refused.add(row["id"])
                        log.warning("segment %r is marked real-time but %s; it is refreshed "
                                    "by builds only", row["id"], compiled.reason)
                    continue
                # Rows come dependencies first, so a segment's level is known when read.
                n = max((level[r] + 1 for r in segment_refs(spec.condition) if r in level),
                        default=0)
                level[row["id"]] = n
                names[row["id"]] = _triggers(spec.condition, names)
                parts.setdefault(n, []).append((row["id"], row.get("webhook_url"),
                                                compiled.expr))
            rounds = [self._round(parts[n]) for n in sorted(parts)]
            self._links = _Bound.of(eng.compile(self._links_query()))
            ep = eng.table(EVENT_PROFILES)
            self._history = _Bound.of(eng.compile(ep.filter(
                ep.profile_id.isin([ibis.literal(_PROFILES)])).select("message_id")))
            triggers = list(names.values())
            self._triggers = None if None in triggers else frozenset().union(
                *(t for t in triggers if t is not None))
        self._rounds, self._signature = rounds, signature
        self._checked_at = time.monotonic()
        return rounds

    def _round(self, segments: list[tuple[str, str | None, ir.Table]]) -> _Round:
        """One query: ``now`` rows (the segments' members among the touched profiles) and
        ``spell`` rows (their open spells), told apart by the ``spell`` column."""
        m = self.engine.table("segment_members")
        names = _MEMBERS_SCHEMA.names
        # Both sides nullable, as a set operation wants the same schema on each.
        types = {n: m[n].type().copy(nullable=True) for n in names}
        selects = []
        for segment_id, _, expr in segments:
            cols: dict[str, ir.Value] = {n: ibis.null().cast(types[n]) for n in names}
            cols.update(segment_id=ibis.literal(segment_id).cast(types["segment_id"]),
                        profile_id=expr.profile_id.cast(types["profile_id"]))
            selects.append(expr.select(**cols, spell=ibis.literal(False)))
        spells = m.filter([m.segment_id.isin([s for s, _, _ in segments]), m.exited_at.isnull(),
                           m.profile_id.isin([ibis.literal(_PROFILES)])])
        query = ibis.union(*selects, spells.select(**{n: m[n].cast(types[n]) for n in names},
                                                   spell=ibis.literal(True)), distinct=False)
        return _Round(tuple((s, url) for s, url, _ in segments),
                      _Bound.of(self.engine.compile(query)))

    def _ensure_tables(self) -> None:
        have = set(self.engine.tables())
        if EVENT_PROFILES not in have:
            self.engine.write_table(EVENT_PROFILES, _LINK_SCHEMA.empty_table())
        # the touched people's events are read by profile (builds create it too; a store
        # built before they did gets it here, once)
        self.engine.index(EVENT_PROFILES, ["profile_id"])
        for name in _OLD_WORK_TABLES:
            if name in have:
                self.engine.drop(name)

    def _links_query(self) -> ir.Table:
        """Identities with one of the batch's identifier values (not blocked) and the stored
        links of the batch's messages, in one result."""
        eng = self.engine
        i, ep = eng.table("identities"), eng.table(EVENT_PROFILES)
        none = ibis.null().cast("string")
        found = i.filter([i.status != "blocked", i.id_value.isin([ibis.literal(_VALUES)])]
                         ).select(id_type=i.id_type.cast("string"),
                                  id_value=i.id_value.cast("string"), message_id=none,
                                  profile_id=i.profile_id.cast("string"))
        stored = ep.filter(ep.message_id.isin([ibis.literal(_MESSAGES)])).select(
            id_type=none, id_value=none, message_id=ep.message_id.cast("string"),
            profile_id=ep.profile_id.cast("string"))
        return found.union(stored, distinct=False)

    # -- attribution ---------------------------------------------------------------------------
    def attribute(self, rows: pa.Table) -> dict[str, str]:
        """message_id -> profile_id for the events of ``rows`` whose identifiers are known.

        New pairs are appended to ``event_profiles``; already linked messages (a replayed or
        duplicate event) keep their stored link.
        """
        if self._links is None:
            raise EngineError("real-time attribution", "no real-time segments are prepared")
        ids = rows.column("message_id").to_pylist()
        sources = rows.column("source").to_pylist() if "source" in rows.column_names else None
        # (message_id, rank, id_type, id_value), rank 0 the strongest identifier type.
        keys: list[tuple[str, int, str, str]] = []
        for rank, (id_type, column, only, excluded) in enumerate(self._id_types):
            if column not in rows.column_names:
                continue
            for i, value in enumerate(rows.column(column).to_pylist()):
                src = sources[i] if sources else None
                if value is None or src in excluded or (only is not None and src not in only):
                    continue
                keys.append((ids[i], rank, id_type,
                             self.dmp.identity.normalise(id_type, str(value))))
        known: dict[tuple[str, str], str] = {}
        stored: dict[str, str] = {}
        messages = list(dict.fromkeys(ids))
        values = list(dict.fromkeys(k[3] for k in keys))
        for n in range(max(len(_chunks(messages)), len(_chunks(values)))):
            # An empty list binds NULL, which matches nothing.
            chunk_m: Sequence[object] = messages[n * _CHUNK:(n + 1) * _CHUNK] or [None]
            chunk_v: Sequence[object] = values[n * _CHUNK:(n + 1) * _CHUNK] or [None]
            query, params = self._links.bind({_MESSAGES: chunk_m, _VALUES: chunk_v})
            for r in self.engine.sql(query, params).to_pylist():
                if r["message_id"] is not None:
                    stored[r["message_id"]] = r["profile_id"]
                else:
                    known[(r["id_type"], r["id_value"])] = r["profile_id"]
        best: dict[str, tuple[int, str]] = {m: (-1, p) for m, p in stored.items()}
        for message_id, rank, id_type, value in keys:
            profile = known.get((id_type, value))
            if profile is not None and (message_id not in best or rank < best[message_id][0]):
                best[message_id] = (rank, profile)
        new = {m: p for m, (rank, p) in best.items() if rank >= 0}
        if new:
            self.engine.write_table(EVENT_PROFILES, pa.table(
                [list(new), list(new.values())], schema=_LINK_SCHEMA), mode="append")
        self.stats.attributed += len(new)
        self.stats.unknown += len(set(ids) - set(best))
        return {m: p for m, (_, p) in best.items()}

    # -- the evaluator's thread ----------------------------------------------------------------
    def start(self) -> RealtimeEvaluator:
        """Start the thread that evaluates what :meth:`submit` hands over (idempotent)."""
        with self._inbox_ready:
            if self._thread is None:
                self._stopping = False
                self._thread = threading.Thread(target=self._loop, name="aidmp-realtime",
                                                daemon=True)
                self._thread.start()
        return self

    def submit(self, rows: pa.Table) -> None:
        """The collector's listener: queue a flush's stored rows and return at once.

        The flusher goes on writing while the evaluator works (or waits for a statement of a
        running build); rows queued meanwhile are evaluated together in one round. Without a
        started thread the rows are evaluated here, as :meth:`on_events` does.
        """
        if self._thread is None:
            self.on_events(rows)
            return
        with self._inbox_ready:
            self._inbox.append((time.monotonic(), rows))
            self.stats.queued += rows.num_rows
            self._inbox_ready.notify()

    def _take(self) -> tuple[float, pa.Table] | None:
        """Everything queued, as one table (None once stopping with nothing left)."""
        with self._inbox_ready:
            while not self._inbox and not self._stopping:
                self._inbox_ready.wait()
            if not self._inbox:
                return None
            taken, self._inbox = self._inbox, []
            self.stats.queued = 0
            self._busy = True
        first = taken[0][0]
        tables = [rows for _, rows in taken]
        if len(tables) == 1:
            return first, tables[0]
        # flushes of one collector share the events schema; a column only one has is kept
        return first, pa.concat_tables(tables, promote_options="default")

    def _loop(self) -> None:
        while (item := self._take()) is not None:
            handed, rows = item
            try:
                self.on_events(rows)
            except Exception:  # a bug: the thread must go on for the next events
                self.stats.errors += 1
                log.exception("real-time evaluation failed")
            self.stats.lag_ms = (time.monotonic() - handed) * 1000
            with self._inbox_ready:
                self._busy = False
                self._inbox_ready.notify_all()

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until everything handed over so far is evaluated; False on timeout."""
        with self._inbox_ready:
            return self._inbox_ready.wait_for(lambda: not self._inbox and not self._busy,
                                              timeout)

    # -- evaluation ----------------------------------------------------------------------------
    def on_events(self, rows: pa.Table) -> list[MembershipChange]:
        """Attribute stored event rows, re-evaluate their profiles, record and push changes.

        This is the collector listener; it is also safe to call directly (tests, replays).
        """
        started = time.perf_counter()
        with self._lock:
            try:
                rounds = self._prepare()
                if not rounds:
                    return []
                rows = self._that_can_change(rows)
                if not rows.num_rows:
                    return []
                links = self.attribute(rows)
                # The trigger of a profile is its latest event of the batch.
                trigger: dict[str, str] = {}
                for message_id in rows.column("message_id").to_pylist():
                    if message_id in links:
                        trigger[links[message_id]] = f"realtime:{message_id}"
                changes = self._evaluate(trigger, rounds) if trigger else []
            except AidmpError:
                self.stats.errors += 1
                self._checked_at = -float("inf")  # look again (a build may have changed tables)
                log.exception("real-time evaluation failed; the next build catches up")
                return []
            finally:
                self.stats.batches += 1
                self.stats.events += rows.num_rows
                self.stats.last_ms = (time.perf_counter() - started) * 1000
        if changes and self.on_change is not None:
            self.on_change(changes)
        return changes

    def _that_can_change(self, rows: pa.Table) -> pa.Table:
        """The rows that can change a real-time segment: track events whose name an event
        predicate reads (all rows when a segment has no event predicate). The rest (page
        views, other events) change nothing live and are linked to profiles by the next build."""
        if self._triggers is None or not {"type", "event"} <= set(rows.column_names):
            return rows  # a hand-made batch without the columns: evaluated whole
        keep = pc.and_(pc.equal(rows.column("type"), "track"),
                       pc.is_in(rows.column("event"), pa.array(sorted(self._triggers),
                                                               pa.string())))
        kept = rows.filter(pc.fill_null(keep, False))
        self.stats.skipped += rows.num_rows - kept.num_rows
        return kept

    def _evaluate(self, trigger: dict[str, str],
                  rounds: list[_Round]) -> list[MembershipChange]:
        at = datetime.now(UTC)
        profiles = sorted(trigger)
        out: list[MembershipChange] = []
        # the touched people's events, listed once for every round
        chunks = [(chunk, self._events_of(chunk)) for chunk in _chunks(profiles)]
        for rnd in rounds:
            now: dict[str, set[str]] = {s: set() for s, _ in rnd.segments}
            spells: dict[str, list[dict[str, Any]]] = {s: [] for s, _ in rnd.segments}
            for chunk, history in chunks:
                query, params = rnd.query.bind({_PROFILES: chunk, _AT: [at.isoformat()],
                                                _HISTORY: history})
                for r in self.engine.sql(query, params).to_pylist():
                    if r.pop("spell"):
                        spells[r["segment_id"]].append(r)
                    else:
                        now[r["segment_id"]].add(r["profile_id"])
            out += self._apply(rnd, now, spells, trigger, at)
        return out

    def _events_of(self, profiles: Sequence[str]) -> list[object]:
        """Message ids of every event of ``profiles`` (an index probe of ``event_profiles``),
        so that event predicates read ``events`` by key instead of scanning it."""
        assert self._history is not None
        query, params = self._history.bind({_PROFILES: profiles})
        ids: list[object] = list(self.engine.sql(query, params).column(0).to_pylist())
        return ids or [None]  # an empty list binds NULL, which matches nothing

    def _apply(self, rnd: _Round, now: dict[str, set[str]],
               spells: dict[str, list[dict[str, Any]]], trigger: dict[str, str],
               at: datetime) -> list[MembershipChange]:
        """Record the round's entries (one append) and exits (one upsert), then push each
        segment's changes to its webhook."""
        entered: list[dict[str, Any]] = []
        closed: list[dict[str, Any]] = []
        per_segment: list[tuple[str | None, list[MembershipChange]]] = []
        for segment_id, url in rnd.segments:
            members = {s["profile_id"] for s in spells[segment_id]}
            came = sorted(now[segment_id] - members)
            went = [{**s, "exited_at": at} for s in spells[segment_id]
                    if s["profile_id"] not in now[segment_id]]
            entered += [{"segment_id": segment_id, "profile_id": p, "entered_at": at,
                         "exited_at": None, "trigger": trigger[p]} for p in came]
            closed += went
            per_segment.append((url, [MembershipChange(segment_id, p, "entered", at, trigger[p])
                                      for p in came]
                                + [MembershipChange(segment_id, s["profile_id"], "exited", at,
                                                    trigger[s["profile_id"]]) for s in went]))
        if entered:
            self.engine.append("segment_members",
                               pa.Table.from_pylist(entered, schema=_MEMBERS_SCHEMA))
        if closed:
            self.engine.upsert("segment_members",
                               pa.Table.from_pylist(closed, schema=_MEMBERS_SCHEMA))
        self.stats.entered += len(entered)
        self.stats.exited += len(closed)
        out: list[MembershipChange] = []
        for url, changes in per_segment:
            if changes and url and self.sender is not None:
                self.sender.send(url, [c.to_json() for c in changes])
            out += changes
        return out

    def close(self) -> None:
        """Evaluate what is queued, stop the thread, deliver (or dead-letter) the queued
        webhooks and stop the sender."""
        with self._inbox_ready:
            thread, self._stopping = self._thread, True
            self._inbox_ready.notify_all()
        if thread is not None:
            thread.join()
            self._thread = None
        if self.sender is not None:
            self.sender.close()


def _triggers(condition: Condition, known: dict[str, frozenset[str] | None]
              ) -> frozenset[str] | None:
    """The event names that can change a segment: its own event predicates' and those of the
    real-time segments it reads; None (any event) when it has no event predicate, or reads a
    segment that has none or is not evaluated live."""
    refs = [known.get(r) for r in segment_refs(condition)]
    own = event_names(condition)
    if any(r is None for r in refs) or not (own or refs):
        return None
    return frozenset(own).union(*(r for r in refs if r is not None))


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
    evaluator.warm()
    collector.add_listener(evaluator.start().submit)
    return evaluator


__all__ = ["MembershipChange", "RealtimeEvaluator", "RealtimeStats", "attach",
           "has_realtime_segments"]
