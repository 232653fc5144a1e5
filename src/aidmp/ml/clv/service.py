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

import numpy as np
import pyarrow as pa

from aidmp.engine.base import Engine
from aidmp.errors import ValidationError
from aidmp.ml.clv import BGNBD, GammaGamma, forecast_errors, summary_expr
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
            holdout_end: date | str | None = None, freq: Freq = "W"
            ) -> tuple[CLVModel, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Fit BG/NBD and Gamma-Gamma; return the model, its parameters, metrics and data window.

    Raises:
        ValidationError: no such events, bad dates or freq, or too few repeat buyers.
    """
    horizon_periods(freq)
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
    model = CLVModel(bgnbd, gg, order_event, value_property, freq, end)
    params = {"order_event": order_event, "value_property": value_property, "freq": freq,
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
    return summary.column("profile_id").to_pylist(), scores
