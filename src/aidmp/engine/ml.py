"""Model fits that run inside a distributed engine: the engine-neutral side of MLlib.

Engines whose data may not fit one process (Spark) return an :class:`InEngineML` from
:meth:`aidmp.engine.base.Engine.in_engine_ml`; the single-node engines (DuckDB) return ``None``
and the model classes fit with scikit-learn / implicit / mlxtend on the driver as before.

Every method takes its training data as an **ibis expression** over the store's tables; the
engine compiles it and keeps it as its own distributed frame. What comes back is small: model
parameters (centres, coefficients, factor matrices), counts and metrics, never the rows. Per-row
results (cluster labels, scores) are written by the engine into a table of the store.

Example:
    >>> fit = KMeansFit(centers=np.zeros((2, 3)), inertia=1.5, sizes=[3, 4], iterations=2)
    >>> fit.centers.shape, fit.sizes
    ((2, 3), [3, 4])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import ibis
import numpy as np
from numpy.typing import NDArray

__all__ = ["ALSFit", "ClassifierFit", "InEngineML", "ItemsetsFit", "KMeansFit"]

Matrix = NDArray[np.float64]


@dataclass(frozen=True)
class ItemsetsFit:
    """Frequent itemsets: each as sorted item labels with its basket count.

    Attributes:
        n_baskets: number of baskets (distinct basket ids).
        items: every distinct item label (the catalogue bought from, not people).
        itemsets: ``(items, count)`` for every set bought together in at least
            ``ceil(min_support * n_baskets)`` baskets, up to the asked length.
    """

    n_baskets: int
    items: list[str]
    itemsets: list[tuple[tuple[str, ...], int]]


@dataclass(frozen=True)
class KMeansFit:
    """A K-Means fit: centres in the space the rows were given in, and its cost.

    Attributes:
        centers: (k, d) cluster centres.
        inertia: sum of squared distances of every row to its centre.
        sizes: rows per cluster, in centre order.
        iterations: iterations the best run took.
    """

    centers: Matrix
    inertia: float
    sizes: list[int]
    iterations: int


@dataclass(frozen=True)
class ALSFit:
    """Latent factors of implicit-feedback ALS, keyed by the ids the pairs carried.

    Attributes:
        user_ids, item_ids: ids in the order of the factor rows.
        user_factors, item_factors: (users, rank) and (items, rank) float32 factors.
    """

    user_ids: list[str]
    item_ids: list[str]
    user_factors: NDArray[np.float32]
    item_factors: NDArray[np.float32]


@dataclass(frozen=True)
class ClassifierFit:
    """A binary classifier fitted in the engine, with its held-out metrics.

    Attributes:
        method: ``logistic`` or ``gbt``.
        features: the feature columns, in model order.
        coefficients, intercept: the logistic model on the original feature scale (empty
            for trees).
        means: feature means of the training rows (what missing values are filled with).
        auc: area under the ROC curve on the held-out rows.
        log_loss, base_rate, mean_predicted: on the held-out rows.
        n_train, n_validation: rows fitted on / held out.
        model_path: where a tree ensemble was saved (the engine's own format), else ``None``.
        importances: per feature, the model's own importance (trees) or ``|coef| * std``.
    """

    method: str
    features: list[str]
    coefficients: Matrix
    intercept: float
    means: Matrix
    auc: float
    log_loss: float
    base_rate: float
    mean_predicted: float
    n_train: int
    n_validation: int
    model_path: str | None = None
    importances: dict[str, float] = field(default_factory=dict)


class InEngineML(Protocol):
    """What a distributed engine offers the model classes (implemented with Spark MLlib)."""

    def frequent_itemsets(self, pairs: ibis.Table, basket: str, item: str,
                          min_support: float, max_len: int) -> ItemsetsFit:
        """FP-growth over the ``(basket, item)`` rows of ``pairs``."""
        ...

    def kmeans(self, rows: ibis.Table, columns: Sequence[str], k: int, *, seed: int,
               n_init: int, max_iter: int, tol: float) -> KMeansFit:
        """K-Means (k-means|| start, ``n_init`` runs, the cheapest kept) on ``columns``."""
        ...

    def kmeans_assign(self, rows: ibis.Table, id_column: str, columns: Sequence[str],
                      centers: Matrix, table: str) -> None:
        """Write ``(id_column, cluster)`` of every row, nearest centre, as derived ``table``."""
        ...

    def als(self, pairs: ibis.Table, user: str, item: str, weight: str | None, *, rank: int,
            regularization: float, alpha: float, iterations: int, seed: int) -> ALSFit:
        """Implicit-feedback ALS (Hu, Koren & Volinsky 2008) over ``(user, item[, weight])``."""
        ...

    def classifier(self, rows: ibis.Table, features: Sequence[str], label: str, *,
                   method: Literal["logistic", "gbt"], validation_size: float, seed: int,
                   params: dict[str, Any], folder: str | None) -> ClassifierFit:
        """Fit on all but a random ``validation_size`` of the rows, score those, refit on all."""
        ...

    def classifier_scores(self, fit: ClassifierFit, rows: ibis.Table, id_column: str,
                          table: str) -> None:
        """Write ``(id_column, p)`` for every row of ``rows`` as derived ``table``."""
        ...

    def splink_api(self) -> Any:
        """A new Splink database API on this engine (Splink's ``SparkAPI``), so that the
        pairwise work of probabilistic matching (blocking, comparisons, EM, scoring) runs in
        the engine."""
        ...
