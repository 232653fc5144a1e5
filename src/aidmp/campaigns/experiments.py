"""Experiments: deterministic assignment, A/B and holdout analysis, sample sizes, uplift model.

Assignment hashes ``experiment_id:profile_id`` (SHA-256) to a number in [0, 1), so a person
always lands in the same arm of an experiment, independently across experiments, with no
state to store. Tests use scipy.stats; several treatments against one control are corrected
for multiple comparisons with statsmodels' ``multipletests`` (Holm by default).

Example:
    >>> sample_size(0.10, 0.02)
    3841
    >>> assign("exp1", ["p1"]) == assign("exp1", ["p1"])
    True
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, Self

import numpy as np
from scipy import stats
from sklearn.base import ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from statsmodels.stats.multitest import multipletests

from aidmp.errors import ValidationError

AB = {"control": 0.5, "treatment": 0.5}


def bucket(experiment_id: str, profile_id: str) -> float:
    """The person's position in [0, 1) for this experiment (stable, uniform)."""
    digest = hashlib.sha256(f"{experiment_id}:{profile_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign(experiment_id: str, profile_ids: Sequence[str],
           arms: Mapping[str, float] | None = None) -> list[str]:
    """The arm of each person: arms are weights (``{"holdout": 0.1, "exposed": 0.9}``).

    Raises:
        ValidationError: no arms, or a weight that is not positive.
    """
    arms = dict(arms or AB)
    if not arms or any(w <= 0 for w in arms.values()):
        raise ValidationError(f"arms need positive weights, got {arms}", field="arms")
    names = list(arms)
    edges = np.cumsum([arms[a] for a in names]) / sum(arms.values())
    pos = np.array([bucket(experiment_id, p) for p in profile_ids])
    idx = np.minimum(np.searchsorted(edges, pos, side="right"), len(names) - 1)
    return [names[i] for i in idx]


@dataclass(frozen=True)
class ConversionTest:
    """Two-proportion test of treatment (b) against control (a)."""

    n_a: int
    n_b: int
    rate_a: float
    rate_b: float
    uplift: float
    uplift_ci: tuple[float, float]
    relative_uplift: float
    relative_ci: tuple[float, float]
    z: float
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return asdict(self)


def conversion_test(conv_a: int, n_a: int, conv_b: int, n_b: int,
                    alpha: float = 0.05) -> ConversionTest:
    """Two-proportion z-test (pooled) with Wald CIs on the difference and the log ratio."""
    if min(n_a, n_b) <= 0 or not (0 <= conv_a <= n_a and 0 <= conv_b <= n_b):
        raise ValidationError("need 0 <= conversions <= n and n > 0 in both arms", field="n")
    pa_, pb = conv_a / n_a, conv_b / n_b
    pool = (conv_a + conv_b) / (n_a + n_b)
    se0 = math.sqrt(pool * (1 - pool) * (1 / n_a + 1 / n_b))
    z = (pb - pa_) / se0 if se0 > 0 else 0.0
    p = float(2 * stats.norm.sf(abs(z)))
    q = float(stats.norm.ppf(1 - alpha / 2))
    se = math.sqrt(pa_ * (1 - pa_) / n_a + pb * (1 - pb) / n_b)
    diff = pb - pa_
    if conv_a > 0 and conv_b > 0:
        # delta method on log(rate_b / rate_a): keeps the relative CI asymmetric and positive
        se_log = math.sqrt((1 - pa_) / conv_a + (1 - pb) / conv_b)
        ratio = pb / pa_
        rel_ci = (ratio * math.exp(-q * se_log) - 1, ratio * math.exp(q * se_log) - 1)
        rel = ratio - 1
    else:
        rel, rel_ci = math.nan, (math.nan, math.nan)
    return ConversionTest(n_a, n_b, pa_, pb, diff, (diff - q * se, diff + q * se), rel, rel_ci,
                          z, p)


@dataclass(frozen=True)
class RevenueTest:
    """Welch t-test and a bootstrap CI of the difference in mean revenue per person (b - a)."""

    mean_a: float
    mean_b: float
    difference: float
    welch_ci: tuple[float, float]
    bootstrap_ci: tuple[float, float]
    relative_uplift: float
    t: float
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return asdict(self)


def revenue_test(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray,
                 alpha: float = 0.05, n_resamples: int = 2000, seed: int = 0) -> RevenueTest:
    """Compare revenue per person (zeros included) between control ``a`` and treatment ``b``."""
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(xa) < 2 or len(xb) < 2:
        raise ValidationError("each arm needs at least 2 people", field="n")
    res = stats.ttest_ind(xb, xa, equal_var=False)
    ci = res.confidence_interval(confidence_level=1 - alpha)
    boot = stats.bootstrap((xb, xa), lambda x, y, axis: np.mean(x, axis) - np.mean(y, axis),
                           n_resamples=n_resamples, confidence_level=1 - alpha,
                           rng=np.random.default_rng(seed), vectorized=True,
                           # BCa's jackknife is O(n^2) over arms of many thousand people
                           method="percentile")
    ma, mb = float(xa.mean()), float(xb.mean())
    return RevenueTest(ma, mb, mb - ma, (float(ci.low), float(ci.high)),
                       (float(boot.confidence_interval.low), float(boot.confidence_interval.high)),
                       (mb / ma - 1) if ma else math.nan, float(res.statistic),
                       float(res.pvalue))


def sample_size(baseline: float, mde: float, alpha: float = 0.05, power: float = 0.8,
                relative: bool = False) -> int:
    """People per arm to detect a change of ``mde`` in a conversion rate (two-sided z-test).

    Args:
        baseline: the control conversion rate.
        mde: the minimum detectable effect, absolute (0.02 = two points) unless ``relative``.
        alpha: significance level.
        power: probability of detecting the effect when it is there.
        relative: read ``mde`` as a fraction of ``baseline``.
    """
    p1 = baseline
    p2 = baseline * (1 + mde) if relative else baseline + mde
    if not (0 < p1 < 1 and 0 < p2 < 1) or p1 == p2:
        raise ValidationError(f"baseline {baseline} and mde {mde} must give two different "
                              "rates strictly between 0 and 1", field="mde")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValidationError("alpha and power must be in (0, 1)", field="alpha")
    za, zb = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    pbar = (p1 + p2) / 2
    num = za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(float(num) ** 2 / (p2 - p1) ** 2)


class TwoModelUplift:
    """Two-model (T-learner) uplift: one classifier per arm, uplift = P(y|treated) - P(y|ctrl).

    Args:
        estimator: a scikit-learn classifier with ``predict_proba`` (cloned per arm).

    Attributes:
        treated_model_, control_model_: the fitted classifiers.
    """

    def __init__(self, estimator: ClassifierMixin | None = None) -> None:
        self.estimator = estimator

    def fit(self, x: np.ndarray, treatment: np.ndarray, y: np.ndarray) -> Self:
        """Fit on features ``x``, a 0/1 ``treatment`` flag and a 0/1 outcome ``y``."""
        t = np.asarray(treatment).astype(bool)
        y = np.asarray(y)
        if t.all() or not t.any():
            raise ValidationError("uplift needs treated and control people", field="treatment")
        base = self.estimator if self.estimator is not None else LogisticRegression(max_iter=500)
        self.treated_model_ = clone(base).fit(x[t], y[t])
        self.control_model_ = clone(base).fit(x[~t], y[~t])
        return self

    def predict_uplift(self, x: np.ndarray) -> np.ndarray:
        """Estimated change in conversion probability if treated, per row."""
        return np.asarray(self.treated_model_.predict_proba(x)[:, 1]
                          - self.control_model_.predict_proba(x)[:, 1])


Correction = Literal["holm", "bonferroni", "none"]
CORRECTIONS: tuple[Correction, ...] = ("holm", "bonferroni", "none")


def adjust_pvalues(p_values: Sequence[float], method: Correction = "holm") -> list[float]:
    """p-values adjusted for testing several treatments against one control.

    ``holm`` (Holm-Bonferroni step-down, uniformly more powerful than Bonferroni and valid under
    any dependence between the comparisons), ``bonferroni`` or ``none``; NaN stays NaN.

    Example:
        >>> [round(p, 3) for p in adjust_pvalues([0.01, 0.04, 0.03], "holm")]
        [0.03, 0.06, 0.06]
    """
    if method not in CORRECTIONS:
        raise ValidationError(f"unknown correction {method!r}; valid: {', '.join(CORRECTIONS)}",
                              field="correction")
    p = np.asarray(p_values, dtype=float)
    out = p.copy()
    ok = ~np.isnan(p)
    if method != "none" and ok.sum() > 0:
        out[ok] = multipletests(p[ok], method=method)[1]
    return [float(v) for v in out]


def count_test(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray,
               alpha: float = 0.05, seed: int = 0) -> RevenueTest:
    """Events per person (visits, sign-ups, orders): the same Welch and bootstrap comparison of
    means as :func:`revenue_test`, on counts."""
    return revenue_test(a, b, alpha, seed=seed)


def analyse(experiment_id: str, people: Sequence[str], arm_of: Sequence[str],
            outcomes: Mapping[str, tuple[int, float]], arms: Sequence[str], *,
            alpha: float = 0.05, seed: int = 0, correction: Correction = "holm"
            ) -> dict[str, Any]:
    """Conversion, count and value tests of every arm against ``arms[0]``, the p-values of
    each metric adjusted over the treatments (``correction``)."""
    result = _compare(experiment_id, people, arm_of, outcomes, arms, alpha, seed)
    return correct(result, alpha, correction)


def correct(result: dict[str, Any], alpha: float, correction: Correction) -> dict[str, Any]:
    """Add ``p_adjusted`` and ``significant`` to every test of ``result["comparisons"]``."""
    comps = result["comparisons"]
    for metric in ("conversion", "count", "revenue"):
        tested = [a for a, c in comps.items() if c.get(metric) is not None]
        adjusted = adjust_pvalues([comps[a][metric]["p_value"] for a in tested], correction)
        for arm, p in zip(tested, adjusted, strict=True):
            comps[arm][metric]["p_adjusted"] = p
            comps[arm][metric]["significant"] = bool(p < alpha)
    result["correction"] = correction
    return result


def _compare(experiment_id: str, people: Sequence[str], arm_of: Sequence[str],
             outcomes: Mapping[str, tuple[int, float]], arms: Sequence[str],
             alpha: float, seed: int) -> dict[str, Any]:
    conv: dict[str, list[int]] = {a: [] for a in arms}
    counts: dict[str, list[float]] = {a: [] for a in arms}
    rev: dict[str, list[float]] = {a: [] for a in arms}
    for p, a in zip(people, arm_of, strict=True):
        n, r = outcomes.get(p, (0, 0.0))
        conv[a].append(1 if n else 0)
        counts[a].append(float(n or 0))
        rev[a].append(float(r or 0.0))
    control = arms[0]
    result: dict[str, Any] = {"experiment_id": experiment_id, "control": control,
                              "sizes": {a: len(conv[a]) for a in arms}, "comparisons": {}}
    for a in arms[1:]:
        if len(conv[a]) < 2 or len(conv[control]) < 2:
            # a report over a small store still answers, saying why there is no test
            result["comparisons"][a] = {"conversion": None, "count": None, "revenue": None,
                                        "note": f"{a!r} or {control!r} has fewer than 2 people"}
            continue
        result["comparisons"][a] = {
            "conversion": conversion_test(sum(conv[control]), len(conv[control]), sum(conv[a]),
                                          len(conv[a]), alpha).to_dict(),
            "count": count_test(counts[control], counts[a], alpha, seed=seed).to_dict(),
            "revenue": revenue_test(rev[control], rev[a], alpha, seed=seed).to_dict()}
    return result


def parse_arms(text: str | None, holdout: float | None = None) -> dict[str, float] | None:
    """Arms from ``"control,a,b"`` (equal weights) or ``"control=2,a=1,b=1"``, or a holdout
    share (``holdout`` vs ``exposed``); ``None`` when neither is given (50/50 A/B).

    Example:
        >>> parse_arms("control=2,a,b")
        {'control': 2.0, 'a': 1.0, 'b': 1.0}
    """
    if text is not None and holdout is not None:
        raise ValidationError("give arms or a holdout share, not both", field="arms")
    if holdout is not None:
        return {"holdout": holdout, "exposed": 1 - holdout}
    if text is None:
        return None
    arms: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, weight = part.partition("=")
        try:
            arms[name.strip()] = float(weight) if weight.strip() else 1.0
        except ValueError:
            raise ValidationError(f"expected NAME or NAME=WEIGHT, got {part!r}",
                                  field="arms") from None
    if len(arms) < 2 or any(not n for n in arms) or any(w <= 0 for w in arms.values()):
        raise ValidationError(f"need two or more named arms with positive weights, got {text!r}"
                              " (e.g. control,a,b or control=2,a=1,b=1)", field="arms")
    return arms
