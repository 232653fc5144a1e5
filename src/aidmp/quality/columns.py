"""Column-wise normalisers over a polars Series or a pyarrow array, for bulk cleaning.

Each returns ``(values, reasons)`` of the same length and kind as the input (polars in,
polars out; Arrow in, Arrow out): ``values`` is null where the input was refused and
``reasons`` is null where it was accepted. E-mail and epoch numbers are vectorised as polars
expressions; the others run the scalar normaliser once per *distinct* value and map the
answers back, so a column with repeated values (countries, currencies, dates) costs little.

Example:
    >>> import polars as pl
    >>> values, reasons = email_column(pl.Series(["A@B.COM", "n/a", "x@y"]))
    >>> values.to_list(), reasons.to_list()
    (['a@b.com', None, None], [None, 'missing', 'domain has no dot'])
    >>> country_column(pl.Series(["UK", "uk", "Narnia"]))[0].to_list()
    ['GB', 'GB', None]
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Literal, TypeVar, overload

import polars as pl
import pyarrow as pa

from aidmp.errors import ValidationError
from aidmp.quality.money import Money, normalize_currency_amount
from aidmp.quality.normalize import (
    EMAIL_DOMAIN_LABEL,
    EMAIL_LOCAL_CHARS,
    EMAIL_TLD,
    NULL_TOKENS,
    Invalid,
    normalize_country,
    normalize_email,
    normalize_phone,
    normalize_timestamp,
)

__all__ = [
    "KINDS",
    "country_column",
    "currency_column",
    "email_column",
    "normalize_column",
    "phone_column",
    "timestamp_column",
]

C = TypeVar("C", pl.Series, pa.Array, pa.ChunkedArray)
Kind = Literal["email", "phone", "timestamp", "country", "currency"]
KINDS: tuple[Kind, ...] = ("email", "phone", "timestamp", "country", "currency")


def _series(values: pl.Series | pa.Array | pa.ChunkedArray) -> pl.Series:
    if isinstance(values, pl.Series):
        return values
    if isinstance(values, pa.Array | pa.ChunkedArray):
        series = pl.from_arrow(values)
        assert isinstance(series, pl.Series)
        return series
    raise ValidationError(f"expected a polars Series or a pyarrow array, got "
                          f"{type(values).__name__}", field="values")


@overload
def _back(result: pl.Series, like: pl.Series) -> pl.Series: ...
@overload
def _back(
    result: pl.Series, like: pa.Array | pa.ChunkedArray
) -> pa.Array | pa.ChunkedArray: ...
def _back(
    result: pl.Series, like: pl.Series | pa.Array | pa.ChunkedArray
) -> pl.Series | pa.Array | pa.ChunkedArray:
    if isinstance(like, pl.Series):
        return result.alias(like.name)
    arrow = result.to_arrow()
    if isinstance(like, pa.ChunkedArray):
        return pa.chunked_array([arrow], type=arrow.type)
    return arrow


def _remap(series: pl.Series, distinct: pl.Series, new: list[object],
           dtype: pl.DataType | type[pl.DataType]) -> pl.Series:
    return series.replace_strict(distinct, pl.Series(new, dtype=dtype), default=None,
                                 return_dtype=dtype)


def _distinct_results(
    series: pl.Series, fn: Callable[[object], object]
) -> tuple[pl.Series, list[object], pl.Series]:
    """Distinct non-null values, ``fn`` of each, and the per-row reasons (null input: missing)."""
    distinct = series.drop_nulls().unique()
    results = [fn(value) for value in distinct.to_list()]
    reasons: list[object] = [r.reason if isinstance(r, Invalid) else None for r in results]
    why = _remap(series, distinct, reasons, pl.String)
    why = pl.select(pl.when(series.is_null()).then(pl.lit("missing")).otherwise(why)).to_series()
    return distinct, results, why


def map_distinct(
    series: pl.Series, fn: Callable[[object], object], dtype: pl.DataType | type[pl.DataType],
    convert: Callable[[object], object] = lambda v: v,
) -> tuple[pl.Series, pl.Series]:
    """Apply a scalar normaliser once per distinct non-null value and map the answers back."""
    distinct, results, why = _distinct_results(series, fn)
    outputs = [None if isinstance(r, Invalid) else convert(r) for r in results]
    return _remap(series, distinct, outputs, dtype), why


# --- e-mail: the rules of normalize_email as polars expressions ----------------------------------
def _email_frame(series: pl.Series) -> pl.DataFrame:
    """Columns ``out`` and ``why``; intermediate texts are materialised once, not re-derived
    inside every rule (polars does not share sub-expressions across a when/then chain)."""
    text = pl.col("v").str.strip_chars()
    inner = text.str.extract(r"^[^<>]*<([^<>]*)>\s*$", 1)
    lowered = pl.coalesce(inner.str.strip_chars(), text).str.to_lowercase()
    t = pl.col("t")
    frame = pl.DataFrame({"v": series}).with_columns(lowered.alias("t")).with_columns(
        pl.when(t.str.starts_with("mailto:"))
        .then(t.str.slice(7).str.split("?").list.first().str.strip_chars())
        .otherwise(t).alias("t"))
    frame = frame.with_columns(
        t.str.count_matches("@", literal=True).alias("ats"),
        t.str.split("@").alias("parts"),
    ).with_columns(
        pl.col("parts").list.first().alias("local"), pl.col("parts").list.last().alias("domain"))
    ats, local, domain = pl.col("ats"), pl.col("local"), pl.col("domain")
    rules: list[tuple[pl.Expr, str]] = [
        (t.is_in(sorted(NULL_TOKENS)), "missing"),
        (t.str.contains(r"\s"), "contains whitespace"),
        (ats == 0, "missing @"),
        (ats > 1, "more than one @"),
        (local == "", "empty local part"),
        (domain == "", "empty domain"),
        (t.str.contains("..", literal=True), "consecutive dots"),
        (local.str.starts_with(".") | local.str.ends_with("."),
         "local part starts or ends with a dot"),
        (domain.str.starts_with(".") | domain.str.ends_with("."),
         "domain starts or ends with a dot"),
        (~domain.str.contains(".", literal=True), "domain has no dot"),
        ((local.str.len_chars() > 64) | (t.str.len_chars() > 254), "too long"),
        (~local.str.contains(rf"^{EMAIL_LOCAL_CHARS}$"), "invalid character in local part"),
        (~domain.str.contains(rf"^(?:{EMAIL_DOMAIN_LABEL}\.)+{EMAIL_TLD}$"), "invalid domain"),
    ]
    # Each rule becomes its own column, then the first failing one (in the scalar's order) wins.
    frame = frame.with_columns(
        pl.when(cond).then(pl.lit(why)).alias(f"r{i}") for i, (cond, why) in enumerate(rules))
    why_expr = pl.when(pl.col("v").is_null()).then(pl.lit("missing")).otherwise(
        pl.coalesce([pl.col(f"r{i}") for i in range(len(rules))]))
    return frame.select(
        pl.when(why_expr.is_null()).then(t).alias("out"), why_expr.alias("why"),
        pl.col("v").str.contains(r"^[\x00-\x7F]*$").alias("ascii"))


def email_column(values: C) -> tuple[C, C]:
    """:func:`~aidmp.quality.normalize.normalize_email` over a column.

    ASCII values run as polars expressions; the rare non-ASCII ones (internationalised
    domains) go through the scalar normaliser.
    """
    series = _series(values)
    if series.dtype != pl.String:
        series = series.cast(pl.String)
    frame = _email_frame(series)
    out, why = frame["out"].clone(), frame["why"].clone()
    slow = ~frame["ascii"].fill_null(True)
    if slow.any():
        rows = slow.arg_true()
        slow_out, slow_why = map_distinct(series.filter(slow), normalize_email, pl.String)
        out, why = out.scatter(rows, slow_out), why.scatter(rows, slow_why)
    return _back(out, values), _back(why.alias("reason"), values)


def phone_column(values: C, region: str = "US") -> tuple[C, C]:
    """:func:`~aidmp.quality.normalize.normalize_phone` over a column (E.164 text)."""
    series = _series(values)
    out, why = map_distinct(series, partial(normalize_phone, region=region), pl.String)
    return _back(out, values), _back(why.alias("reason"), values)


def country_column(values: C) -> tuple[C, C]:
    """:func:`~aidmp.quality.normalize.normalize_country` over a column (ISO-2 codes)."""
    out, why = map_distinct(_series(values), normalize_country, pl.String)
    return _back(out, values), _back(why.alias("reason"), values)


def _iso_to_datetime(text: object) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


_UTC_US = pl.Datetime("us", "UTC")


def timestamp_column(
    values: C, *, dayfirst: bool = False, assume_tz: str = "UTC",
    years: tuple[int, int] = (1900, 2100),
) -> tuple[C, C]:
    """:func:`~aidmp.quality.normalize.normalize_timestamp` over a column.

    Returns a ``Datetime("us", "UTC")`` column (not ISO text: a column is for computing).
    Temporal columns are converted and numeric ones read as epoch numbers, both vectorised;
    text goes through the scalar parser once per distinct value.
    """
    series = _series(values)
    dtype = series.dtype
    if dtype == pl.Date:
        series, dtype = series.cast(pl.Datetime("us")), pl.Datetime("us")
    if isinstance(dtype, pl.Datetime):
        out = (series.dt.replace_time_zone(assume_tz) if dtype.time_zone is None else series)
        out = out.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
        why = pl.select(pl.when(series.is_null()).then(pl.lit("missing"))).to_series()
    elif dtype.is_numeric():
        out, why = _epoch_column(series.cast(pl.Float64))
    else:
        fn = partial(normalize_timestamp, dayfirst=dayfirst, assume_tz=assume_tz, years=years)
        out, why = map_distinct(series, fn, _UTC_US, _iso_to_datetime)
    year = out.dt.year()
    bad = (year < years[0]) | (year > years[1])
    out, why = pl.select(
        pl.when(bad).then(None).otherwise(out).alias("o"),
        pl.when(bad).then(pl.lit("out of range")).otherwise(why).alias("w"),
    ).get_columns()
    return _back(out, values), _back(why.alias("reason"), values)


def _epoch_column(seconds_or_more: pl.Series) -> tuple[pl.Series, pl.Series]:
    x = pl.col("x")
    size = x.abs()
    # Same magnitude rule as aidmp.quality.normalize.epoch_unit.
    micros = (pl.when(size < 1e11).then(x * 1e6).when(size < 1e14).then(x * 1e3)
              .when(size < 1e17).then(x).otherwise(x / 1e3))
    ok = x.is_finite() & (micros.abs() < 2**62)  # beyond that, Int64 microseconds overflow
    frame = pl.DataFrame({"x": seconds_or_more}).select(
        pl.when(ok).then(pl.from_epoch(micros.round().cast(pl.Int64), time_unit="us"))
        .dt.replace_time_zone("UTC").alias("o"),
        pl.when(x.is_null() | x.is_nan()).then(pl.lit("missing"))
        .when(~x.is_finite()).then(pl.lit("not a timestamp"))
        .when(~ok).then(pl.lit("out of range")).alias("w"),
    )
    return frame["o"], frame["w"]


def currency_column(
    values: C, *, default_currency: str | None = None,
    decimal: Literal["auto", ".", ","] = "auto",
) -> tuple[C, C]:
    """:func:`~aidmp.quality.money.normalize_currency_amount` over a column.

    Values are a struct column ``{amount: Decimal, currency: String}``; the decimal scale is
    the largest one seen, so every amount stays exact.
    """
    series = _series(values)
    fn = partial(normalize_currency_amount, default_currency=default_currency, decimal=decimal)
    distinct, results, why = _distinct_results(series, fn)
    money = [r for r in results if isinstance(r, Money)]
    scale = max((max(0, -int(m.amount.as_tuple().exponent)) for m in money), default=0)
    quantum = Decimal(1).scaleb(-scale)
    amounts: list[object] = [
        str(r.amount.quantize(quantum)) if isinstance(r, Money) else None for r in results]
    codes: list[object] = [r.currency if isinstance(r, Money) else None for r in results]
    out = pl.DataFrame({
        "amount": _remap(series, distinct, amounts, pl.String).cast(pl.Decimal(38, scale)),
        "currency": _remap(series, distinct, codes, pl.String),
    }).select(pl.when(why.is_null()).then(pl.struct("amount", "currency")).alias(series.name)
              ).to_series()
    return _back(out, values), _back(why.alias("reason"), values)


def normalize_column(values: C, kind: Kind, **options: object) -> tuple[C, C]:
    """Normalise a column by kind name (``email``, ``phone``, ``timestamp``, ``country``,
    ``currency``), passing ``options`` to that normaliser.

    Raises:
        ValidationError: unknown kind.
    """
    functions: dict[str, Callable[..., tuple[C, C]]] = {
        "email": email_column, "phone": phone_column, "timestamp": timestamp_column,
        "country": country_column, "currency": currency_column,
    }
    fn = functions.get(kind)
    if fn is None:
        raise ValidationError(f"unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}",
                              field="kind")
    return fn(values, **options)
