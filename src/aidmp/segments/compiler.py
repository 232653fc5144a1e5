"""Compile a :class:`~aidmp.spec.segments.SegmentSpec` to one ibis query of profile ids.

Trait predicates filter ``profiles`` directly; event predicates become ``IN (subquery)`` tests
over ``events`` joined to ``event_profiles`` (and ``items`` for ``item.*`` filters); consent and
membership read ``consents`` and ``segment_members``. The result is a single expression that
DuckDB and Spark both run. The compiler also decides whether the rule can be kept live.

Example:
    >>> from aidmp.engine.duckdb import DuckDBEngine
    >>> import pyarrow as pa
    >>> from aidmp.segments.parser import parse_rule
    >>> eng = DuckDBEngine(":memory:"); _ = eng.migrate()
    >>> eng.write_table("profiles", pa.table({"profile_id": ["a", "b"], "age": [30.0, 50.0]}))
    >>> seg = compile_spec(parse_rule("age < 40"), eng)
    >>> eng.execute(seg.expr).column("profile_id").to_pylist(), seg.realtime_capable
    (['a'], True)
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

import ibis
import ibis.expr.types as ir

from aidmp.engine.base import Engine
from aidmp.errors import NotFoundError
from aidmp.segments.catalog import Catalog, check_value, fail, kind_of
from aidmp.spec.segments import (
    AggregateCondition,
    AndCondition,
    Condition,
    ConsentCondition,
    EventCondition,
    NotCondition,
    OrCondition,
    PropertyFilter,
    SegmentCondition,
    SegmentSpec,
    TraitCondition,
    duration_seconds,
)

_CMP: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge,
    "<": operator.lt, "<=": operator.le,
}
_ITEM_COLUMNS = {"item_id", "name", "category", "price"}


@dataclass
class CompiledSegment:
    """A compiled rule: the profile-id query and whether it can be evaluated live."""

    expr: ir.Table
    realtime_capable: bool
    reason: str


def catalog_of(engine: Engine, segments: dict[str, bool] | None = None) -> Catalog:
    """The catalog of the engine's ``profiles`` table (traits unchecked if it does not exist)."""
    if not engine.has_table("profiles"):
        return Catalog(traits=None, segments=segments)
    schema = engine.table("profiles").schema()
    p = engine.table("predictions")
    keys = {str(r["key"]) for r in engine.execute(p.select("key").distinct()).to_pylist()}
    return Catalog(traits={name: kind_of(dtype) for name, dtype in schema.items()},
                   segments=segments, model_traits=keys)


_KEY_LOOKUP_LIMIT = 1 << 40
# What ``isin`` accepts: a column (a sub-query) or a list of values / value expressions.
ProfileIds: TypeAlias = ir.Column | Sequence[Any]


class _Compiler:
    def __init__(self, engine: Engine, catalog: Catalog, as_of: datetime | ir.TimestampValue,
                 realtime_segments: dict[str, bool], profile_ids: ProfileIds | None,
                 message_ids: ProfileIds | None = None, bounded: bool = False) -> None:
        self.engine = engine
        self.bounded = bounded
        self.message_ids = message_ids
        self.catalog = catalog
        self.as_of = as_of
        self.realtime_segments = realtime_segments
        self.profile_ids = profile_ids
        if not engine.has_table("profiles"):
            raise NotFoundError("there is no profiles table yet; build profiles first "
                                "(dmp.profiles.build())")
        self.p = self._only(engine.table("profiles"))
        self.blockers: list[str] = []

    def _only(self, t: ir.Table) -> ir.Table:
        """``t`` narrowed to the requested profiles (all rows when none were requested)."""
        if self.profile_ids is None:
            return t
        return t.filter(t.profile_id.isin(self.profile_ids))

    # -- tree ----------------------------------------------------------------------------------
    def cond(self, c: Condition, loc: str) -> ir.BooleanValue:
        if isinstance(c, AndCondition | OrCondition):
            parts = [self.cond(x, f"{loc}.conditions[{i}]") for i, x in enumerate(c.conditions)]
            out = parts[0]
            for part in parts[1:]:
                out = (out & part) if isinstance(c, AndCondition) else (out | part)
            return out
        if isinstance(c, NotCondition):
            return ~self.cond(c.condition, f"{loc}.condition")
        if isinstance(c, TraitCondition):
            return self.trait(c, loc)
        if isinstance(c, EventCondition):
            return self.event(c, loc)
        if isinstance(c, AggregateCondition):
            return self.aggregate(c, loc)
        if isinstance(c, ConsentCondition):
            t = self._only(self.engine.table("consents"))
            return self.p.profile_id.isin(
                t.filter([t.purpose == c.purpose, t.granted]).profile_id)
        return self.in_segment(c, loc)

    # -- traits ---------------------------------------------------------------------------------
    def trait(self, c: TraitCondition, loc: str) -> ir.BooleanValue:
        self.catalog.check_trait(c.trait, c.op, c.value, f"at {loc}")
        if self.catalog.is_model_trait(c.trait):
            self.blockers.append(f"{c.trait!r} is a model score computed in batch")
        col = self.p[c.trait]
        value: Any = c.value
        if self.catalog.traits is not None and self.catalog.traits.get(c.trait) == "timestamp":
            value = [_timestamp(v, loc) for v in value] if isinstance(value, list) \
                else _timestamp(value, loc)
        # NULL traits count as "not matching", so that `not` is the exact complement.
        return _predicate(col, c.op, value).fill_null(False)

    # -- events ---------------------------------------------------------------------------------
    def _events(self, event: str, within: str | None, where: list[PropertyFilter],
                loc: str) -> ir.Table:
        if not self.engine.has_table("event_profiles"):
            raise NotFoundError("events are not linked to profiles yet; run identity "
                                "resolution first (dmp.identity.resolve())")
        e = self.engine.table("events")
        if self.message_ids is not None:
            # The events of the requested profiles, by key. The LIMIT (never reached: keys are
            # unique and listed) keeps the other filters out of this scan, where DuckDB would
            # otherwise trade its key lookup for a filtered scan of the whole table.
            e = e.filter(e.message_id.isin(self.message_ids)).limit(_KEY_LOOKUP_LIMIT)
        filters = [e.type == "track", e.event == event]
        if within is not None:
            seconds = duration_seconds(within)
            if isinstance(self.as_of, datetime):
                cutoff: ir.TimestampValue = ibis.literal(
                    self.as_of - timedelta(seconds=seconds), type="timestamp('UTC')")
            else:
                cutoff = self.as_of - ibis.interval(seconds=seconds)
            filters.append(e.timestamp >= cutoff)
        if self.bounded:  # a point in time was asked for: what came after it is ignored
            end: ir.TimestampValue = ibis.literal(self.as_of, type="timestamp('UTC')") \
                if isinstance(self.as_of, datetime) else self.as_of
            filters.append(e.timestamp <= end)
        ev = e.filter(filters)
        ep = self._only(self.engine.table("event_profiles"))
        joined = ev.join(ep, ev.message_id == ep.message_id)
        cols: dict[str, ir.Value] = {"profile_id": ep.profile_id, "properties": ev.properties}
        needs_item = any(f.property.startswith("item.") for f in where)
        if needs_item:
            items = self.engine.table("items")
            item_id = self.engine.json_text(ev.properties, "$.item_id")
            joined = joined.join(items, item_id == items.item_id)
            cols["item_attributes"] = items.attributes
            for name in ("category", "name", "price"):
                cols[f"item_{name}"] = items[name]
        rows = joined.select(**cols)
        for i, f in enumerate(where):
            rows = rows.filter(self._filter(rows, f, f"{loc}.where[{i}]"))
        return rows

    def _prop(self, rows: ir.Table, path: str) -> ir.Value:
        if path.startswith("item."):
            field = path[5:]
            if field in _ITEM_COLUMNS - {"item_id"}:
                return rows[f"item_{field}"]
            return self.engine.json_text(rows.item_attributes, f"$.{field}")
        return self.engine.json_text(rows.properties, f"$.{path}")

    def _filter(self, rows: ir.Table, f: PropertyFilter, loc: str) -> ir.BooleanValue:
        col = self._prop(rows, f.property)
        values = f.value if isinstance(f.value, list) else [f.value]
        if f.op in ("is null", "is not null"):
            return _predicate(col, f.op, None)
        if f.op == "contains":
            if not isinstance(f.value, str):
                raise fail(f"'contains' takes a quoted text (at {loc})")
            return col.cast("string").contains(f.value).fill_null(False)
        if all(isinstance(v, bool) for v in values):
            text = col.cast("string").lower()
            return _predicate(text, f.op, _map(f.value, lambda v: "true" if v else "false")
                              ).fill_null(False)
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            if col.type().is_numeric():
                return _predicate(col, f.op, f.value).fill_null(False)
            return _predicate(col.try_cast("float64"), f.op, f.value).fill_null(False)
        if all(isinstance(v, str) for v in values):
            return _predicate(col.cast("string"), f.op, f.value).fill_null(False)
        raise fail(f"values of {f.property!r} must be all numbers, all texts or all booleans "
                   f"(at {loc})")

    def _counted(self, grouped: ir.Table, name: str, op: str, value: float,
                 empty: float | None) -> ir.BooleanValue:
        test = _CMP[op]
        if empty is not None and test(empty, value):
            # The people with no matching event pass too: keep everyone except those failing.
            failing = grouped.filter(~test(grouped[name], value))
            return ~self.p.profile_id.isin(failing.profile_id)
        return self.p.profile_id.isin(grouped.filter(test(grouped[name], value)).profile_id)

    def event(self, c: EventCondition, loc: str) -> ir.BooleanValue:
        rows = self._events(c.event, c.within, c.where, loc)
        if c.count_op == ">=" and c.count == 1:
            return self.p.profile_id.isin(rows.profile_id)
        grouped = rows.group_by("profile_id").aggregate(n=rows.count())
        return self._counted(grouped, "n", c.count_op, c.count, 0)

    def aggregate(self, c: AggregateCondition, loc: str) -> ir.BooleanValue:
        rows = self._events(c.event, c.within, c.where, loc)
        if c.fn == "count":
            grouped = rows.group_by("profile_id").aggregate(v=rows.count())
            return self._counted(grouped, "v", c.op, c.value, 0)
        if c.property is None:
            raise fail(f"{c.fn}(...) needs a property (at {loc})")
        num = self._prop(rows, c.property).try_cast("float64")
        agg = {"sum": num.sum, "avg": num.mean, "min": num.min, "max": num.max}[c.fn]
        grouped = rows.group_by("profile_id").aggregate(v=agg())
        if c.fn == "sum":
            grouped = grouped.mutate(v=grouped.v.fill_null(0.0))
        return self._counted(grouped, "v", c.op, c.value, 0.0 if c.fn == "sum" else None)

    def in_segment(self, c: SegmentCondition, loc: str) -> ir.BooleanValue:
        self.catalog.check_segment(c.segment, f"at {loc}")
        if not self.realtime_segments.get(c.segment, False):
            self.blockers.append(f"in_segment({c.segment!r}) reads a batch segment")
        m = self._only(self.engine.table("segment_members"))
        current = m.filter([m.segment_id == c.segment, m.exited_at.isnull()])
        return self.p.profile_id.isin(current.profile_id)


def _map(value: Any, fn: Callable[[Any], Any]) -> Any:
    return [fn(v) for v in value] if isinstance(value, list) else fn(value)


def _timestamp(value: Any, loc: str) -> datetime:
    try:
        ts = datetime.fromisoformat(str(value))
    except ValueError:
        raise fail(f"{value!r} is not an ISO date such as \"2024-01-31\" (at {loc})") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _predicate(col: ir.Value, op: str, value: Any) -> ir.BooleanValue:
    if op == "is null":
        return col.isnull()
    if op == "is not null":
        return col.notnull()
    if op == "in":
        return col.isin(value)
    if op == "not in":
        return col.notin(value)
    if op == "between":
        return col.between(value[0], value[1])
    if op == "contains":
        return col.contains(value)
    return _CMP[op](col, value)  # type: ignore[no-any-return]


def compile_spec(
    spec: SegmentSpec, engine: Engine, *, catalog: Catalog | None = None,
    as_of: datetime | ir.TimestampValue | None = None,
    realtime_segments: dict[str, bool] | None = None, profile_ids: ProfileIds | None = None,
    message_ids: ProfileIds | None = None, bounded: bool = False,
) -> CompiledSegment:
    """One ibis query (column ``profile_id``) of the profiles matching ``spec``.

    Args:
        spec: the rule.
        engine: where it will run (its ``profiles`` schema is the catalog when none is given).
        catalog: names the rule may use; checked again here so JSON specs get the same errors.
        as_of: the "now" that ``within=`` windows end at (default: the current time); an ibis
            timestamp expression (a bound parameter) keeps the SQL the same from run to run.
        realtime_segments: segment id -> real-time flag, for ``in_segment`` capability.
        profile_ids: evaluate only these profiles (a column, or a list of values). Every
            sub-query (profiles, event links, consents, memberships) is narrowed to them, so
            the answer for them is unchanged and only their rows are read.
        message_ids: with ``profile_ids``, every event of those profiles (the real-time path
            lists them from ``event_profiles``): event predicates then read ``events`` by key.
        bounded: ``as_of`` is a point in time the user asked for: event predicates also
            leave out events after it, so every window is ``[as_of - within, as_of]``.

    Raises:
        aidmp.errors.ValidationError: unknown names or type errors (with the spec path).
        aidmp.errors.NotFoundError: ``profiles`` / ``event_profiles`` do not exist yet.
    """
    catalog = catalog or catalog_of(engine)
    compiler = _Compiler(engine, catalog, datetime.now(UTC) if as_of is None else as_of,
                         realtime_segments or {}, profile_ids, message_ids, bounded)
    pred = compiler.cond(spec.condition, "condition")
    expr = compiler.p.filter(pred).select("profile_id")
    if compiler.blockers:
        reason = "batch only: " + "; ".join(dict.fromkeys(compiler.blockers))
    else:
        reason = "every predicate reads traits, events or consents that can be kept live"
    return CompiledSegment(expr, not compiler.blockers, reason)


__all__ = ["CompiledSegment", "catalog_of", "check_value", "compile_spec"]
