"""Metrics of a binary propensity score: ranking, probability quality, lift and calibration.

:func:`evaluate` returns one :class:`Evaluation` with AUC, log loss, Brier score, the base rate,
a gains/lift table by decile of the score and a calibration table over the same deciles.

Example:
    >>> from aidmp.ml.metrics import evaluate
    >>> ev = evaluate([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> ev.auc, ev.base_rate
    (0.75, 0.5)
    >>> ev.lift[0].rate, ev.lift[0].lift
    (1.0, 2.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from aidmp.errors import ValidationError

__all__ = ["CalibrationRow", "Evaluation", "LiftRow", "evaluate", "score_groups"]


@dataclass(frozen=True)
class LiftRow:
    """One decile of the score, best-scored people first.

    Attributes:
        decile: 1 for the 10 % with the highest scores, 10 for the lowest.
        count: people in the decile.
        positives: people in the decile whose outcome was positive.
        rate: ``positives / count``.
        lift: ``rate`` divided by the overall base rate.
        cumulative_gains_pct: share (%) of all positives found in deciles ``1..decile``.
    """

    decile: int
    count: int
    positives: int
    rate: float
    lift: float
    cumulative_gains_pct: float


@dataclass(frozen=True)
class CalibrationRow:
    """Predicted against observed rate in one decile of the score (decile 1 = highest)."""

    decile: int
    count: int
    mean_predicted: float
    observed_rate: float


@dataclass(frozen=True)
class Evaluation:
    """The metrics of one set of scores against outcomes.

    Attributes:
        n: number of people scored.
        auc: area under the ROC curve (0.5 = random ranking).
        log_loss: mean negative log-likelihood of the outcomes.
        brier: mean squared error of the probabilities.
        base_rate: share of positive outcomes.
        mean_predicted: mean probability (calibration in the large: close to ``base_rate``).
        calibration_error: count-weighted mean of ``|mean_predicted - observed_rate|`` over deciles.
        lift: the gains / lift table, one row per decile.
        calibration: the calibration table, one row per decile.
    """

    n: int
    auc: float
    log_loss: float
    brier: float
    base_rate: float
    mean_predicted: float
    calibration_error: float
    lift: list[LiftRow]
    calibration: list[CalibrationRow]

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready values (the tables as lists of dicts)."""
        return asdict(self)


def score_groups(p: NDArray[np.float64], groups: int = 10) -> list[NDArray[np.intp]]:
    """Indices of ``p`` split into ``groups`` near-equal groups, highest scores first.

    Ties are broken by position (stable sort), so equal scores never straddle groups at random.
    """
    order = np.argsort(-p, kind="stable")
    return [chunk for chunk in np.array_split(order, groups) if chunk.size]


def _checked(y_true: ArrayLike, p: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    y = np.asarray(y_true)
    prob = np.asarray(p, dtype=np.float64)
    if y.ndim != 1 or prob.ndim != 1 or y.shape != prob.shape:
        raise ValidationError(
            f"y_true and p must be 1-d and of the same length, got shapes {y.shape} and "
            f"{prob.shape}", field="p")
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:  # True/False compare equal to 1/0
        shown = ", ".join(repr(v) for v in sorted(values, key=repr)[:5])
        raise ValidationError(f"outcomes must be 0/1, got values {shown}", field="y_true")
    if len(values) < 2:
        raise ValidationError("outcomes hold a single class; AUC needs both 0 and 1",
                              field="y_true")
    if not np.all(np.isfinite(prob)) or prob.min() < 0 or prob.max() > 1:
        raise ValidationError("probabilities must be finite and within [0, 1]", field="p")
    return y.astype(np.int64), prob


def evaluate(y_true: ArrayLike | Sequence[int], p: ArrayLike, groups: int = 10) -> Evaluation:
    """Score probabilities ``p`` against 0/1 outcomes ``y_true``.

    Args:
        y_true: observed outcomes, 0 or 1.
        p: predicted probabilities of outcome 1.
        groups: number of score groups of the lift and calibration tables (10 = deciles).

    Raises:
        ValidationError: outcomes not 0/1 or of a single class, lengths differ, or
            probabilities outside [0, 1].
    """
    y, prob = _checked(y_true, p)
    base = float(y.mean())
    total_pos = int(y.sum())
    lift: list[LiftRow] = []
    calibration: list[CalibrationRow] = []
    found = 0
    for i, idx in enumerate(score_groups(prob, groups), start=1):
        positives = int(y[idx].sum())
        found += positives
        rate = positives / idx.size
        lift.append(LiftRow(decile=i, count=int(idx.size), positives=positives, rate=rate,
                            lift=rate / base, cumulative_gains_pct=100.0 * found / total_pos))
        calibration.append(CalibrationRow(decile=i, count=int(idx.size),
                                          mean_predicted=float(prob[idx].mean()),
                                          observed_rate=rate))
    error = sum(r.count * abs(r.mean_predicted - r.observed_rate) for r in calibration) / y.size
    return Evaluation(
        n=int(y.size),
        auc=float(roc_auc_score(y, prob)),
        log_loss=float(log_loss(y, prob, labels=[0, 1])),
        brier=float(brier_score_loss(y, prob)),
        base_rate=base,
        mean_predicted=float(prob.mean()),
        calibration_error=float(error),
        lift=lift,
        calibration=calibration,
    )
