"""A weighted blend of two recommenders' scores, each min-max normalised per user.

Raw scores live on different scales (co-occurrence sums, dot products, cosines), so each is
mapped to [0, 1] over the user's row before ``weight * first + (1 - weight) * second``. The
reason of an item comes from whichever part added more to its blended score.

Example:
    >>> import polars as pl
    >>> from aidmp.ml.recommend import Interactions, ItemKNN, Popularity
    >>> df = pl.DataFrame({"user": ["a", "a", "b", "b", "b", "c"],
    ...                    "item": ["x", "y", "x", "y", "z", "x"]})
    >>> data = Interactions.from_frame(df, "user", "item", action="bought")
    >>> model = Hybrid(ItemKNN(weighting="none"), Popularity(), weight=0.7).fit(data)
    >>> model.recommend(["c"]).select("item_id", "score", "reason").rows()
    [('y', 1.0, 'because you bought x'), ('z', 0.0, 'because you bought x')]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone

from aidmp.errors import ValidationError
from aidmp.ml.recommend.base import Recommender, ScoreArray
from aidmp.ml.recommend.interactions import IntArray


def minmax_rows(scores: ScoreArray, ignore: np.ndarray[Any, Any] | None = None) -> ScoreArray:
    """Each row mapped so its smallest and largest kept cell become 0 and 1.

    Args:
        scores: (rows, items) scores.
        ignore: Cells left out of the row's min and max (the user's seen items, which are
            not candidates and are often the highest-scored); they are scaled all the same.

    Example:
        >>> s = np.array([[2.0, 4.0, 3.0], [1.0, 1.0, 1.0]], dtype=np.float32)
        >>> minmax_rows(s).tolist()
        [[0.0, 1.0, 0.5], [0.0, 0.0, 0.0]]
        >>> minmax_rows(s, ignore=np.array([[False, True, False], [False] * 3])).tolist()
        [[0.0, 2.0, 1.0], [0.0, 0.0, 0.0]]
    """
    if ignore is None:
        ignore = np.zeros(scores.shape, dtype=bool)
    low = np.where(ignore, np.inf, scores).min(axis=1, keepdims=True)
    span = np.where(ignore, -np.inf, scores).max(axis=1, keepdims=True) - low
    return np.divide(scores - low, span, out=np.zeros_like(scores), where=span > 0)


class Hybrid(Recommender):
    """``weight * norm(first) + (1 - weight) * norm(second)``.

    Args:
        first: A recommender (unfitted; it is cloned at fit).
        second: Another recommender.
        weight: Share of ``first`` in [0, 1].

    Attributes:
        first_: The fitted clone of ``first``.
        second_: The fitted clone of ``second``.
    """

    def __init__(self, first: Recommender, second: Recommender, weight: float = 0.5) -> None:
        self.first = first
        self.second = second
        self.weight = weight

    def _validate_params(self) -> None:
        for name in ("first", "second"):
            if not isinstance(getattr(self, name), Recommender):
                raise ValidationError(f"must be a Recommender, got "
                                      f"{type(getattr(self, name)).__name__}", field=name)
        if not 0.0 <= self.weight <= 1.0:
            raise ValidationError(f"must be within [0, 1], got {self.weight!r}", field="weight")

    def _fit(self, matrix: sp.csr_matrix) -> None:
        self.first_: Recommender = clone(self.first).fit(self.interactions_)
        self.second_: Recommender = clone(self.second).fit(self.interactions_)

    def _parts(self, users: IntArray) -> tuple[ScoreArray, ScoreArray]:
        seen = self._matrix[users].toarray() != 0
        first = minmax_rows(self.first_._scores(users), seen) * np.float32(self.weight)
        second = minmax_rows(self.second_._scores(users), seen) * np.float32(1.0 - self.weight)
        return first, second

    def _scores(self, users: IntArray) -> ScoreArray:
        first, second = self._parts(users)
        return first + second

    def _explain(self, user: int, items: IntArray) -> list[tuple[str, int]]:
        first, second = self._parts(np.array([user]))
        from_first = first[0, items] >= second[0, items]
        reasons: list[tuple[str, int]] = [("", -1)] * len(items)
        for part, chosen in ((self.first_, from_first), (self.second_, ~from_first)):
            positions = np.flatnonzero(chosen)
            if len(positions):
                for pos, reason in zip(positions, part._explain(user, items[positions]),
                                       strict=True):
                    reasons[pos] = reason
        return reasons

    def _item_similarity(self, item: int) -> ScoreArray:
        first = minmax_rows(self.first_._item_similarity(item)[None, :])[0]
        second = minmax_rows(self.second_._item_similarity(item)[None, :])[0]
        return np.float32(self.weight) * first + np.float32(1.0 - self.weight) * second
