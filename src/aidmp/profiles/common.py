"""Small pieces shared by the profile stages: the person-attributed events, names, pivots.

Example:
    >>> column_name("First Name"), column_name("Sci-Fi")
    ('first_name', 'sci_fi')
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from aidmp.engine.base import Engine
from aidmp.identity.resolve import EVENT_PROFILES

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def column_name(text: str) -> str:
    """A safe lower-case column name for a trait key or category."""
    name = _NON_ALNUM.sub("_", text.strip().lower()).strip("_")
    return name if name and not name[0].isdigit() else f"x_{name}"


def person_events(engine: Engine) -> ir.Table:
    """Events with the profile they belong to (events without any identifier are left out)."""
    ev = engine.table("events")
    ep = engine.table(EVENT_PROFILES)
    return ev.join(ep, "message_id")


def reference_time(engine: Engine, events: ir.Table) -> ir.TimestampScalar:
    """The build's "now": the newest behavioural event's time (track / page / screen), so history
    loads (CDNOW 1997-98) keep their windows meaningful; identify calls stamped at import time
    do not count. Returned as a literal after one query."""
    acts = events.filter(events.type.isin(["track", "page", "screen"]))
    got = engine.execute(acts.aggregate(t=acts.timestamp.max())).column("t")[0].as_py()
    if got is None:
        got = engine.execute(events.aggregate(t=events.timestamp.max())).column("t")[0].as_py()
    return ibis.literal(got, type="timestamp('UTC')")


def number(engine: Engine, doc: ir.Value, path: str) -> ir.FloatingValue:
    """A numeric JSON property (NULL when absent or not a number)."""
    return engine.json_text(doc, path).try_cast("float64")


def epoch_seconds(ts: ir.Value) -> ir.IntegerValue:
    """Whole seconds since 1970: DuckDB's epoch keeps fractions, Spark's does not."""
    return ts.truncate("s").epoch_seconds().cast("int64")  # type: ignore[attr-defined,no-any-return]


def json_path(prop: str) -> str:
    """``products[0].category`` -> ``$.products[0].category``."""
    return "$." + prop


def pivot(long: ir.Table, keys: Sequence[str], key_col: str, value_col: str,
          names: Sequence[str]) -> ir.Table:
    """One row per profile_id, one column per key (conditional aggregation, engine-neutral)."""
    aggs = {name: long[value_col].max(where=long[key_col] == key)
            for key, name in zip(keys, names, strict=True)}
    return long.group_by("profile_id").aggregate(**aggs)
