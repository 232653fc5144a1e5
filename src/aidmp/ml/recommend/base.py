"""The contract every recommender follows, and the top-N machinery they share.

A recommender is a scikit-learn style estimator: ``__init__`` stores hyper-parameters,
:meth:`Recommender.fit` learns from an :class:`~aidmp.ml.recommend.interactions.Interactions`
and returns ``self``, learned state ends in ``_``. Subclasses supply three things: a score for
every item for a batch of users, a short reason for a recommended item, and item vectors for
"similar items". Ranking, masking of seen items and id mapping live here, once.

Example:
    >>> import numpy as np
    >>> scores = np.array([[0.1, 0.9, -np.inf, 0.5]], dtype=np.float32)
    >>> items, top = top_n(scores, 3)
    >>> items.tolist(), top.astype(float).round(2).tolist()
    ([[1, 3, 0]], [[0.9, 0.5, 0.1]])
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import polars as pl
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.metrics.pairwise import cosine_similarity

from aidmp.errors import ValidationError
from aidmp.ml.recommend.interactions import IntArray, Interactions

ScoreArray = np.ndarray[Any, np.dtype[np.float32]]
# Dense score blocks are capped at this many cells (64 MB of float32) whatever the catalogue size.
BLOCK_CELLS = 1 << 24


def top_n(scores: ScoreArray, n: int) -> tuple[IntArray, ScoreArray]:
    """The ``n`` best columns of each row, best first; ``-inf`` scores come back as item -1.

    Args:
        scores: (users, items) scores where excluded items are ``-inf``.
        n: How many items per row (capped at the number of columns).
    """
    n = min(n, scores.shape[1])
    part = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    items = np.take_along_axis(part, order, axis=1).astype(np.int64)
    vals = np.take_along_axis(vals, order, axis=1)
    items[~np.isfinite(vals)] = -1
    return items, vals


def mask_seen(scores: ScoreArray, seen: sp.csr_matrix) -> None:
    """Set to ``-inf``, in place, every cell where the rows of ``seen`` have an entry."""
    rows = np.repeat(np.arange(seen.shape[0]), np.diff(seen.indptr))
    scores[rows, seen.indices] = -np.inf


def check_n(n: int, field: str = "n") -> int:
    """``n`` as an int, or a ValidationError when it is not a positive integer."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValidationError(f"must be a positive integer, got {n!r}", field=field)
    return int(n)


@dataclass(frozen=True)
class TopN:
    """Top-N lists for many users at once, in positions (what evaluation works on).

    Attributes:
        users: Row position of each list.
        items: (users, n) column positions, best first; -1 where fewer than n items remain.
        scores: (users, n) scores matching ``items``.
    """

    users: IntArray
    items: IntArray
    scores: ScoreArray


class Recommender(BaseEstimator, ABC):  # type: ignore[misc]
    """Base of the recommenders: fit, recommend with reasons, recommend_all, similar_items."""

    interactions_: Interactions

    def fit(self, interactions: Interactions) -> Self:
        """Learn from the interactions; returns ``self``.

        Raises:
            ValidationError: not an :class:`Interactions` or no pairs in it.
        """
        if not isinstance(interactions, Interactions):
            raise ValidationError(
                f"expected Interactions (see Interactions.from_frame), got "
                f"{type(interactions).__name__}", field="interactions")
        if interactions.nnz == 0:
            raise ValidationError("no interactions to learn from", field="interactions")
        self._validate_params()
        self.interactions_ = interactions
        self._fit(interactions.matrix)
        return self

    def _validate_params(self) -> None:
        """Raise ValidationError for hyper-parameters out of range (subclasses extend)."""

    @abstractmethod
    def _fit(self, matrix: sp.csr_matrix) -> None:
        """Learn the model state from the users x items matrix."""

    @abstractmethod
    def _scores(self, users: IntArray) -> ScoreArray:
        """Dense float32 (len(users), n_items) scores; higher is better."""

    @abstractmethod
    def _explain(self, user: int, items: IntArray) -> list[tuple[str, int]]:
        """A reason per item, and the seen item it names (-1 when it names none)."""

    def _item_vectors(self) -> Any:
        """Item representation (rows = items) whose cosine drives :meth:`similar_items`."""
        return self._matrix.T.tocsr()

    @property
    def _data(self) -> Interactions:
        if not hasattr(self, "interactions_"):
            raise ValidationError(f"{type(self).__name__} is not fitted; call fit() first",
                                  field="fit")
        return self.interactions_

    @property
    def _matrix(self) -> sp.csr_matrix:
        return self._data.matrix

    def _batches(self, users: IntArray) -> Iterator[IntArray]:
        size = max(1, BLOCK_CELLS // max(1, self._matrix.shape[1]))
        for start in range(0, len(users), size):
            yield users[start : start + size]

    def recommend_all(self, n: int = 10, *, users: IntArray | None = None,
                      exclude: Interactions | None = None) -> TopN:
        """Top ``n`` unseen items for every user (or the given row positions), vectorised.

        Args:
            n: Items per user.
            users: Row positions; all users when ``None``.
            exclude: Pairs left out of the candidates; the fitted interactions when ``None``.
                (Some protocols keep e.g. low-rated seen items as candidates.)
        """
        n = check_n(n)
        rows = np.arange(self._matrix.shape[0]) if users is None else np.asarray(users)
        seen = self._matrix if exclude is None else exclude.matrix
        if seen.shape != self._matrix.shape:
            raise ValidationError(f"exclude has shape {seen.shape}; the model was fitted on "
                                  f"{self._matrix.shape}", field="exclude")
        items, scores = [], []
        for batch in self._batches(rows):
            block = self._scores(batch)
            mask_seen(block, seen[batch])
            top_items, top_scores = top_n(block, n)
            items.append(top_items)
            scores.append(top_scores)
        width = min(n, self._matrix.shape[1])
        return TopN(
            users=rows.astype(np.int64),
            items=np.vstack(items) if items else np.empty((0, width), np.int64),
            scores=np.vstack(scores) if scores else np.empty((0, width), np.float32),
        )

    def recommend(
        self, user_ids: Iterable[Hashable], n: int = 10, exclude_seen: bool = True
    ) -> pl.DataFrame:
        """Top ``n`` items per user with a score and a human-readable reason.

        Args:
            user_ids: The caller's user ids (as in the fitted frame).
            n: Items per user.
            exclude_seen: Leave out items the user already has.

        Returns:
            One row per recommendation: ``user_id, rank, item_id, score, reason,
            reason_item_id`` (the seen item the reason names, or null).

        Raises:
            ValidationError: an unknown user id, a bad ``n``, or an unfitted model.
        """
        n = check_n(n)
        data = self._data
        rows = data.user_index(user_ids)
        columns: dict[str, list[Any]] = {k: [] for k in (
            "user_id", "rank", "item_id", "score", "reason", "reason_item_id")}
        user_names = data.user_ids[rows].tolist()
        for batch_start, batch in _enumerate_batches(self._batches(rows)):
            block = self._scores(batch)
            if exclude_seen:
                mask_seen(block, data.matrix[batch])
            items, scores = top_n(block, n)
            for offset, user in enumerate(batch.tolist()):
                keep = items[offset] >= 0
                chosen, chosen_scores = items[offset][keep], scores[offset][keep]
                reasons = self._explain(user, chosen)
                ids = data.item_ids[chosen].tolist()
                columns["user_id"] += [user_names[batch_start + offset]] * len(ids)
                columns["rank"] += list(range(1, len(ids) + 1))
                columns["item_id"] += ids
                columns["score"] += chosen_scores.astype(np.float64).tolist()
                columns["reason"] += [text for text, _ in reasons]
                columns["reason_item_id"] += [
                    data.item_ids[seen : seen + 1].tolist()[0] if seen >= 0 else None
                    for _, seen in reasons]
        # Typed from the id maps, so empty or all-null columns still join with the caller's ids.
        user_type = pl.Series(data.user_ids[:1].tolist()).dtype
        item_type = pl.Series(data.item_ids[:1].tolist()).dtype
        return pl.DataFrame(columns, schema={
            "user_id": user_type, "rank": pl.Int32, "item_id": item_type, "score": pl.Float64,
            "reason": pl.String, "reason_item_id": item_type})

    def similar_items(self, item_id: Hashable, n: int = 10) -> pl.DataFrame:
        """The ``n`` items most like ``item_id`` under this model (the item itself excluded).

        Returns:
            ``item_id, score`` rows, most similar first.

        Raises:
            ValidationError: an unknown item id, a bad ``n``, or an unfitted model.
        """
        n = check_n(n)
        data = self._data
        item = int(data.item_index([item_id])[0])
        sims = self._item_similarity(item)
        sims[item] = -np.inf
        items, scores = top_n(sims[None, :], n)
        keep = items[0] >= 0
        return pl.DataFrame({"item_id": data.item_ids[items[0][keep]].tolist(),
                             "score": scores[0][keep].astype(np.float64)})

    def _item_similarity(self, item: int) -> ScoreArray:
        """Similarity of one item to every item (cosine of :meth:`_item_vectors`)."""
        vectors = self._item_vectors()
        return cosine_similarity(vectors[item : item + 1], vectors).ravel().astype(np.float32)

    def _reason_item(self, contributions: np.ndarray[Any, Any], seen: IntArray,
                     fallback: str) -> list[tuple[str, int]]:
        """Per item (column of ``contributions``), name the seen item (row) adding most.

        Args:
            contributions: (len(seen), n_items) contribution of each seen item to each score.
            seen: Column positions of the user's seen items.
            fallback: Reason when no seen item contributes positively.
        """
        data = self.interactions_
        if len(seen) == 0 or contributions.shape[1] == 0:
            return [(fallback, -1)] * contributions.shape[1]
        best = np.argmax(contributions, axis=0)
        best_value = contributions[best, np.arange(contributions.shape[1])]
        return [(f"because you {data.action} {data.label(int(seen[b]))}", int(seen[b]))
                if v > 0 else (fallback, -1) for b, v in zip(best, best_value, strict=True)]


def _enumerate_batches(batches: Iterator[IntArray]) -> Iterator[tuple[int, IntArray]]:
    start = 0
    for batch in batches:
        yield start, batch
        start += len(batch)


def seen_items(matrix: sp.csr_matrix, user: int) -> tuple[IntArray, ScoreArray]:
    """Column positions and weights of one user's row."""
    lo, hi = matrix.indptr[user], matrix.indptr[user + 1]
    return matrix.indices[lo:hi].astype(np.int64), matrix.data[lo:hi].astype(np.float32)
