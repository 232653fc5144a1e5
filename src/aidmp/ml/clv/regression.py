"""CLV by regression on customer features, and the holdout contest that picks a CLV model.

The regression is the seed documents' own CLV model, ``CLV = b0 + sum_j b_j x_j`` (a linear
regression), plus a tree ensemble (histogram gradient boosting) over the same features: what
a customer did up to a cut-off (orders, active days, recency, tenure, spend sum and mean).
They learn the *spend per day* in a window after a cut-off, so one fit forecasts any horizon.

Protocol (no look-ahead): with a calibration end ``c`` and a holdout ``(c, h]``, the
regressors are trained on features up to ``c - w`` and the spend in ``(c - w, c]`` (``w`` the
holdout length, at most half the calibration span); every candidate then forecasts the
holdout spend from the data up to ``c`` only, and is scored on what happened in ``(c, h]``:

- ``naive``: past spend per day (since the first purchase in the data) times the holdout days;
- ``bgnbd``: BG/NBD expected orders times the Gamma-Gamma expected spend per order;
- ``linear`` and ``tree``: the regressions above.

Each gets the mean absolute error per customer and the aggregate error of the total; the
lowest MAE among ``bgnbd``, ``linear`` and ``tree`` is chosen (``naive`` is the yardstick).

Example:
    >>> import numpy as np, pandas as pd
    >>> X = pd.DataFrame({"spend_per_day": [10.0, 20.0, 30.0, 40.0]})
    >>> reg = SpendRegressor("linear").fit(X, np.array([1.0, 2.0, 3.0, 4.0]))
    >>> [round(float(v), 6) for v in reg.predict(X, days=2.0)]
    [2.0, 4.0, 6.0, 8.0]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal, Self

import ibis
import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from aidmp.engine.base import Engine
from aidmp.errors import ValidationError
from aidmp.ml.clv.evaluate import forecast_errors
from aidmp.ml.propensity.data import history_features

__all__ = ["CANDIDATES", "REGRESSIONS", "SpendRegressor", "contest", "spend_frame"]

Regression = Literal["linear", "tree"]
REGRESSIONS: tuple[Regression, ...] = ("linear", "tree")
CANDIDATES = ("naive", "bgnbd", "linear", "tree")
# Rates over the observed span, not running totals: a total grows with the length of history,
# so a model trained on a shorter past would read every customer at scoring time as bigger.
FEATURES = ("orders_per_day", "active_share", "spend_per_day", "value_mean", "recency_days",
            "tenure_share")


class SpendRegressor:
    """Spend per day in a coming window, regressed on past behaviour (scikit-learn style).

    Args:
        method: ``"linear"`` (least squares on standardised features: CLV = b0 + sum b_j x_j)
            or ``"tree"`` (histogram gradient boosting, squared error).
        random_state: seed of the tree ensemble.

    Attributes:
        estimator_: the fitted scikit-learn pipeline.
        features_: the feature columns, in order.
        coefficients_: ``{"intercept": b0, <feature>: b_j}`` on the original scale (linear).
    """

    def __init__(self, method: Regression = "linear", random_state: int = 0) -> None:
        self.method = method
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, rate: NDArray[np.float64]) -> Self:
        """Learn spend per day (``rate``) from the features ``X``."""
        if self.method not in REGRESSIONS:
            raise ValidationError(f"unknown method {self.method!r}; valid: "
                                  f"{', '.join(REGRESSIONS)}", field="method")
        self.features_ = list(X.columns)
        data = X.to_numpy(dtype=np.float64)
        if self.method == "linear":
            self.estimator_: Pipeline = make_pipeline(StandardScaler(), LinearRegression())
        else:
            self.estimator_ = make_pipeline(HistGradientBoostingRegressor(
                max_iter=200, learning_rate=0.05, max_depth=4, min_samples_leaf=50,
                random_state=self.random_state))
        self.estimator_.fit(data, rate)
        self.coefficients_: dict[str, float] = {}
        if self.method == "linear":
            scale, lr = self.estimator_[0], self.estimator_[-1]
            slopes = lr.coef_ / scale.scale_
            self.coefficients_ = {"intercept": float(lr.intercept_ - slopes @ scale.mean_),
                                  **{f: float(b) for f, b in zip(self.features_, slopes,
                                                                 strict=True)}}
        return self

    def predict(self, X: pd.DataFrame, days: float) -> NDArray[np.float64]:
        """Expected spend in the next ``days`` (never below zero)."""
        rate = self.estimator_.predict(X[self.features_].to_numpy(dtype=np.float64))
        return np.maximum(np.asarray(rate, dtype=np.float64), 0.0) * days


def _day(value: date | str | pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).normalize()


def spend_frame(engine: Engine, tx: ibis.Table, cut: pd.Timestamp,
                end: pd.Timestamp | None, start: pd.Timestamp | None = None) -> pd.DataFrame:
    """Per customer with a purchase up to the end of day ``cut``: the :data:`FEATURES` up to it
    (rates over the days from ``start``, the first purchase day of the data by default) and,
    with an ``end``, ``future_value``, the spend in the days after ``cut`` up to ``end``."""
    if start is None:
        start = first_day(engine, tx)
    span = float((cut - start).days + 1)
    last = cut + timedelta(days=1) - timedelta(microseconds=1)
    expr = history_features(tx, "profile_id", "timestamp", last, ["value"])
    assert isinstance(expr, ibis.Table)
    frame = engine.execute(expr.order_by("profile_id")).to_pandas()
    frame[["value_sum", "value_mean"]] = frame[["value_sum", "value_mean"]].fillna(0.0)
    frame["orders_per_day"] = frame["n_events"] / span
    frame["active_share"] = frame["n_days"] / span
    frame["spend_per_day"] = frame["value_sum"] / span
    frame["tenure_share"] = frame["tenure_days"] / span
    if end is not None:
        t = tx.filter(tx.timestamp > last, tx.timestamp < end + timedelta(days=1))
        later = engine.execute(t.group_by("profile_id").aggregate(
            future_value=t.value.sum().cast("float64"))).to_pandas()
        frame = frame.merge(later, on="profile_id", how="left")
        frame["future_value"] = frame["future_value"].fillna(0.0)
    return frame


@dataclass
class ContestResult:
    """What :func:`contest` measured: per candidate its errors, and the choice."""

    table: dict[str, dict[str, float]]
    chosen: str
    train_cut: str
    holdout_days: float
    customers: int
    regressors: dict[str, SpendRegressor] = field(default_factory=dict)


def contest(engine: Engine, tx: ibis.Table, calibration_end: date | str,
            holdout_end: date | str, bgnbd_forecast: pd.Series) -> ContestResult:
    """Score every candidate on the holdout ``(calibration_end, holdout_end]``.

    Args:
        engine: the store.
        tx: purchases with ``profile_id``, ``timestamp`` and ``value``.
        calibration_end: last day of the calibration period.
        holdout_end: last day of the holdout.
        bgnbd_forecast: BG/NBD + Gamma-Gamma expected holdout spend per profile id.
    """
    cal, hold = _day(calibration_end), _day(holdout_end)
    start = first_day(engine, tx)
    span = (cal - start).days + 1
    days = float((hold - cal).days)
    if days < 1 or span < 2:
        raise ValidationError("the holdout and the calibration period need a day each",
                              field="holdout_end")
    inner = min(days, span / 2)
    train_cut = cal - timedelta(days=round(inner))
    train = spend_frame(engine, tx, train_cut, cal, start)
    test = spend_frame(engine, tx, cal, hold, start)
    X_train, X_test = train[list(FEATURES)], test[list(FEATURES)]
    actual = test["future_value"].to_numpy()
    forecasts: dict[str, NDArray[np.float64]] = {
        "naive": test["value_sum"].to_numpy() / span * days,
        "bgnbd": test["profile_id"].map(bgnbd_forecast).fillna(0.0).to_numpy(np.float64)}
    regressors: dict[str, SpendRegressor] = {}
    rate = train["future_value"].to_numpy() / float((cal - train_cut).days)
    for method in REGRESSIONS:
        regressors[method] = SpendRegressor(method).fit(X_train, rate)
        forecasts[method] = regressors[method].predict(X_test, days)
    table: dict[str, dict[str, float]] = {}
    for name in CANDIDATES:
        err = forecast_errors(actual, forecasts[name])
        table[name] = {"mae": err.mae, "rmse": err.rmse, "aggregate_error": err.aggregate_error,
                       "total_expected": err.total_expected, "total_actual": err.total_actual}
    naive = table["naive"]["mae"]
    for row in table.values():
        row["mae_vs_naive"] = row["mae"] / naive - 1.0 if naive else float("nan")
    chosen = min(("bgnbd", *REGRESSIONS), key=lambda n: table[n]["mae"])
    return ContestResult(table, chosen, str(train_cut.date()), days, len(test), regressors)


def refit_regressor(engine: Engine, tx: ibis.Table, method: Regression, end: pd.Timestamp,
                    window_days: float) -> SpendRegressor:
    """The regression trained on the newest window: features up to ``end - window_days``,
    spend in the window after it (what scoring uses, with features up to ``end``)."""
    cut = end - timedelta(days=round(window_days))
    frame = spend_frame(engine, tx, cut, end)
    rate = frame["future_value"].to_numpy() / float((end - cut).days)
    return SpendRegressor(method).fit(frame[list(FEATURES)], rate)


def regression_scores(engine: Engine, tx: ibis.Table, regressor: SpendRegressor,
                      end: pd.Timestamp, days: float = 364.0) -> tuple[list[str], Any]:
    """Expected spend of every customer in the ``days`` after ``end``."""
    frame = spend_frame(engine, tx, end, None)
    return frame["profile_id"].tolist(), regressor.predict(frame[list(FEATURES)], days)


def first_day(engine: Engine, tx: ibis.Table) -> pd.Timestamp:
    """The day of the first purchase."""
    first = engine.execute(tx.aggregate(t=tx.timestamp.min())).column("t")[0].as_py()
    return _day(first)


def latest_day(engine: Engine, tx: ibis.Table) -> pd.Timestamp:
    """The day of the newest purchase."""
    last = engine.execute(tx.aggregate(t=tx.timestamp.max())).column("t")[0].as_py()
    return _day(last)
