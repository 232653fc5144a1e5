"""Choosing K by three criteria, with the reasons kept.

For each K tried, beside the silhouette (higher is better) the table gets the
Calinski-Harabasz index (between- over within-cluster dispersion, higher is better) and the
BIC of a Gaussian mixture with K diagonal components on the same sample (lower is better).
The silhouette shortlists the Ks within 10 % of its best value; the mixture's BIC picks among
them (the silhouette alone drifts to K = 2 on sparse data, the BIC alone to the largest K).
Each criterion's own pick is reported beside the choice.

Example:
    >>> table = [{"k": 2, "silhouette": 0.40, "calinski_harabasz": 90.0, "bic": 10.0},
    ...          {"k": 3, "silhouette": 0.37, "calinski_harabasz": 120.0, "bic": 8.0},
    ...          {"k": 4, "silhouette": 0.30, "calinski_harabasz": 100.0, "bic": 9.0}]
    >>> vote(table)
    (3, {'silhouette': 2, 'calinski_harabasz': 3, 'bic': 3})
    >>> vote([{**row, "silhouette": 0.4 - 0.1 * i} for i, row in enumerate(table)])[0]
    2
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import calinski_harabasz_score
from sklearn.mixture import GaussianMixture

__all__ = ["RULE", "SHORTLIST", "criteria", "knee_index", "vote"]

#: Ks whose silhouette is within this share of the best are near-ties.
SHORTLIST = 0.10
RULE = ("the silhouette shortlists every K within 10 % of its best value; among those the "
        "lowest Gaussian-mixture BIC wins (the highest Calinski-Harabasz without a BIC)")


def criteria(S: NDArray[np.float64], labels: NDArray[np.int64], k: int,
             random_state: int, G: NDArray[np.float64] | None = None
             ) -> dict[str, float | None]:
    """Calinski-Harabasz of ``labels`` on the sample ``S`` and the BIC of a K-component
    diagonal Gaussian mixture fitted to ``G`` (the sample's continuous columns; ``S`` when
    not given), ``None`` where undefined."""
    G = S if G is None else G
    distinct = len(set(labels.tolist()))
    ch = (float(calinski_harabasz_score(S, labels)) if 1 < distinct < len(S) else None)
    bic: float | None = None
    if len(S) > 2 * k:
        gmm = GaussianMixture(k, covariance_type="diag", random_state=random_state,
                              reg_covar=1e-4, max_iter=200)
        bic = float(gmm.fit(G).bic(G))
    return {"calinski_harabasz": None if ch is None else round(ch, 3),
            "bic": None if bic is None else round(bic, 3)}


def vote(table: list[dict[str, Any]]) -> tuple[int, dict[str, int]]:
    """The chosen K and each criterion's own pick (criteria without values are left out).

    The silhouette shortlists every K within :data:`SHORTLIST` of its best value (near-ties:
    the silhouette alone tends to the smallest K on sparse data); among those the lowest
    mixture BIC wins, or the highest Calinski-Harabasz where there is no BIC."""
    picks: dict[str, int] = {}
    for name, sign in (("silhouette", 1.0), ("calinski_harabasz", 1.0), ("bic", -1.0)):
        scored = [(sign * float(row[name]), int(row["k"])) for row in table
                  if row.get(name) is not None and not np.isnan(float(row[name]))]
        if scored:
            picks[name] = max(scored, key=lambda s: (s[0], -s[1]))[1]
    if "silhouette" not in picks:
        raise ValueError("no silhouette has a value")
    best_sil = max(float(r["silhouette"]) for r in table
                   if not np.isnan(float(r["silhouette"])))
    shortlist = [r for r in table if not np.isnan(float(r["silhouette"]))
                 and float(r["silhouette"]) >= best_sil - SHORTLIST * abs(best_sil)]
    for name, sign in (("bic", -1.0), ("calinski_harabasz", 1.0)):
        rows = [r for r in shortlist if r.get(name) is not None]
        if rows:
            return int(max(rows, key=lambda r: (sign * float(r[name]), -r["k"]))["k"]), picks
    return picks["silhouette"], picks


def knee_index(y: Sequence[float] | NDArray[np.float64]) -> int:
    """Index of the knee of a monotone curve: the point farthest from the end-to-end chord.

    A hand-written Kneedle-style rule (Satopaa et al. 2011) because the field's knee packages are
    small and unmaintained; it serves both the K-Means elbow and DBSCAN's k-distance knee.

    Example:
        >>> knee_index([100.0, 40.0, 20.0, 15.0, 12.0, 10.0])
        2
    """
    values = np.asarray(y, dtype="float64")
    if len(values) < 3:
        return 0
    x = np.linspace(0.0, 1.0, len(values))
    span = values[-1] - values[0]
    norm = (values - values[0]) / span if span else np.zeros_like(values)
    return int(np.argmax(np.abs(norm - x)))
