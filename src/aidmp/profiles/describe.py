"""Descriptive statistics of profile traits, for everyone or for a group beside everyone.

Numbers get count, missing, mean, standard deviation, min, quartiles (median in the middle) and
max; texts get count, missing, distinct values and the most common values with their shares.
Everything is one aggregate query per trait in the engine (only the summaries leave it), so it
runs on every engine and on any number of profiles.

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> _ = dmp.events.ingest([{"type": "identify", "userId": f"u{i}", "messageId": f"m{i}",
    ...     "traits": {"age": 20 + i, "plan": "pro" if i % 3 == 0 else "free"}}
    ...     for i in range(9)], source="crm")
    >>> _ = dmp.build()
    >>> stats = dmp.profiles.describe(["age", "plan"])["traits"]
    >>> stats["age"]["population"]["median"], stats["plan"]["population"]["top"][0]["value"]
    (24.0, 'free')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ibis
import ibis.expr.types as ir

from aidmp.engine.base import Engine
from aidmp.errors import NotFoundError, ValidationError

__all__ = ["MAX_TRAITS", "describe_traits", "parse_traits", "rfm_distribution"]

MAX_TRAITS = 50
TOP = 5
QUANTILES = {"p25": 0.25, "median": 0.5, "p75": 0.75}


def parse_traits(traits: Sequence[str] | str | None) -> list[str] | None:
    """A list of trait names from a list or a comma-separated text (``None``: every column)."""
    if traits is None:
        return None
    names = traits.split(",") if isinstance(traits, str) else list(traits)
    out = [n.strip() for n in names if isinstance(n, str) and n.strip()]
    if not out:
        raise ValidationError("give at least one trait, e.g. age,plan", field="traits")
    if len(out) > MAX_TRAITS:
        raise ValidationError(f"at most {MAX_TRAITS} traits at a time, got {len(out)}",
                              field="traits")
    return list(dict.fromkeys(out))


def _numeric(t: ir.Table, col: str) -> dict[str, Any]:
    c = t[col].cast("float64")
    aggs: dict[str, ir.Value] = {"count": c.count(), "rows": t.count(), "mean": c.mean(),
                                 "std": c.std(), "min": c.min(), "max": c.max()}
    aggs.update({name: c.quantile(q) for name, q in QUANTILES.items()})
    return aggs


def _summary(engine: Engine, t: ir.Table, col: str, numeric: bool) -> dict[str, Any]:
    if numeric:
        row = engine.execute(t.aggregate(**_numeric(t, col))).to_pylist()[0]
        rows, count = int(row.pop("rows")), int(row.pop("count"))
        values = {k: None if v is None else float(v) for k, v in row.items()}
        return {"type": "number", "count": count, "missing": rows - count, **values}
    c = t[col].cast("string")
    head = engine.execute(t.aggregate(rows=t.count(), count=c.count(),
                                      distinct=c.nunique())).to_pylist()[0]
    present = t.filter(c.notnull())
    counts = present.group_by(value=present[col].cast("string")).aggregate(n=present.count())
    top = engine.execute(counts.order_by([ibis.desc("n"), "value"]).limit(TOP)).to_pylist()
    n = int(head["count"]) or 1
    return {"type": "text", "count": int(head["count"]),
            "missing": int(head["rows"]) - int(head["count"]),
            "distinct": int(head["distinct"]),
            "top": [{"value": r["value"], "count": int(r["n"]), "share": int(r["n"]) / n}
                    for r in top]}


def describe_traits(engine: Engine, traits: Sequence[str] | str | None = None,
                    members: ir.Table | None = None, label: str = "segment"
                    ) -> dict[str, Any]:
    """Statistics of ``traits`` (columns of the ``profiles`` table) for everyone and, with
    ``members`` (a table with a ``profile_id`` column), for them beside everyone.

    Returns:
        ``{"profiles": N, label: n (with members), "traits": {trait: {"population": stats,
        label: stats}}}``.

    Raises:
        NotFoundError: no profiles built yet.
        ValidationError: an unknown trait (the valid ones are listed) or too many.
    """
    if not engine.has_table("profiles"):
        raise NotFoundError("no profiles yet: run `aidmp build` first")
    p = engine.table("profiles")
    schema = p.schema()
    names = parse_traits(traits)
    if names is None:
        names = [c for c in schema.names if c != "profile_id"][:MAX_TRAITS]
    unknown = [n for n in names if n not in schema.names]
    if unknown:
        raise ValidationError(f"unknown trait; valid traits: {', '.join(schema.names)}",
                              field=unknown[0])
    groups: dict[str, ir.Table] = {"population": p}
    if members is not None:
        groups[label] = p.semi_join(members.select("profile_id").distinct(), "profile_id")
    out: dict[str, Any] = {"profiles": engine.execute(p.aggregate(n=p.count()))
                           .column("n")[0].as_py()}
    if members is not None:
        g = groups[label]
        out[label] = engine.execute(g.aggregate(n=g.count())).column("n")[0].as_py()
    stats: dict[str, dict[str, Any]] = {}
    for name in names:
        dtype = schema[name]
        numeric = dtype.is_numeric() or dtype.is_boolean()
        if dtype.is_temporal():
            numeric = False
        stats[name] = {group: _summary(engine, t, name, numeric) for group, t in groups.items()}
    out["traits"] = stats
    return out


def rfm_distribution(engine: Engine) -> dict[str, Any]:
    """How buyers spread over the RFM grid: counts per (R, F) score pair (5 x 5) and, per RFM
    segment, people, share, mean recency (days), mean orders and mean revenue.

    Raises:
        NotFoundError: no profiles built yet, or no RFM columns (no orders seen).
    """
    if not engine.has_table("profiles"):
        raise NotFoundError("no profiles yet: run `aidmp build` first")
    p = engine.table("profiles")
    if not {"rfm_r", "rfm_f", "rfm_segment"} <= set(p.columns):
        raise NotFoundError("the profiles have no RFM scores: no order events were seen (the "
                            "order event is set in the profile settings)")
    buyers = p.filter(p.rfm_r.notnull())
    grid_rows = engine.execute(buyers.group_by(["rfm_r", "rfm_f"]).aggregate(
        n=buyers.count())).to_pylist()
    grid = [[0] * 5 for _ in range(5)]
    for r in grid_rows:
        grid[int(r["rfm_r"]) - 1][int(r["rfm_f"]) - 1] = int(r["n"])
    total = sum(map(sum, grid))
    segs = engine.execute(buyers.group_by("rfm_segment").aggregate(
        people=buyers.count(), recency_days=buyers.rfm_recency_days.mean(),
        orders=buyers.rfm_frequency.mean(), revenue=buyers.rfm_monetary.mean(),
    ).order_by([ibis.desc("people"), "rfm_segment"])).to_pylist()
    return {"buyers": total, "profiles": engine.execute(p.aggregate(n=p.count()))
            .column("n")[0].as_py(),
            "grid": {"rows": "R score 1..5 (5 = most recent)",
                     "columns": "F score 1..5 (5 = most orders)", "counts": grid},
            "segments": [{"segment": s["rfm_segment"], "people": int(s["people"]),
                          "share": int(s["people"]) / total if total else 0.0,
                          "recency_days": s["recency_days"], "orders": s["orders"],
                          "revenue": s["revenue"]} for s in segs]}
