"""The Gamma-Gamma model of spend per transaction, and CLV from it and a BG/NBD model.

Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer Base Analysis",
JMR 42; Fader & Hardie, "The Gamma-Gamma Model of Monetary Value" (2013). A customer's
transaction values are Gamma(p, nu) with nu ~ Gamma(q, gamma) across customers; the model
sees each repeat buyer's number of repeat transactions x and their mean value m_x.
The scale parameter is called ``gamma`` here (``v`` in lifetimes).

Example:
    >>> gg = GammaGamma().set_params(p=6.25, q=3.74, gamma=15.44)
    >>> round(float(gg.expected_spend(2, 22.35)[()]), 2)
    24.66
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma, gammaln

from aidmp.errors import ValidationError
from aidmp.ml.clv.bgnbd import BGNBD
from aidmp.ml.clv.common import (
    FloatArray,
    NotFittedError,
    as_float,
    check_weights,
    compress_rows,
    fit_log_params,
)

_NAMES = ("p", "q", "gamma")


def _log_terms(params: FloatArray, x: FloatArray, m: FloatArray) -> FloatArray:
    """Per-row log density of the mean spend m given x repeat transactions."""
    p, q, gamma = params
    px = p * x
    return (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(gamma)
            + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * np.log(x * m + gamma))


def _gradient(params: FloatArray, x: FloatArray, m: FloatArray) -> FloatArray:
    """d log-likelihood / d(p, q, gamma) per row, shape (3, n)."""
    p, q, gamma = params
    px = p * x
    both = digamma(px + q)
    log_total = np.log(x * m + gamma)
    d_p = x * (both - digamma(px) + np.log(m) + np.log(x) - log_total)
    d_q = both - digamma(q) + np.log(gamma) - log_total
    d_gamma = q / gamma - (px + q) / (x * m + gamma)
    return np.stack([d_p, d_q, d_gamma])


def _spend_inputs(frequency: ArrayLike, monetary_value: ArrayLike
                  ) -> tuple[FloatArray, FloatArray]:
    x = as_float("frequency", frequency)
    m = as_float("monetary_value", monetary_value)
    try:
        x, m = np.broadcast_arrays(x, m)
    except ValueError as e:
        raise ValidationError(f"frequency and monetary_value must have the same length, got "
                              f"{np.shape(x)} and {np.shape(m)}", field="monetary_value") from e
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise ValidationError("must be whole numbers >= 0 (repeat purchases)", field="frequency")
    return x, m


class GammaGamma:
    """Gamma-Gamma spend model fitted by maximum likelihood (lifetimes' GammaGammaFitter).

    Args:
        penalizer: L2 penalty on (p, q, gamma) added to the mean negative log-likelihood
            (lifetimes' convention). 0 gives the plain MLE.

    Attributes:
        params_: fitted ``{"p", "q", "gamma"}``; gamma is in money units.
        log_likelihood_: total (weighted) log-likelihood at ``params_``, without the penalty.
        n_customers_: total weight of the repeat buyers fitted.
    """

    params_: dict[str, float]
    log_likelihood_: float
    n_customers_: float

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    def set_params(self, *, p: float, q: float, gamma: float) -> GammaGamma:
        """Use known parameters (e.g. published ones) instead of fitting; returns self."""
        values = {"p": p, "q": q, "gamma": gamma}
        for name, value in values.items():
            if not value > 0:
                raise ValidationError(f"must be > 0, got {value}", field=name)
        self.params_ = {k: float(v) for k, v in values.items()}
        return self

    def fit(self, frequency: ArrayLike, monetary_value: ArrayLike,
            weights: ArrayLike | None = None) -> GammaGamma:
        """Fit p, q, gamma on the customers with at least one repeat purchase.

        Rows with ``frequency == 0`` carry no spend information and are left out, so a
        whole customer summary can be passed as it is.

        Args:
            frequency: repeat purchases per customer (x).
            monetary_value: mean value of those repeat purchases (m_x), > 0 where x > 0.
            weights: optional number of customers sharing each row.

        Returns:
            self, with ``params_`` and ``log_likelihood_`` set.
        """
        if not self.penalizer >= 0:
            raise ValidationError(f"must be >= 0, got {self.penalizer}", field="penalizer")
        x, m = _spend_inputs(frequency, monetary_value)
        x, m = x.ravel(), m.ravel()
        w = check_weights(weights, x.size)
        keep = x > 0
        if not keep.any():
            raise ValidationError("no customer has a repeat purchase (frequency > 0)",
                                  field="frequency")
        bad = int(np.sum(m[keep] <= 0))
        if bad:
            raise ValidationError(f"must be > 0 for every customer with frequency > 0; {bad} "
                                  "have <= 0 (leave them out of the fit)", field="monetary_value")
        rows, w = compress_rows(x[keep], m[keep], weights=w[keep])
        x, m = rows[:, 0], rows[:, 1]
        total = float(w.sum())
        penalizer = float(self.penalizer)

        def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
            params = np.exp(log_params)
            value = -float(_log_terms(params, x, m) @ w) / total
            value += penalizer * float(params @ params)
            grad = _gradient(params, x, m) @ w
            return value, -grad * params / total + 2.0 * penalizer * params * params

        # Start gamma near the mean spend so the search begins on the data's money scale.
        start = np.array([0.0, 0.0, np.log(float(np.average(m, weights=w)))])
        params = np.exp(fit_log_params(objective, start, "Gamma-Gamma"))
        self.params_ = dict(zip(_NAMES, (float(v) for v in params), strict=True))
        self.log_likelihood_ = float(_log_terms(params, x, m) @ w)
        self.n_customers_ = total
        return self

    def _params(self) -> tuple[float, float, float]:
        if not hasattr(self, "params_"):
            raise NotFittedError("GammaGamma is not fitted yet: call fit() or set_params() first")
        p = self.params_
        return p["p"], p["q"], p["gamma"]

    def expected_spend(self, frequency: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
        """Expected value of a customer's future transactions given x and m_x.

        A weighted mean of the population mean ``p * gamma / (q - 1)`` and the customer's
        own mean ``m_x``; customers with ``frequency == 0`` get the population mean.
        """
        p, q, gamma = self._params()
        if q <= 1:
            raise ValidationError(f"the mean spend is infinite when q <= 1 (q = {q:.4g})",
                                  field="q")
        x, m = _spend_inputs(frequency, monetary_value)
        m = np.where(x > 0, m, 0.0)
        return p * (gamma + x * m) / (p * x + q - 1)

    def clv(self, bgnbd: BGNBD, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike,
            monetary_value: ArrayLike, horizon_periods: int,
            discount_rate_per_period: float = 0.0, *, period_length: float = 1.0) -> FloatArray:
        """Discounted expected revenue of each customer over the next ``horizon_periods``.

        Sum over k = 1..horizon_periods of (expected purchases in period k) x (expected
        spend) / (1 + discount_rate_per_period) ** k, with purchases from ``bgnbd``.

        Args:
            bgnbd: a fitted purchase-count model in the same time unit as recency and T.
            frequency: repeat purchases per customer.
            recency: time from first to last purchase.
            T: time from first purchase to the end of the calibration period.
            monetary_value: mean value of the repeat purchases.
            horizon_periods: number of discounting periods to sum.
            discount_rate_per_period: discount rate of one period (0.01 = 1 %).
            period_length: length of one period in the model's time unit (4.345 turns
                weekly inputs into monthly periods, as lifetimes' ``freq="W"``).
        """
        if horizon_periods < 0 or int(horizon_periods) != horizon_periods:
            raise ValidationError(f"must be a whole number >= 0, got {horizon_periods}",
                                  field="horizon_periods")
        if not discount_rate_per_period > -1:
            raise ValidationError(f"must be > -1, got {discount_rate_per_period}",
                                  field="discount_rate_per_period")
        if not period_length > 0:
            raise ValidationError(f"must be > 0, got {period_length}", field="period_length")
        spend = self.expected_spend(frequency, monetary_value)
        k = np.arange(1, int(horizon_periods) + 1, dtype=np.float64)
        ends = k.reshape((-1,) + (1,) * np.ndim(spend)) * period_length
        cumulative = bgnbd.expected_purchases(ends, frequency, recency, T)
        per_period = np.diff(cumulative, axis=0, prepend=0.0)
        discount = (1.0 + discount_rate_per_period) ** -k
        return np.tensordot(discount, per_period, axes=1) * spend
