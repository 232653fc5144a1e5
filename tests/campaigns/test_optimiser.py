"""Budget optimiser: LP optima checked by hand, equal marginal returns, planted winners, errors.

No shared dataset carries marketing spend per period, so the histories here are generated from
known curves (the "planted" truth the fits and allocations are checked against).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from aidmp.campaigns.optimiser.curves import fit_curve
from aidmp.campaigns.optimiser.lp import PiecewiseLinear, solve_allocation
from aidmp.campaigns.optimiser.model import BudgetOptimiser, NotFittedError
from aidmp.errors import ValidationError

# Two channels on paper: A returns 3 per unit for 10 units then 1 per unit for 10 more;
# B returns 2 per unit for 10 units then 0.5 per unit for 20 more.
A = PiecewiseLinear(np.array([0.0, 10.0, 20.0]), np.array([0.0, 30.0, 40.0]))
B = PiecewiseLinear(np.array([0.0, 10.0, 30.0]), np.array([0.0, 20.0, 30.0]))
UPPER = np.array([20.0, 30.0])


def history(curves: dict[str, tuple[float, float]], periods: int = 26, noise: float = 0.0,
            seed: int = 0, spend_hi: float = 300.0) -> pa.Table:
    """Per-period spend (spread over [5, spend_hi]) and exp-curve return (+ relative noise)."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list[object]] = {"channel": [], "period": [], "spend": [], "return": []}
    for name, (a, b) in curves.items():
        x = rng.uniform(5.0, spend_hi, periods)
        y = a * (1.0 - np.exp(-x / b)) * (1.0 + noise * rng.standard_normal(periods))
        rows["channel"] += [name] * periods
        rows["period"] += list(range(periods))
        rows["spend"] += x.tolist()
        rows["return"] += y.tolist()
    return pa.table(rows)


# --- the LP on paper -------------------------------------------------------------------------

def test_lp_fills_steepest_pieces_first() -> None:
    # 15 to spend: A's 10 units at 3, then 5 of B's units at 2; the next unit would earn 2.
    sol = solve_allocation([A, B], 15.0, np.zeros(2), UPPER)
    assert sol.spend.tolist() == pytest.approx([10.0, 5.0])
    assert sol.value == pytest.approx(40.0)
    assert sol.budget_dual == pytest.approx(2.0)
    # 25: both first pieces (50), then A's second piece at 1 beats B's at 0.5: A gets 5 more.
    sol = solve_allocation([A, B], 25.0, np.zeros(2), UPPER)
    assert sol.spend.tolist() == pytest.approx([15.0, 10.0])
    assert sol.value == pytest.approx(55.0)
    assert sol.budget_dual == pytest.approx(1.0)


def test_lp_binding_minimum_and_maximum_with_duals() -> None:
    # B must take 12: 10 at 2 + 2 at 0.5 = 21; A gets the other 3 at 3 = 9.
    sol = solve_allocation([A, B], 15.0, np.array([0.0, 12.0]), UPPER)
    assert sol.spend.tolist() == pytest.approx([3.0, 12.0])
    assert sol.value == pytest.approx(30.0)
    assert sol.budget_dual == pytest.approx(3.0)
    # one more unit of B's minimum moves a unit from A (3) to B (0.5)
    assert sol.lower_duals.tolist() == pytest.approx([0.0, -2.5])
    # A capped at 5: 15 + B's 9 at 2 = 33; the budget's next unit earns B's 2, and one more
    # unit of A's cap would swap a 2 for a 3
    sol = solve_allocation([A, B], 14.0, np.zeros(2), np.array([5.0, 30.0]))
    assert sol.spend.tolist() == pytest.approx([5.0, 9.0])
    assert sol.value == pytest.approx(33.0)
    assert sol.budget_dual == pytest.approx(2.0)
    assert sol.upper_duals.tolist() == pytest.approx([1.0, 0.0])


def test_lp_leaves_budget_unspent_past_the_caps_unless_told() -> None:
    sol = solve_allocation([A, B], 60.0, np.zeros(2), UPPER)
    assert sol.spend.tolist() == pytest.approx([20.0, 30.0])
    assert sol.budget_slack == pytest.approx(10.0)
    assert sol.budget_dual == pytest.approx(0.0)
    with pytest.raises(ValidationError) as err:
        solve_allocation([A, B], 60.0, np.zeros(2), UPPER, spend_all=True)
    assert err.value.field == "total"


# --- curves ----------------------------------------------------------------------------------

def test_curve_fit_recovers_planted_parameters_and_reports_fit() -> None:
    table = history({"tv": (900.0, 150.0)}, periods=40, noise=0.03, seed=3)
    curve = fit_curve("tv", table["spend"].to_numpy(), table["return"].to_numpy())
    a, b = curve.params
    assert a == pytest.approx(900.0, rel=0.1)
    assert b == pytest.approx(150.0, rel=0.1)
    assert 0.95 < curve.r2 <= 1.0
    assert curve.rmse == pytest.approx(0.03 * 600, rel=0.5)  # noise sd ~ 3% of a mid return
    # the marginal at zero is a / b, and it falls with spend (diminishing returns)
    assert float(curve.marginal(0.0)) == pytest.approx(a / b)
    assert np.all(np.diff(curve.marginal(np.linspace(0, 500, 20))) < 0)


def test_auto_model_picks_the_generating_shape() -> None:
    x = np.linspace(5.0, 400.0, 30)
    log_curve = fit_curve("x", x, 120.0 * np.log1p(x / 30.0), model="auto")
    assert log_curve.model == "log"
    assert log_curve.params == pytest.approx((120.0, 30.0), rel=1e-3)
    hill = fit_curve("x", x, 500.0 * x**0.7 / (x**0.7 + 80.0**0.7), model="auto")
    assert hill.model == "hill"
    assert hill.params == pytest.approx((500.0, 80.0, 0.7), rel=1e-3)


def test_too_few_periods_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as err:
        fit_curve("tv", [10.0, 10.0, 10.0], [1.0, 2.0, 3.0])
    assert err.value.field == "history"


# --- the optimiser ---------------------------------------------------------------------------

PLANTED = {"search": (800.0, 100.0), "social": (500.0, 150.0), "display": (300.0, 120.0),
           "email": (200.0, 60.0)}


def test_equal_marginal_returns_at_the_optimum() -> None:
    opt = BudgetOptimiser(breakpoints=40).fit(history(PLANTED))
    res = opt.allocate(500.0)
    assert res.binding == ["budget"]
    lam = res.budget_marginal_roi
    for ch in res.channels:
        assert ch.binding is None
        # the budget's shadow price lies between the pieces either side of each spend
        assert ch.slope_right - 1e-9 <= lam <= ch.slope_left + 1e-9
    marginals = [ch.marginal_roi for ch in res.channels]
    drop = max(ch.slope_left - ch.slope_right for ch in res.channels)
    piece_drop = max(float(np.max(-np.diff(opt.curves_[ch.unit].marginal(
        np.linspace(0.0, ch.max_spend, 41))))) for ch in res.channels)
    assert max(marginals) - min(marginals) <= 2 * max(drop, piece_drop)
    # the smooth optimum on paper: x_i = b_i ln(a_i / (b_i lam)), sum x_i = total
    a = np.array([opt.curves_[u].params[0] for u in opt.units_])
    b = np.array([opt.curves_[u].params[1] for u in opt.units_])
    log_lam = (np.sum(b * np.log(a / b)) - 500.0) / b.sum()
    exact = b * (np.log(a / b) - log_lam)
    width = np.array([ch.max_spend for ch in res.channels]) / 40
    assert np.all(np.abs(np.array([ch.spend for ch in res.channels]) - exact) <= width + 1e-6)
    assert lam == pytest.approx(math.exp(log_lam), rel=0.1)


def test_budget_moves_towards_the_planted_winner() -> None:
    table = history(PLANTED, noise=0.05, seed=7)
    opt = BudgetOptimiser().fit(table)
    current = dict.fromkeys(PLANTED, 100.0)
    res = opt.allocate(400.0, current=current)
    by = {ch.unit: ch for ch in res.channels}
    # search's marginal at 100 is 8 e^-1 ~ 2.9 vs social 2.4, display 1.1, email 0.6
    assert by["search"].spend > 100.0 + 50.0
    assert by["email"].spend < 100.0
    assert res.expected_return >= res.current_return
    assert res.uplift > 0 and res.uplift_pct is not None and res.uplift_pct > 5.0
    assert res.allocated == pytest.approx(400.0)
    assert res.lp_return <= res.expected_return + 1e-6  # chords sit under a concave curve


def test_min_and_max_spend_bind_and_are_reported() -> None:
    opt = BudgetOptimiser(breakpoints=40).fit(history(PLANTED))
    res = opt.allocate(500.0, min_spend={"email": 150.0}, max_spend={"search": 120.0})
    by = {ch.unit: ch for ch in res.channels}
    assert by["email"].spend == pytest.approx(150.0)
    assert by["email"].binding == "min_spend"
    assert by["search"].spend == pytest.approx(120.0)
    assert by["search"].binding == "max_spend"
    assert set(res.binding) == {"budget", "min_spend[email]", "max_spend[search]"}
    # capped search still earns more at the margin than the budget's shadow price
    assert by["search"].marginal_roi > res.budget_marginal_roi
    assert by["email"].marginal_roi < res.budget_marginal_roi
    # duals of the bounds: the cap holds back (slope above the budget price) what the minimum
    # forces in; both equal the gap between the channel's piece and the budget's price
    assert by["search"].shadow_price == pytest.approx(
        by["search"].slope_left - res.budget_marginal_roi, abs=1e-6)
    assert by["email"].shadow_price == pytest.approx(
        by["email"].slope_left - res.budget_marginal_roi, abs=1e-6)
    assert by["search"].shadow_price > 0 > by["email"].shadow_price
    assert by["social"].shadow_price == 0.0


def test_reach_caps_and_unspent_budget() -> None:
    opt = BudgetOptimiser().fit(history(PLANTED, spend_hi=200.0))
    res = opt.allocate(5000.0)  # far more than the curves can use (2 x 200 per channel)
    assert res.unallocated > 0
    assert "budget" not in res.binding
    assert all(ch.binding == "reach_cap" for ch in res.channels)
    capped = opt.allocate(300.0, reach_caps={"search": 50.0})
    assert dict(zip(opt.units_, [c.spend for c in capped.channels], strict=True))["search"] \
        == pytest.approx(50.0)
    assert "reach_cap[search]" in capped.binding
    with pytest.raises(ValidationError) as err:
        opt.allocate(5000.0, spend_all=True)
    assert err.value.field == "total"


def test_segments_units_and_json_result() -> None:
    base = history({"search": (800.0, 100.0), "social": (500.0, 150.0)}, seed=1).to_pandas()
    young = base.assign(segment="young")
    old = base.assign(segment="old", **{"return": base["return"] * 0.5})
    opt = BudgetOptimiser().fit(pd.concat([young, old]))
    assert opt.units_ == ["search/old", "search/young", "social/old", "social/young"]
    res = opt.allocate(600.0)
    by = {ch.unit: ch for ch in res.channels}
    assert by["search/young"].spend > by["search/old"].spend
    assert by["search/young"].channel == "search" and by["search/young"].segment == "young"
    text = json.dumps(res.to_dict())
    assert json.loads(text)["channels"][0]["unit"] == "search/old"


def test_pandas_polars_and_arrow_give_the_same_fit() -> None:
    table = history(PLANTED, noise=0.05, seed=2)
    fits = [BudgetOptimiser().fit(t).fit_report()
            for t in (table, table.to_pandas(), pl.from_arrow(table))]
    assert fits[0] == fits[1] == fits[2]
    assert {f["unit"] for f in fits[0]} == set(PLANTED)


def test_plot_writes_a_png(tmp_path: Path) -> None:
    opt = BudgetOptimiser().fit(history(PLANTED))
    out = opt.plot(opt.allocate(400.0), tmp_path / "alloc.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"total": -1.0}, "total"),
    ({"total": math.nan}, "total"),
    ({"total": 100.0, "min_spend": {"search": 50.0}, "max_spend": {"search": 20.0}},
     "min_spend"),
    ({"total": 100.0, "min_spend": 40.0}, "total"),  # 4 x 40 > 100
    ({"total": 100.0, "max_spend": {"tiktok": 20.0}}, "max_spend"),
    ({"total": 100.0, "min_spend": -5.0}, "min_spend"),
    ({"total": 100.0, "current": {"search": 10.0}}, "current"),
])
def test_invalid_allocation_input_names_the_field(kwargs: dict[str, object],
                                                  field: str) -> None:
    opt = BudgetOptimiser().fit(history(PLANTED))
    with pytest.raises(ValidationError) as err:
        opt.allocate(**kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


def test_invalid_history_and_unfitted_use() -> None:
    with pytest.raises(NotFittedError):
        BudgetOptimiser().allocate(10.0)
    with pytest.raises(ValidationError) as err:
        BudgetOptimiser().fit(pa.table({"channel": ["a"], "spend": [1.0]}))
    assert err.value.field == "history"
    bad = history(PLANTED).to_pandas()
    bad.loc[0, "spend"] = -3.0
    with pytest.raises(ValidationError) as err:
        BudgetOptimiser().fit(bad)
    assert err.value.field == "spend"
    with pytest.raises(ValidationError) as err:
        BudgetOptimiser(breakpoints=0).fit(history(PLANTED))
    assert err.value.field == "breakpoints"
