"""Missing values: one typed policy per column, applied to a polars frame with a report.

A value is missing when it is null, or NaN in a float column. Policies run in two passes:
first every ``drop`` policy removes the rows where its column is missing, then the fills run,
each statistic (mean, median, mode) computed on the rows that remain.

Example:
    >>> import polars as pl
    >>> df = pl.DataFrame({"age": [20.0, None, 40.0], "plan": ["pro", None, "pro"]})
    >>> out, report = apply_missing(df, [
    ...     MissingPolicy(column="age", strategy="mean"),
    ...     MissingPolicy(column="plan", strategy="constant", value="free")])
    >>> out.to_dict(as_series=False)
    {'age': [20.0, 30.0, 40.0], 'plan': ['pro', 'free', 'pro']}
    >>> report.columns[0].filled, report.columns[0].fill_value
    (1, 30.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Literal, Self

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from aidmp.errors import ValidationError

__all__ = ["ColumnFill", "MissingPolicy", "MissingReport", "apply_missing"]

Strategy = Literal["drop", "mean", "median", "mode", "interpolate", "constant"]
FillValue = bool | int | float | str | date | datetime
_NUMERIC_ONLY = frozenset({"mean", "median", "interpolate"})


class MissingPolicy(BaseModel):
    """What to do with the missing values of one column."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    column: str = Field(min_length=1, description="column the policy applies to")
    strategy: Strategy = Field(description=(
        "drop: remove the rows; mean / median: fill with the column's statistic (numeric); "
        "mode: most frequent value (ties: the smallest); interpolate: linear between the "
        "neighbouring values in row order (leading / trailing gaps stay missing); "
        "constant: fill with `value`"))
    value: FillValue | None = Field(default=None, description="the fill of a constant policy")

    @model_validator(mode="after")
    def _value_matches_strategy(self) -> Self:
        if self.strategy == "constant" and self.value is None:
            raise ValueError("a constant policy needs a value")
        if self.strategy != "constant" and self.value is not None:
            raise ValueError(f"value is only used by the constant strategy, not {self.strategy}")
        return self


class ColumnFill(BaseModel):
    """What a policy did to one column."""

    model_config = ConfigDict(extra="forbid")

    column: str
    strategy: Strategy
    missing: int = Field(description="missing values before the policy ran")
    filled: int = Field(description="values filled")
    dropped: int = Field(description="rows removed because this column was missing")
    fill_value: FillValue | None = Field(description="the value filled in (None if none)")
    remaining: int = Field(description="missing values left (interpolate leaves edge gaps)")


class MissingReport(BaseModel):
    """Per-column counts of an :func:`apply_missing` run."""

    model_config = ConfigDict(extra="forbid")

    rows_in: int
    rows_out: int
    columns: list[ColumnFill]

    @property
    def rows_dropped(self) -> int:
        """Rows removed by the drop policies together."""
        return self.rows_in - self.rows_out


def _missing(df: pl.DataFrame, column: str) -> pl.Expr:
    expr = pl.col(column).is_null()
    if df.schema[column].is_float():
        expr = expr | pl.col(column).is_nan()
    return expr


def _check(df: pl.DataFrame, policies: Sequence[MissingPolicy]) -> None:
    seen: set[str] = set()
    for policy in policies:
        if policy.column not in df.columns:
            raise ValidationError(f"unknown column {policy.column!r}; columns: "
                                  f"{', '.join(df.columns)}", field="column")
        if policy.column in seen:
            raise ValidationError(f"more than one policy for column {policy.column!r}",
                                  field="column")
        seen.add(policy.column)
        dtype = df.schema[policy.column]
        if policy.strategy in _NUMERIC_ONLY and not dtype.is_numeric():
            raise ValidationError(
                f"strategy {policy.strategy!r} needs a numeric column; {policy.column!r} is "
                f"{dtype}. Use mode, constant or drop", field="strategy")
        if policy.strategy == "constant":
            try:
                pl.Series([policy.value]).cast(dtype, strict=True)
            except (pl.exceptions.PolarsError, TypeError) as exc:
                raise ValidationError(
                    f"constant {policy.value!r} does not fit column {policy.column!r} of type "
                    f"{dtype}", field="value") from exc


def _statistic(column: pl.Series, strategy: Strategy) -> FillValue | None:
    present = column.drop_nulls()
    if column.dtype.is_float():
        present = present.filter(present.is_not_nan())
    if present.is_empty():
        return None
    if strategy == "mean":
        return float(present.mean())  # type: ignore[arg-type]
    if strategy == "median":
        return float(present.median())  # type: ignore[arg-type]
    value: FillValue = present.mode().sort()[0]
    return value


def apply_missing(
    df: pl.DataFrame, policies: Sequence[MissingPolicy]
) -> tuple[pl.DataFrame, MissingReport]:
    """Apply missing-value policies; return the new frame and what was filled or dropped.

    Mean, median and interpolate turn an integer column into a float one (the fill is rarely
    a whole number); constant and mode keep the column's type.

    Raises:
        ValidationError: unknown or repeated column, a numeric strategy on a non-numeric
            column, or a constant that does not fit the column's type.
    """
    _check(df, policies)
    before = {p.column: int(df.select(_missing(df, p.column).sum()).item()) for p in policies}
    drops = [p.column for p in policies if p.strategy == "drop"]
    out = df.filter(~pl.any_horizontal([_missing(df, c) for c in drops])) if drops else df
    results: list[ColumnFill] = []
    for policy in policies:
        name = policy.column
        if policy.strategy == "drop":
            results.append(ColumnFill(column=name, strategy="drop", missing=before[name],
                                      filled=0, dropped=before[name], fill_value=None,
                                      remaining=0))
            continue
        gaps = int(out.select(_missing(out, name).sum()).item())
        col = pl.col(name)
        if out.schema[name].is_float():
            col = col.fill_nan(None)
        fill: FillValue | None
        if policy.strategy == "interpolate":
            fill, new = None, col.interpolate()
        else:
            fill = policy.value if policy.strategy == "constant" else _statistic(
                out[name], policy.strategy)
            new = col if fill is None else col.fill_null(pl.lit(fill))
            if policy.strategy in ("constant", "mode"):
                new = new.cast(out.schema[name])
        out = out.with_columns(new.alias(name))
        left = int(out.select(_missing(out, name).sum()).item())
        results.append(ColumnFill(column=name, strategy=policy.strategy, missing=before[name],
                                  filled=gaps - left, dropped=0, fill_value=fill,
                                  remaining=left))
    return out, MissingReport(rows_in=df.height, rows_out=out.height, columns=results)
