"""Per-customer frequency / recency / T / monetary summaries of a transaction log, as ibis.

The conventions of Fader & Hardie and of lifetimes: purchases on the same customer-day merge
into one transaction; the first purchase is time 0 and only *repeat* purchases count, so
``frequency`` is the number of distinct purchase days minus one; ``recency`` is the time from
the first to the last purchase day; ``T`` the time from the first purchase day to the end of
the calibration period; ``monetary_value`` the mean value of the repeat transactions. Times are
in days (``freq="D"``) or weeks of seven days (``freq="W"``, fractional, as in the papers; not
calendar-week buckets).

:func:`summary_expr` builds the query for any aidmp engine; :func:`transaction_summary` runs it
on an in-memory pandas / polars / Arrow frame.

Example:
    >>> import pyarrow as pa
    >>> log = pa.table({"customer": ["a", "a", "a", "b"],
    ...                 "day": ["2024-01-01", "2024-01-01", "2024-01-15", "2024-01-08"],
    ...                 "value": [10.0, 5.0, 20.0, 7.0]})
    >>> out = transaction_summary(log, customer_col="customer", date_col="day",
    ...                           value_col="value", freq="W", date_format="%Y-%m-%d",
    ...                           observation_end="2024-01-29")
    >>> out.select(["customer", "frequency", "recency", "T", "monetary_value"]).to_pylist()[0]
    {'customer': 'a', 'frequency': 1, 'recency': 2.0, 'T': 4.0, 'monetary_value': 20.0}
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Literal

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from aidmp.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

Freq = Literal["D", "W"]
_UNIT_DAYS = {"D": 1, "W": 7}


def _as_date(value: date | str | None, field: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError) as e:
        raise ValidationError(f"must be a date or an ISO date text like '1997-09-30', got "
                              f"{value!r}", field=field) from e


def _day_column(table: ibis.Table, date_col: str, date_format: str | None) -> ir.IntegerColumn:
    """The purchase day as days since 1970-01-01 (integer arithmetic on every engine)."""
    column = table[date_col]
    dtype = column.type()
    if dtype.is_string():
        if date_format is None:
            raise ValidationError("is text: pass date_format (e.g. '%Y%m%d') or a date column",
                                  field="date_col")
        day = column.as_date(date_format)
    elif dtype.is_timestamp():
        day = column.date()
    elif dtype.is_date():
        day = column
    else:
        raise ValidationError(f"must be a date, timestamp or text column, not {dtype}",
                              field="date_col")
    return day.epoch_days()


def _in_units(days: ir.IntegerValue, unit: float) -> ir.FloatingValue:
    # Cast before dividing: Spark SQL reads the literal 7.0 as a DECIMAL and would return one.
    return days.cast("float64") / ibis.literal(unit, type="float64")


def summary_expr(
    table: ibis.Table,
    *,
    customer_col: str,
    date_col: str,
    value_col: str | None = None,
    freq: Freq = "W",
    calibration_end: date | str | None = None,
    observation_end: date | str | None = None,
    date_format: str | None = None,
) -> ibis.Table:
    """The per-customer summary of a transaction table, as an engine-neutral ibis expression.

    Args:
        table: one row per purchase line (several lines of a customer-day are merged).
        customer_col: the customer id column; it is kept under its name.
        date_col: purchase date or timestamp (or text parsed with ``date_format``).
        value_col: optional purchase value; adds ``monetary_value`` (and
            ``monetary_holdout``).
        freq: time unit of recency and T: ``"D"`` days or ``"W"`` weeks (days / 7).
        calibration_end: last day (inclusive) of the calibration period. When given, the
            result also has ``frequency_holdout``, ``duration_holdout`` and, with a value
            column, ``monetary_holdout`` for the purchases after it up to ``observation_end``.
        observation_end: last day (inclusive) of the data to use; the latest purchase day by
            default. Without ``calibration_end`` it is the end T is measured to.
        date_format: strptime format for a text ``date_col``, e.g. ``"%Y%m%d"``.

    Returns:
        One row per customer with a purchase up to the calibration end (or the observation
        end), ordered by customer: ``frequency`` (int64), ``recency``, ``T`` (float64),
        [``monetary_value``], [``frequency_holdout``, ``monetary_holdout``,
        ``duration_holdout``].
    """
    if freq not in _UNIT_DAYS:
        raise ValidationError(f"unknown freq {freq!r}; valid: 'D' (days), 'W' (weeks)",
                              field="freq")
    for field, name in (("customer_col", customer_col), ("date_col", date_col),
                        ("value_col", value_col)):
        if name is not None and name not in table.columns:
            raise ValidationError(f"no column {name!r}; columns: {', '.join(table.columns)}",
                                  field=field)
    cal_end = _as_date(calibration_end, "calibration_end")
    obs_end = _as_date(observation_end, "observation_end")
    if cal_end is not None and obs_end is not None and obs_end < cal_end:
        raise ValidationError(f"must not be before calibration_end ({cal_end})",
                              field="observation_end")
    unit = float(_UNIT_DAYS[freq])

    lines = table.select(
        customer=table[customer_col], day=_day_column(table, date_col, date_format),
        value=table[value_col].cast("float64") if value_col else ibis.literal(0.0))
    lines = lines.filter(lines.customer.notnull(), lines.day.notnull())
    if obs_end is not None:
        lines = lines.filter(lines.day <= ibis.date(obs_end).epoch_days())
    days = lines.group_by(["customer", "day"]).agg(value=lines.value.sum())
    # The default end is the latest purchase day of the whole log, carried on every row.
    days = days.mutate(end=days.day.max() if obs_end is None
                       else ibis.date(obs_end).epoch_days())
    cal_day = None if cal_end is None else ibis.date(cal_end).epoch_days()

    calib = days if cal_day is None else days.filter(days.day <= cal_day)
    summary = calib.group_by("customer").agg(
        n_days=calib.count(), first=calib.day.min(), last=calib.day.max(),
        total=calib.value.sum(), first_value=calib.value.argmin(calib.day), end=calib.end.max())
    frequency = (summary.n_days - 1).cast("int64")
    columns: dict[str, ir.Value] = {
        customer_col: summary.customer,
        "frequency": frequency,
        "recency": _in_units(summary["last"] - summary["first"], unit),
        "T": _in_units((summary.end if cal_day is None else cal_day) - summary["first"], unit),
    }
    if value_col:
        columns["monetary_value"] = ibis.ifelse(
            frequency > 0, (summary.total - summary.first_value) / frequency, 0.0
        ).cast("float64")
    result = summary.select(**columns)

    if cal_day is not None:
        later = days.filter(days.day > cal_day)
        hold = later.group_by("customer").agg(n_hold=later.count(), hold_value=later.value.sum())
        joined = result.left_join(hold, result[customer_col] == hold.customer)
        n_hold = joined.n_hold.fill_null(0).cast("int64")
        extra: dict[str, ir.Value] = {"frequency_holdout": n_hold}
        if value_col:
            extra["monetary_holdout"] = ibis.ifelse(
                n_hold > 0, joined.hold_value / n_hold, 0.0).cast("float64")
        end = (ibis.date(obs_end).epoch_days() if obs_end is not None
               else days.end.max().as_scalar())
        extra["duration_holdout"] = _in_units(end - cal_day, unit)
        result = joined.select(*result.columns, **extra)
    return result.order_by(customer_col)


def transaction_summary(
    transactions: pd.DataFrame | pl.DataFrame | pa.Table,
    *,
    customer_col: str,
    date_col: str,
    value_col: str | None = None,
    freq: Freq = "W",
    calibration_end: date | str | None = None,
    observation_end: date | str | None = None,
    date_format: str | None = None,
) -> pa.Table:
    """:func:`summary_expr` run on an in-memory frame (pandas, polars or Arrow).

    Uses a throw-away in-memory DuckDB through ibis; data already in an aidmp engine should
    go through ``engine.execute(summary_expr(engine.table(...), ...))`` instead.
    """
    expr = summary_expr(
        ibis.memtable(transactions), customer_col=customer_col, date_col=date_col,
        value_col=value_col, freq=freq, calibration_end=calibration_end,
        observation_end=observation_end, date_format=date_format)
    con = ibis.duckdb.connect()
    try:
        return con.to_pyarrow(expr)
    finally:
        con.disconnect()
