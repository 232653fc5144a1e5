"""Plain-words descriptions of clusters: what sets a group apart from everybody.

Each feature is compared between the cluster and the whole population as a standardised
difference (Cohen's-d style): for a number, ``(cluster mean - population mean) / population
std``; for one level of a category, ``(cluster share - population share) / sqrt(p (1 - p))``,
the same formula applied to the level's 0/1 indicator. The largest differences become words:
"older", "higher income", "mostly student". Labels are configurable per feature.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"age": [20.0, 22, 60, 62], "job": ["a", "a", "b", "b"]})
    >>> info = describe_clusters(frame, [0, 0, 1, 1], ["age"], ["job"])
    >>> info[1]["description"]
    'mostly b (job), older'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypedDict

import numpy as np
import pandas as pd

__all__ = ["DEFAULT_LABELS", "ClusterInfo", "Label", "describe_clusters", "words"]

#: A feature's label: one noun ("income" -> "higher income") or ``(low word, high word)``.
Label = str | tuple[str, str]

DEFAULT_LABELS: dict[str, Label] = {
    "age": ("younger", "older"),
    "rfm_recency_days": ("bought recently", "not bought for long"),
    "engagement_score": ("less engaged", "more engaged"),
    "p_churn_90d": ("unlikely to churn", "likely to churn"),
}


class ClusterInfo(TypedDict):
    """One cluster in :func:`describe_clusters`' answer (JSON-ready)."""

    cluster: int
    size: int
    share: float
    means: dict[str, float | None]
    top_categories: dict[str, list[tuple[str, float]]]
    distinctive: list[tuple[str, float]]
    description: str


def _label_words(feature: str, labels: Mapping[str, Label]) -> tuple[str, str]:
    label = labels.get(feature, DEFAULT_LABELS.get(feature))
    if isinstance(label, tuple):
        return label
    if isinstance(label, str):
        return f"lower {label}", f"higher {label}"
    for prefix, low, high in (("interest_", "less interest in", "more interest in"),
                              ("share_", "less", "more")):
        if feature.startswith(prefix):
            noun = feature.removeprefix(prefix).replace("_", " ")
            return f"{low} {noun}", f"{high} {noun}"
    noun = feature.replace("_", " ")
    return f"lower {noun}", f"higher {noun}"


def words(
    effects: Sequence[tuple[str, float]], labels: Mapping[str, Label] | None = None,
    *, shares: Mapping[str, float] | None = None, top: int = 3, min_effect: float = 0.5,
) -> str:
    """Turn ``(name, standardised difference)`` pairs into a short phrase.

    Names are numeric features or ``"feature=level"`` for a category level; only positive
    category differences are worded: "mostly <level>" when ``shares`` says the level is over half
    of the cluster, else "more <level>". ``much`` marks differences above 1.5 standard deviations.

    Example:
        >>> words([("age", -1.8), ("income", 0.9), ("job=student", 1.2)], {"income": "income"},
        ...       shares={"job=student": 0.7})
        'much younger, mostly student (job), higher income'
    """
    chosen: list[str] = []
    for name, effect in sorted(effects, key=lambda kv: -abs(kv[1])):
        if abs(effect) < min_effect or len(chosen) >= top:
            break
        if "=" in name:
            if effect <= 0:
                continue
            feature, level = name.split("=", 1)
            prefix = "mostly" if (shares or {}).get(name, 0.0) > 0.5 else "more"
            chosen.append(f"{prefix} {level} ({feature})")
            continue
        low, high = _label_words(name, labels or {})
        word = high if effect > 0 else low
        chosen.append(f"much {word}" if abs(effect) >= 1.5 else word)
    return ", ".join(chosen) if chosen else "close to the average profile"


def describe_clusters(
    frame: pd.DataFrame, labels: Sequence[int] | np.ndarray, numeric: Sequence[str],
    categorical: Sequence[str], feature_labels: Mapping[str, Label] | None = None,
    *, top: int = 3, min_effect: float = 0.5,
) -> list[ClusterInfo]:
    """Size, share, means, top categories and a plain-words description per cluster.

    Args:
        frame: The feature columns (original units) of the profiles that were clustered.
        labels: Cluster of each row (``-1`` = noise, described like any cluster).
        numeric: Numeric feature names.
        categorical: Categorical feature names.
        feature_labels: Per-feature words, see :data:`Label`.
        top: At most this many features in a description.
        min_effect: Smallest absolute standardised difference worth a word.
    """
    lab = np.asarray(labels)
    n = len(lab)
    nums = frame[list(numeric)].astype("float64")
    pop_mean = nums.mean()
    pop_std = nums.std(ddof=0).replace(0.0, np.nan)
    pop_shares = {c: frame[c].value_counts(normalize=True) for c in categorical}
    out: list[ClusterInfo] = []
    for cluster in sorted(set(lab.tolist())):
        mask = lab == cluster
        means = nums[mask].mean()
        effects = [(c, float(d)) for c, d in ((means - pop_mean) / pop_std).items()
                   if np.isfinite(d)]
        tops: dict[str, list[tuple[str, float]]] = {}
        mostly: dict[str, float] = {}
        for col in categorical:
            shares = frame.loc[mask, col].value_counts(normalize=True)
            tops[col] = [(str(k), round(float(v), 4)) for k, v in shares.head(3).items()]
            for level, share in shares.items():
                p = float(pop_shares[col].get(level, 0.0))
                if 0.0 < p < 1.0:
                    effects.append((f"{col}={level}", (float(share) - p) / np.sqrt(p * (1 - p))))
                    mostly[f"{col}={level}"] = float(share)
        phrase = words(effects, feature_labels, shares=mostly, top=top, min_effect=min_effect)
        out.append(ClusterInfo(
            cluster=int(cluster), size=int(mask.sum()), share=round(float(mask.sum()) / n, 4),
            means={c: (None if pd.isna(v) else round(float(v), 4)) for c, v in means.items()},
            top_categories=tops,
            distinctive=[(k, round(v, 3)) for k, v in
                         sorted(effects, key=lambda kv: -abs(kv[1]))[:top]],
            description=phrase,
        ))
    return out
