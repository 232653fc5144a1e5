"""Experiments: assignment, planted A/B effects, sample size by hand, two-model uplift."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from aidmp.campaigns import TwoModelUplift, assign, conversion_test, revenue_test, sample_size
from aidmp.campaigns.service import analyse
from aidmp.errors import ValidationError


def test_assignment_is_deterministic_and_balanced() -> None:
    people = [f"p{i}" for i in range(20000)]
    arms = assign("exp-1", people)
    assert arms == assign("exp-1", people)
    share = arms.count("treatment") / len(arms)
    assert abs(share - 0.5) < 3 * math.sqrt(0.25 / len(arms))  # within 3 standard errors
    # another experiment reshuffles people independently of the first
    other = assign("exp-2", people)
    both = sum(a == "treatment" and b == "treatment" for a, b in zip(arms, other, strict=True))
    assert both / len(people) == pytest.approx(0.25, abs=0.015)
    holdout = assign("exp-1", people, {"holdout": 0.1, "exposed": 0.9})
    assert holdout.count("holdout") / len(people) == pytest.approx(0.1, abs=0.01)
    assert assign("exp-1", ["p7"]) == [arms[7]]
    with pytest.raises(ValidationError, match="positive"):
        assign("e", ["p"], {"a": 0.0, "b": 1.0})


def test_sample_size_matches_hand_computation() -> None:
    # p1 = .10, p2 = .12: (1.959964 * sqrt(2 * .11 * .89) + 0.841621 * sqrt(.09 + .1056))^2
    # / .02^2 = 1.536340 / .0004 = 3840.85 -> 3841 per arm
    assert sample_size(0.10, 0.02) == 3841
    assert sample_size(0.10, 0.20, relative=True) == 3841
    za, zb = stats.norm.ppf(0.995), stats.norm.ppf(0.9)
    hand = (za * math.sqrt(2 * 0.0525 * 0.9475) + zb * math.sqrt(0.05 * 0.95 + 0.055 * 0.945))
    assert sample_size(0.05, 0.005, alpha=0.01, power=0.9) == math.ceil(hand**2 / 0.005**2)
    with pytest.raises(ValidationError, match="mde"):
        sample_size(0.99, 0.05)


def test_ab_analysis_recovers_planted_uplift() -> None:
    rng = np.random.default_rng(11)
    people = [f"p{i}" for i in range(40000)]
    arm_of = assign("checkout-v2", people)
    p_conv = {"control": 0.10, "treatment": 0.13}  # planted +3 points, +30 %
    outcomes: dict[str, tuple[int, float]] = {}
    for p, a in zip(people, arm_of, strict=True):
        if rng.random() < p_conv[a]:
            outcomes[p] = (1, float(rng.gamma(2.0, 25.0)))  # mean order 50
    res = analyse("checkout-v2", people, arm_of, outcomes, ["control", "treatment"], seed=3)
    conv = res["comparisons"]["treatment"]["conversion"]
    lo, hi = conv["uplift_ci"]
    assert lo < 0.03 < hi and lo > 0  # planted effect inside, and significant
    assert conv["relative_ci"][0] < 0.30 < conv["relative_ci"][1]
    assert conv["p_value"] < 1e-6
    rev = res["comparisons"]["treatment"]["revenue"]
    # true revenue per person: 0.10 * 50 = 5.0 vs 0.13 * 50 = 6.5
    assert rev["welch_ci"][0] < 1.5 < rev["welch_ci"][1]
    assert rev["bootstrap_ci"][0] < 1.5 < rev["bootstrap_ci"][1]
    assert rev["bootstrap_ci"] == pytest.approx(rev["welch_ci"], abs=0.1)
    # the seed makes the bootstrap repeatable
    again = analyse("checkout-v2", people, arm_of, outcomes, ["control", "treatment"], seed=3)
    assert again["comparisons"]["treatment"]["revenue"]["bootstrap_ci"] == rev["bootstrap_ci"]


def test_tests_against_known_values() -> None:
    res = conversion_test(100, 1000, 130, 1000)
    pool = 0.115
    z = 0.03 / math.sqrt(pool * (1 - pool) * 2 / 1000)
    assert res.z == pytest.approx(z) and res.p_value == pytest.approx(2 * stats.norm.sf(z))
    se = math.sqrt(0.1 * 0.9 / 1000 + 0.13 * 0.87 / 1000)
    assert res.uplift_ci == pytest.approx((0.03 - 1.959964 * se, 0.03 + 1.959964 * se))
    r = revenue_test([1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 4.0, 5.0, 6.0], n_resamples=200)
    assert r.difference == pytest.approx(1.5)
    assert r.t == pytest.approx(stats.ttest_ind([2, 3, 4, 5, 6], [1, 2, 3, 4],
                                                equal_var=False).statistic)


def test_two_model_uplift_finds_responders() -> None:
    rng = np.random.default_rng(5)
    n = 8000
    x = rng.normal(size=(n, 3))
    treated = rng.random(n) < 0.5
    # only people with x0 > 0 respond to the treatment (+25 points)
    p = 0.1 + 0.25 * (treated & (x[:, 0] > 0))
    y = (rng.random(n) < p).astype(int)
    model = TwoModelUplift().fit(x, treated, y)
    uplift = model.predict_uplift(x)
    assert uplift[x[:, 0] > 0.5].mean() > 0.2
    assert abs(uplift[x[:, 0] < -0.5].mean()) < 0.08
    with pytest.raises(ValidationError, match="treated and control"):
        TwoModelUplift().fit(x, np.ones(n), y)
