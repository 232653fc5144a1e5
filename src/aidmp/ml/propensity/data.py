"""Training frames as of a cutoff: outcome labels after it, behaviour features up to it.

Everything is an **ibis expression** over an event table (one row per event, with a person, a
time and optionally an event name), so it runs unchanged on every aidmp engine; pass a pandas
DataFrame instead and the same expression runs in-process and a DataFrame comes back.

No leakage by construction: :func:`history_features` reads only events at or before the cutoff,
the labels only the window ``(cutoff, cutoff + window_days]``.

- :func:`future_event_label`: 1 if the person did ``event_name`` in the window.
- :func:`churn_label`: 1 if a customer (active at or before the cutoff) was not active in it.
- :func:`history_features`: counts, value sums and means, recency and tenure in days.

Example:
    >>> import pandas as pd
    >>> ev = pd.DataFrame({"who": ["a", "a", "b", "c"], "event": ["buy"] * 4,
    ...     "at": pd.to_datetime(["2024-01-05", "2024-02-10", "2024-01-20", "2024-03-01"])})
    >>> future_event_label(ev, "who", "at", "event", "buy", "2024-01-31", 30)
      who  label
    0   a      1
    1   b      0
    >>> churn_label(ev, "who", "at", "2024-01-31", 30)["label"].tolist()
    [0, 1]
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import TypeAlias

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from aidmp.errors import ValidationError

__all__ = ["churn_label", "future_event_label", "history_features"]

# Both are ibis/pandas objects: a DataFrame in gives a DataFrame out, an ibis table an expression.
Events: TypeAlias = "ir.Table | pd.DataFrame"
When: TypeAlias = "date | datetime | str | pd.Timestamp"


def _table(events: Events, *columns: str | None) -> ir.Table:
    # Through Arrow: ibis' own pandas conversion warns under pandas 3 (future.infer_string).
    table = (ibis.memtable(pa.Table.from_pandas(events, preserve_index=False))
             if isinstance(events, pd.DataFrame) else events)
    if not isinstance(table, ir.Table):
        raise ValidationError(f"events must be an ibis table or a pandas DataFrame, got "
                              f"{type(events).__name__}", field="events")
    for name in columns:
        if name is not None and name not in table.columns:
            raise ValidationError(f"column not in the events table; its columns: "
                                  f"{', '.join(table.columns)}", field=name)
    return table


def _bounds(table: ir.Table, time_col: str, cutoff: When,
            window_days: int | None) -> tuple[ir.Value, ir.Value | None]:
    """The cutoff (and window end) as literals of the time column's type."""
    dtype = table[time_col].type()
    try:
        stamp = pd.Timestamp(cutoff)
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"not a date or time: {cutoff!r} ({exc})", field="cutoff") from None
    if window_days is not None and (not isinstance(window_days, int) or window_days < 1):
        raise ValidationError(f"window_days must be a positive integer, got {window_days!r}",
                              field="window_days")
    end = None if window_days is None else stamp + timedelta(days=window_days)
    if dtype.is_date():
        return ibis.literal(stamp.date()), None if end is None else ibis.literal(end.date())
    if not dtype.is_timestamp():
        raise ValidationError(f"the time column must be a date or timestamp, it is {dtype}",
                              field=time_col)
    zone = getattr(dtype, "timezone", None)
    if zone is not None:
        stamp = stamp.tz_localize(zone) if stamp.tzinfo is None else stamp.tz_convert(zone)
        end = None if end is None else (end.tz_localize(zone) if end.tzinfo is None
                                        else end.tz_convert(zone))
    elif stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
        end = None if end is None else end.tz_convert("UTC").tz_localize(None)
    lit = ibis.literal(stamp.to_pydatetime(), type=dtype)
    return lit, None if end is None else ibis.literal(end.to_pydatetime(), type=dtype)


def _future_active(table: ir.Table, person_col: str, time_col: str, cutoff: When,
                   window_days: int, event_col: str | None, event_name: str | None,
                   population_needs_event: bool) -> ir.Table:
    """Per person seen at or before the cutoff: did the (named) event happen in the window."""
    if (event_col is None) != (event_name is None):
        raise ValidationError("give both event_col and event_name, or neither (any event)",
                              field="event_name" if event_name is None else "event_col")
    start, end = _bounds(table, time_col, cutoff, window_days)
    assert end is not None
    t = table.filter(table[person_col].notnull(), table[time_col] <= end)
    is_event = ibis.literal(True) if event_col is None else t[event_col] == event_name
    before = t[time_col] <= start
    if population_needs_event:
        before = before & is_event
    hit = (t[time_col] > start) & is_event
    agg = t.group_by(person_col).aggregate(
        _seen=before.any(), _hit=hit.any())
    return agg.filter(agg._seen).select(person_col, _hit=agg._hit)


def _run(expr: ir.Table, events: Events, person_col: str) -> ir.Table | pd.DataFrame:
    if isinstance(events, pd.DataFrame):
        return expr.order_by(person_col).to_pyarrow().to_pandas()
    return expr


def future_event_label(events: Events, person_col: str, time_col: str, event_col: str | None,
                       event_name: str | None, cutoff: When, window_days: int,
                       name: str = "label") -> ir.Table | pd.DataFrame:
    """1 if the person did ``event_name`` in ``(cutoff, cutoff + window_days]``, else 0.

    One row per person with any event at or before the cutoff (the people one could have
    scored then); events after the window are never read.

    Args:
        events: event table (ibis) or DataFrame.
        person_col: the column naming the person.
        time_col: a date or timestamp column (a naive cutoff is read in its time zone).
        event_col: the column with the event name, or ``None`` to count any event.
        event_name: the event to predict, or ``None`` with ``event_col=None``.
        cutoff: the last moment of the observed past.
        window_days: length of the outcome window.
        name: name of the label column (an int8 0/1).

    Raises:
        ValidationError: a missing column (named), a bad cutoff or window.
    """
    table = _table(events, person_col, time_col, event_col)
    active = _future_active(table, person_col, time_col, cutoff, window_days, event_col,
                            event_name, population_needs_event=False)
    expr = active.select(person_col, **{name: active._hit.cast("int8")})
    return _run(expr, events, person_col)


def churn_label(events: Events, person_col: str, time_col: str, cutoff: When, window_days: int,
                event_col: str | None = None, event_name: str | None = None,
                name: str = "label") -> ir.Table | pd.DataFrame:
    """1 if a customer made no purchase in ``(cutoff, cutoff + window_days]``, else 0.

    One row per person who purchased (did ``event_name``; any event when ``event_col`` is
    ``None``) at or before the cutoff: only customers can churn.

    Raises:
        ValidationError: a missing column (named), a bad cutoff or window.
    """
    table = _table(events, person_col, time_col, event_col)
    active = _future_active(table, person_col, time_col, cutoff, window_days, event_col,
                            event_name, population_needs_event=True)
    expr = active.select(person_col, **{name: (~active._hit).cast("int8")})
    return _run(expr, events, person_col)


def history_features(events: Events, person_col: str, time_col: str, cutoff: When,
                     value_cols: Sequence[str] = (), event_col: str | None = None,
                     event_name: str | None = None) -> ir.Table | pd.DataFrame:
    """Behaviour per person from the events at or before ``cutoff`` only.

    Columns: ``n_events``, ``n_days`` (distinct days active), ``recency_days`` (cutoff - last
    event), ``tenure_days`` (cutoff - first event), and ``<col>_sum`` / ``<col>_mean`` for
    every numeric column of ``value_cols``. With ``event_col``/``event_name`` only those events
    count.

    Raises:
        ValidationError: a missing column (named) or a bad cutoff.
    """
    table = _table(events, person_col, time_col, event_col, *value_cols)
    if (event_col is None) != (event_name is None):
        raise ValidationError("give both event_col and event_name, or neither (any event)",
                              field="event_name" if event_name is None else "event_col")
    start, _ = _bounds(table, time_col, cutoff, None)
    t = table.filter(table[person_col].notnull(), table[time_col] <= start)
    if event_col is not None:
        t = t.filter(t[event_col] == event_name)
    when = t[time_col]
    day = when if when.type().is_date() else when.date()
    start_day = start if when.type().is_date() else start.date()
    metrics: dict[str, ir.Value] = {
        "n_events": t.count(), "n_days": day.nunique(),
        "recency_days": start_day.delta(day.max(), unit="day"),
        "tenure_days": start_day.delta(day.min(), unit="day"),
    }
    for col in value_cols:
        if not t[col].type().is_numeric():
            raise ValidationError(f"value column must be numeric, it is {t[col].type()}",
                                  field=col)
        metrics[f"{col}_sum"] = t[col].sum().cast("float64")
        metrics[f"{col}_mean"] = t[col].mean().cast("float64")
    expr = t.group_by(person_col).aggregate(**metrics)
    return _run(expr, events, person_col)
