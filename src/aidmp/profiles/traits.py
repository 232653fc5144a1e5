"""Trait merge: every identify trait of every profile, one winner per (profile, key).

Keys come from the events' ``traits`` (or ``context.traits``) objects; nested objects are
flattened one level (``address.city`` -> ``address_city``). Each key's merge rule
(:class:`~aidmp.spec.profiles.TraitRule`) picks the winner; the source and time of the winning
value are kept as provenance in the ``traits`` table.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from aidmp.engine.base import Engine
from aidmp.profiles.common import person_events
from aidmp.spec.profiles import ProfileConfig

_KEY = r"^[A-Za-z_][A-Za-z0-9_]*$"


def trait_values(engine: Engine, people: ir.Table | None = None) -> ir.Table:
    """(profile_id, ts, source, key, value) for every trait an identify event carried (of the
    ``profile_id`` values of ``people``, when given)."""
    ev = person_events(engine, people)
    ev = ev.filter(ev.type == "identify")
    doc = ibis.coalesce(ev.traits, engine.json_text(ev.context, "$.traits"))
    base = ev.select(profile_id=ev.profile_id, ts=ev.timestamp, source=ev.source, doc=doc)
    base = base.filter(base.doc.notnull())
    keyed = base.mutate(key=engine.json_keys(base.doc)).unnest("key")
    # the path is its own column: sqlglot would print `doc ->> '$.' || key` unbracketed
    keyed = keyed.filter(keyed.key.re_search(_KEY))
    keyed = keyed.mutate(path=ibis.literal("$.").concat(keyed.key))
    top = keyed.mutate(value=engine.json_text(keyed.doc, keyed.path))
    flat = top.filter(~top.value.startswith("{")).select(
        "profile_id", "ts", "source", "key", "value")
    nested = top.filter(top.value.startswith("{")).select(
        "profile_id", "ts", "source", parent=top.key, doc=top.value)
    nested = nested.mutate(child=engine.json_keys(nested.doc)).unnest("child")
    nested = nested.filter(nested.child.re_search(_KEY))
    nested = nested.mutate(path=ibis.literal("$.").concat(nested.child))
    inner = nested.select(
        "profile_id", "ts", "source", key=nested.parent + ibis.literal("_") + nested.child,
        value=engine.json_text(nested.doc, nested.path))
    out = ibis.union(flat, inner, distinct=False)
    return out.filter(out.value.notnull() & (out.value.strip() != ""))


def merged_traits(engine: Engine, cfg: ProfileConfig, values: ir.Table) -> ir.Table:
    """One row per (profile_id, key): the winning value with its source, time and rule."""
    special = {r.trait: r for r in cfg.trait_rules}
    parts = []
    default = values.filter(~values.key.isin(list(special))) if special else values
    parts.append(_pick(default, [ibis.desc(default.ts), default.source, default.value],
                       "latest"))
    for key, rule in special.items():
        v = values.filter(values.key == key)
        num = v.value.try_cast("float64")
        if rule.rule == "union":
            agg = v.group_by(["profile_id", "key"]).aggregate(
                value=v.value.collect(distinct=True).sort().join(","),
                source=v.source.collect(distinct=True).sort().join(","), updated_at=v.ts.max())
            parts.append(agg.mutate(rule=ibis.literal("union")))
            continue
        if rule.rule == "first":
            order = [v.ts, v.source, v.value]
        elif rule.rule == "max":
            order = [ibis.desc(num), ibis.desc(v.value), ibis.desc(v.ts)]
        elif rule.rule == "min":
            order = [num, v.value, ibis.desc(v.ts)]
        elif rule.rule == "source_priority":
            rank = ibis.cases(*[(v.source == s, i) for i, s in enumerate(rule.sources)],
                              else_=len(rule.sources))
            order = [rank, ibis.desc(v.ts), v.value]
        else:
            order = [ibis.desc(v.ts), v.source, v.value]
        parts.append(_pick(v, order, rule.rule))
    return parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)


def _pick(v: ir.Table, order: list[object], rule: str) -> ir.Table:
    rn = ibis.row_number().over(group_by=[v.profile_id, v.key], order_by=order)
    best = v.mutate(rn=rn).filter(ibis._.rn == 0)
    return best.select("profile_id", "key", "value", "source", updated_at=best.ts,
                       rule=ibis.literal(rule))


def build_traits(engine: Engine, cfg: ProfileConfig, people: ir.Table | None = None) -> int:
    """Rebuild the ``traits`` table, or only the rows of the ``profile_id`` values of
    ``people`` (an incremental build: a person's traits read only their own events, so the
    others' stay as they are); return the number of (profile, trait) values."""
    if people is None:
        engine.replace_from("traits", merged_traits(engine, cfg, trait_values(engine)))
        engine.index("traits", ["profile_id"])
    else:
        engine.replace_keyed("traits", "profile_id", people,
                             merged_traits(engine, cfg, trait_values(engine, people)))
    return engine.count("traits")


def trait_columns(engine: Engine) -> list[tuple[str, bool]]:
    """(key, numeric) for every stored trait key; numeric when every value reads as a number."""
    t = engine.table("traits")
    stats = engine.execute(t.group_by("key").aggregate(
        n=t.value.count(), num=t.value.try_cast("float64").count()).order_by("key"))
    return [(r["key"], r["n"] == r["num"]) for r in stats.to_pylist()]
