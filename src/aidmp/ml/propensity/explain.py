"""Why a model scored a person as it did: per-prediction contributions and global importances.

Contributions are in **logit space** (log-odds) and per *source* column (the one-hot outputs of
a categorical are summed back into their column). For every person they add up exactly to
``logit(p) - base_logit``, where ``base_logit`` is the mean logit of the reference people (the
training rows), i.e. "this person vs the average person".

- :class:`LinearExplainer`: when the calibrated logit is linear in the encoded inputs (logistic
  regression, uncalibrated or with sigmoid calibration) the contribution of column ``j`` is
  ``w_j · (x_j - mean_j)`` — exact and instant.
- :class:`ShapleyExplainer`: any other model. Interventional Shapley values over the source
  columns: the value of a set ``S`` of columns is the mean logit over a background sample when
  the person's own values replace the background's values in ``S``. Exact (all ``2^M``
  coalitions) up to :data:`EXACT_LIMIT` columns, otherwise estimated from antithetic random
  permutations, which keep the sum exact.

For a linear model the two agree (a linear model's Shapley value with an independent
background is ``w_j · (x_j - mean_j)``).

Why written here rather than with the ``shap`` package: we explain *source* columns through the
whole pipeline (imputation, one-hot, calibration) in the calibrated model's logit space, and
propensity tables have few columns, so the exact game is a few vectorised ``predict_proba``
calls; ``shap``'s model-agnostic explainers would add numba/llvmlite for the same numbers.

Example:
    >>> import numpy as np, pandas as pd
    >>> bg = pd.DataFrame({"a": [0.0, 2.0], "b": [1.0, 3.0]})
    >>> def f(X):  # logit = a + 2 b
    ...     return X["a"].to_numpy() + 2 * X["b"].to_numpy()
    >>> ex = ShapleyExplainer(f, bg)
    >>> ex.base_logit
    5.0
    >>> ex.contributions(pd.DataFrame({"a": [3.0], "b": [0.0]})).round(6).tolist()
    [[2.0, -4.0]]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

__all__ = ["EXACT_LIMIT", "LinearExplainer", "ShapleyExplainer", "logit", "top_contributions"]

EXACT_LIMIT = 10
# Rows per predict call when evaluating coalitions: bounds memory, keeps calls vectorised.
_BATCH_ROWS = 200_000
_EPS = 1e-9

LogitFn = Callable[[pd.DataFrame], NDArray[np.float64]]


def logit(p: ArrayLike) -> NDArray[np.float64]:
    """log(p / (1 - p)), clipped so that 0 and 1 stay finite."""
    q = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.asarray(np.log(q) - np.log1p(-q), dtype=np.float64)


@dataclass
class LinearExplainer:
    """Exact contributions of a model whose logit is ``z · weights + intercept``.

    Args:
        transform: encodes prepared rows into the model's input matrix ``z``.
        weights: logit weight of every encoded column (link slope already applied).
        mean: mean encoded row of the reference people.
        slices: for each source column, its encoded columns.
        base_logit: logit of the mean encoded row (= mean logit of the reference people).
    """

    transform: Callable[[pd.DataFrame], NDArray[np.float64]]
    weights: NDArray[np.float64]
    mean: NDArray[np.float64]
    slices: list[slice]
    base_logit: float

    def contributions(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """Matrix (rows x source columns) of logit contributions."""
        z = np.asarray(self.transform(X), dtype=np.float64)
        parts = (z - self.mean) * self.weights
        return np.column_stack([parts[:, s].sum(axis=1) for s in self.slices])


@dataclass
class ShapleyExplainer:
    """Interventional Shapley values of ``predict_logit`` over the columns of ``background``.

    Args:
        predict_logit: the model's logit for prepared rows.
        background: reference rows (a sample of the training data); their mean logit is the
            baseline every explanation starts from.
        n_permutations: permutations drawn per row when there are more than
            :data:`EXACT_LIMIT` columns (rounded up to an even number, antithetic pairs).
        random_state: seed of the permutations.
    """

    predict_logit: LogitFn
    background: pd.DataFrame
    n_permutations: int = 64
    random_state: int = 0
    base_logit: float = field(init=False)

    def __post_init__(self) -> None:
        self.background = self.background.reset_index(drop=True)
        self.base_logit = float(np.mean(self.predict_logit(self.background)))

    def _values(self, x: pd.DataFrame, masks: NDArray[np.bool_]) -> NDArray[np.float64]:
        """Mean background logit with the person's values in the masked columns, per mask."""
        n_bg = len(self.background)
        per_call = max(1, _BATCH_ROWS // n_bg)
        out = np.empty(len(masks), dtype=np.float64)
        for start in range(0, len(masks), per_call):
            chunk = masks[start:start + per_call]
            rows = np.repeat(chunk, n_bg, axis=0)
            frame = {}
            for j, name in enumerate(self.background.columns):
                base = np.tile(self.background[name].to_numpy(), len(chunk))
                own = x[name].to_numpy()[0]
                frame[name] = np.where(rows[:, j], own, base)
                if base.dtype != object:
                    frame[name] = frame[name].astype(base.dtype)
            logits = self.predict_logit(pd.DataFrame(frame, columns=self.background.columns))
            out[start:start + len(chunk)] = logits.reshape(len(chunk), n_bg).mean(axis=1)
        return out

    def _exact(self, x: pd.DataFrame) -> NDArray[np.float64]:
        m = self.background.shape[1]
        codes = np.arange(2 ** m)
        masks = ((codes[:, None] >> np.arange(m)) & 1).astype(bool)
        v = self._values(x, masks)
        size = masks.sum(axis=1)
        phi = np.empty(m, dtype=np.float64)
        for j in range(m):
            without = codes[~masks[:, j]]
            s = size[without]
            w = np.array([math.factorial(k) * math.factorial(m - k - 1) for k in s],
                         dtype=np.float64) / math.factorial(m)
            phi[j] = float(np.sum(w * (v[without | (1 << j)] - v[without])))
        return phi

    def _sampled(self, x: pd.DataFrame, rng: np.random.Generator) -> NDArray[np.float64]:
        m = self.background.shape[1]
        pairs = max(1, (self.n_permutations + 1) // 2)
        orders: list[NDArray[np.int64]] = []
        for _ in range(pairs):
            perm = rng.permutation(m)
            orders.extend([perm, perm[::-1].copy()])
        # Every order is a chain of m + 1 coalitions, from nobody's values to all of x's.
        masks = np.zeros((len(orders), m + 1, m), dtype=bool)
        for i, order in enumerate(orders):
            for step, col in enumerate(order, start=1):
                masks[i, step:, col] = True
        v = self._values(x, masks.reshape(-1, m)).reshape(len(orders), m + 1)
        phi = np.zeros(m, dtype=np.float64)
        for i, order in enumerate(orders):
            phi[order] += np.diff(v[i])
        return phi / len(orders)

    def contributions(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """Matrix (rows x source columns) of logit contributions."""
        X = X[list(self.background.columns)]
        rng = np.random.default_rng(self.random_state)
        exact = self.background.shape[1] <= EXACT_LIMIT
        rows = [self._exact(X.iloc[[i]]) if exact else self._sampled(X.iloc[[i]], rng)
                for i in range(len(X))]
        return np.vstack(rows) if rows else np.zeros((0, X.shape[1]))


def _plain(value: object) -> object:
    """numpy scalars as Python ones, NaN as None (explanations are JSON-bound)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def top_contributions(
    X: pd.DataFrame, columns: Sequence[str], contrib: NDArray[np.float64], top: int | None
) -> list[list[tuple[str, object, float]]]:
    """Per row, ``(column, value, contribution)`` sorted by ``|contribution|``, ``top`` kept."""
    out: list[list[tuple[str, object, float]]] = []
    for i in range(len(X)):
        order = np.argsort(-np.abs(contrib[i]), kind="stable")
        if top is not None:
            order = order[:top]
        out.append([(columns[j], _plain(X[columns[j]].iloc[i]), float(contrib[i, j]))
                    for j in order])
    return out
