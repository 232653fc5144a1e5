"""Touchpoints, conversions and campaign costs as ibis expressions over the engine.

A touchpoint is an event whose ``context.campaign`` (UTM) names a source or a medium; its
channel is the medium (or the source when no medium was sent). A conversion is an
``Order Completed`` event with ``properties.revenue``. People come from ``event_profiles``
(written by the build), so every expression here needs a built store.

Example:
    >>> import pyarrow as pa
    >>> costs = pa.table({"date": ["2026-01-05"], "channel": ["cpc"], "campaign": ["spring"],
    ...                   "cost": ["12.5"]})
    >>> normalise_costs(costs).to_pylist()[0]["cost"]
    12.5
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import ibis
import ibis.expr.types as ir
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from aidmp.campaigns.plans import planned_costs
from aidmp.engine.base import Engine
from aidmp.errors import NotFoundError, ValidationError
from aidmp.ml.data import check_property

COSTS_TABLE = "campaign_costs"
COST_COLUMNS = ("date", "channel", "campaign", "cost")
COST_KEY = ("date", "channel", "campaign")
CONVERSION_EVENT = "Order Completed"


def _event_profiles(engine: Engine) -> ir.Table:
    if not engine.has_table("event_profiles"):
        raise NotFoundError("no event_profiles table yet: run `aidmp build` (DMP.build()) first")
    return engine.table("event_profiles")


def touchpoints(engine: Engine) -> ir.Table:
    """One row per campaign touch: message_id, profile_id, timestamp, channel, campaign."""
    ev = engine.table("events")
    source = engine.json_text(ev.context, "$.campaign.source")
    medium = engine.json_text(ev.context, "$.campaign.medium")
    name = engine.json_text(ev.context, "$.campaign.name")
    # an empty UTM value is as good as none: fall back to the source, then drop the row
    channel = ibis.coalesce(medium.nullif(""), source.nullif(""))
    tp = ev.select(ev.message_id, ev.timestamp, channel=channel.lower(),
                   campaign=ibis.coalesce(name.nullif(""), ibis.literal("(none)")))
    tp = tp.filter(tp.channel.notnull())
    ep = _event_profiles(engine)
    return tp.join(ep, "message_id").select("message_id", "profile_id", "timestamp", "channel",
                                            "campaign")


def conversions(engine: Engine, event: str = CONVERSION_EVENT,
                value_property: str = "revenue") -> ir.Table:
    """One row per conversion: message_id, profile_id, timestamp, revenue (the
    ``value_property``; 0 when absent)."""
    ev = engine.table("events")
    path = "$." + check_property(value_property, "value_property")
    revenue = engine.json_text(ev.properties, path).try_cast("float64")
    conv = ev.filter([ev.type == "track", ev.event == event]).select(
        ev.message_id, ev.timestamp, revenue=revenue.fill_null(0.0))
    ep = _event_profiles(engine)
    return conv.join(ep, "message_id").select("message_id", "profile_id", "timestamp", "revenue")


def normalise_costs(data: pa.Table) -> pa.Table:
    """Check and type a cost table: date (date32), channel and campaign (text), cost (float64).

    Raises:
        ValidationError: a column is missing, or a date or a cost does not parse.
    """
    missing = [c for c in COST_COLUMNS if c not in data.column_names]
    if missing:
        raise ValidationError(f"cost data lacks column(s) {', '.join(missing)}; expected "
                              f"{', '.join(COST_COLUMNS)}", field=missing[0])
    out: dict[str, pa.Array | pa.ChunkedArray] = {}
    for name, typ in (("date", pa.date32()), ("cost", pa.float64())):
        col = data.column(name)
        try:
            if name == "date" and pa.types.is_string(col.type):
                col = pc.cast(pc.strptime(col, format="%Y-%m-%d", unit="s"), pa.date32())
            out[name] = pc.cast(col, typ)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ValidationError(f"cost column {name!r} does not parse as "
                                  f"{'YYYY-MM-DD' if name == 'date' else 'a number'}: {exc}",
                                  field=name) from exc
    for name in ("channel", "campaign"):
        out[name] = pc.cast(data.column(name), pa.string())
    out["channel"] = pc.utf8_lower(out["channel"])
    if pc.any(pc.less(out["cost"], 0)).as_py():
        raise ValidationError("cost must be >= 0", field="cost")
    return pa.table({c: out[c] for c in COST_COLUMNS})


def import_costs(engine: Engine, source: str | Path | pa.Table, *,
                 mode: str = "replace") -> int:
    """Load a cost CSV (date, channel, campaign, cost) into ``campaign_costs``.

    Args:
        engine: the store.
        source: a CSV path or an Arrow table.
        mode: ``replace`` the table or ``append`` to it.

    Returns:
        The rows written.
    """
    if mode not in ("replace", "append"):
        raise ValidationError(f"mode must be 'replace' or 'append', got {mode!r}", field="mode")
    if isinstance(source, pa.Table):
        raw = source
    else:
        path = Path(source)
        if not path.is_file():
            raise NotFoundError(f"cost file {path} does not exist")
        opts = pacsv.ConvertOptions(column_types={"date": pa.string(), "channel": pa.string(),
                                                  "campaign": pa.string()})
        raw = pacsv.read_csv(path, convert_options=opts)
    data = normalise_costs(raw)
    # one row per (date, channel, campaign): a repeated row in the file keeps its last cost
    frame = pl.from_arrow(data)
    assert isinstance(frame, pl.DataFrame)
    data = frame.unique(subset=list(COST_KEY), keep="last", maintain_order=True).to_arrow()
    if mode == "append":
        engine.upsert(COSTS_TABLE, data)  # the same costs imported twice are stored once
    else:
        engine.scratch_rows("_costs_import", data)
        try:
            engine.replace_from(COSTS_TABLE, engine.table("_costs_import"))
        finally:
            engine.drop("_costs_import")
    return int(data.num_rows)


def until(t: ir.Table, as_of: datetime | None) -> ir.Table:
    """The events of ``t`` (touches, conversions) with ``timestamp <= as_of`` (all: None)."""
    if as_of is None:
        return t
    return t.filter(t.timestamp <= ibis.literal(as_of, type="timestamp('UTC')"))


def costs_until(engine: Engine, as_of: datetime | None) -> ir.Table | None:
    """:func:`costs` of the days up to the date of ``as_of`` (all: None)."""
    c = costs(engine)
    return c if c is None or as_of is None else c.filter(c.date <= ibis.literal(as_of.date()))


def costs(engine: Engine) -> ir.Table | None:
    """Imported ``campaign_costs`` plus the planned daily costs of defined campaigns for the
    days, channels and campaigns without an imported cost; None when there are neither."""
    imported = engine.table(COSTS_TABLE) if engine.count(COSTS_TABLE) else None
    planned = planned_costs(engine)
    if planned is None:
        return imported
    if imported is None:
        return planned
    extra = planned.anti_join(imported, [planned.date == imported.date,
                                         planned.channel == imported.channel,
                                         planned.campaign == imported.campaign])
    # the declared table's columns are NOT NULL, the planned ones are not: one schema for both
    types = {"date": "date", "channel": "string", "campaign": "string", "cost": "float64"}

    def shaped(t: ir.Table) -> ir.Table:
        return t.select(*[t[c].cast(types[c]).name(c) for c in COST_COLUMNS])

    return shaped(imported).union(shaped(extra), distinct=False)
