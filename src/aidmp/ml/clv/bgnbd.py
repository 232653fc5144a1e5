"""The BG/NBD ("beta-geometric / negative binomial") purchase-count model.

Fader, Hardie & Lee (2005), "'Counting Your Customers' the Easy Way", Marketing Science 24(2).
While alive a customer buys at a Poisson rate drawn from Gamma(r, alpha); after each purchase
he drops out with a probability drawn from Beta(a, b). The likelihood, its gradient and the
conditional expectations are closed forms (gamma, beta and Gauss hypergeometric functions).

Written here rather than taken from ``lifetimes``: that package is unmaintained, pins old
pandas/autograd and returns pandas objects; the model itself is a few vectorised formulas.

Example:
    >>> import numpy as np
    >>> model = BGNBD().set_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
    >>> float(model.p_alive(0, 0.0, 38.86)[()])
    1.0
    >>> round(float(model.expected_purchases(39.0, 2, 30.43, 38.86)[()]), 3)
    1.226
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from aidmp.errors import ValidationError
from aidmp.ml.clv.common import (
    FloatArray,
    NotFittedError,
    as_float,
    check_rfm,
    check_weights,
    compress_rows,
    fit_log_params,
)

_NAMES = ("r", "alpha", "a", "b")


def _log_terms(
    params: FloatArray, x: FloatArray, t_x: FloatArray, age: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per-row log-likelihood and the two mixture weights (alive at T / dropped after t_x)."""
    r, alpha, a, b = params
    repeat = x > 0
    # b + x - 1 <= 0 when x == 0: evaluate the dropout term at x=1 there and mask it out.
    x1 = np.maximum(x, 1.0)
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    alive = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + age)
    dropped = betaln(a + 1, b + x1 - 1) - betaln(a, b) - (r + x) * np.log(alpha + t_x)
    dropped = np.where(repeat, dropped, -np.inf)
    mix = np.logaddexp(alive, dropped)
    return head + mix, np.exp(alive - mix), np.exp(dropped - mix), x1


def _gradient(params: FloatArray, x: FloatArray, t_x: FloatArray, age: FloatArray,
              w_alive: FloatArray, w_drop: FloatArray, x1: FloatArray) -> FloatArray:
    """d log-likelihood / d(r, alpha, a, b) per row, shape (4, n)."""
    r, alpha, a, b = params
    d_r = (digamma(r + x) - digamma(r) + np.log(alpha)
           - w_alive * np.log(alpha + age) - w_drop * np.log(alpha + t_x))
    d_alpha = r / alpha - (r + x) * (w_alive / (alpha + age) + w_drop / (alpha + t_x))
    psi_abx = digamma(a + b + x)
    d_beta_a = digamma(a) - digamma(a + b)
    d_beta_b = digamma(b) - digamma(a + b)
    d_a = (w_alive * (digamma(a) - psi_abx) + w_drop * (digamma(a + 1) - psi_abx) - d_beta_a)
    d_b = (w_alive * (digamma(b + x) - psi_abx) + w_drop * (digamma(b + x1 - 1) - psi_abx)
           - d_beta_b)
    return np.stack([d_r, d_alpha, d_a, d_b])


def log_likelihood(params: ArrayLike, frequency: ArrayLike, recency: ArrayLike,
                   T: ArrayLike) -> FloatArray:
    """Per-customer BG/NBD log-likelihood at ``params`` = (r, alpha, a, b)."""
    x, t_x, age = check_rfm(frequency, recency, T)
    ll, _, _, _ = _log_terms(as_float("params", params), x, t_x, age)
    return ll


class BGNBD:
    """BG/NBD model fitted by maximum likelihood, in the style of lifetimes' BetaGeoFitter.

    Args:
        penalizer: L2 penalty on the parameters added to the mean negative log-likelihood,
            with alpha measured on a time scale where the oldest customer's T is 1 (the
            convention of lifetimes, so penalised fits agree with it). 0 gives the plain MLE.

    Attributes:
        params_: fitted ``{"r", "alpha", "a", "b"}``; alpha is in the time unit of the inputs.
        log_likelihood_: total (weighted) log-likelihood at ``params_``, without the penalty.
        n_customers_: total weight of the rows fitted.
    """

    params_: dict[str, float]
    log_likelihood_: float
    n_customers_: float

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    def set_params(self, *, r: float, alpha: float, a: float, b: float) -> BGNBD:
        """Use known parameters (e.g. published ones) instead of fitting; returns self."""
        values = {"r": r, "alpha": alpha, "a": a, "b": b}
        for name, value in values.items():
            if not value > 0:
                raise ValidationError(f"must be > 0, got {value}", field=name)
        self.params_ = {k: float(v) for k, v in values.items()}
        return self

    def fit(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike,
            weights: ArrayLike | None = None) -> BGNBD:
        """Fit r, alpha, a, b by maximum likelihood.

        Args:
            frequency: repeat purchases per customer (x).
            recency: time from first to last purchase (t_x), 0 for one-time buyers.
            T: time from first purchase to the end of the calibration period.
            weights: optional number of customers sharing each row.

        Returns:
            self, with ``params_`` and ``log_likelihood_`` set.
        """
        if not self.penalizer >= 0:
            raise ValidationError(f"must be >= 0, got {self.penalizer}", field="penalizer")
        x, t_x, age = check_rfm(frequency, recency, T)
        x, t_x, age = x.ravel(), t_x.ravel(), age.ravel()
        if x.size == 0 or age.max() <= 0:
            raise ValidationError("needs at least one customer with T > 0", field="T")
        rows, w = compress_rows(x, t_x, age, weights=check_weights(weights, x.size))
        # Rescale time so the oldest customer has T = 1: it conditions the search and gives
        # the penalty the meaning it has in lifetimes.
        scale = 1.0 / float(age.max())
        x, t_x, age = rows[:, 0], rows[:, 1] * scale, rows[:, 2] * scale
        total = float(w.sum())
        penalizer = float(self.penalizer)

        def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
            params = np.exp(log_params)
            ll, w_alive, w_drop, x1 = _log_terms(params, x, t_x, age)
            grad = _gradient(params, x, t_x, age, w_alive, w_drop, x1) @ w
            value = -float(ll @ w) / total + penalizer * float(params @ params)
            d_log = -grad * params / total + 2.0 * penalizer * params * params
            return value, d_log

        log_params = fit_log_params(objective, np.zeros(4), "BG/NBD")
        params = np.exp(log_params)
        params[1] /= scale
        self.params_ = dict(zip(_NAMES, (float(p) for p in params), strict=True))
        ll, _, _, _ = _log_terms(params, rows[:, 0], rows[:, 1], rows[:, 2])
        self.log_likelihood_ = float(ll @ w)
        self.n_customers_ = total
        return self

    def _params(self) -> tuple[float, float, float, float]:
        if not hasattr(self, "params_"):
            raise NotFittedError("BGNBD is not fitted yet: call fit() or set_params() first")
        p = self.params_
        return p["r"], p["alpha"], p["a"], p["b"]

    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """Probability that a customer with this history is still active at T.

        Customers without a repeat purchase are alive by the model's assumption (dropout
        can only happen right after a purchase).
        """
        r, alpha, a, b = self._params()
        x, t_x, age = check_rfm(frequency, recency, T)
        log_odds_dead = (np.log(a) - np.log(b + np.maximum(x, 1.0) - 1)
                         + (r + x) * (np.log(alpha + age) - np.log(alpha + t_x)))
        return np.where(x > 0, expit(-log_odds_dead), 1.0)

    def expected_purchases(self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike,
                           T: ArrayLike) -> FloatArray:
        """Expected repeat purchases in the next ``t`` periods given the history (eq. 10)."""
        r, alpha, a, b = self._params()
        horizon = as_float("t", t)
        if np.any(horizon < 0):
            raise ValidationError("must be >= 0 (a forecast horizon)", field="t")
        x, t_x, age = check_rfm(frequency, recency, T)
        z = horizon / (alpha + age + horizon)
        hyp = _log_hyp2f1(r + x, b + x, a + b + x - 1, z)
        growth = 1.0 - np.exp(hyp + (r + x) * (np.log(alpha + age) - np.log(alpha + age + horizon)))
        odds_dead = np.where(
            x > 0,
            a / (b + np.maximum(x, 1.0) - 1) * np.exp(
                (r + x) * (np.log(alpha + age) - np.log(alpha + t_x))),
            0.0)
        return (a + b + x - 1) / (a - 1) * growth / (1.0 + odds_dead)

    def expected_purchases_new(self, t: ArrayLike) -> FloatArray:
        """Expected repeat purchases of a new customer, ``t`` periods after the first (eq. 9)."""
        r, alpha, a, b = self._params()
        horizon = as_float("t", t)
        if np.any(horizon < 0):
            raise ValidationError("must be >= 0 (a time since the first purchase)", field="t")
        hyp = _log_hyp2f1(r, b, a + b - 1, horizon / (alpha + horizon))
        return (a + b - 1) / (a - 1) * (1.0 - np.exp(r * np.log(alpha / (alpha + horizon)) + hyp))


def _log_hyp2f1(a: ArrayLike, b: ArrayLike, c: ArrayLike, z: ArrayLike) -> FloatArray:
    """log 2F1(a, b; c; z) for 0 <= z < 1, switching to Euler's transformation on overflow."""
    direct = np.log(hyp2f1(a, b, c, z))
    if np.all(np.isfinite(direct)):
        return np.asarray(direct, dtype=np.float64)
    a_, b_, c_, z_ = (np.asarray(v, dtype=np.float64) for v in (a, b, c, z))
    with np.errstate(divide="ignore"):
        euler = np.log(hyp2f1(c_ - a_, c_ - b_, c_, z_)) + (c_ - a_ - b_) * np.log1p(-z_)
    return np.where(np.isfinite(direct), direct, euler)
