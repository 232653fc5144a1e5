"""Content-based recommendations from item attributes (e.g. MovieLens genres).

Items become TF-IDF weighted one-hot vectors of their tags (scikit-learn's
``MultiLabelBinarizer`` and ``TfidfTransformer``); a user's profile is the weighted sum of the
vectors of their items; the score is the cosine of profile and item. The reason names the tag
that adds most to that cosine: "because you like Film-Noir".

Example:
    >>> import polars as pl
    >>> from aidmp.ml.recommend import Interactions
    >>> df = pl.DataFrame({"user": ["a", "a", "b", "c"],
    ...                    "item": ["heat", "alien", "heat", "ronin"]})
    >>> tags = {"heat": ["Crime"], "alien": ["Sci-Fi"], "ronin": ["Crime", "Action"]}
    >>> data = Interactions.from_frame(df, "user", "item")
    >>> ContentBased(tags).fit(data).recommend(["b"], n=1).select("item_id", "reason").rows()
    [('ronin', 'because you like Crime')]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.preprocessing import MultiLabelBinarizer, normalize

from aidmp.errors import ValidationError
from aidmp.ml.recommend.base import Recommender, ScoreArray
from aidmp.ml.recommend.interactions import IntArray


class ContentBased(Recommender):
    """Cosine between a user's tag profile and each item's tags.

    Args:
        item_features: Tags of each item id (genres, categories, brands); items without an
            entry have no tags and score 0.
        idf: Down-weight tags most items share (TF-IDF) instead of plain one-hot.
        centre: Subtract each user's mean weight before building the profile, so items rated
            below the user's average push the profile away (use with explicit ratings).

    Attributes:
        features_: (items, tags) L2-normalised CSR.
        tags_: Tag name of each feature column.
        profiles_: (users, tags) L2-normalised CSR.
    """

    def __init__(self, item_features: Mapping[Any, Sequence[str]], idf: bool = True,
                 centre: bool = False) -> None:
        self.item_features = item_features
        self.idf = idf
        self.centre = centre

    def _validate_params(self) -> None:
        if not isinstance(self.item_features, Mapping) or not self.item_features:
            raise ValidationError("must map item ids to lists of tags, e.g. "
                                  "{'1': ['Comedy', 'Romance']}", field="item_features")

    def _fit(self, matrix: sp.csr_matrix) -> None:
        ids = self.interactions_.item_ids.tolist()
        tags = [list(self.item_features.get(item, ())) for item in ids]
        if not any(tags):
            raise ValidationError(
                f"no fitted item has tags; item_features keys look like "
                f"{list(self.item_features)[:3]!r}, fitted item ids like {ids[:3]!r}",
                field="item_features")
        binarizer = MultiLabelBinarizer(sparse_output=True)
        onehot = sp.csr_matrix(binarizer.fit_transform(tags), dtype=np.float32)
        weighted = TfidfTransformer().fit_transform(onehot) if self.idf else onehot
        self.tags_: np.ndarray[Any, Any] = np.asarray(binarizer.classes_)
        self.features_: sp.csr_matrix = sp.csr_matrix(normalize(weighted), dtype=np.float32)
        weights = matrix.astype(np.float32)
        if self.centre:
            weights = weights.copy()
            counts = np.maximum(np.diff(weights.indptr), 1)
            means = np.asarray(weights.sum(axis=1)).ravel() / counts
            weights.data -= np.repeat(means, np.diff(weights.indptr)).astype(np.float32)
        self.profiles_: sp.csr_matrix = sp.csr_matrix(
            normalize(weights @ self.features_), dtype=np.float32)

    def _scores(self, users: IntArray) -> ScoreArray:
        return np.asarray((self.profiles_[users] @ self.features_.T).toarray(), dtype=np.float32)

    def _explain(self, user: int, items: IntArray) -> list[tuple[str, int]]:
        profile = self.profiles_[user].toarray().ravel()
        per_tag = self.features_[items].toarray() * profile[None, :]
        out: list[tuple[str, int]] = []
        for row in per_tag:
            best = int(np.argmax(row))
            out.append((f"because you like {self.tags_[best]}" if row[best] > 0
                        else "new for you", -1))
        return out

    def _item_vectors(self) -> Any:
        return self.features_
