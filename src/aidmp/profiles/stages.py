"""The profile stages: per-person results (computed traits, the scores' inputs, interests),
ranks among everyone (RFM, engagement, purchasing power) and the wide table they make.

The per-person results are kept from build to build, so that a build after new events
recomputes only the people whose events changed (:meth:`Stages.over_changed_people`; why that
gives what a full build gives: docs/adr/0005-incremental-profile-build.md).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from aidmp.engine.base import Engine
from aidmp.identity.service import EVENT_PROFILES
from aidmp.profiles.common import (
    REFERENCE_SCHEMA,
    column_name,
    epoch_seconds,
    person_events,
    pivot,
    reference_time,
    with_properties,
    with_reference_time,
)
from aidmp.profiles.computed import computed_traits
from aidmp.profiles.interests import interest_scores
from aidmp.profiles.scores import engagement, purchasing_power, rfm, score_aggregates
from aidmp.profiles.traits import trait_columns
from aidmp.spec.profiles import ProfileConfig

_RESERVED = {"profile_id", "user_id", "email", "identifiers", "events", "first_seen",
             "last_seen"}
# per-person results kept from build to build (an incremental build replaces the rows of the
# people whose events changed), the reference time, and what the last build started from
_COMPUTED, _INTERESTS, _NOW = "_profile_computed", "_profile_interests", "_profile_now"
_CHANGED, _STATE = "_profile_changed", "_profile_state"
_WORK = ("_profile_events", "_profile_rfm", "_profile_engagement", "_profile_power", _NOW,
         _CHANGED)
_STATE_SCHEMA = pa.schema([("until", pa.timestamp("us", tz="UTC")), *REFERENCE_SCHEMA,
                           ("config", pa.string()), ("catalog", pa.string()),
                           ("predictions", pa.string())])
# the event columns the aggregate stages read (properties only to extract their paths)
_STAGE_COLUMNS = ("message_id", "type", "event", "timestamp", "properties", "profile_id")


def _left(a: ir.Table, b: ir.Table) -> ir.Table:
    joined = a.left_join(b, "profile_id")
    return joined.drop("profile_id_right") if "profile_id_right" in joined.columns else joined


class Stages:
    """The stages of one build after identities and traits.

    At the start it reads what the per-person results depend on besides events and settings:
    ``catalog`` (how many items, loaded when: a new or changed item moves it) and
    ``predictions`` (how many model scores, written when: the wide table pivots them in).

    The stages see the store as it stands at the reference time ``now`` (the wall clock at
    the start of the build, or the ``as_of`` a user asked for): only events with
    ``timestamp <= now`` count, so every window is ``(now - window, now]``. An event stamped
    after it (a device clock ahead, within the clock policy's skew) is left out until a build
    whose reference time has reached it (:meth:`changed_people` recomputes its person then)."""

    def __init__(self, engine: Engine, cfg: ProfileConfig, *, now: datetime,
                 as_of: datetime | None = None) -> None:
        self.engine = engine
        self.cfg = cfg
        self.as_of = as_of
        self.now = as_of if as_of is not None else now
        items, scores = engine.table("items"), engine.table("predictions")
        row = engine.execute(items.aggregate(n=items.count(), at=items.updated_at.max())
                             .cross_join(scores.aggregate(p=scores.count(),
                                                          p_at=scores.scored_at.max()))
                             ).to_pylist()[0]
        self.items = int(row["n"]) > 0  # item ids are read only to join the catalog
        self.catalog = f"{row['n']}|{row['at']}"
        self.predictions = f"{row['p']}|{row['p_at']}"

    def unchanged(self, state: dict[str, Any], until: datetime | None) -> bool:
        """Whether the last build's profiles still hold (with ``state`` from :meth:`state`): no
        event received since it, the same model scores, its ``profiles`` table there, and
        nothing the move of the reference time from the last build's to this one changes: no
        event crosses the edge of a window (:meth:`_window_edges`) and no buyer's RFM recency
        (whole days back from the reference time) changes."""
        eng = self.engine
        if not (state["until"] == until and state.get("predictions") == self.predictions
                and eng.has_table("profiles")):
            return False
        before, after = state["now"], self.now
        if before == after:
            return True
        ev = eng.table("events")
        crossing = ibis.or_(*[(ev.timestamp > before - span) & (ev.timestamp <= after - span)
                              for span in self._window_edges()])
        per = eng.table(_COMPUTED)
        last = epoch_seconds(per._score_rfm_last)
        day = ibis.literal(86400, "int64")

        def days(at: datetime) -> ir.IntegerValue:
            stamp = ibis.literal(at, type="timestamp('UTC')")
            return (epoch_seconds(stamp) - last).floordiv(day)  # type: ignore[no-any-return]

        older = per.filter(per._score_rfm_last.notnull() & (days(before) != days(after)))
        crossed = ev.filter(crossing)
        row = eng.execute(crossed.aggregate(n=crossed.count()).cross_join(
            older.aggregate(r=older.count()))).to_pylist()[0]
        return int(row["n"]) == 0 and int(row["r"]) == 0

    def _window_edges(self) -> list[timedelta]:
        """The edges an event's time crosses as the reference time moves, as spans back from
        it: every window of a computed trait, the 30 days of engagement's activity, and the
        reference time itself (an event stamped after the last build's reference time and up
        to this one's enters every aggregate)."""
        days = {c.window_days for c in self.cfg.computed if c.window_days} | {30, 0}
        return [timedelta(days=d) for d in sorted(days)]

    def _attributed(self, people: ir.Table | None = None) -> ir.Table:
        """The stages' events (all, or those of ``people``) with their profile and the
        properties the stages read, as the work table ``_profile_events``."""
        eng = self.engine
        attributed = person_events(eng, people).select(*_STAGE_COLUMNS)
        # what happens after the reference time does not exist yet (as of an instant), or
        # not yet (an event stamped ahead of the wall clock by a device's clock skew)
        attributed = attributed.filter(
            attributed.timestamp <= ibis.literal(self.now, type="timestamp('UTC')"))
        # only what the stages read: copying the wide JSON columns (context, traits) of every
        # event into the work table took 70 % of this stage
        eng.scratch("_profile_events", with_properties(
            eng, attributed, self._property_paths()).drop("properties"))
        return eng.table("_profile_events")

    def _per_person(self, events: ir.Table) -> tuple[ir.Table, ir.Table]:
        """(computed traits with the scores' inputs, interests) of the people of ``events``,
        at the reference time of ``_NOW``."""
        eng, cfg = self.engine, self.cfg
        ev = with_reference_time(events, eng.table(_NOW))
        # one pass over the events for the computed traits and the scores' inputs
        extra = score_aggregates(eng, ev, cfg.order_event, cfg.revenue_property,
                                 cfg.price_property, order_id_property=cfg.order_id_property,
                                 refund_event=cfg.refund_event)
        return (computed_traits(eng, ev, cfg.computed, extra),
                interest_scores(eng, ev, cfg.interests, catalog=self.items))

    def over_all_events(self, done: Callable[[str], None]) -> None:
        """Every per-person stage over every event, and the ranks."""
        eng = self.engine
        events = self._attributed()
        eng.scratch_rows(_NOW, reference_time(self.now))
        computed, interests = self._per_person(events)
        eng.materialize(_COMPUTED, computed)
        done("computed traits")
        self._scores()
        done("scores")
        eng.materialize(_INTERESTS, interests)
        done("interests")

    def changed_people(self, state: dict[str, Any], until: datetime | None) -> ir.Table:
        """The people whose per-person results change since the last build (``profile_id``):
        those with new events, those with an event crossing a window's edge as the reference
        time moves from the last build's to this one's (:meth:`_window_edges`: leaving a window,
        or reaching the reference time), and profiles merged into others (their rows go).
        Also writes this build's reference time.

        The per-person results of everyone else stay as they are, which gives what a full
        build gives (docs/adr/0005-incremental-profile-build.md): a person's aggregates and
        traits only read their own events and the reference time, which moves for everyone
        only through windows (interests are decayed from the person's own newest event)."""
        eng = self.engine
        ev, ep = eng.table("events"), eng.table(EVENT_PROFILES)
        fresh = ev.filter(ev.received_at > state["until"])
        if until is not None:
            fresh = fresh.filter(fresh.received_at <= until)
        mine = fresh.select("message_id").join(ep, "message_id")
        eng.scratch_rows(_NOW, reference_time(self.now))
        before, after = state["now"], self.now
        changed = [mine.select("profile_id")]
        if after > before:
            # people with an event that crosses a window's edge as the reference time moves
            crossing = ibis.or_(*[(ev.timestamp > before - span)
                                  & (ev.timestamp <= after - span)
                                  for span in self._window_edges()])
            changed.append(ev.filter(crossing).select("message_id").join(ep, "message_id")
                           .select("profile_id"))
        # profiles merged into others since the last build: their rows go
        ids = eng.table("identities")
        old = eng.table(_COMPUTED).select("profile_id")
        changed.append(old.anti_join(ids.select("profile_id").distinct(), "profile_id"))
        eng.scratch(_CHANGED, ibis.union(*changed, distinct=True))
        return eng.table(_CHANGED)

    def over_changed_people(self, people: ir.Table, done: Callable[[str], None]) -> int:
        """Recompute the per-person stages for ``people`` (:meth:`changed_people`), and the
        scores over everyone; the number of people recomputed."""
        eng = self.engine
        computed, interests = self._per_person(self._attributed(people))
        eng.replace_rows(_COMPUTED, "profile_id", people, computed)
        done("computed traits")
        self._scores()
        done("scores")
        eng.replace_rows(_INTERESTS, "profile_id", people, interests)
        done("interests")
        return eng.count(_CHANGED)

    def _scores(self) -> None:
        """RFM, engagement and purchasing power: ranks among everyone, from the per-person
        aggregates."""
        eng, per = self.engine, self.engine.table(_COMPUTED)
        eng.scratch("_profile_rfm", rfm(per, eng.table(_NOW)))
        eng.scratch("_profile_engagement", engagement(per))
        eng.scratch("_profile_power", purchasing_power(per))

    def state(self) -> dict[str, Any] | None:
        """The last build's state, when this build may start from its per-person results (same
        configuration and catalog); else None."""
        eng = self.engine
        if not all(eng.has_table(t) for t in (_STATE, _COMPUTED, _INTERESTS)):
            return None
        rows = eng.to_arrow(_STATE).to_pylist()
        if len(rows) != 1:
            return None
        state = rows[0]
        if (state.get("config") != self.cfg.model_dump_json()
                or state.get("catalog") != self.catalog or state.get("until") is None
                or state.get("now") is None or state["now"] > self.now):
            # (a state written before reference times were the wall clock has no ``now``; a
            # wall clock set back starts again from nothing)
            return None
        return state

    def forget(self) -> None:
        """Remove the last build's state: the per-person results are about to change, and the
        build after one that failed half-way must be a full one."""
        self.engine.drop(_STATE)

    def _property_paths(self) -> dict[str, set[str] | None]:
        """Every event property the stages read, extracted once into the work table: path ->
        the event names whose stages read it (None: every event)."""
        cfg = self.cfg
        paths: dict[str, set[str] | None] = {}

        def need(path: str, events: set[str] | None) -> None:
            if events is None or (path in paths and paths[path] is None):
                paths[path] = None
            else:
                paths[path] = (paths.get(path) or set()) | events

        for c in cfg.computed:
            names = ({c.event} | ({c.minus_event} if c.minus_event else set())
                     if c.event else None)
            if c.property:
                need(c.property, names)
            if c.distinct_by:
                need(c.distinct_by, names)
        # RFM, purchasing power: orders (and refunds), counted by order id
        refunds = {cfg.refund_event} if cfg.refund_event else set()
        need(cfg.revenue_property, {cfg.order_event} | refunds)
        need(cfg.order_id_property, {cfg.order_event})
        need(cfg.price_property, None)  # purchasing power: what a person looks at
        weighted = {k for k, v in cfg.interests.weights.items() if v > 0}  # interests
        interest_paths = list(cfg.interests.category_paths)
        if self.items:
            interest_paths += ["item_id", "product_id"]
        if cfg.interests.rating_property:
            interest_paths.append(cfg.interests.rating_property)
        for path in interest_paths:
            need(path, weighted)
        return paths

    def assemble(self) -> ir.Table:
        """The wide ``profiles`` table: one row per person, every stage's columns."""
        eng = self.engine
        base = eng.table(_COMPUTED)
        base = base.drop(*[c for c in base.columns if c.startswith("_score_")])
        ids = eng.table("identities")
        linked = ids.filter(ids.status == "linked")
        idsum = linked.group_by("profile_id").aggregate(
            user_id=linked.id_value.min(where=linked.id_type == "user_id"),
            email=linked.id_value.min(where=linked.id_type == "email"),
            identifiers=linked.count())
        out = _left(base, idsum)
        taken = set(out.columns)
        # traits, typed: numbers as DOUBLE, the rest as text
        keys = trait_columns(eng)
        if keys:
            names = []
            for key, _ in keys:
                name = column_name(key)
                name = f"trait_{name}" if name in taken or name in _RESERVED else name
                taken.add(name)
                names.append(name)
            wide = pivot(eng.table("traits"), [k for k, _ in keys], "key", "value", names)
            wide = wide.mutate(**{n: wide[n].try_cast("float64")
                                  for (_, numeric), n in zip(keys, names, strict=True)
                                  if numeric})
            out = _left(out, wide)
        for part in ("_profile_rfm", "_profile_engagement", "_profile_power"):
            out = _left(out, eng.table(part))
        interests = eng.table(_INTERESTS)
        cats = [r["category"] for r in eng.execute(
            interests.select("category").distinct().order_by("category")).to_pylist()]
        if cats:
            names = [f"interest_{column_name(c)}" for c in cats]
            # 0, not NULL, for a category a person shows no interest in, also when they show
            # none at all (a rule ``interest_x < 0.2`` must include them)
            out = _left(out, pivot(interests, cats, "category", "score", names))
            out = out.mutate(**{n: ibis.coalesce(out[n], 0.0) for n in names})
        preds = eng.table("predictions")
        pkeys = [r["key"] for r in eng.execute(
            preds.select("key").distinct().order_by("key")).to_pylist()]
        if pkeys:
            names = [column_name(k) for k in pkeys]
            out = _left(out, pivot(preds, pkeys, "key", "value", names))
        return out

    def interests(self) -> int:
        """How many (person, category) interest scores there are."""
        return self.engine.count(_INTERESTS)

    def finish(self, until: datetime | None) -> None:
        """Drop the work tables; record what this build started from for the next one."""
        eng = self.engine
        for name in _WORK:
            eng.drop(name)
        eng.write_table(_STATE, pa.Table.from_pylist([{
            "until": until, "now": self.now,
            "config": self.cfg.model_dump_json(), "catalog": self.catalog,
            "predictions": self.predictions}], schema=_STATE_SCHEMA))


__all__ = ["Stages"]
