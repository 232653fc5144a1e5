"""Matrix factorisation for implicit feedback (Hu, Koren & Volinsky 2008) via ``implicit``.

Confidence is ``1 + alpha * w`` for every pair the user has (``w`` optionally BM25-weighted,
as in implicit's own examples), 1 for every other item; implicit's conjugate-gradient ALS
solves it. Reasons use the exact score decomposition of implicit's ``explain``: the seen item
that adds most to the predicted score, else "people with similar taste".

OpenBLAS's own thread pool fights implicit's threads and makes a fit several times slower, so
the fit runs under ``threadpool_limits(1, "blas")``.

Example:
    >>> import polars as pl
    >>> from aidmp.ml.recommend import Interactions
    >>> df = pl.DataFrame({"user": ["a", "a", "b", "b", "c"], "item": ["x", "y", "x", "y", "x"]})
    >>> model = ALS(factors=4, iterations=5).fit(Interactions.from_frame(df, "user", "item"))
    >>> model.recommend(["c"]).select("item_id", "reason_item_id").rows()
    [('y', 'x')]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from scipy.linalg import cho_factor, cho_solve
from threadpoolctl import threadpool_limits

from aidmp.errors import ValidationError
from aidmp.ml.recommend.base import Recommender, ScoreArray, seen_items
from aidmp.ml.recommend.interactions import IntArray, Interactions
from aidmp.ml.recommend.knn import weigh

if TYPE_CHECKING:
    import ibis

    from aidmp.engine.ml import InEngineML


class ALS(Recommender):
    """Implicit-feedback ALS (``implicit.cpu.als.AlternatingLeastSquares``).

    The defaults are within 0.5 % of the best NDCG@10 of a grid (factors 8-128,
    regularization 0.01-100, alpha 1-20) on a validation split cut from MovieLens-100K's
    training data (``benchmarks/recommend_bench.py --tune``): few factors with strong
    regularisation rank best on data this small; raise ``factors`` and lower
    ``regularization`` for bigger catalogues.

    Args:
        factors: Latent dimensions.
        regularization: L2 penalty on the factors.
        alpha: Confidence scale of observed pairs.
        iterations: ALS sweeps.
        weighting: ``"none"`` or ``"bm25"`` re-weighting of the confidences (items as
            documents, users as terms).
        bm25_k1: BM25 term saturation.
        bm25_b: BM25 length normalisation.
        random_state: Seed of the initial factors (fits are repeatable with one thread).
        num_threads: Fitting threads; 0 uses every core.

    Attributes:
        user_factors_: (users, factors) float32.
        item_factors_: (items, factors) float32.
        model_: The fitted implicit model.
    """

    def __init__(self, factors: int = 16, regularization: float = 10.0, alpha: float = 2.0,
                 iterations: int = 15, weighting: Literal["none", "bm25"] = "none",
                 bm25_k1: float = 100.0, bm25_b: float = 0.8, random_state: int | None = 42,
                 num_threads: int = 0) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.weighting = weighting
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.random_state = random_state
        self.num_threads = num_threads

    def _validate_params(self) -> None:
        for name in ("factors", "iterations"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValidationError(f"must be a positive integer, got {value!r}", field=name)
        for name in ("regularization", "alpha"):
            if not getattr(self, name) >= 0:
                raise ValidationError(f"must be >= 0, got {getattr(self, name)!r}", field=name)
        if self.weighting not in ("none", "bm25"):
            raise ValidationError(f"unknown weighting {self.weighting!r}; valid: none, bm25",
                                  field="weighting")

    def _fit(self, matrix: sp.csr_matrix) -> None:
        confidence = weigh(matrix.T.tocsr(), self.weighting, self.bm25_k1, self.bm25_b)
        self.confidence_: sp.csr_matrix = confidence.T.tocsr()
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=self.factors, regularization=self.regularization, alpha=self.alpha,
                iterations=self.iterations, random_state=self.random_state,
                num_threads=self.num_threads)
            model.fit(self.confidence_, show_progress=False)
        self.model_: Any = model
        self.user_factors_: np.ndarray[Any, np.dtype[np.float32]] = np.asarray(
            model.user_factors, dtype=np.float32)
        self.item_factors_: np.ndarray[Any, np.dtype[np.float32]] = np.asarray(
            model.item_factors, dtype=np.float32)

    def fit_in_engine(self, ml: InEngineML, pairs: ibis.Table, interactions: Interactions,
                      user: str = "profile_id", item: str = "item_id") -> ALS:
        """Factorise inside a distributed engine (Spark MLlib's implicit ALS over the
        ``(user, item)`` rows of ``pairs``, each pair weighted 1 as :meth:`fit` sees binarised
        data); the factors (model parameters) come back and are aligned to ``interactions``,
        which must hold the same pairs (it masks seen items when recommending).

        What differs from :meth:`fit`: MLlib scales each solve's penalty by its number of
        pairs (see :mod:`aidmp.engine.spark.mllib`), ``weighting`` is not applied, and the
        fit is repeatable for a seed but not equal to implicit's; the conformance suite
        checks NDCG@10, not factors.

        Raises:
            ValidationError: bad hyper-parameters or no pairs.
        """
        if interactions.nnz == 0:
            raise ValidationError("no interactions to learn from", field="interactions")
        self._validate_params()
        fit = ml.als(pairs, user, item, None, rank=int(self.factors),
                     regularization=float(self.regularization), alpha=float(self.alpha),
                     iterations=int(self.iterations), seed=int(self.random_state or 0))
        self.interactions_ = interactions
        self.confidence_ = sp.csr_matrix(interactions.matrix, dtype=np.float32)
        users = np.zeros((len(interactions.user_ids), int(self.factors)), dtype=np.float32)
        items = np.zeros((len(interactions.item_ids), int(self.factors)), dtype=np.float32)
        upos = {str(u): i for i, u in enumerate(fit.user_ids)}
        ipos = {str(v): i for i, v in enumerate(fit.item_ids)}
        for target, ids, pos, source in ((users, interactions.user_ids, upos, fit.user_factors),
                                         (items, interactions.item_ids, ipos, fit.item_factors)):
            rows = np.array([pos.get(str(x), -1) for x in ids.tolist()], dtype=np.int64)
            found = rows >= 0
            target[found] = source[rows[found]]
        self.model_ = None
        self.user_factors_ = users
        self.item_factors_ = items
        return self

    def _scores(self, users: IntArray) -> ScoreArray:
        return self.user_factors_[users] @ self.item_factors_.T

    def _explain(self, user: int, items: IntArray) -> list[tuple[str, int]]:
        # The decomposition of implicit's ``explain`` (Hu et al. 2008, section 5), done for all
        # items at once: implicit's version loops in Python over the seen items per item.
        seen, weights = seen_items(self.confidence_, user)
        confidence = weights.astype(np.float64) * self.alpha
        factors = self.item_factors_.astype(np.float64)
        mine = factors[seen]
        system = (factors.T @ factors + self.regularization * np.eye(factors.shape[1])
                  + (mine.T * (confidence - 1.0)) @ mine)
        solved = cho_solve(cho_factor(system), factors[items].T)
        contributions = (mine @ solved) * confidence[:, None]
        return self._reason_item(contributions, seen, "people with similar taste")

    def _item_vectors(self) -> Any:
        return self.item_factors_
