"""Shared plumbing of the CLV models: input checks, duplicate compression, the optimiser call.

Example:
    >>> import numpy as np
    >>> rows, weights = compress_rows(np.array([0.0, 1.0, 0.0]), np.array([0.0, 2.0, 0.0]))
    >>> rows.tolist(), weights.tolist()
    ([[0.0, 0.0], [1.0, 2.0]], [2.0, 1.0])
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize

from aidmp.errors import AidmpError, ValidationError

FloatArray = NDArray[np.float64]
Objective = Callable[[FloatArray], tuple[float, FloatArray]]


class ConvergenceError(AidmpError, RuntimeError):
    """The maximum-likelihood search did not reach an optimum."""

    http_status = 500
    code = "model_not_converged"


class NotFittedError(AidmpError, RuntimeError):
    """A model method that needs learned parameters was called before ``fit``."""

    http_status = 409
    code = "model_not_fitted"


def as_float(name: str, values: ArrayLike) -> FloatArray:
    """``values`` as a float64 array with finite entries only."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValidationError(f"must be numbers, got {type(values).__name__}", field=name) from e
    if not np.all(np.isfinite(arr)):
        raise ValidationError("must be finite numbers (no NaN or infinity)", field=name)
    return arr


def check_rfm(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validate a (frequency, recency, T) history and broadcast it to one shape."""
    x, t_x, age = as_float("frequency", frequency), as_float("recency", recency), as_float("T", T)
    try:
        x, t_x, age = np.broadcast_arrays(x, t_x, age)
    except ValueError as e:
        raise ValidationError(
            f"frequency, recency and T must have the same length, got {np.shape(x)}, "
            f"{np.shape(t_x)} and {np.shape(age)}", field="recency") from e
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise ValidationError("must be whole numbers >= 0 (repeat purchases)", field="frequency")
    if np.any(t_x < 0):
        raise ValidationError("must be >= 0 (time from first to last purchase)", field="recency")
    if np.any(t_x > age):
        raise ValidationError("must be <= T (a last purchase cannot follow the end of the "
                              "observation)", field="recency")
    if np.any((x == 0) & (t_x != 0)):
        raise ValidationError("must be 0 where frequency is 0 (no repeat purchase)",
                              field="recency")
    return x, t_x, age


def check_weights(weights: ArrayLike | None, n: int) -> FloatArray:
    """Row weights (how many customers share a row); ones when not given."""
    if weights is None:
        return np.ones(n)
    w = as_float("weights", weights)
    if w.shape != (n,) or np.any(w < 0) or w.sum() <= 0:
        raise ValidationError(f"must be {n} counts >= 0 with a positive sum", field="weights")
    return w


def compress_rows(*columns: FloatArray, weights: FloatArray | None = None
                  ) -> tuple[FloatArray, FloatArray]:
    """Distinct rows of the stacked columns and their total weight.

    Many customers share a history (every one-time buyer of the same cohort day), so the
    likelihood only needs one term per distinct row.
    """
    stacked = np.column_stack(columns)
    rows, inverse = np.unique(stacked, axis=0, return_inverse=True)
    w = np.ones(len(stacked)) if weights is None else weights
    totals = np.bincount(inverse.ravel(), weights=w, minlength=len(rows)).astype(np.float64)
    return rows, totals


def fit_log_params(objective: Objective, start: FloatArray, model: str) -> FloatArray:
    """Minimise ``objective`` (value and gradient) over log-parameters with BFGS."""
    result = minimize(objective, start, jac=True, method="BFGS",
                      options={"gtol": 1e-8, "maxiter": 1000})
    # BFGS may stop with "precision loss" right at the optimum: judge by the gradient instead.
    grad = np.asarray(result.jac, dtype=np.float64)
    if not np.all(np.isfinite(result.x)) or float(np.max(np.abs(grad))) > 1e-4:
        raise ConvergenceError(
            f"{model} fit did not converge ({result.message}); check the inputs or pass a "
            "small penalizer, e.g. penalizer=0.001")
    return np.asarray(result.x, dtype=np.float64)
