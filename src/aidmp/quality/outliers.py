"""Outlier flags: IQR fences, z-scores or an IsolationForest; rows are flagged, never deleted.

:class:`OutlierDetector` is a scikit-learn-style estimator: ``fit`` learns the fences (or the
forest) from one frame, ``flag`` marks any frame with a boolean column and a reason such as
``"revenue 9,800 above IQR fence 412.5"``. :func:`flag_outliers` does both on one frame.
Missing values are never flagged.

Example:
    >>> import polars as pl
    >>> df = pl.DataFrame({"revenue": [100.0, 120.0, 130.0, 150.0, 9800.0]})
    >>> out = flag_outliers(df, "revenue")
    >>> out["is_outlier"].to_list()
    [False, False, False, False, True]
    >>> out["outlier_reason"][4]
    'revenue 9,800 above IQR fence 195'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Self

import numpy as np
import polars as pl

from aidmp.errors import ValidationError

__all__ = ["OutlierDetector", "flag_outliers", "format_number"]

Method = Literal["iqr", "zscore", "isolation_forest"]
_METHODS: tuple[Method, ...] = ("iqr", "zscore", "isolation_forest")


def format_number(x: float) -> str:
    """A number as people read it: ``9,800``, ``412.5``, ``0.0123``."""
    if abs(x) >= 1:
        text = f"{x:,.2f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return f"{x:.3g}"


class OutlierDetector:
    """Learns what is normal for some numeric columns and flags what is not.

    Args:
        columns: the numeric columns to check.
        method: ``"iqr"`` (outside ``[Q1 - k*IQR, Q3 + k*IQR]``, quartiles by linear
            interpolation as numpy's default), ``"zscore"`` (``|x - mean| / std > threshold``,
            population std as ``scipy.stats.zscore``), or ``"isolation_forest"`` (scikit-learn,
            all columns together; rows with a missing value are not scored).
        k: IQR fence multiplier.
        threshold: z-score limit.
        contamination: IsolationForest's expected outlier share (``"auto"`` or a float).
        random_state: seed of the forest.
        flag_column: name of the boolean flag column added.
        reason_column: name of the reason text column added.

    Attributes:
        fences_: per column, the (low, high) bounds (``iqr``, ``zscore``).
        stats_: per column, (mean, std) for ``zscore``.
        forest_: the fitted ``sklearn.ensemble.IsolationForest``.
    """

    def __init__(
        self, columns: str | Sequence[str], method: Method = "iqr", *, k: float = 1.5,
        threshold: float = 3.0, contamination: float | Literal["auto"] = "auto",
        random_state: int = 0, flag_column: str = "is_outlier",
        reason_column: str = "outlier_reason",
    ) -> None:
        self.columns = columns
        self.method = method
        self.k = k
        self.threshold = threshold
        self.contamination = contamination
        self.random_state = random_state
        self.flag_column = flag_column
        self.reason_column = reason_column

    @property
    def _columns(self) -> list[str]:
        return [self.columns] if isinstance(self.columns, str) else list(self.columns)

    def _validate(self, df: pl.DataFrame) -> None:
        if self.method not in _METHODS:
            raise ValidationError(f"unknown method {self.method!r}; valid methods: "
                                  f"{', '.join(_METHODS)}", field="method")
        if not self._columns:
            raise ValidationError("name at least one column", field="columns")
        for name in self._columns:
            if name not in df.columns:
                raise ValidationError(f"unknown column {name!r}; columns: "
                                      f"{', '.join(df.columns)}", field="columns")
            if not df.schema[name].is_numeric():
                raise ValidationError(f"column {name!r} is {df.schema[name]}, not numeric",
                                      field="columns")

    def _values(self, df: pl.DataFrame, name: str) -> pl.Series:
        values = df[name].cast(pl.Float64)
        return values.fill_nan(None)

    def fit(self, df: pl.DataFrame) -> Self:
        """Learn the fences (or the forest) from ``df``; returns ``self``."""
        self._validate(df)
        self.fences_: dict[str, tuple[float, float]] = {}
        self.stats_: dict[str, tuple[float, float]] = {}
        if self.method == "isolation_forest":
            from sklearn.ensemble import IsolationForest

            matrix = self._matrix(df)
            complete = ~np.isnan(matrix).any(axis=1)
            if not complete.any():
                raise ValidationError("no row has all the columns present", field="columns")
            self.forest_ = IsolationForest(contamination=self.contamination,
                                           random_state=self.random_state)
            self.forest_.fit(matrix[complete])
            return self
        for name in self._columns:
            values = self._values(df, name).drop_nulls()
            if values.is_empty():
                raise ValidationError(f"column {name!r} has no values to fit on",
                                      field="columns")
            if self.method == "iqr":
                q1 = float(values.quantile(0.25, "linear"))  # type: ignore[arg-type]
                q3 = float(values.quantile(0.75, "linear"))  # type: ignore[arg-type]
                spread = self.k * (q3 - q1)
                self.fences_[name] = (q1 - spread, q3 + spread)
            else:
                mean, std = float(values.mean()), float(values.std(ddof=0))  # type: ignore[arg-type]
                self.stats_[name] = (mean, std)
                self.fences_[name] = (mean - self.threshold * std, mean + self.threshold * std)
        return self

    def _matrix(self, df: pl.DataFrame) -> np.ndarray:
        return np.column_stack([self._values(df, c).to_numpy() for c in self._columns]).astype(
            np.float64)

    def flag(self, df: pl.DataFrame) -> pl.DataFrame:
        """``df`` with the flag and reason columns added (same rows, same order)."""
        if not hasattr(self, "fences_"):
            raise ValidationError("call fit() before flag()", field="detector")
        self._validate(df)
        if self.method == "isolation_forest":
            flags, reasons = self._flag_forest(df)
        else:
            flags, reasons = self._flag_fences(df)
        return df.with_columns(pl.Series(self.flag_column, flags, dtype=pl.Boolean),
                               pl.Series(self.reason_column, reasons, dtype=pl.String))

    def _flag_fences(self, df: pl.DataFrame) -> tuple[list[bool], list[str | None]]:
        reasons: list[list[str]] = [[] for _ in range(df.height)]
        for name in self._columns:
            low, high = self.fences_[name]
            values = self._values(df, name)
            outside = ((values < low) | (values > high)).fill_null(False)
            # Only the flagged rows get text, so the Python loop is over few values.
            for row in outside.arg_true().to_list():
                value = float(values[row])
                reasons[row].append(self._reason(name, value, low, high))
        return ([bool(r) for r in reasons], ["; ".join(r) if r else None for r in reasons])

    def _reason(self, name: str, value: float, low: float, high: float) -> str:
        side, fence = ("above", high) if value > high else ("below", low)
        if self.method == "iqr":
            return f"{name} {format_number(value)} {side} IQR fence {format_number(fence)}"
        mean, std = self.stats_[name]
        z = (value - mean) / std if std else float("inf")
        return (f"{name} {format_number(value)} has z-score {z:.2f} "
                f"({side} {format_number(fence)})")

    def _flag_forest(self, df: pl.DataFrame) -> tuple[list[bool], list[str | None]]:
        matrix = self._matrix(df)
        complete = ~np.isnan(matrix).any(axis=1)
        flags = np.zeros(df.height, dtype=bool)
        scores = np.full(df.height, np.nan)
        if complete.any():
            flags[complete] = self.forest_.predict(matrix[complete]) == -1
            scores[complete] = self.forest_.decision_function(matrix[complete])
        reasons: list[str | None] = [None] * df.height
        for row in np.flatnonzero(flags):
            shown = ", ".join(f"{c}={format_number(float(v))}"
                              for c, v in zip(self._columns, matrix[row], strict=True))
            reasons[row] = f"isolation forest score {scores[row]:.3f} < 0 ({shown})"
        return flags.tolist(), reasons


def flag_outliers(
    df: pl.DataFrame, columns: str | Sequence[str], method: Method = "iqr", *,
    k: float = 1.5, threshold: float = 3.0, contamination: float | Literal["auto"] = "auto",
    random_state: int = 0, flag_column: str = "is_outlier",
    reason_column: str = "outlier_reason",
) -> pl.DataFrame:
    """Fit an :class:`OutlierDetector` on ``df`` and flag its rows (see the class for args)."""
    detector = OutlierDetector(columns, method, k=k, threshold=threshold,
                               contamination=contamination, random_state=random_state,
                               flag_column=flag_column, reason_column=reason_column)
    return detector.fit(df).flag(df)
