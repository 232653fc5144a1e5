"""Recommenders over a user x item interaction matrix, with reasons, and their offline evaluation.

Every recommender is a scikit-learn style estimator fitted on :class:`Interactions` (built from
a long frame with the caller's own ids); ``recommend`` answers with items, scores and a reason
per item; ``recommend_all`` is the vectorised form evaluation uses. :class:`SASRec`, the
sequential deep model, needs the optional PyTorch extra (``pip install 'aidmp[deep]'``) to fit.

Example:
    >>> import polars as pl
    >>> from aidmp.ml.recommend import Interactions, ItemKNN, evaluate, random_split
    >>> df = pl.DataFrame({"user": ["a", "a", "b", "b", "c", "c"],
    ...                    "item": ["x", "y", "x", "y", "x", "z"]})
    >>> data = Interactions.from_frame(df, "user", "item", action="bought")
    >>> ItemKNN(weighting="none").fit(data).recommend(["c"], n=1)["reason"].to_list()
    ['because you bought x']
"""

from aidmp.ml.recommend.als import ALS
from aidmp.ml.recommend.base import Recommender, TopN
from aidmp.ml.recommend.content import ContentBased
from aidmp.ml.recommend.evaluate import GridResult, evaluate, grid_search, ranking_metrics
from aidmp.ml.recommend.hybrid import Hybrid
from aidmp.ml.recommend.interactions import Interactions
from aidmp.ml.recommend.knn import ItemKNN, UserKNN
from aidmp.ml.recommend.popularity import Popularity
from aidmp.ml.recommend.sasrec import SASRec
from aidmp.ml.recommend.split import leave_last_out, random_split, temporal_split

__all__ = [
    "ALS",
    "ContentBased",
    "GridResult",
    "Hybrid",
    "Interactions",
    "ItemKNN",
    "Popularity",
    "Recommender",
    "SASRec",
    "TopN",
    "UserKNN",
    "evaluate",
    "grid_search",
    "leave_last_out",
    "random_split",
    "ranking_metrics",
    "temporal_split",
]
