"""Customer clusters from profiles: K-Means with automatic K, DBSCAN, Ward agglomerative.

:class:`ProfileClusterer` standardises the chosen profile columns (median imputation, z-scores,
one-hot categories; see :mod:`aidmp.ml.clustering.prep`), fits a scikit-learn clusterer and
explains the result: :meth:`~ProfileClusterer.describe` gives size, share, means, top
categories and plain words per cluster ("older, higher income"), :meth:`~ProfileClusterer.plot`
draws a PCA scatter and :meth:`~ProfileClusterer.cluster_members` hands the profile ids per
cluster to whoever saves them as segments.

- ``kmeans``: without ``k``, every K in ``k_range`` is fitted; the silhouette (on a sample of
  ``sample_size`` rows) picks K and the inertia curve's elbow is reported beside it in
  ``selection_``. Above ``large_threshold`` rows MiniBatchKMeans replaces KMeans.
- ``dbscan``: ``eps`` defaults to the knee of the sorted k-distance curve (Ester et al. 1996;
  Schubert et al. 2017); noise is cluster ``-1``. Above ``large_threshold`` rows it is fitted on a
  sample and the other rows join the cluster of their nearest core point within ``eps``.
- ``agglomerative``: Ward linkage; the silhouette picks K as for K-Means. Its memory grows with
  the square of the rows, so above ``fit_sample`` rows it is fitted on a sample and the other rows
  join the nearest cluster centre. The card says when a sample was used.

Example:
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"age": np.r_[rng.normal(25, 2, 50), rng.normal(60, 2, 50)],
    ...                   "spend": np.r_[rng.normal(200, 9, 50), rng.normal(50, 9, 50)]})
    >>> model = ProfileClusterer(k_range=(2, 4), feature_labels={"spend": "spend"}).fit(X)
    >>> model.n_clusters_, model.selection_["k"]
    (2, 2)
    >>> sorted(d["description"] for d in model.describe())
    ['older, lower spend', 'younger, higher spend']
"""

from __future__ import annotations

import tempfile
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import BaseEstimator
from sklearn.cluster import DBSCAN, AgglomerativeClustering, KMeans, MiniBatchKMeans
from sklearn.compose import ColumnTransformer
from sklearn.metrics import pairwise_distances, silhouette_score
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

from aidmp.errors import ValidationError
from aidmp.ml.clustering.describe import ClusterInfo, Label, describe_clusters
from aidmp.ml.clustering.plot import MAX_POINTS, plot_clusters
from aidmp.ml.clustering.prep import (
    as_model_frame,
    choose_features,
    count_columns,
    make_preprocessor,
    require_frame,
)
from aidmp.ml.clustering.select import RULE, criteria, knee_index, vote

if TYPE_CHECKING:
    import ibis

    from aidmp.engine.base import Engine

__all__ = ["ProfileClusterer", "knee_index"]

Method = Literal["kmeans", "dbscan", "agglomerative"]
METHODS: tuple[Method, ...] = ("kmeans", "dbscan", "agglomerative")
Matrix = NDArray[np.float64]


class ProfileClusterer(BaseEstimator):  # type: ignore[misc]
    """Cluster profiles and describe the clusters in plain words.

    Args:
        method: ``"kmeans"``, ``"dbscan"`` or ``"agglomerative"`` (Ward).
        features: Columns to cluster on; ``None`` = every numeric column and every text column
            with few distinct values, except ``id_column`` and timestamps.
        k: Number of clusters (K-Means, agglomerative); ``None`` picks it from ``k_range``.
        k_range: Inclusive ``(low, high)`` range of K tried when ``k`` is ``None``.
        random_state: Seed of every random step (initialisation, samples).
        eps: DBSCAN neighbourhood radius in standardised units; ``None`` = k-distance knee.
        min_samples: DBSCAN core-point size; ``None`` = twice the number of prepared
            dimensions, between 4 and 50 (Sander et al. 1998's ``2 * dim`` rule, bounded).
        id_column: Column holding the profile id (kept out of the features).
        feature_labels: Words per feature, e.g. ``{"income": "income"}`` (-> "higher income") or
            ``{"age": ("younger", "older")}``.
        sample_size: Rows used for silhouettes (and DBSCAN's fit on large data).
        fit_sample: Most rows agglomerative clustering is fitted on.
        large_threshold: Above this many rows: MiniBatchKMeans and a sampled DBSCAN.
        n_init: K-Means restarts per K.
        n_threads: BLAS/OpenMP threads while fitting and predicting (``None`` = library
            default). One is the default because on small shared machines OpenMP's busy waiting
            made K-Means and gradient boosting up to 30x slower with two threads than with one.
        selection: how K is chosen from ``k_range``: ``"vote"`` of silhouette,
            Calinski-Harabasz and Gaussian-mixture BIC (:mod:`aidmp.ml.clustering.select`,
            the table and each criterion's pick kept in ``selection_``) or ``"silhouette"``
            alone.
    """

    def __init__(
        self, method: Method = "kmeans", features: Sequence[str] | None = None,
        k: int | None = None, k_range: tuple[int, int] = (2, 10), random_state: int = 0, *,
        eps: float | None = None, min_samples: int | None = None,
        id_column: str = "profile_id", feature_labels: Mapping[str, Label] | None = None,
        sample_size: int = 5_000, fit_sample: int = 5_000, large_threshold: int = 200_000,
        n_init: int = 4, n_threads: int | None = 1,
        selection: Literal["vote", "silhouette"] = "vote",
    ) -> None:
        self.method = method
        self.features = features
        self.k = k
        self.k_range = k_range
        self.random_state = random_state
        self.eps = eps
        self.min_samples = min_samples
        self.id_column = id_column
        self.feature_labels = feature_labels
        self.sample_size = sample_size
        self.fit_sample = fit_sample
        self.large_threshold = large_threshold
        self.n_init = n_init
        self.n_threads = n_threads
        self.selection = selection

    # -- fitting -------------------------------------------------------------------------

    def _check(self, n_rows: int) -> list[int]:
        if self.method not in METHODS:
            raise ValidationError(f"unknown method {self.method!r}; valid: {', '.join(METHODS)}",
                                  field="method")
        if self.k is not None:
            if not 2 <= self.k < n_rows:
                raise ValidationError(f"must be between 2 and the number of rows - 1 "
                                      f"({n_rows - 1}), got {self.k}", field="k")
            return [self.k]
        low, high = self.k_range
        if not 2 <= low <= high:
            raise ValidationError(f"must be (low, high) with 2 <= low <= high, got "
                                  f"{self.k_range}", field="k_range")
        ks = list(range(low, min(high, n_rows - 1) + 1))
        if not ks:
            raise ValidationError(f"needs more than {low} rows to try K={low}", field="k_range")
        return ks

    def fit(self, X: object, y: object = None) -> Self:
        """Prepare the features, fit the clusterer and describe the clusters.

        Args:
            X: One row per profile (pandas DataFrame, or Arrow/Polars table).
            y: Ignored (scikit-learn signature).

        Returns:
            ``self``, with ``labels_``, ``n_clusters_``, ``selection_``, ``centers_``.
        """
        with threadpool_limits(self.n_threads):
            return self._fit(require_frame(X))

    def _fit(self, frame: pd.DataFrame) -> Self:
        ks = self._check(len(frame))
        self.numeric_, self.categorical_ = choose_features(frame, self.features, self.id_column)
        model_frame = as_model_frame(frame, self.numeric_, self.categorical_)
        self.log_columns_ = count_columns(model_frame, self.numeric_)
        self.preprocessor_: ColumnTransformer = make_preprocessor(
            self.numeric_, self.categorical_, self.log_columns_)
        Z = np.ascontiguousarray(self.preprocessor_.fit_transform(model_frame), dtype="float64")
        n = len(Z)
        rng = np.random.default_rng(self.random_state)
        self.n_rows_ = n
        self.fitted_on_ = n
        self.assignment_ = "fitted on every row"
        if self.method == "kmeans":
            labels = self._fit_kmeans(Z, ks, rng)
        elif self.method == "agglomerative":
            labels = self._fit_agglomerative(Z, ks, rng)
        else:
            labels = self._fit_dbscan(Z, rng)
        self.labels_: NDArray[np.int64] = labels.astype("int64")
        self.n_clusters_ = len(set(self.labels_.tolist()) - {-1})
        self.ids_ = (frame[self.id_column].tolist() if self.id_column in frame.columns
                     else frame.index.tolist())
        self.clusters_: list[ClusterInfo] = describe_clusters(
            model_frame, self.labels_, self.numeric_, self.categorical_, self.feature_labels)
        keep = (np.sort(rng.choice(n, MAX_POINTS, replace=False)) if n > MAX_POINTS
                else np.arange(n))
        self.plot_matrix_: Matrix = Z[keep]
        self.plot_labels_: NDArray[np.int64] = self.labels_[keep]
        return self

    def fit_in_engine(self, engine: Engine, rows: ibis.Table,
                      labels_table: str = "cluster_labels") -> Self:
        """Fit K-Means inside a distributed engine (Spark MLlib) on the rows of an engine
        query, one per profile; labels go to the derived table ``labels_table``
        (``id_column``, ``cluster``). See :mod:`aidmp.ml.clustering.in_engine` for what
        differs from :meth:`fit`.

        Raises:
            ValidationError: the engine fits on the driver, a method other than kmeans,
                text or unknown features, or a bad K.
        """
        from aidmp.ml.clustering.in_engine import fit_kmeans_in_engine

        return fit_kmeans_in_engine(self, engine, rows, labels_table)

    def _criteria(self, S: Matrix, labels: NDArray[np.int64], k: int,
                  n_k: int) -> dict[str, float | None]:
        if self.selection != "vote" or n_k < 2:
            return {}
        # The mixture is fitted on the continuous columns only: one-hot columns have no
        # Gaussian spread, and their near-zero variances drive the BIC to ever larger K.
        cat = self.preprocessor_.output_indices_.get("cat", slice(0, 0))
        keep = np.ones(S.shape[1], dtype=bool)
        keep[cat] = False
        return criteria(S, np.asarray(labels, dtype=np.int64), k, self.random_state,
                        S[:, keep] if keep.any() else S)

    def _sample(self, n: int, size: int, rng: np.random.Generator) -> NDArray[np.int64]:
        return np.sort(rng.choice(n, size, replace=False)) if n > size else np.arange(n)

    def _silhouette(self, D: Matrix, labels: NDArray[np.int64]) -> float:
        """Silhouette of ``labels`` given the sample's precomputed distance matrix ``D``."""
        if len(set(labels.tolist())) < 2 or len(set(labels.tolist())) >= len(labels):
            return float("nan")
        return float(silhouette_score(D, labels, metric="precomputed"))

    @staticmethod
    def _distances(S: Matrix) -> Matrix:
        # One float32 distance matrix serves every K: the O(n^2) part is paid once, at half the
        # memory (5,000 rows: 100 MB) of float64.
        return np.asarray(pairwise_distances(S.astype("float32")), dtype="float32")

    def _select(self, table: list[dict[str, Any]], n_sample: int) -> int:
        scores = [row["silhouette"] for row in table]
        if all(np.isnan(s) for s in scores):
            raise ValidationError("no K in k_range gives two or more clusters; the data may be "
                                  "constant", field="k_range")
        best = table[int(np.nanargmax(scores))]["k"]
        picks: dict[str, int] = {"silhouette": int(best)}
        criterion = "silhouette" if len(table) > 1 else "given"
        if self.selection == "vote" and len(table) > 1:
            best, picks = vote(table)
            criterion = "vote"
        inertias = [row["inertia"] for row in table if row.get("inertia") is not None]
        self.selection_: dict[str, Any] = {
            "criterion": criterion, "rule": RULE if criterion == "vote" else criterion,
            "picks": picks,
            "k": int(best), "silhouette_sample": n_sample, "table": table,
            "elbow_k": (int(table[knee_index(inertias)]["k"]) if len(inertias) == len(table)
                        and len(table) >= 3 else None),
        }
        return int(best)

    def _fit_kmeans(self, Z: Matrix, ks: list[int], rng: np.random.Generator) -> NDArray[np.int64]:
        large = len(Z) > self.large_threshold
        rows = self._sample(len(Z), self.sample_size, rng)
        D = self._distances(Z[rows])
        fitted: dict[int, KMeans | MiniBatchKMeans] = {}
        table: list[dict[str, Any]] = []
        for k in ks:
            # Batches of 16k rows: with 4k, 1M profiles took ~3x longer (Python overhead per
            # step dominates) for the same partition.
            est: KMeans | MiniBatchKMeans = (
                MiniBatchKMeans(n_clusters=k, random_state=self.random_state, n_init=1,
                                batch_size=16_384) if large
                else KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state))
            est.fit(Z)
            fitted[k] = est
            table.append({"k": k, "silhouette": round(self._silhouette(D, est.labels_[rows]), 6),
                          "inertia": round(float(est.inertia_), 3),
                          **self._criteria(Z[rows], est.labels_[rows], k, len(ks))})
        best = self._select(table, len(rows))
        self.estimator_: Any = fitted[best]
        self.centers_: Matrix = np.asarray(fitted[best].cluster_centers_)
        if large:
            self.assignment_ = "MiniBatchKMeans on every row; silhouette on a sample"
        return np.asarray(fitted[best].labels_)

    def _fit_agglomerative(self, Z: Matrix, ks: list[int],
                           rng: np.random.Generator) -> NDArray[np.int64]:
        rows = self._sample(len(Z), self.fit_sample, rng)
        S = Z[rows]
        sil_rows = self._sample(len(S), self.sample_size, rng)
        D = self._distances(S[sil_rows])
        fitted: dict[int, NDArray[np.int64]] = {}
        table: list[dict[str, Any]] = []
        # The cached full tree is cut at each K instead of rebuilt: one O(n^2) build in all.
        with tempfile.TemporaryDirectory(prefix="aidmp-ward-") as cache:
            for k in ks:
                est = AgglomerativeClustering(n_clusters=k, linkage="ward", memory=cache,
                                              compute_full_tree=True)
                fitted[k] = np.asarray(est.fit_predict(S))
                table.append({"k": k, "silhouette": round(self._silhouette(
                    D, fitted[k][sil_rows]), 6),
                    "inertia": round(float(sum(((S[fitted[k] == c] - S[fitted[k] == c].mean(0))
                                                ** 2).sum() for c in range(k))), 3),
                    **self._criteria(S[sil_rows], fitted[k][sil_rows], k, len(ks))})
        best = self._select(table, min(len(S), self.sample_size))
        sample_labels = fitted[best]
        self.centers_ = np.vstack([S[sample_labels == c].mean(0) for c in range(best)])
        self.estimator_ = None
        return self._spread(Z, rows, sample_labels, "the nearest cluster centre")

    def _fit_dbscan(self, Z: Matrix, rng: np.random.Generator) -> NDArray[np.int64]:
        rows = (self._sample(len(Z), self.sample_size, rng) if len(Z) > self.large_threshold
                else np.arange(len(Z)))
        S = Z[rows]
        min_samples = self.min_samples or int(np.clip(2 * Z.shape[1], 4, 50))
        min_samples = min(min_samples, len(S))
        if self.eps is not None:
            if self.eps <= 0:
                raise ValidationError(f"must be > 0, got {self.eps}", field="eps")
            eps, source = float(self.eps), "given"
        else:
            dist, _ = NearestNeighbors(n_neighbors=min_samples).fit(S).kneighbors(S)
            curve = np.sort(dist[:, -1])
            eps, source = float(curve[knee_index(curve)]), "k-distance knee"
            if eps <= 0:
                eps = float(curve[curve > 0].min()) if (curve > 0).any() else 1e-9
        est = DBSCAN(eps=eps, min_samples=min_samples).fit(S)
        self.estimator_ = est
        self.eps_ = eps
        core = est.core_sample_indices_
        self.core_points_: Matrix = S[core]
        self.core_labels_: NDArray[np.int64] = np.asarray(est.labels_)[core]
        sample_labels = np.asarray(est.labels_)
        n_found = len(set(sample_labels.tolist()) - {-1})
        self.centers_ = (np.vstack([S[sample_labels == c].mean(0) for c in range(n_found)])
                         if n_found else np.empty((0, Z.shape[1])))
        self.selection_ = {
            "criterion": "dbscan", "eps": round(eps, 6), "eps_source": source,
            "min_samples": min_samples, "n_clusters": n_found,
            "noise_share": round(float((sample_labels == -1).mean()), 4),
        }
        return self._spread(Z, rows, sample_labels, "the nearest core point within eps")

    def _spread(self, Z: Matrix, rows: NDArray[np.int64], sample_labels: NDArray[np.int64],
                how: str) -> NDArray[np.int64]:
        """Labels for all rows: the sample's own, the rest assigned by :meth:`_assign`."""
        if len(rows) == len(Z):
            return sample_labels
        self.fitted_on_ = len(rows)
        self.assignment_ = (f"fitted on a random sample of {len(rows):,} of {len(Z):,} rows; "
                            f"the others joined {how}")
        labels = self._assign(Z)
        labels[rows] = sample_labels
        return labels

    def _assign(self, Z: Matrix) -> NDArray[np.int64]:
        if self.method == "kmeans":
            return np.asarray(self.estimator_.predict(Z), dtype="int64")
        if self.method == "agglomerative":
            nn = NearestNeighbors(n_neighbors=1).fit(self.centers_)
            return nn.kneighbors(Z, return_distance=False)[:, 0].astype("int64")
        out = np.full(len(Z), -1, dtype="int64")
        if len(self.core_points_):
            dist, idx = NearestNeighbors(n_neighbors=1).fit(self.core_points_).kneighbors(Z)
            near = dist[:, 0] <= self.eps_
            out[near] = self.core_labels_[idx[near, 0]]
        return out

    # -- use -----------------------------------------------------------------------------

    def _fitted(self) -> None:
        if not hasattr(self, "labels_"):
            table = getattr(self, "labels_table_", None)
            if table is not None:
                raise ValidationError(f"the clusterer was fitted inside the engine; its labels "
                                      f"are in table {table!r}", field="model")
            raise ValidationError("the clusterer is not fitted yet; call fit(X) first",
                                  field="model")

    def transform_features(self, X: object) -> Matrix:
        """The standardised, one-hot matrix of ``X`` that distances are measured in."""
        stats = getattr(self, "column_stats_", None)
        if stats is not None:  # fitted inside an engine: its own preparation
            frame = as_model_frame(require_frame(X), self.numeric_, [])
            return np.column_stack([s.apply(frame[s.name].to_numpy(dtype="float64"))
                                    for s in stats])
        self._fitted()
        frame = as_model_frame(require_frame(X), self.numeric_, self.categorical_)
        return np.asarray(self.preprocessor_.transform(frame), dtype="float64")

    def predict(self, X: object) -> NDArray[np.int64]:
        """Cluster of new profiles (``-1``: DBSCAN noise, no core point within ``eps``)."""
        if getattr(self, "column_stats_", None) is not None:
            Z = self.transform_features(X)
            distances = ((Z[:, None, :] - self.centers_[None, :, :]) ** 2).sum(axis=2)
            return np.asarray(distances.argmin(axis=1), dtype="int64")
        with threadpool_limits(self.n_threads):
            return self._assign(self.transform_features(X))

    def cluster_members(
        self, profile_ids: Sequence[Hashable] | None = None,
    ) -> dict[int, list[Hashable]]:
        """Profile ids per cluster (``-1`` = noise), to save clusters as segments.

        Args:
            profile_ids: Ids aligned with the rows given to :meth:`fit`; ``None`` uses the
                ``id_column`` of that frame (or its index).
        """
        self._fitted()
        ids = list(profile_ids) if profile_ids is not None else list(self.ids_)
        if len(ids) != len(self.labels_):
            raise ValidationError(f"has {len(ids)} ids but the model was fitted on "
                                  f"{len(self.labels_)} rows", field="profile_ids")
        out: dict[int, list[Hashable]] = {}
        for label, pid in zip(self.labels_.tolist(), ids, strict=True):
            out.setdefault(int(label), []).append(pid)
        return dict(sorted(out.items()))

    def describe(self) -> list[ClusterInfo]:
        """Per cluster: size, share, means, top categories, distinctive features and words."""
        self._fitted()
        return self.clusters_

    def plot(self, path: str | Path, *, title: str = "Profile clusters") -> dict[str, Path]:
        """Write a PCA scatter as ``<path>.png`` and a self-contained ``<path>.html``."""
        self._fitted()
        words = {c["cluster"]: c["description"] for c in self.clusters_}
        return plot_clusters(self.plot_matrix_, self.plot_labels_, path, descriptions=words,
                             title=title, random_state=self.random_state)

    def card(self) -> dict[str, Any]:
        """A JSON-ready summary: method, parameters, selection, how rows were assigned."""
        self._fitted()
        return {
            "method": self.method,
            "estimator": type(self.estimator_).__name__ if self.estimator_ is not None
            else "AgglomerativeClustering(ward)",
            "parameters": {k: (list(v) if isinstance(v, tuple | list) else v)
                           for k, v in self.get_params().items() if k != "feature_labels"},
            "rows": self.n_rows_, "fitted_on": self.fitted_on_, "assignment": self.assignment_,
            "n_clusters": self.n_clusters_, "selection": self.selection_,
            "features": self.numeric_, "categorical_features": self.categorical_,
            "clusters": [{"cluster": c["cluster"], "size": c["size"], "share": c["share"],
                          "description": c["description"]} for c in self.clusters_],
        }
