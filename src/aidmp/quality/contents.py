"""What events carry, per source: numeric properties with their negative values and IQR
outliers, and refunds / cancellations.

A file of invoice lines can hold negative quantities, zero or negative prices and a few huge
orders; none of that shows in the columns of the events table (it lives in the ``properties``
JSON). The property names are read from a sample of the source's events, then every numeric
one is profiled over all of them in two engine queries (quartiles, then the fence counts).

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> _ = dmp.events.ingest([{"type": "track", "userId": f"u{i}", "event": "Order Completed",
    ...     "properties": {"quantity": q, "coupon": "X"}, "timestamp": "2026-01-01T00:00:00Z"}
    ...     for i, q in enumerate([1, 2, 2, 3, -4, 80])], source="shop")
    >>> c = event_contents(dmp.engine, dmp.engine.table("events"))
    >>> c["properties"]["quantity"]["negative"], c["properties"]["quantity"]["outliers"]
    (1, 2)
    >>> "coupon" in c["properties"]
    False
    >>> _ = dmp.events.ingest([{"type": "identify", "userId": "u1",
    ...     "traits": {"Annual income (k)": 15}, "timestamp": "2026-01-01T00:00:00Z"}],
    ...     source="web")
    >>> event_contents(dmp.engine, dmp.engine.table("events"))["unreadable_names"]["traits"]
    ['Annual income (k)']
"""

from __future__ import annotations

import re
from typing import Any

import ibis
import ibis.expr.types as ir

from aidmp.engine.base import Engine

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SAMPLE = 10_000
MAX_PROPERTIES = 30
# flags that mark a row as cancelled when true
_CANCEL_FLAGS = ("cancelled", "canceled", "is_cancelled", "is_canceled", "cancellation")


def _keys(engine: Engine, events: ir.Table, column: str = "properties") -> list[str]:
    """The top-level names of ``column``'s JSON in a sample of the events."""
    sample = events.filter(events[column].notnull()).select(doc=events[column]).limit(SAMPLE)
    keyed = sample.mutate(key=engine.json_keys(sample.doc)).unnest("key")
    rows = engine.execute(keyed.select("key").distinct().order_by("key")).to_pylist()
    return [r["key"] for r in rows if r["key"]]


def event_contents(engine: Engine, events: ir.Table, *, refund_event: str | None =
                   "Order Refunded", k: float = 1.5) -> dict[str, Any]:
    """Figures of ``events``' properties: for each numeric one (name seen in a sample of
    events, values that read as numbers), how many values, how many negative, how many outside
    the IQR fences (with the fences); and the refund events and rows flagged cancelled."""
    every = _keys(engine, events)
    keys = [k for k in every if _KEY.match(k)]
    # names no JSON path of the profile build reads (a collector event's "Annual income (k)"):
    # kept in the events, left out of profiles, so they are reported rather than dropped
    # in silence (imports rename them: see ImportReport.renamed)
    unreadable = {"properties": [k for k in every if not _KEY.match(k)],
                  "traits": [k for k in _keys(engine, events, "traits") if not _KEY.match(k)]}
    values = {f"v{i}": engine.json_text(events.properties, "$." + key).try_cast("float64")
              for i, key in enumerate(keys)}
    t = events.select("event", *[v.name(n) for n, v in values.items()]) if values \
        else events.select("event")
    aggs: dict[str, ir.Scalar] = {"rows": t.count()}
    if refund_event is not None:
        aggs["refunds"] = t.count(where=t.event == refund_event)
    for n in values:
        col = t[n]
        aggs[f"{n}_n"], aggs[f"{n}_neg"] = col.count(), (col < 0).sum()
        aggs[f"{n}_q1"], aggs[f"{n}_q3"] = col.quantile(0.25), col.quantile(0.75)
    first = engine.execute(t.aggregate(**aggs)).to_pylist()[0]
    numeric = [(i, key) for i, key in enumerate(keys) if first[f"v{i}_n"]][:MAX_PROPERTIES]
    fences: dict[str, tuple[float, float]] = {}
    outside: dict[str, ir.Scalar] = {}
    for i, _ in numeric:
        q1, q3 = first[f"v{i}_q1"], first[f"v{i}_q3"]
        if q1 is None or q3 is None:
            continue
        low, high = q1 - k * (q3 - q1), q3 + k * (q3 - q1)
        fences[f"v{i}"] = (float(low), float(high))
        col = t[f"v{i}"]
        outside[f"v{i}"] = ((col < low) | (col > high)).sum()
    counted = engine.execute(t.aggregate(**outside)).to_pylist()[0] if outside else {}
    props = {}
    for i, key in numeric:
        n = f"v{i}"
        props[key] = {"values": int(first[f"{n}_n"]), "negative": int(first[f"{n}_neg"] or 0),
                      "outliers": int(counted.get(n) or 0), "fences": fences.get(n)}
    out: dict[str, Any] = {"properties": props}
    if unreadable["properties"] or unreadable["traits"]:
        out["unreadable_names"] = unreadable
    if refund_event is not None:
        out["refunds"] = int(first["refunds"] or 0)
    flags = [key for key in keys if key.lower() in _CANCEL_FLAGS]
    if flags:
        cond = ibis.or_(*[engine.json_text(events.properties, "$." + f).lower().isin(
            ["true", "1", "yes", "y"]) for f in flags])
        out["cancelled"] = int(engine.execute(events.aggregate(
            n=events.count(where=cond))).column("n")[0].as_py() or 0)
    return out


__all__ = ["event_contents"]
