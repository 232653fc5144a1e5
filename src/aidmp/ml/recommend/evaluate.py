"""Offline top-N evaluation: fit on train, rank every unseen item, score against test.

Full ranking: each user's list is drawn from all items they have not seen in train (no sampled
negatives), and metrics are averaged over users with at least one train and one test item.
Relevance is binary - filter the test set first (``test.at_least(4)``) for "liked" items.

- precision@k = hits / k; recall@k = hits / |relevant|; hit rate@k = share of users with a hit
- NDCG@k = DCG / ideal DCG with gain 1 and discount 1 / log2(rank + 1)
- MAP@k = mean over users of sum(precision@i at each hit i) / min(k, |relevant|)
- coverage = share of the catalogue that appears in at least one list

Example:
    >>> import numpy as np, scipy.sparse as sp
    >>> recommended = np.array([[2, 0, 1], [1, 0, -1]])
    >>> relevant = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 0, 1]]))
    >>> m = ranking_metrics(recommended, relevant, k=3)
    >>> round(m["ndcg"], 4), m["hit_rate"], m["precision"], m["coverage"]
    (0.3155, 0.5, 0.16666666666666666, 0.75)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.model_selection import ParameterGrid

from aidmp.errors import ValidationError
from aidmp.ml.recommend.base import Recommender, check_n
from aidmp.ml.recommend.interactions import IntArray, Interactions

METRICS = ("precision", "recall", "ndcg", "hit_rate", "map", "coverage")


def ranking_metrics(recommended: IntArray, relevant: sp.csr_matrix, k: int) -> dict[str, float]:
    """Top-k metrics of ranked lists against binary relevance, averaged over the rows.

    Args:
        recommended: (users, >= k) item positions, best first; -1 pads short lists.
        relevant: (users, items) matrix; any stored non-zero value is a relevant item.
        k: Cut-off.
    """
    k = check_n(k, "k")
    top = np.asarray(recommended)[:, :k]
    users, width = top.shape
    if users == 0:
        raise ValidationError("no users to evaluate: none has both train and test items",
                              field="test")
    relevant = sp.csr_matrix(relevant)
    valid = top >= 0
    rows = np.broadcast_to(np.arange(users)[:, None], top.shape)[valid]
    hits = np.zeros(top.shape, dtype=bool)
    hits[valid] = np.asarray(relevant[rows, top[valid]]).ravel() != 0
    n_relevant = np.diff(relevant.indptr)
    if (n_relevant == 0).any():
        raise ValidationError("every evaluated user needs at least one relevant item",
                              field="relevant")
    discount = 1.0 / np.log2(np.arange(2, width + 2))
    ideal = np.cumsum(discount)[np.minimum(n_relevant, width) - 1]
    n_hits = hits.sum(axis=1)
    precision_at_i = np.cumsum(hits, axis=1) / np.arange(1, width + 1)
    return {
        "precision": float(np.mean(n_hits / k)),
        "recall": float(np.mean(n_hits / n_relevant)),
        "ndcg": float(np.mean((hits @ discount) / ideal)),
        "hit_rate": float(np.mean(n_hits > 0)),
        "map": float(np.mean((precision_at_i * hits).sum(axis=1)
                             / np.minimum(n_relevant, k))),
        "coverage": float(len(np.unique(top[valid])) / relevant.shape[1]),
    }


def _check_aligned(train: Interactions, test: Interactions) -> None:
    for name in ("user_ids", "item_ids"):
        mine, theirs = getattr(train, name), getattr(test, name)
        if mine is not theirs and not np.array_equal(mine, theirs):
            raise ValidationError(f"train and test have different {name}; make both with one "
                                  f"of the split functions", field="test")


def evaluate(recommender: Recommender, train: Interactions, test: Interactions, k: int = 10,
             *, fit: bool = True, exclude: Interactions | None = None) -> dict[str, float]:
    """Fit ``recommender`` on ``train`` and score its top-``k`` unseen items against ``test``.

    Args:
        recommender: Any recommender; fitted in place unless ``fit`` is false.
        train: Training interactions.
        test: Held-out interactions over the same id maps (every pair counts as relevant).
        k: List length.
        fit: Set false when ``recommender`` is already fitted on ``train``.
        exclude: Pairs removed from the candidates; all of ``train`` when ``None`` (Cornac,
            for one, removes only the training items rated at or above its threshold).

    Returns:
        ``precision``, ``recall``, ``ndcg``, ``hit_rate``, ``map``, ``coverage`` (at ``k``) and
        ``users``, the number of users averaged over.
    """
    _check_aligned(train, test)
    if fit:
        recommender.fit(train)
    n_test = np.diff(test.matrix.indptr)
    n_train = np.diff(train.matrix.indptr)
    users = np.flatnonzero((n_test > 0) & (n_train > 0))
    top = recommender.recommend_all(k, users=users, exclude=exclude)
    return {**ranking_metrics(top.items, test.matrix[users], k), "users": float(len(users))}


@dataclass(frozen=True)
class GridResult:
    """Outcome of :func:`grid_search`.

    Attributes:
        best_params: The winning hyper-parameters.
        best_score: Their validation metric.
        results: One row per candidate: its parameters and every metric.
    """

    best_params: dict[str, Any]
    best_score: float
    results: pl.DataFrame


def grid_search(estimator: Recommender, param_grid: Mapping[str, Sequence[Any]],
                train: Interactions, validation: Interactions, k: int = 10,
                metric: str = "ndcg") -> GridResult:
    """Try every combination of ``param_grid`` on a clone of ``estimator``; keep the best.

    Tune on a validation split cut from the training data, never on the final test set.
    """
    if metric not in METRICS:
        raise ValidationError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}",
                              field="metric")
    rows: list[dict[str, Any]] = []
    for params in ParameterGrid(dict(param_grid)):
        scores = evaluate(clone(estimator).set_params(**params), train, validation, k)
        rows.append({**{name: repr(value) if isinstance(value, Recommender) else value
                        for name, value in params.items()}, **scores})
        rows[-1]["_params"] = params
    best = max(rows, key=lambda row: row[metric])
    results = pl.DataFrame([{key: v for key, v in row.items() if key != "_params"}
                            for row in rows], strict=False)
    return GridResult(best_params=best["_params"], best_score=best[metric], results=results)
