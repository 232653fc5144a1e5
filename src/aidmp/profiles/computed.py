"""Computed traits: configured aggregates over each person's events (``orders_90d``...).

All traits are evaluated in one grouped query over the person-attributed events, each with its
own event filter and time window relative to the build's reference time.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from aidmp.engine.base import Engine
from aidmp.profiles.common import property_text
from aidmp.spec.profiles import ComputedTrait


def distinct_key(engine: Engine, ev: ir.Table, prop: str) -> ir.StringValue:
    """What makes two events one (an order of several line events): the property, or the
    event's own id when it has none."""
    return ibis.coalesce(property_text(engine, ev, prop), ev.message_id)


def _when(ev: ir.Table, event: str | None, window_days: int | None) -> ir.BooleanValue:
    cond = ibis.literal(True)
    if event is not None:
        cond = cond & (ev.event == event)
    if window_days is not None:
        cond = cond & (ev.timestamp > ev.now - ibis.interval(days=window_days))
    return cond


def _aggregate(engine: Engine, ev: ir.Table, c: ComputedTrait) -> Any:
    cond = _when(ev, c.event, c.window_days)
    text = property_text(engine, ev, c.property) if c.property else None
    num = text.try_cast("float64") if text is not None else None
    if c.agg == "count":
        if c.distinct_by:
            return distinct_key(engine, ev, c.distinct_by).nunique(where=cond)
        return ev.message_id.count(where=cond)
    if c.agg == "first":
        return ev.timestamp.min(where=cond)
    if c.agg == "last":
        return ev.timestamp.max(where=cond)
    assert text is not None and num is not None
    if c.agg in ("sum", "avg") and (c.minus_event or c.distinct_by or c.absolute):
        total = (num.abs() if c.absolute else num).sum(where=cond)
        if c.minus_event:
            minus = num.abs().sum(where=_when(ev, c.minus_event, c.window_days))
            total = ibis.coalesce(total, 0.0) - ibis.coalesce(minus, 0.0)
        if c.agg == "sum":
            return total
        if c.distinct_by:
            n = distinct_key(engine, ev, c.distinct_by).nunique(where=cond & num.notnull())
        else:
            n = num.count(where=cond)
        return ibis.ifelse(n > 0, total / n.cast("float64"), ibis.null("float64"))
    if c.agg == "sum":
        return num.sum(where=cond)
    if c.agg == "avg":
        return num.mean(where=cond)
    if c.agg == "min":
        return num.min(where=cond)
    if c.agg == "max":
        return num.max(where=cond)
    return text.nunique(where=cond)  # distinct


def _top(engine: Engine, ev: ir.Table, c: ComputedTrait) -> ir.Table:
    """The most frequent value of a property per profile (ties: the alphabetically first)."""
    assert c.property is not None
    v = ev.mutate(value=property_text(engine, ev, c.property))
    v = v.filter(v.value.notnull())
    if c.event is not None:
        v = v.filter(v.event == c.event)
    if c.window_days is not None:
        v = v.filter(v.timestamp > v.now - ibis.interval(days=c.window_days))
    counts = v.group_by(["profile_id", "value"]).aggregate(n=v.count())
    rn = ibis.row_number().over(group_by=counts.profile_id,
                                order_by=[ibis.desc(counts.n), counts.value])
    best = counts.mutate(rn=rn).filter(ibis._.rn == 0)
    return best.select("profile_id", **{c.name: best.value})


def computed_traits(engine: Engine, ev: ir.Table, traits: list[ComputedTrait],
                    extra: dict[str, ir.Value] | None = None) -> ir.Table:
    """One row per profile with a column per computed trait (``ev`` carries ``now``), plus
    the ``extra`` aggregates of other stages computed in the same pass over the events."""
    plain = {c.name: _aggregate(engine, ev, c) for c in traits if c.agg != "top"}
    out = ev.group_by("profile_id").aggregate(events=ev.count(), first_seen=ev.timestamp.min(),
                                              last_seen=ev.timestamp.max(), **plain,
                                              **(extra or {}))
    for c in traits:
        if c.agg == "top":
            out = out.left_join(_top(engine, ev, c), "profile_id").drop("profile_id_right")
    # counts and sums of nothing are 0, not NULL
    fills = {c.name: ibis.coalesce(out[c.name], 0) for c in traits
             if c.agg in ("count", "sum", "distinct")}
    return out.mutate(**fills) if fills else out
