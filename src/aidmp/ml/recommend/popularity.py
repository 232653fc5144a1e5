"""The popularity baseline: every user gets the items most users have, minus their own.

Any other method has to beat this one under the same protocol to be worth its cost.

Example:
    >>> import polars as pl
    >>> from aidmp.ml.recommend import Interactions
    >>> df = pl.DataFrame({"user": ["a", "a", "b", "c", "c"], "item": ["x", "y", "x", "x", "z"]})
    >>> model = Popularity().fit(Interactions.from_frame(df, "user", "item"))
    >>> model.recommend(["b"], n=2).select("item_id", "score", "reason").rows()
    [('y', 1.0, 'popular with everyone'), ('z', 1.0, 'popular with everyone')]
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from aidmp.ml.recommend.base import Recommender, ScoreArray
from aidmp.ml.recommend.interactions import IntArray


class Popularity(Recommender):
    """Score = number of users who have the item (TopPop).

    Attributes:
        counts_: Users per item, as float32.
    """

    def _fit(self, matrix: sp.csr_matrix) -> None:
        # Counting users, not summing weights: a 5-star rating should not make an item "more
        # popular" than two 3-star ones.
        self.counts_: ScoreArray = np.diff(matrix.tocsc().indptr).astype(np.float32)

    def _scores(self, users: IntArray) -> ScoreArray:
        return np.broadcast_to(self.counts_, (len(users), len(self.counts_))).copy()

    def _explain(self, user: int, items: IntArray) -> list[tuple[str, int]]:
        return [("popular with everyone", -1)] * len(items)

    def _item_similarity(self, item: int) -> ScoreArray:
        # Popularity has no notion of likeness: "similar" items are simply the most popular.
        return self.counts_.copy()
