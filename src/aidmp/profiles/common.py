"""Small pieces shared by the profile stages: the person-attributed events, names, pivots.

Example:
    >>> column_name("First Name"), column_name("Sci-Fi")
    ('first_name', 'sci_fi')
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from aidmp.engine.base import Engine
from aidmp.identity.service import EVENT_PROFILES

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
REFERENCE_SCHEMA = pa.schema([("now", pa.timestamp("us", tz="UTC"))])


def column_name(text: str) -> str:
    """A safe lower-case column name for a trait key or category."""
    name = _NON_ALNUM.sub("_", text.strip().lower()).strip("_")
    return name if name and not name[0].isdigit() else f"x_{name}"


def person_events(engine: Engine, people: ir.Table | None = None) -> ir.Table:
    """Events with the profile they belong to (events without any identifier are left out);
    only those of the ``profile_id`` values of ``people``, when given."""
    ev = engine.table("events")
    ep = engine.table(EVENT_PROFILES)
    if people is not None:
        ep = ep.semi_join(people, "profile_id")
    return ev.join(ep, "message_id")


def reference_time(now: datetime) -> pa.Table:
    """The build's reference time as the one-row work table the stages join: ``now`` (UTC).

    Example:
        >>> from datetime import UTC, datetime
        >>> reference_time(datetime(2026, 12, 7, tzinfo=UTC)).column("now")[0].as_py().isoformat()
        '2026-12-07T00:00:00+00:00'
    """
    return pa.Table.from_pylist([{"now": now}], schema=REFERENCE_SCHEMA)


def with_reference_time(events: ir.Table, ref: ir.Table) -> ir.Table:
    """The events with the ``now`` column of ``ref`` (a :func:`reference_time` table): both
    engines see exactly the same instant."""
    return events.cross_join(ref)


def number(engine: Engine, doc: ir.Value, path: str) -> ir.FloatingValue:
    """A numeric JSON property (NULL when absent or not a number)."""
    return engine.json_text(doc, path).try_cast("float64")


def epoch_seconds(ts: ir.Value) -> ir.IntegerValue:
    """Whole seconds since 1970: DuckDB's epoch keeps fractions, Spark's does not."""
    return ts.truncate("s").epoch_seconds().cast("int64")  # type: ignore[attr-defined,no-any-return]


def prop_column(path: str) -> str:
    """Column of the attributed-events work table holding a pre-extracted property."""
    return "p__" + column_name(path)


def property_text(engine: Engine, t: ir.Table, path: str) -> ir.StringValue:
    """An event property as text: the pre-extracted column when the work table has it (each
    JSON document is parsed once per build, not once per trait), else read from the JSON."""
    col = prop_column(path)
    if col in t.columns:
        return t[col]  # type: ignore[no-any-return]
    return engine.json_text(t.properties, json_path(path))


def with_properties(engine: Engine, events: ir.Table,
                    paths: Mapping[str, AbstractSet[str] | None]) -> ir.Table:
    """The events with one text column per property path the build reads.

    ``paths`` maps each path to the event names whose stages read it (None: every event);
    other events get NULL without their JSON being parsed (page views carry properties that
    most paths never need)."""
    wanted = {}
    for path, names in paths.items():
        text = engine.json_text(events.properties, json_path(path))
        if names is not None:
            text = ibis.ifelse(events.event.isin(sorted(names)), text, ibis.null("string"))
        wanted[prop_column(path)] = text
    return events.mutate(**wanted)


def json_path(prop: str) -> str:
    """``products[0].category`` -> ``$.products[0].category``."""
    return "$." + prop


def pivot(long: ir.Table, keys: Sequence[str], key_col: str, value_col: str,
          names: Sequence[str]) -> ir.Table:
    """One row per profile_id, one column per key (conditional aggregation, engine-neutral)."""
    aggs = {name: long[value_col].max(where=long[key_col] == key)
            for key, name in zip(keys, names, strict=True)}
    return long.group_by("profile_id").aggregate(**aggs)
