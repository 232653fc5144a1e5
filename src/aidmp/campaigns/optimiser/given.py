"""Response curves the user supplies instead of fitting them from the store's history.

Two forms, per channel:

- a **curve**: ``{"channel": "search", "model": "exp", "params": [a, b]}`` (also ``hill``
  ``[a, k, n]`` and ``log`` ``[a, b]``, as :class:`~aidmp.campaigns.optimiser.curves.
  ResponseCurve` defines them), with ``up_to``, the largest spend the curve is trusted for
  (required for ``log``, which has no ceiling);
- a **spend / return table**: ``{"channel": "tv", "points": [[0, 0], [1000, 3000], ...]}`` or,
  from a file, rows ``channel, spend, return``: expected return at each spend level. The
  allocation reads it as straight lines between the points, flat past the last one; where the
  points are not concave (a later step returns more per unit than an earlier one) their upper
  concave envelope is used, since a budget split by linear programming needs diminishing
  returns, and the report says so.

Example:
    >>> curve = table_curve("tv", [(0, 0), (100, 300), (200, 450), (300, 480)])
    >>> [float(v) for v in curve.predict([50, 150, 400])]
    [150.0, 375.0, 480.0]
    >>> float(curve.marginal(150.0))
    1.5
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from aidmp.campaigns.optimiser.curves import MODELS, ResponseCurve
from aidmp.errors import ValidationError

__all__ = ["TableCurve", "curves_from_spec", "table_curve"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class TableCurve:
    """A spend / return table read as a concave piecewise-linear curve (duck-types
    :class:`ResponseCurve` for the optimiser)."""

    unit: str
    spend: tuple[float, ...]
    returns: tuple[float, ...]
    envelope_used: bool = False
    model: str = "table"
    r2: float = math.nan
    rmse: float = math.nan
    n_periods: int = 0
    params: tuple[float, ...] = field(default=())

    @property
    def max_observed_spend(self) -> float:
        """The last spend of the table: spending past it buys nothing more."""
        return self.spend[-1]

    def predict(self, spend: npt.ArrayLike) -> FloatArray:
        """Expected return at ``spend`` (linear between points, flat past the last)."""
        return np.asarray(np.interp(np.asarray(spend, dtype=np.float64), self.spend,
                                    self.returns), dtype=np.float64)

    def marginal(self, spend: npt.ArrayLike) -> FloatArray:
        """The slope of the segment ``spend`` falls in (0 past the last point)."""
        x = np.asarray(spend, dtype=np.float64)
        xs, ys = np.asarray(self.spend), np.asarray(self.returns)
        slopes = np.append(np.diff(ys) / np.diff(xs), 0.0)
        i = np.clip(np.searchsorted(xs, x, side="right") - 1, 0, len(slopes) - 1)
        return np.asarray(slopes[i], dtype=np.float64)

    def saturation_spend(self, fraction: float) -> float:
        """The last spend of the table (returns are flat after it)."""
        return self.spend[-1]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready description."""
        return {"unit": self.unit, "model": "table", "points": [list(p) for p in zip(
            self.spend, self.returns, strict=True)], "concave_envelope": self.envelope_used}


def _envelope(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The upper concave hull of the points (sorted by x): a monotone-chain scan."""
    keep: list[int] = []
    for i in range(len(x)):
        while len(keep) >= 2:
            a, b = keep[-2], keep[-1]
            # drop b when it lies on or below the line from a to i
            if (y[b] - y[a]) * (x[i] - x[a]) <= (y[i] - y[a]) * (x[b] - x[a]):
                keep.pop()
            else:
                break
        keep.append(i)
    return x[keep], y[keep]


def table_curve(channel: str, points: Sequence[Sequence[float]]) -> TableCurve:
    """A :class:`TableCurve` from ``(spend, return)`` points (a point at zero spend and zero
    return is added when there is none).

    Raises:
        ValidationError: fewer than one positive spend, negative or non-finite values, or a
            spend given twice.
    """
    try:
        arr = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    except ValueError:
        raise ValidationError(f"points of {channel!r} must be [spend, return] pairs",
                              field="points") from None
    if not np.isfinite(arr).all() or (arr[:, 0] < 0).any():
        raise ValidationError(f"points of {channel!r} need finite values and spend >= 0",
                              field="points")
    if not (arr[:, 0] == 0).any():
        arr = np.vstack([[0.0, 0.0], arr])
    arr = arr[np.argsort(arr[:, 0], kind="stable")]
    if len(np.unique(arr[:, 0])) != len(arr):
        raise ValidationError(f"a spend appears twice in the points of {channel!r}",
                              field="points")
    if len(arr) < 2:
        raise ValidationError(f"{channel!r} needs a point with a positive spend",
                              field="points")
    # returns that fall as spend grows are read as flat: more spend never loses money here
    ys = np.maximum.accumulate(arr[:, 1])
    hx, hy = _envelope(arr[:, 0], ys)
    if hx[-1] < arr[-1, 0]:
        hx, hy = np.append(hx, arr[-1, 0]), np.append(hy, ys[-1])
    used = len(hx) != len(arr) or not np.allclose(hy, arr[:, 1])
    return TableCurve(channel, tuple(map(float, hx)), tuple(map(float, hy)), used)


def curves_from_spec(specs: Sequence[Mapping[str, Any]]) -> list[ResponseCurve | TableCurve]:
    """Curves from their JSON form (see the module docstring).

    Raises:
        ValidationError: an unknown model, the wrong number of parameters, a ``log`` curve
            without ``up_to``, or a channel given twice.
    """
    out: list[ResponseCurve | TableCurve] = []
    seen: set[str] = set()
    for spec in specs:
        channel = spec.get("channel")
        if not isinstance(channel, str) or not channel:
            raise ValidationError("every curve needs a channel name", field="channel")
        if channel in seen:
            raise ValidationError(f"channel {channel!r} has two curves", field="channel")
        seen.add(channel)
        if "points" in spec:
            out.append(table_curve(channel, spec["points"]))
            continue
        model = spec.get("model")
        if model not in MODELS:
            raise ValidationError(f"unknown model {model!r} for {channel!r}; valid: "
                                  f"{', '.join(MODELS)} (or give points)", field="model")
        params = tuple(float(p) for p in spec.get("params") or ())
        if len(params) != (3 if model == "hill" else 2) or not all(
                math.isfinite(p) and p > 0 for p in params):
            raise ValidationError(f"{model} takes {3 if model == 'hill' else 2} positive "
                                  f"parameters, got {list(params)}", field="params")
        up_to = spec.get("up_to")
        if up_to is None and model == "log":
            raise ValidationError(f"a log curve has no ceiling: give up_to (the largest spend "
                                  f"it holds for) for {channel!r}", field="up_to")
        curve = ResponseCurve(channel, model, params, math.nan, math.nan, 0, 1.0)
        reach = float(up_to) if up_to is not None else curve.saturation_spend(0.99)
        out.append(ResponseCurve(channel, model, params, math.nan, math.nan, 0, reach))
    if not out:
        raise ValidationError("give at least one curve", field="curves")
    return out
