"""Budget allocation as a linear programme over piecewise-linear concave curves (HiGHS).

Each channel's curve is cut at breakpoints; a segment's slope is the marginal return of the
spend inside it. One variable per segment (``0 <= y <= width``), the channel's spend is the sum
of its segments, and the LP maximises the sum of ``slope * y``. Because the curves are concave
the slopes fall, so a maximising LP fills each channel's segments in order without the integer
variables a non-concave curve would need.

Rows: the budget (``sum x <= total``, or ``==`` with ``spend_all``), then ``x_i >= lower_i`` and
``x_i <= upper_i`` where they cut into a curve; HiGHS' dual values price every constraint.

Example:
    >>> import numpy as np
    >>> a = PiecewiseLinear(np.array([0.0, 10.0, 20.0]), np.array([0.0, 30.0, 40.0]))
    >>> b = PiecewiseLinear(np.array([0.0, 10.0, 30.0]), np.array([0.0, 20.0, 30.0]))
    >>> sol = solve_allocation([a, b], 15.0, np.zeros(2), np.array([20.0, 30.0]))
    >>> sol.spend.tolist(), sol.value, sol.budget_dual
    ([10.0, 5.0], 40.0, 2.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.optimize import linprog

from aidmp.errors import ValidationError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PiecewiseLinear:
    """A curve given by its values at increasing breakpoints (first breakpoint 0)."""

    breaks: FloatArray
    values: FloatArray

    @property
    def widths(self) -> FloatArray:
        return np.diff(self.breaks)

    @property
    def slopes(self) -> FloatArray:
        """Each segment's slope (its marginal return); zero-width segments get slope 0."""
        w = self.widths
        rise = np.diff(self.values)
        return np.divide(rise, w, out=np.zeros_like(rise), where=w > 0)

    def __call__(self, spend: npt.ArrayLike) -> FloatArray:
        x = np.asarray(spend, dtype=np.float64)
        return np.asarray(np.interp(x, self.breaks, self.values), dtype=np.float64)

    def slopes_at(self, spend: float, tol: float = 1e-9) -> tuple[float, float]:
        """Slopes just left and right of ``spend`` (equal inside a segment; nan past the ends)."""
        s = self.slopes
        scale = max(float(self.breaks[-1]), 1.0) * tol
        left_idx = int(np.searchsorted(self.breaks, spend - scale, side="left")) - 1
        right_idx = int(np.searchsorted(self.breaks, spend + scale, side="right")) - 1
        left = float(s[left_idx]) if 0 <= left_idx < s.size else float("nan")
        right = float(s[right_idx]) if 0 <= right_idx < s.size else float("nan")
        return left, right


@dataclass(frozen=True)
class LPSolution:
    """What HiGHS returned, in return units (a maximisation).

    Attributes:
        spend: Optimal spend per channel.
        value: Piecewise-linear return at ``spend``.
        budget_dual: Return of one more unit of total budget (the shadow price).
        lower_duals: d(return)/d(lower_i): <= 0 where a minimum spend forces money in.
        upper_duals: d(return)/d(upper_i): >= 0 where a cap holds money back.
        budget_slack: Budget left unspent.
    """

    spend: FloatArray
    value: float
    budget_dual: float
    lower_duals: FloatArray
    upper_duals: FloatArray
    budget_slack: float


def solve_allocation(curves: Sequence[PiecewiseLinear], total: float, lower: FloatArray,
                     upper: FloatArray, *, spend_all: bool = False) -> LPSolution:
    """Maximise the total piecewise-linear return of a budget split over channels.

    Args:
        curves: One concave piecewise-linear curve per channel.
        total: The budget.
        lower: Minimum spend per channel.
        upper: Maximum spend per channel (min of max spend and reach cap).
        spend_all: Spend exactly ``total`` (else at most ``total``).

    Returns:
        The optimum, with dual values.

    Raises:
        ValidationError: The constraints leave no feasible allocation.
    """
    n = len(curves)
    widths = [c.widths for c in curves]
    sizes = np.array([w.size for w in widths])
    owner = np.repeat(np.arange(n), sizes)
    last = np.cumsum(sizes) - 1
    n_vars = int(sizes.sum())
    c = -np.concatenate([cv.slopes for cv in curves])  # linprog minimises
    bounds = np.column_stack([np.zeros(n_vars), np.concatenate(widths)])
    # Rows only where a bound cuts into the curve: a cap at the curve's last breakpoint is
    # already the segments' own bounds, and redundant rows make HiGHS crawl (degeneracy).
    reach = np.array([float(w.sum()) for w in widths])
    low_rows = np.flatnonzero(lower > 0)
    up_rows = np.flatnonzero(upper < reach * (1 - 1e-12))
    # x_i = sum of channel i's segments, as a sparse (channels x segments) incidence matrix
    member = sparse.csr_matrix((np.ones(n_vars), (owner, np.arange(n_vars))), shape=(n, n_vars))
    budget_row = sparse.csr_matrix(np.ones((1, n_vars)))
    blocks = [-member[low_rows], member[up_rows]]
    rhs = [-lower[low_rows], upper[up_rows]]
    if not spend_all:
        blocks, rhs = [budget_row, *blocks], [np.array([total]), *rhs]
    res = linprog(c, A_ub=sparse.vstack(blocks).tocsr(), b_ub=np.concatenate(rhs),
                  A_eq=budget_row if spend_all else None,
                  b_eq=np.array([total]) if spend_all else None,
                  bounds=bounds, method="highs",
                  # HiGHS' presolve is ~quadratic on the dense budget row (2 s vs 0.2 s at
                  # 20,000 pieces) and finds nothing to remove in this already-lean model
                  options={"presolve": False})
    if res.status != 0:
        raise ValidationError(f"no feasible allocation: {res.message}", field="total")
    y = np.asarray(res.x, dtype=np.float64)
    spend = np.bincount(owner, weights=y, minlength=n).astype(np.float64)
    duals = np.asarray(res.ineqlin.marginals, dtype=np.float64)
    row = 0 if spend_all else 1
    budget_dual = -float(res.eqlin.marginals[0] if spend_all else duals[0])
    # linprog's marginals are d(min objective)/d(b); the max objective is its negative, and the
    # lower rows hold -lower_i, so the two signs cancel there.
    lower_duals = np.zeros(n)
    lower_duals[low_rows] = duals[row:row + low_rows.size]
    # a cap at the last breakpoint is priced by the last segment's own upper bound
    upper_duals = -np.asarray(res.upper.marginals, dtype=np.float64)[last]
    upper_duals[up_rows] = -duals[row + low_rows.size:]
    return LPSolution(spend=spend, value=-float(res.fun), budget_dual=budget_dual + 0.0,
                      lower_duals=lower_duals + 0.0, upper_duals=upper_duals + 0.0,
                      budget_slack=max(float(total - spend.sum()), 0.0))
