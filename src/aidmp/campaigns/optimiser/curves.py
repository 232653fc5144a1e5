"""Concave response curves (spend -> incremental return) fitted with ``scipy.optimize.curve_fit``.

Three shapes with diminishing returns, all through the origin (zero spend, zero incremental
return) and all concave, which is what lets the budget LP treat them as piecewise-linear
pieces with falling slopes:

* ``exp``: ``a * (1 - exp(-x / b))`` -- saturates at ``a``; ``a / b`` is the first unit's return.
* ``hill``: ``a * x**n / (x**n + k**n)`` with ``0 < n <= 1`` (``n > 1`` would be S-shaped, not
  concave, so the fit bounds it).
* ``log``: ``a * log(1 + x / b)`` -- never saturates.

Example:
    >>> import numpy as np
    >>> x = np.linspace(0.0, 300.0, 13)
    >>> curve = fit_curve("search", x, 500.0 * (1.0 - np.exp(-x / 100.0)), model="exp")
    >>> [round(p, 3) for p in curve.params], round(curve.r2, 6)
    ([500.0, 100.0], 1.0)
    >>> round(float(curve.marginal(0.0)), 3), round(curve.saturation_spend(0.95), 1)
    (5.0, 299.6)
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.optimize import OptimizeWarning, curve_fit

from aidmp.errors import ValidationError

CurveModel = Literal["exp", "hill", "log"]
MODELS: tuple[CurveModel, ...] = ("exp", "hill", "log")
FloatArray = npt.NDArray[np.float64]


def _exp(x: FloatArray, a: float, b: float) -> FloatArray:
    return a * -np.expm1(-x / b)


def _hill(x: FloatArray, a: float, k: float, n: float) -> FloatArray:
    xn = np.power(x, n)
    return a * xn / (xn + k**n)


def _log(x: FloatArray, a: float, b: float) -> FloatArray:
    return a * np.log1p(x / b)


# Fits run on spend and return scaled to [0, 1] (conditioning); bounds and starts are in those
# units. Hill's n is capped at 1 so every fitted curve stays concave.
_SPECS = {
    "exp": (_exp, (1.5, 1.0), ([1e-9, 1e-3], [1e3, 1e3])),
    "hill": (_hill, (1.5, 1.0, 0.8), ([1e-9, 1e-3, 0.05], [1e3, 1e3, 1.0])),
    "log": (_log, (1.0, 0.5), ([1e-9, 1e-4], [1e3, 1e3])),
}


@dataclass(frozen=True)
class ResponseCurve:
    """A fitted curve for one channel (or channel x segment) and its goodness of fit.

    Attributes:
        unit: The channel, or ``channel/segment``.
        model: ``exp``, ``hill`` or ``log``.
        params: ``(a, b)`` for exp and log, ``(a, k, n)`` for hill, in spend/return units.
        r2: Coefficient of determination on the history it was fitted on.
        rmse: Root mean squared error, in return units.
        n_periods: Number of periods fitted.
        max_observed_spend: The largest spend seen in one period (how far the data reaches).
    """

    unit: str
    model: CurveModel
    params: tuple[float, ...]
    r2: float
    rmse: float
    n_periods: int
    max_observed_spend: float

    def predict(self, spend: npt.ArrayLike) -> FloatArray:
        """Expected incremental return at ``spend``."""
        x = np.asarray(spend, dtype=np.float64)
        fn = _SPECS[self.model][0]
        return np.asarray(fn(x, *self.params), dtype=np.float64)  # type: ignore[operator]

    def marginal(self, spend: npt.ArrayLike) -> FloatArray:
        """The derivative d(return)/d(spend): the marginal ROI of the next unit of spend."""
        x = np.asarray(spend, dtype=np.float64)
        p = self.params
        if self.model == "exp":
            return np.asarray(p[0] / p[1] * np.exp(-x / p[1]), dtype=np.float64)
        if self.model == "log":
            return np.asarray(p[0] / (p[1] + x), dtype=np.float64)
        a, k, n = p
        with np.errstate(divide="ignore"):
            xn = np.power(x, n)
            out = a * n * k**n * np.power(x, n - 1.0) / (xn + k**n) ** 2
        return np.asarray(out, dtype=np.float64)

    def saturation_spend(self, fraction: float) -> float:
        """Spend at which the curve reaches ``fraction`` of its ceiling (inf for ``log``)."""
        if self.model == "exp":
            return -self.params[1] * math.log1p(-fraction)
        if self.model == "hill":
            _, k, n = self.params
            return float(k * (fraction / (1.0 - fraction)) ** (1.0 / n))
        return math.inf

    def to_dict(self) -> dict[str, object]:
        """JSON-ready description (parameters and goodness of fit)."""
        return {"unit": self.unit, "model": self.model, "params": list(self.params),
                "r2": self.r2, "rmse": self.rmse, "n_periods": self.n_periods,
                "max_observed_spend": self.max_observed_spend}


def _fit_scaled(model: CurveModel, x: FloatArray, y: FloatArray) -> tuple[FloatArray, float]:
    fn, p0, bounds = _SPECS[model]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        popt, _ = curve_fit(fn, x, y, p0=p0, bounds=bounds, maxfev=5000)
    popt = np.asarray(popt, dtype=np.float64)
    sse = float(np.sum((fn(x, *popt) - y) ** 2))  # type: ignore[operator]
    return popt, sse


def fit_curve(unit: str, spend: npt.ArrayLike, returns: npt.ArrayLike,
              model: CurveModel | Literal["auto"] = "exp") -> ResponseCurve:
    """Fit one response curve to per-period ``(spend, return)`` pairs.

    Args:
        unit: Name of the channel (or ``channel/segment``) being fitted; used in messages.
        spend: Spend per period (non-negative).
        returns: Return per period (revenue, conversions... in the unit to maximise).
        model: A curve shape, or ``auto`` to keep the one with the lowest AIC.

    Returns:
        The fitted :class:`ResponseCurve`.

    Raises:
        ValidationError: Too few periods, no spread in spend, or a fit that does not converge.
    """
    x = np.asarray(spend, dtype=np.float64)
    y = np.asarray(returns, dtype=np.float64)
    x_max, y_max = float(np.max(x, initial=0.0)), float(np.max(np.abs(y), initial=0.0))
    if x.size < 3 or x_max <= 0.0 or np.ptp(x) <= 0.0:
        raise ValidationError(
            f"channel {unit!r} needs at least 3 periods with different, positive spends "
            f"to fit a curve (got {x.size})", field="history")
    y_scale = y_max if y_max > 0.0 else 1.0
    xs, ys = x / x_max, y / y_scale
    candidates = list(MODELS) if model == "auto" else [model]
    best: tuple[float, CurveModel, FloatArray, float] | None = None
    for name in candidates:
        try:
            popt, sse = _fit_scaled(name, xs, ys)
        except RuntimeError:  # curve_fit gives up after maxfev; another shape may still fit
            continue
        aic = xs.size * math.log(max(sse, 1e-300) / xs.size) + 2 * popt.size
        if best is None or aic < best[0]:
            best = (aic, name, popt, sse)
    if best is None:
        raise ValidationError(f"no {model} response curve converged for channel {unit!r}",
                              field="history")
    _, name, popt, sse = best
    params = [float(popt[0]) * y_scale, float(popt[1]) * x_max, *map(float, popt[2:])]
    sst = float(np.sum((ys - ys.mean()) ** 2))
    r2 = 1.0 - sse / sst if sst > 0.0 else 0.0
    rmse = math.sqrt(sse / xs.size) * y_scale
    return ResponseCurve(unit=unit, model=name, params=tuple(params), r2=r2, rmse=rmse,
                         n_periods=int(xs.size), max_observed_spend=x_max)
