"""Lookalike audiences: people who resemble a seed segment, with an honest quality estimate.

:class:`LookalikeModel` trains a classifier to tell the seed (e.g. last month's buyers) from
everybody else (balanced class weights, since seeds are usually rare), then scores every
non-member: the higher the score, the more the person looks like the seed.

How good is the top N? Part of the seed (``holdout``, 20 % by default) is hidden from training as
a positive and left among the unlabelled population, exactly like the real lookalikes we hope to
find. The model trained on the remaining seed ranks the *evaluation pool* (every non-seed
candidate plus the held-out seed members); then, for the top N of that ranking:

- **recall@N** = held-out seed members in the top N / all held-out seed members: the share of
  "people like the seed" an audience of that size would reach;
- **precision@N** = held-out seed members in the top N / N, reported beside the **base rate**
  (held-out members / pool size, the precision of a random audience) and their ratio, the **lift**.

Because true lookalikes are not labelled, precision@N is a lower bound on the share of seed-like
people (unlabelled lookalikes count as misses); recall and lift are the figures to compare.
An audience of ``q`` % of the candidates maps to the top ``q`` % of the pool. With ``refit`` (the
default) the final scores come from a model refitted on the whole seed.

Excluded people (no consent, suppression lists) are removed before anything else: they are not
trained on, not scored and never selected.

Example:
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"age": rng.normal(40, 10, 2000), "visits": rng.poisson(3, 2000)})
    >>> seed = (X["age"] < 30) & (rng.random(2000) < 0.5)
    >>> model = LookalikeModel().fit(X, seed)
    >>> bool(X.loc[model.select(top_percent=10), "age"].mean() < 30)
    True
    >>> model.report()["curve"][3]["top_percent"], model.report()["curve"][3]["recall"] > 0.3
    (10.0, True)
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from aidmp.errors import ValidationError
from aidmp.ml.clustering.prep import (
    as_model_frame,
    choose_features,
    make_preprocessor,
    require_frame,
)

if TYPE_CHECKING:
    from aidmp.engine.base import Engine

__all__ = ["LookalikeModel", "consent_exclusions"]

Classifier = Literal["logistic", "gbm"]
CLASSIFIERS: tuple[Classifier, ...] = ("logistic", "gbm")
CURVE_PERCENTS = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 50.0, 100.0)
Mask = NDArray[np.bool_]


def _mask(values: object, n_rows: int, name: str) -> Mask:
    """A 0/1 or boolean vector of length ``n_rows`` as a bool array, or a ValidationError."""
    arr = np.asarray(values.to_numpy() if isinstance(values, pd.Series) else values)
    if arr.ndim != 1 or len(arr) != n_rows:
        raise ValidationError(f"must be a boolean vector with one value per row ({n_rows}), "
                              f"got shape {arr.shape}", field=name)
    if arr.dtype != bool:
        if pd.isna(arr).any() or not np.isin(arr, [0, 1]).all():
            raise ValidationError("must hold only True/False (or 1/0) values", field=name)
        arr = arr.astype(bool)
    return np.asarray(arr, dtype=bool)


class LookalikeModel(BaseEstimator):  # type: ignore[misc]
    """Seed-vs-rest classifier that ranks non-members by likeness to the seed.

    Args:
        classifier: ``"logistic"`` (regularised logistic regression) or ``"gbm"``
            (histogram gradient boosting), both with balanced class weights.
        holdout: Share of the seed hidden from training to estimate recall/precision at any
            audience size (0 disables the estimate).
        random_state: Seed of the hold-out split and of the gradient boosting.
        features: Columns to learn from; ``None`` = every numeric column and every text column
            with few distinct values except ``id_column`` and timestamps. Leave the column that
            defines the seed out, or the model learns only that.
        id_column: Column holding the profile id (else the frame's index is the id).
        refit: Refit on the whole seed after the estimate (the scores then use every seed).
        n_threads: BLAS/OpenMP threads while fitting (``None`` = library default; one avoids
            OpenMP's busy waiting on small shared machines, see ``ProfileClusterer``).
    """

    def __init__(
        self, classifier: Classifier = "logistic", holdout: float = 0.2, random_state: int = 0,
        *, features: Sequence[str] | None = None, id_column: str = "profile_id",
        refit: bool = True, n_threads: int | None = 1,
    ) -> None:
        self.classifier = classifier
        self.holdout = holdout
        self.random_state = random_state
        self.features = features
        self.id_column = id_column
        self.refit = refit
        self.n_threads = n_threads

    def _pipeline(self) -> Pipeline:
        clf: LogisticRegression | HistGradientBoostingClassifier = (
            LogisticRegression(class_weight="balanced", max_iter=2000)
            if self.classifier == "logistic"
            else HistGradientBoostingClassifier(class_weight="balanced", max_iter=150,
                                                learning_rate=0.05, early_stopping=False,
                                                random_state=self.random_state))
        return Pipeline([("prep", make_preprocessor(self.numeric_, self.categorical_)),
                         ("clf", clf)])

    def fit(self, population_features: object, seed_mask: object,
            exclude_mask: object = None) -> Self:
        """Learn what sets the seed apart and estimate the audience quality curve.

        Args:
            population_features: One row per profile (seed members included).
            seed_mask: True for seed members.
            exclude_mask: True for people who must not be used or selected (no consent...).

        Returns:
            ``self``, with ``curve_``, ``auc_``, ``scores_`` (every candidate) and ``pipeline_``.
        """
        with threadpool_limits(self.n_threads):
            return self._fit(population_features, seed_mask, exclude_mask)

    def _fit(self, population_features: object, seed_mask: object,
             exclude_mask: object) -> Self:
        if self.classifier not in CLASSIFIERS:
            raise ValidationError(f"unknown classifier {self.classifier!r}; valid: "
                                  f"{', '.join(CLASSIFIERS)}", field="classifier")
        if not 0.0 <= self.holdout < 1.0:
            raise ValidationError(f"must be in [0, 1), got {self.holdout}", field="holdout")
        frame = require_frame(population_features, "population_features")
        n = len(frame)
        seed = _mask(seed_mask, n, "seed_mask")
        excluded = (_mask(exclude_mask, n, "exclude_mask") if exclude_mask is not None
                    else np.zeros(n, dtype=bool))
        usable = ~excluded
        seed_rows = np.flatnonzero(seed & usable)
        candidates = np.flatnonzero(~seed & usable)
        n_hold = math.ceil(self.holdout * len(seed_rows)) if self.holdout else 0
        if len(seed_rows) - n_hold < 1 or (self.holdout and n_hold < 1) or len(seed_rows) < 2:
            raise ValidationError(f"needs at least 2 usable seed members, got {len(seed_rows)}",
                                  field="seed_mask")
        if len(candidates) == 0:
            raise ValidationError("every usable profile is in the seed; nobody is left to "
                                  "select", field="seed_mask")
        self.numeric_, self.categorical_ = choose_features(frame, self.features, self.id_column)
        X = as_model_frame(frame, self.numeric_, self.categorical_)
        ids = frame[self.id_column] if self.id_column in frame.columns else frame.index.to_series()
        rng = np.random.default_rng(self.random_state)
        held = np.sort(rng.choice(seed_rows, n_hold, replace=False)) if n_hold else seed_rows[:0]
        train_rows = np.flatnonzero(usable)
        self.population_, self.excluded_ = n, int(excluded.sum())
        self.seed_size_, self.seed_used_ = int(seed.sum()), len(seed_rows)
        self.holdout_size_ = n_hold
        self.curve_: list[dict[str, float]] = []
        self.auc_: float | None = None
        self.base_rate_: float | None = None
        self.pool_hits_ = np.zeros(0, dtype="int64")

        y = seed.copy()
        y[held] = False  # held-out members stay in training as unlabelled, like real lookalikes
        pipe = self._pipeline().fit(X.iloc[train_rows], y[train_rows])
        if n_hold:
            pool = np.concatenate([candidates, held])
            score = pipe.predict_proba(X.iloc[pool])[:, 1]
            is_held = np.r_[np.zeros(len(candidates), bool), np.ones(n_hold, bool)]
            order = np.argsort(-score, kind="stable")
            self.pool_hits_ = np.cumsum(is_held[order])
            self.base_rate_ = n_hold / len(pool)
            self.auc_ = float(roc_auc_score(is_held, score))
        if self.refit and n_hold:
            pipe = self._pipeline().fit(X.iloc[train_rows], seed[train_rows])
        self.pipeline_: Pipeline = pipe
        scores = pipe.predict_proba(X.iloc[candidates])[:, 1]
        self.scores_: pd.Series = pd.Series(
            scores, index=pd.Index(ids.iloc[candidates].tolist(), name=self.id_column),
            name="similarity").sort_values(ascending=False, kind="stable")
        if n_hold:
            self.curve_ = [self.expected(top_percent=q) for q in CURVE_PERCENTS]
        return self

    def _fitted(self) -> None:
        if not hasattr(self, "scores_"):
            raise ValidationError("the model is not fitted yet; call fit() first", field="model")

    def _size(self, top_n: int | None, top_percent: float | None) -> int:
        """Audience size among the candidates from exactly one of ``top_n`` / ``top_percent``."""
        self._fitted()
        if (top_n is None) == (top_percent is None):
            raise ValidationError("give exactly one of top_n or top_percent", field="top_n")
        total = len(self.scores_)
        if top_n is not None:
            if top_n < 0:
                raise ValidationError(f"must be >= 0, got {top_n}", field="top_n")
            return min(int(top_n), total)
        assert top_percent is not None
        if not 0.0 < top_percent <= 100.0:
            raise ValidationError(f"must be in (0, 100], got {top_percent}", field="top_percent")
        return min(total, math.ceil(total * top_percent / 100.0))

    def score(self) -> pd.Series:
        """Similarity (0-1, higher = more like the seed) of every candidate, best first.

        Candidates are the profiles neither in the seed nor excluded; the index is the profile id.
        """
        self._fitted()
        return self.scores_.copy()

    def select(self, top_n: int | None = None,
               top_percent: float | None = None) -> list[Hashable]:
        """Ids of the most seed-like candidates (never seed members, never excluded people)."""
        size = self._size(top_n, top_percent)
        return list(self.scores_.index[:size])

    def expected(self, top_n: int | None = None,
                 top_percent: float | None = None) -> dict[str, float]:
        """Hold-out estimate of recall, precision and lift for an audience of that size.

        An audience of ``top_n`` candidates is the same share of the evaluation pool (see the
        module docstring for the definitions).
        """
        size = self._size(top_n, top_percent)
        if not len(self.pool_hits_) or self.base_rate_ is None:
            raise ValidationError("no hold-out estimate: the model was fitted with holdout=0",
                                  field="holdout")
        share = size / len(self.scores_)
        pool_n = round(share * len(self.pool_hits_))
        if size and not pool_n:
            pool_n = 1
        hits = int(self.pool_hits_[pool_n - 1]) if pool_n else 0
        precision = hits / pool_n if pool_n else 0.0
        percent = top_percent if top_percent is not None else 100.0 * share
        return {"top_percent": round(float(percent), 4), "top_n": size,
                "recall": round(hits / self.holdout_size_, 4),
                "precision": round(precision, 4),
                "lift": round(precision / self.base_rate_, 3)}

    def report(self) -> dict[str, Any]:
        """JSON-ready summary: sizes, hold-out AUC, base rate and the recall/precision curve."""
        self._fitted()
        return {
            "classifier": self.classifier, "population": self.population_,
            "seed_size": self.seed_size_, "seed_used": self.seed_used_,
            "excluded": self.excluded_, "candidates": len(self.scores_),
            "holdout_size": self.holdout_size_, "auc": self.auc_,
            "base_rate": None if self.base_rate_ is None else round(self.base_rate_, 6),
            "curve": self.curve_,
            "definitions": {
                "recall": "held-out seed members in the top N / held-out seed members",
                "precision": "held-out seed members in the top N / N (lower bound: unlabelled "
                             "lookalikes count as misses)",
                "base_rate": "held-out seed members / evaluation pool (random-audience "
                             "precision)",
                "lift": "precision / base_rate",
            },
        }


def consent_exclusions(
    engine: Engine, profile_ids: Sequence[Hashable], purpose: str = "advertising", *,
    require_grant: bool = False,
) -> Mask:
    """``exclude_mask`` for :meth:`LookalikeModel.fit` from the ``consents`` table.

    Args:
        engine: The store.
        profile_ids: The population's profile ids, in row order.
        purpose: Consent purpose the audience is for (``ads``, ``email``...).
        require_grant: Exclude everybody without an explicit grant (opt-in regimes), not only
            those who withdrew.

    Returns:
        True for every profile that must not be used or selected.
    """
    consents = engine.table("consents")
    rows = engine.execute(consents.filter(consents.purpose == purpose)
                          .select("profile_id", "granted")).to_pandas()
    granted = {str(p) for p, g in zip(rows["profile_id"], rows["granted"], strict=True)
               if g is True or g == 1}
    refused = {str(p) for p, g in zip(rows["profile_id"], rows["granted"], strict=True)
               if g is False or g == 0}
    ids = [str(p) for p in profile_ids]
    if require_grant:
        return np.array([p not in granted for p in ids], dtype=bool)
    return np.array([p in refused for p in ids], dtype=bool)
