"""How well a purchase model forecasts a holdout period: the checks of the BTYD literature.

- :func:`holdout_table`: mean actual vs expected holdout transactions per calibration
  frequency (0, 1, ..., 7+), the conditional-expectation table of Fader, Hardie & Lee (2005).
- :func:`forecast_errors`: totals, aggregate error, per-customer MAE / RMSE.
- :func:`cumulative_tracking`: cumulative repeat transactions of a cohort, actual vs expected
  over calendar time (the paper's tracking plot).

Example:
    >>> import numpy as np
    >>> errors = forecast_errors(np.array([0, 2, 1]), np.array([0.5, 1.5, 1.0]))
    >>> errors.total_actual, errors.total_expected, errors.mae
    (3.0, 3.0, 0.3333333333333333)
    >>> holdout_table([0, 1, 9], [0, 2, 1], [0.5, 1.5, 1.0], max_frequency=2).to_pydict()["label"]
    ['0', '1', '2+']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numpy.typing import ArrayLike

from aidmp.errors import ValidationError
from aidmp.ml.clv.bgnbd import BGNBD
from aidmp.ml.clv.common import FloatArray, as_float


@dataclass(frozen=True)
class ForecastErrors:
    """Holdout forecast quality over a set of customers.

    Attributes:
        customers: number of customers compared.
        total_actual: sum of the actual holdout transactions.
        total_expected: sum of the expected ones.
        aggregate_error: (total_expected - total_actual) / total_actual.
        mae: mean absolute error per customer.
        rmse: root mean squared error per customer.
    """

    customers: int
    total_actual: float
    total_expected: float
    aggregate_error: float
    mae: float
    rmse: float


def _pair(actual: ArrayLike, expected: ArrayLike) -> tuple[FloatArray, FloatArray]:
    act, exp = as_float("actual", actual).ravel(), as_float("expected", expected).ravel()
    if act.shape != exp.shape or act.size == 0:
        raise ValidationError(f"actual and expected must be non-empty and of the same length, "
                              f"got {act.size} and {exp.size}", field="expected")
    return act, exp


def forecast_errors(actual: ArrayLike, expected: ArrayLike) -> ForecastErrors:
    """Compare per-customer actual and expected holdout transaction counts."""
    act, exp = _pair(actual, expected)
    total_actual, total_expected = float(act.sum()), float(exp.sum())
    diff = exp - act
    return ForecastErrors(
        customers=int(act.size), total_actual=total_actual, total_expected=total_expected,
        aggregate_error=(total_expected - total_actual) / total_actual if total_actual
        else float("nan"),
        mae=float(np.abs(diff).mean()), rmse=float(np.sqrt(np.mean(diff * diff))))


def holdout_table(frequency: ArrayLike, actual: ArrayLike, expected: ArrayLike, *,
                  max_frequency: int = 7) -> pa.Table:
    """Mean actual and expected holdout transactions by calibration frequency.

    Args:
        frequency: calibration repeat purchases per customer.
        actual: holdout transactions per customer (``frequency_holdout``).
        expected: the model's expectation for the holdout period, e.g.
            ``model.expected_purchases(duration_holdout, frequency, recency, T)``.
        max_frequency: the last bin gathers every customer with at least this frequency.

    Returns:
        Arrow table, one row per bin 0..max_frequency: ``frequency`` (the bin's lower
        bound), ``label`` ("7+" for the last), ``customers``, ``actual_mean``,
        ``expected_mean`` (NaN means for an empty bin).
    """
    if max_frequency < 1:
        raise ValidationError(f"must be >= 1, got {max_frequency}", field="max_frequency")
    act, exp = _pair(actual, expected)
    freq = as_float("frequency", frequency).ravel()
    if freq.shape != act.shape:
        raise ValidationError(f"must have one value per customer ({act.size}), got "
                              f"{freq.size}", field="frequency")
    bins = np.minimum(freq, max_frequency).astype(np.int64)
    if np.any(bins < 0):
        raise ValidationError("must be >= 0", field="frequency")
    n = max_frequency + 1
    counts = np.bincount(bins, minlength=n).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        actual_mean = np.bincount(bins, weights=act, minlength=n) / counts
        expected_mean = np.bincount(bins, weights=exp, minlength=n) / counts
    labels = [str(k) for k in range(max_frequency)] + [f"{max_frequency}+"]
    return pa.table({
        "frequency": pa.array(np.arange(n), pa.int64()),
        "label": labels,
        "customers": pa.array(counts.astype(np.int64)),
        "actual_mean": actual_mean,
        "expected_mean": expected_mean,
    })


def cumulative_tracking(model: BGNBD, birth_times: ArrayLike, repeat_times: ArrayLike,
                        times: ArrayLike) -> pa.Table:
    """Cumulative repeat transactions of a cohort, actual vs expected, at each of ``times``.

    All times share one origin and unit (e.g. weeks since the cohort's first day).

    Args:
        model: a fitted BG/NBD model in that unit.
        birth_times: each customer's first purchase time.
        repeat_times: the time of every repeat transaction of those customers.
        times: where to evaluate; a transaction counts at ``time`` if it happened before it.

    Returns:
        Arrow table: ``time``, ``actual`` (count), ``expected`` (the sum over customers of
        the expected repeat purchases of a new customer in ``time - birth``).
    """
    births = as_float("birth_times", birth_times).ravel()
    repeats = np.sort(as_float("repeat_times", repeat_times).ravel())
    at = as_float("times", times).ravel()
    ages = np.maximum(at[:, None] - births[None, :], 0.0)
    expected = model.expected_purchases_new(ages).sum(axis=1)
    actual = np.searchsorted(repeats, at, side="left")
    return pa.table({"time": at, "actual": pa.array(actual, pa.int64()), "expected": expected})
