"""Budget optimiser: fit diminishing-return curves per channel, split a budget by LP.

:class:`BudgetOptimiser` fits one concave response curve per channel (or channel x segment)
from a history of per-period spend and return (``optimiser_curves``), cuts each curve into
``breakpoints`` linear pieces and allocates a total budget with ``scipy.optimize.linprog``
(HiGHS, ``optimiser_lp``) under per-channel minimum / maximum spend and reach caps. The
result reports the allocation, the expected return against the current allocation, the
marginal ROI per channel at the optimum and the constraints that bind.

Example:
    >>> import numpy as np, pyarrow as pa
    >>> spend = np.tile(np.linspace(10.0, 200.0, 8), 2)
    >>> ceiling, scale = np.repeat([400.0, 300.0], 8), np.repeat([100.0, 50.0], 8)
    >>> history = pa.table({"channel": ["search"] * 8 + ["social"] * 8,
    ...                     "period": list(range(8)) * 2, "spend": spend,
    ...                     "return": ceiling * (1 - np.exp(-spend / scale))})
    >>> opt = BudgetOptimiser(breakpoints=50).fit(history)
    >>> res = opt.allocate(200.0, current={"search": 100.0, "social": 100.0})
    >>> [(c.unit, round(c.spend)) for c in res.channels]
    [('search', 120), ('social', 80)]
    >>> res.expected_return > res.current_return, res.binding
    (True, ['budget'])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Self, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aidmp.campaigns.optimiser.allocation import AllocationResult, ChannelAllocation
from aidmp.campaigns.optimiser.curves import CurveModel, ResponseCurve, fit_curve
from aidmp.campaigns.optimiser.given import TableCurve
from aidmp.campaigns.optimiser.lp import (
    FloatArray,
    LPSolution,
    PiecewiseLinear,
    solve_allocation,
)
from aidmp.errors import AidmpError, ValidationError

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

    HistoryFrame: TypeAlias = pa.Table | pd.DataFrame | pl.DataFrame

SpendOption = float | Mapping[str, float] | None
CurveChoice: TypeAlias = CurveModel | Literal["auto"]
REQUIRED = ("channel", "period", "spend", "return")


class NotFittedError(AidmpError, RuntimeError):
    """``allocate`` or ``plot`` was called before ``fit``."""

    http_status = 409
    code = "model_not_fitted"


def _to_arrow(history: HistoryFrame) -> pa.Table:
    if isinstance(history, pa.Table):
        return history
    # pandas and polars both convert through the Arrow protocols
    return pa.table(history)


class BudgetOptimiser:
    """Fit response curves from history and allocate budgets by linear programming.

    Args:
        breakpoints: Linear pieces per curve in the LP (the optimum is exact for the
            piecewise-linear curves, within one piece's width of the smooth optimum).
        model: Curve shape: ``exp``, ``hill``, ``log`` or ``auto`` (lowest AIC per channel).
        saturation: Reach cap from the curve: spend where it reaches this fraction of its
            ceiling (spend past it buys almost nothing).
        extrapolation: Never allocate more than this multiple of the largest spend seen in one
            period: the curve is not known beyond the data.
    """

    def __init__(self, breakpoints: int = 20, model: CurveChoice = "exp",
                 saturation: float = 0.99, extrapolation: float = 2.0) -> None:
        self.breakpoints = breakpoints
        self.model = model
        self.saturation = saturation
        self.extrapolation = extrapolation

    def _check_params(self) -> None:
        if not isinstance(self.breakpoints, int) or self.breakpoints < 1:
            raise ValidationError(f"must be a positive integer, got {self.breakpoints!r}",
                                  field="breakpoints")
        if self.model not in ("exp", "hill", "log", "auto"):
            raise ValidationError(f"unknown model {self.model!r}; valid: exp, hill, log, auto",
                                  field="model")
        if not 0.0 < self.saturation < 1.0:
            raise ValidationError(f"must be in (0, 1), got {self.saturation}", field="saturation")
        if not self.extrapolation >= 1.0:
            raise ValidationError(f"must be >= 1, got {self.extrapolation}",
                                  field="extrapolation")

    def fit(self, history: HistoryFrame) -> Self:
        """Fit one curve per channel (per channel x segment when there is a segment column).

        Args:
            history: Columns ``channel``, optional ``segment``, ``period``, ``spend``,
                ``return``; several rows of one channel and period are summed.

        Returns:
            self, with ``curves_`` (unit -> :class:`ResponseCurve`), ``units_`` and
            ``current_`` (mean spend per period, the default current allocation).
        """
        self._check_params()
        table = _to_arrow(history)
        missing = [c for c in REQUIRED if c not in table.column_names]
        if missing:
            raise ValidationError(f"missing columns {missing}; need {list(REQUIRED)} and "
                                  "optionally 'segment'", field="history")
        keys = ["channel", "segment"] if "segment" in table.column_names else ["channel"]
        for col in ("spend", "return"):
            values = pc.cast(table[col], pa.float64())
            if values.null_count or not pc.all(pc.is_finite(values)).as_py():
                raise ValidationError("must be finite numbers, no nulls", field=col)
            table = table.set_column(table.column_names.index(col), col, values)
        if pc.any(pc.less(table["spend"], 0.0)).as_py():
            raise ValidationError("spend must be >= 0", field="spend")
        for key in keys:
            table = table.set_column(table.column_names.index(key), key,
                                     pc.cast(table[key], pa.string()))
        per_period = (table.group_by([*keys, "period"])
                      .aggregate([("spend", "sum"), ("return", "sum")])
                      .sort_by([(k, "ascending") for k in keys]))
        channel = per_period["channel"].to_pylist()
        segment = per_period["segment"].to_pylist() if "segment" in keys else [None] * len(channel)
        unit = np.array([c if s is None else f"{c}/{s}" for c, s in zip(channel, segment,
                                                                         strict=True)])
        spend = per_period["spend_sum"].to_numpy()
        ret = per_period["return_sum"].to_numpy()
        names, first = np.unique(unit, return_index=True)
        order = np.argsort(first)  # keep the sorted (channel, segment) order
        self.units_: list[str] = [str(names[i]) for i in order]
        self.channels_: dict[str, tuple[str, str | None]] = {
            str(unit[first[i]]): (channel[first[i]], segment[first[i]]) for i in order}
        self.curves_: dict[str, ResponseCurve | TableCurve] = {}
        self.current_: dict[str, float] = {}
        for name in self.units_:
            mask = unit == name
            self.curves_[name] = fit_curve(name, spend[mask], ret[mask], model=self.model)
            self.current_[name] = float(spend[mask].mean())
        return self

    def use(self, curves: Sequence[ResponseCurve | TableCurve],
            current: Mapping[str, float] | None = None) -> Self:
        """Take the user's curves (one per channel) instead of fitting them: for
        :meth:`allocate` as after :meth:`fit`; the current allocation is ``current`` (zero
        for a channel not named)."""
        self._check_params()
        self.units_ = [c.unit for c in curves]
        self.channels_ = {c.unit: (c.unit, None) for c in curves}
        self.curves_ = {c.unit: c for c in curves}
        self.current_ = {c.unit: float((current or {}).get(c.unit, 0.0)) for c in curves}
        return self

    def _grid(self, curve: ResponseCurve | TableCurve, hi: float) -> FloatArray:
        """Breakpoints of a curve up to ``hi``: evenly spaced, plus a table's own points (its
        kinks), so that a spend/return table is optimised exactly."""
        grid = np.linspace(0.0, hi, self.breakpoints + 1)
        if isinstance(curve, TableCurve):
            grid = np.union1d(grid, [x for x in curve.spend if x <= hi])
        return np.asarray(grid, dtype=np.float64)

    def _per_unit(self, field: str, value: SpendOption, default: float) -> FloatArray:
        """A scalar or a {unit: value} mapping as one float per unit."""
        if value is None:
            return np.full(len(self.units_), default)
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - set(self.units_))
            if unknown:
                raise ValidationError(f"unknown channels {unknown}; valid: {self.units_}",
                                      field=field)
            out = np.array([float(value.get(u, default)) for u in self.units_])
        else:
            out = np.full(len(self.units_), float(value))
        if np.isnan(out).any() or (out < 0).any():
            raise ValidationError("spend limits must be numbers >= 0", field=field)
        return out

    def allocate(self, total: float, *, min_spend: SpendOption = None,
                 max_spend: SpendOption = None, reach_caps: Mapping[str, float] | None = None,
                 current: Mapping[str, float] | None = None,
                 spend_all: bool = False) -> AllocationResult:
        """Split ``total`` over the fitted channels to maximise the expected return.

        Args:
            total: The budget (>= 0).
            min_spend: Minimum per channel: one number for all, or ``{unit: spend}``.
            max_spend: Maximum per channel, same forms (default: no maximum).
            reach_caps: ``{unit: spend}`` past which the channel's audience is exhausted.
                The curve's own cap (``saturation``, ``extrapolation``) always applies too.
            current: The current allocation to compare with (default: the mean spend per
                period in the history).
            spend_all: Spend exactly ``total`` (else stop where every curve is capped).

        Returns:
            The :class:`AllocationResult`.

        Raises:
            ValidationError: A negative or non-finite budget, a minimum above a maximum, a
                total below the sum of the minimums (or above the sum of the caps with
                ``spend_all``), or an unknown channel.
        """
        if not hasattr(self, "curves_"):
            raise NotFittedError("call fit(history) before allocate()")
        if not (isinstance(total, int | float) and math.isfinite(total) and total >= 0):
            raise ValidationError(f"must be a finite number >= 0, got {total!r}", field="total")
        lower = self._per_unit("min_spend", min_spend, 0.0)
        user_max = self._per_unit("max_spend", max_spend, math.inf)
        user_reach = self._per_unit("reach_caps", reach_caps, math.inf)
        curves = [self.curves_[u] for u in self.units_]
        auto_cap = np.array([min(c.saturation_spend(self.saturation),
                                 self.extrapolation * c.max_observed_spend) for c in curves])
        bad = np.flatnonzero(lower > np.minimum(user_max, user_reach))
        if bad.size:
            i = int(bad[0])
            raise ValidationError(
                f"min_spend for {self.units_[i]!r} ({lower[i]:g}) is above its max_spend / "
                f"reach cap ({min(user_max[i], user_reach[i]):g})", field="min_spend")
        if lower.sum() > total:
            raise ValidationError(f"budget {total:g} is below the sum of min_spend "
                                  f"({lower.sum():g})", field="total")
        # A user minimum above the curve's own cap wins: the cap is a guard, not a rule.
        reach = np.maximum(np.minimum(auto_cap, user_reach), lower)
        upper = np.minimum(user_max, reach)
        if spend_all and upper.sum() < total:
            raise ValidationError(f"budget {total:g} is above what the channels can take "
                                  f"({upper.sum():g}: max_spend and reach caps)", field="total")
        pieces = [PiecewiseLinear(b := self._grid(c, hi), c.predict(b))
                  for c, hi in zip(curves, upper, strict=True)]
        sol = solve_allocation(pieces, float(total), lower, upper, spend_all=spend_all)
        cur = self._per_unit("current", current, math.nan)
        if current is not None and np.isnan(cur).any():
            raise ValidationError(f"give a spend for every channel: {self.units_}",
                                  field="current")
        if current is None:
            cur = np.array([self.current_[u] for u in self.units_])
        return self._result(float(total), curves, pieces, sol, cur, lower, upper, user_max)

    def _result(self, total: float, curves: list[ResponseCurve | TableCurve],
                pieces: list[PiecewiseLinear],
                sol: LPSolution, cur: FloatArray, lower: FloatArray, upper: FloatArray,
                user_max: FloatArray) -> AllocationResult:
        spend, slack = sol.spend, sol.budget_slack
        tol = 1e-7 * max(total, 1.0)
        rows, binding = [], []
        if slack <= tol:
            binding.append("budget")
        for i, (name, curve, piece) in enumerate(zip(self.units_, curves, pieces, strict=True)):
            x = float(spend[i])
            bound: str | None = None
            price = 0.0
            if lower[i] > 0 and x <= lower[i] + tol:
                bound, price = "min_spend", float(sol.lower_duals[i])
            elif x >= upper[i] - tol:
                bound = "max_spend" if user_max[i] <= upper[i] else "reach_cap"
                price = float(sol.upper_duals[i])
            if bound:
                binding.append(f"{bound}[{name}]")
            left, right = piece.slopes_at(x)
            channel, segment = self.channels_[name]
            rows.append(ChannelAllocation(
                unit=name, channel=channel, segment=segment, spend=x,
                current_spend=float(cur[i]), expected_return=float(curve.predict(x)),
                current_return=float(curve.predict(cur[i])),
                marginal_roi=float(curve.marginal(x)), slope_left=left, slope_right=right,
                min_spend=float(lower[i]), max_spend=float(upper[i]), binding=bound,
                shadow_price=price, r2=curve.r2))
        expected = sum(r.expected_return for r in rows)
        current_return = sum(r.current_return for r in rows)
        return AllocationResult(
            total=total, allocated=float(spend.sum()), unallocated=slack,
            expected_return=expected, current_spend=float(cur.sum()),
            current_return=current_return, uplift=expected - current_return,
            uplift_pct=100.0 * (expected / current_return - 1.0) if current_return else None,
            budget_marginal_roi=sol.budget_dual, lp_return=sol.value,
            breakpoints=self.breakpoints,
            binding=binding, channels=rows)

    def fit_report(self) -> list[dict[str, object]]:
        """Per channel: curve shape, parameters and goodness of fit (R², RMSE)."""
        if not hasattr(self, "curves_"):
            raise NotFittedError("call fit(history) before fit_report()")
        return [self.curves_[u].to_dict() for u in self.units_]

    def plot(self, result: AllocationResult, path: str | Path, *, top: int = 12) -> Path:
        """Write a PNG: the curves with current and optimal spend, and the allocation bars.

        Args:
            result: What :meth:`allocate` returned.
            path: Where to write the PNG.
            top: Plot only the ``top`` channels by optimal spend (readable with 200 units).
        """
        if not hasattr(self, "curves_"):
            raise NotFittedError("call fit(history) before plot()")
        from aidmp.campaigns.optimiser.plot import plot_allocation

        return plot_allocation(self.curves_, result, Path(path), top=top)
