"""Bootstrap confidence intervals for attribution credits.

Journeys (a conversion's path, or a person's touches that led nowhere) are resampled with
Poisson(1) weights (the Poisson bootstrap: each journey appears k ~ Poisson(1) times), and
every model is credited again on each replicate: the rule models by re-weighting their
per-conversion credits, the Markov model by refitting the chain on the re-weighted transition
counts. The interval is the percentile interval of the replicates. One weight vector per
replicate serves all models, so their intervals are comparable.

Example:
    >>> import pyarrow as pa
    >>> journeys = pa.table({"journey": ["c1", "c1", "c2", "c2", "p1", "p1"],
    ...     "from_state": ["(start)", "a", "(start)", "b", "(start)", "b"],
    ...     "to_state": ["a", "(conversion)", "b", "(conversion)", "b", "(null)"],
    ...     "n": [1, 1, 1, 1, 1, 1]})
    >>> per_conv = pa.table({"conversion_id": ["c1", "c2"], "channel": ["a", "b"],
    ...                      "last_touch": [1.0, 1.0], "last_touch_revenue": [10.0, 5.0]})
    >>> ci = intervals(per_conv, journeys, ["channel"], ["last_touch"], 0.9, 200, seed=1)
    >>> ci[("a",)]["last_touch"][0] >= 0.0, sorted(ci[("a",)])
    (True, ['last_touch', 'last_touch_revenue', 'markov', 'markov_revenue'])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from aidmp.campaigns.markov import MarkovAttribution

Interval = list[float]


def intervals(per_conv: pa.Table, journeys: pa.Table, keys: Sequence[str],
              models: Sequence[str], level: float, n_boot: int, seed: int = 0,
              ) -> dict[tuple[object, ...], dict[str, Interval]]:
    """Percentile intervals of credited conversions and revenue per group and model.

    Args:
        per_conv: one row per (conversion, group): ``conversion_id``, the ``keys`` and the
            ``<model>`` and ``<model>_revenue`` credits of the rule models.
        journeys: per-journey transition counts (:func:`~aidmp.campaigns.attribution.
            transitions` with ``per_journey=True``); conversion journeys are conversion ids.
        keys: the group columns; Markov intervals are added when they are just ``channel``.
        models: the rule models to resample.
        level: confidence level, e.g. 0.95.
        n_boot: replicates.
        seed: makes the intervals reproducible.
    """
    rng = np.random.default_rng(seed)
    journey_ids, j_index = np.unique(np.asarray(journeys["journey"].to_pylist(), dtype=object),
                                     return_inverse=True)
    position = {j: i for i, j in enumerate(journey_ids)}
    conv_index = np.array([position[c] for c in per_conv["conversion_id"].to_pylist()],
                          dtype=np.int64)
    groups = list(zip(*(per_conv[k].to_pylist() for k in keys), strict=True))
    names = sorted(set(groups), key=lambda g: tuple(str(x) for x in g))
    g_pos = {g: i for i, g in enumerate(names)}
    g_index = np.array([g_pos[g] for g in groups], dtype=np.int64)
    columns = [c for m in models for c in (m, f"{m}_revenue")]
    values = {c: np.nan_to_num(per_conv[c].to_numpy(zero_copy_only=False).astype(float))
              for c in columns}
    markov = list(keys) == ["channel"]
    if markov:
        # revenue of a conversion journey: any rule model's revenue credits sum to it
        revenue = np.bincount(conv_index, weights=values[f"{models[0]}_revenue"],
                              minlength=len(journey_ids))
        is_conv = np.zeros(len(journey_ids), dtype=bool)
        is_conv[conv_index] = True
        pair = list(zip(journeys["from_state"].to_pylist(), journeys["to_state"].to_pylist(),
                        strict=True))
        pairs = sorted(set(pair))
        p_pos = {p: i for i, p in enumerate(pairs)}
        p_index = np.array([p_pos[p] for p in pair], dtype=np.int64)
        counts = journeys["n"].to_numpy().astype(float)
    reps: dict[str, list[np.ndarray]] = {c: [] for c in columns}
    if markov:
        reps["markov"], reps["markov_revenue"] = [], []
    for _ in range(n_boot):
        w = rng.poisson(1.0, len(journey_ids)).astype(float)
        wc = w[conv_index]
        for c in columns:
            reps[c].append(np.bincount(g_index, weights=wc * values[c], minlength=len(names)))
        if markov:
            n = np.bincount(p_index, weights=counts * w[j_index], minlength=len(pairs))
            chain = MarkovAttribution().fit([f for f, _ in pairs], [t for _, t in pairs],
                                            n.tolist())
            share = np.array([chain.shares_.get(str(g[0]), 0.0) for g in names])
            reps["markov"].append(share * w[is_conv].sum())
            reps["markov_revenue"].append(share * float((w * revenue)[is_conv].sum()))
    tail = (1.0 - level) / 2.0 * 100.0
    out: dict[tuple[object, ...], dict[str, Interval]] = {g: {} for g in names}
    for c, rows in reps.items():
        lo, hi = np.percentile(np.vstack(rows), [tail, 100.0 - tail], axis=0)
        for i, g in enumerate(names):
            out[g][c] = [round(float(lo[i]), 6), round(float(hi[i]), 6)]
    return out

