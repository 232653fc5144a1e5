"""Customer lifetime value fitted from the store: BG/NBD purchase counts + Gamma-Gamma spend.

Transactions are the ``order_event`` events of each resolved profile, valued by a numeric
property; the per-customer summary is :func:`aidmp.ml.clv.summary_expr` run in the engine.
With a ``calibration_end`` the models see only the calibration period and the holdout period
(to ``holdout_end``) measures the forecast; scoring then uses every purchase up to the end.

Example:
    >>> horizon_periods("W"), horizon_periods("D")
    (52, 364)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from aidmp.engine.base import Engine
from aidmp.errors import ValidationError
from aidmp.ml.clv import BGNBD, GammaGamma, forecast_errors, summary_expr
from aidmp.ml.clv.regression import (
    REGRESSIONS,
    SpendRegressor,
    contest,
    latest_day,
    refit_regressor,
    regression_scores,
)
from aidmp.ml.clv.summary import Freq
from aidmp.ml.data import count_rows, profile_events

__all__ = ["CLVModel", "fit_clv", "horizon_periods", "score_clv"]


def horizon_periods(freq: str) -> int:
    """Periods of the model's time unit in the 52-week scoring horizon."""
    if freq not in ("D", "W"):
        raise ValidationError(f"unknown freq {freq!r}; valid: 'D' (days), 'W' (weeks)",
                              field="freq")
    return 52 if freq == "W" else 364


@dataclass
class CLVModel:
    """The saved artefact of a CLV version: both fitted models and how the data was read."""

    bgnbd: BGNBD
    gamma_gamma: GammaGamma | None
    order_event: str
    value_property: str
    freq: str
    observation_end: str | None
    method: str = "bgnbd"
    # the regression behind ``clv_12m`` when ``method`` is linear or tree
    regressor: SpendRegressor | None = None


# The window the final regression learns spend per day over (the newest half year).
_REGRESSION_WINDOW_DAYS = 182.0


def _purchases(engine: Engine, order_event: str, value_property: str) -> ibis.Table:
    return profile_events(engine, order_event, numbers=[("value", value_property)])


def _summary(engine: Engine, order_event: str, value_property: str, freq: Freq,
             calibration_end: date | str | None, observation_end: date | str | None
             ) -> pa.Table:
    tx = profile_events(engine, order_event, numbers=[("value", value_property)])
    if count_rows(engine, tx) == 0:
        raise ValidationError(f"no {order_event!r} events of resolved profiles to learn from",
                              field="order_event")
    expr = summary_expr(tx, customer_col="profile_id", date_col="timestamp",
                        value_col="value", freq=freq, calibration_end=calibration_end,
                        observation_end=observation_end)
    return engine.execute(expr)


def _arrays(summary: pa.Table, *names: str) -> list[np.ndarray[Any, Any]]:
    return [np.nan_to_num(summary.column(n).to_numpy(zero_copy_only=False).astype(np.float64))
            for n in names]


def fit_clv(engine: Engine, order_event: str = "Order Completed",
            value_property: str = "revenue", calibration_end: date | str | None = None,
            holdout_end: date | str | None = None, freq: Freq = "W", method: str = "auto"
            ) -> tuple[CLVModel, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Fit BG/NBD and Gamma-Gamma (and, with a holdout, the CLV regressions of
    :mod:`aidmp.ml.clv.regression`); return the model, parameters, metrics and data window.

    ``method`` picks what ``clv_12m`` comes from: ``bgnbd``, ``linear`` or ``tree``, or
    ``auto``: the lowest holdout MAE of the three (BG/NBD when there is no holdout).

    Raises:
        ValidationError: no such events, bad dates, freq or method, or too few repeat buyers.
    """
    horizon_periods(freq)
    if method not in ("auto", "bgnbd", *REGRESSIONS):
        raise ValidationError(f"unknown method {method!r}; valid: auto, bgnbd, "
                              f"{', '.join(REGRESSIONS)}", field="method")
    if holdout_end is not None and calibration_end is None:
        raise ValidationError("a holdout needs a calibration_end to start from",
                              field="calibration_end")
    summary = _summary(engine, order_event, value_property, freq, calibration_end, holdout_end)
    x, t_x, age, m = _arrays(summary, "frequency", "recency", "T", "monetary_value")
    bgnbd = BGNBD().fit(x, t_x, age)
    # Gamma-Gamma needs a positive mean spend: repeat buyers whose repeats were all free
    # (CDNOW's master file has one) carry no information on spend.
    repeat = (x > 0) & (m > 0)
    gg = GammaGamma().fit(x[repeat], m[repeat]) if repeat.sum() >= 3 else None
    metrics: dict[str, Any] = {
        "customers": len(x), "repeat_buyers": int(repeat.sum()),
        "bgnbd_log_likelihood": float(bgnbd.log_likelihood_),
        "calibration_repeat_transactions": int(x.sum()),
    }
    if calibration_end is not None:
        duration, actual = _arrays(summary, "duration_holdout", "frequency_holdout")
        expected = bgnbd.expected_purchases(duration, x, t_x, age)
        err = forecast_errors(actual, expected)
        metrics["holdout"] = {
            "customers": err.customers, "actual_transactions": err.total_actual,
            "expected_transactions": err.total_expected,
            "aggregate_error": err.aggregate_error, "mae": err.mae, "rmse": err.rmse,
            "weeks": float(duration.max(initial=0.0)) * (1 if freq == "W" else 1 / 7)}
    end = None if holdout_end is None else str(holdout_end)
    chosen, regressor, coefficients = "bgnbd" if method == "auto" else method, None, None
    tx = _purchases(engine, order_event, value_property)
    if calibration_end is not None and holdout_end is not None and gg is not None:
        spend = gg.expected_spend(x, m) * bgnbd.expected_purchases(duration, x, t_x, age)
        ids = summary.column("profile_id").to_pylist()
        result = contest(engine, tx, calibration_end, holdout_end,
                         pd.Series(np.asarray(spend), index=ids))
        metrics["candidates"] = result.table
        metrics["chosen"] = chosen = result.chosen if method == "auto" else method
        metrics["protocol"] = (f"regressions trained on spend after {result.train_cut} up to "
                               f"the calibration end; every candidate forecasts the "
                               f"{result.holdout_days:.0f} holdout days of "
                               f"{result.customers} customers")
    if chosen in REGRESSIONS:
        # refitted on the newest window of the data scoring reads
        last = latest_day(engine, tx) if end is None else pd.Timestamp(end, tz="UTC")
        regressor = refit_regressor(engine, tx, chosen, last, _REGRESSION_WINDOW_DAYS)
        coefficients = regressor.coefficients_ or None
    model = CLVModel(bgnbd, gg, order_event, value_property, freq, end, chosen, regressor)
    params = {"order_event": order_event, "value_property": value_property, "freq": freq,
              "method": chosen, "regression": coefficients,
              "bgnbd": dict(bgnbd.params_),
              "gamma_gamma": None if gg is None else dict(gg.params_)}
    window = {"calibration_end": None if calibration_end is None else str(calibration_end),
              "holdout_end": end, "rows": len(x)}
    return model, params, metrics, window


def score_clv(engine: Engine, model: CLVModel) -> tuple[list[str], dict[str, Any]]:
    """Per profile with a purchase: ``clv_12m``, ``p_alive``, ``expected_orders_12m``.

    Uses every purchase up to the model's observation end (the latest purchase day when it
    has none); the horizon is the next 52 weeks.
    """
    freq: Freq = "W" if model.freq == "W" else "D"
    summary = _summary(engine, model.order_event, model.value_property, freq, None,
                       model.observation_end)
    x, t_x, age, m = _arrays(summary, "frequency", "recency", "T", "monetary_value")
    periods = horizon_periods(model.freq)
    orders = model.bgnbd.expected_purchases(float(periods), x, t_x, age)
    scores: dict[str, Any] = {"p_alive": model.bgnbd.p_alive(x, t_x, age),
                              "expected_orders_12m": orders}
    if model.gamma_gamma is not None:
        # Weekly discounting periods whatever the unit: the horizon is 52 weeks either way.
        unit = 1.0 if model.freq == "W" else 7.0
        scores["clv_12m"] = model.gamma_gamma.clv(model.bgnbd, x, t_x, age, m,
                                                  horizon_periods=52, period_length=unit)
    ids = summary.column("profile_id").to_pylist()
    regressor = getattr(model, "regressor", None)  # versions saved before regressions: None
    if regressor is not None:
        tx = _purchases(engine, model.order_event, model.value_property)
        last = latest_day(engine, tx) if model.observation_end is None \
            else pd.Timestamp(model.observation_end, tz="UTC")
        got, value = regression_scores(engine, tx, regressor, last)
        scores["clv_12m"] = pd.Series(value, index=got).reindex(ids).fillna(0.0).to_numpy()
    return ids, scores
