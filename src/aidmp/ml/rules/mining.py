"""Frequent itemsets (through mlxtend) and arules-style rule generation on integer counts.

Itemsets come from mlxtend's ``fpgrowth`` or ``apriori``. mlxtend compares *float* supports
with ``>=``, while arules (Borgelt's apriori 4.21, ``istree.c``) keeps a set when its count is at
least ``ceil(n * supp)``; the two can disagree when ``n * supp`` is (nearly) an integer. So the
library is asked for a little more (half a basket below the threshold) and the exact count test
is applied here.

Rules are generated here, not with mlxtend's ``association_rules``: that one enumerates every
split of an itemset (multi-item consequents), never yields empty antecedents and filters on
float ratios. arules' ``apriori()`` makes one rule per item of a frequent set, with that single
item as the consequent (``{} => {x}`` for sets of one item, confidence = support), and keeps it
when ``count(set) / count(lhs) >= minconf - 1e-12``, exactly as below.

Example:
    >>> import scipy.sparse as sp
    >>> m = sp.csr_matrix([[1, 1, 0], [1, 1, 1], [1, 0, 0], [0, 1, 1]], dtype=bool)
    >>> levels = frequent_itemsets(m, min_count=2, max_len=3)
    >>> {k: lv.ids.tolist() for k, lv in levels.items()}
    {1: [[0], [1], [2]], 2: [[0, 1], [1, 2]]}
    >>> rules = generate_rules(levels, 4, min_confidence=0.6, min_len=2, max_len=3)
    >>> rules.antecedents.tolist(), rules.consequents.tolist(), rules.counts.tolist()
    ([[1], [2], [0], [1]], [0, 1, 1, 2], [2, 2, 2, 2])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from mlxtend.frequent_patterns import apriori, fpgrowth

Algorithm = Literal["fpgrowth", "apriori"]
IntArray = np.ndarray  # int64 arrays; a plain alias keeps the signatures readable

# arules' confidence tolerance (istree.c: ``c < ist->conf - EPSILON`` rejects a rule).
CONF_EPSILON = 1e-12
# Above this many cells the one-hot frame handed to mlxtend stays sparse.
_DENSE_CELLS = 50_000_000


@dataclass(frozen=True)
class Level:
    """All frequent itemsets of one size ``k``: sorted item ids (rows) and their counts."""

    ids: IntArray  # (N, k), each row ascending
    counts: IntArray  # (N,)


@dataclass(frozen=True)
class RuleArrays:
    """Rules as arrays; ``antecedents`` is padded with -1 to the longest antecedent."""

    antecedents: IntArray  # (R, L)
    consequents: IntArray  # (R,)
    counts: IntArray  # count of antecedent + consequent
    lhs_counts: IntArray
    rhs_counts: IntArray


def min_count_for(min_support: float, n_baskets: int) -> int:
    """arules' absolute threshold: ``(int)ceil(tacnt * supp)`` on doubles, at least 1."""
    return max(1, int(np.ceil(n_baskets * min_support)))


def frequent_itemsets(
    matrix: sp.csr_matrix, min_count: int, max_len: int, algorithm: Algorithm = "fpgrowth"
) -> dict[int, Level]:
    """Itemsets bought together in at least ``min_count`` baskets, up to ``max_len`` items.

    Returns:
        ``{k: Level}`` for every size ``k`` that has frequent sets (none when nothing qualifies).
    """
    n = int(matrix.shape[0])
    item_counts = np.asarray(matrix.sum(axis=0)).ravel().astype(np.int64)
    keep = np.flatnonzero(item_counts >= min_count)
    if keep.size == 0 or min_count > n:
        return {}
    # Infrequent items cannot be in any frequent set: dropping their columns first keeps the
    # one-hot frame small, which matters for apriori's dense candidate counting.
    sub = matrix[:, keep]
    if n * keep.size <= _DENSE_CELLS:
        onehot = pd.DataFrame(sub.toarray(), columns=range(keep.size))
    else:
        onehot = pd.DataFrame.sparse.from_spmatrix(sub, columns=range(keep.size))
    slack = (min_count - 0.5) / n
    if algorithm == "apriori":
        found = apriori(onehot, min_support=slack, max_len=max_len, low_memory=True)
    else:
        found = fpgrowth(onehot, min_support=slack, max_len=max_len)
    counts = np.rint(found["support"].to_numpy(dtype=float) * n).astype(np.int64)
    sets = [sorted(s) for s in found["itemsets"]]
    grouped: dict[int, tuple[list[list[int]], list[int]]] = {}
    for items, count in zip(sets, counts.tolist(), strict=True):
        if count >= min_count:
            rows, cnts = grouped.setdefault(len(items), ([], []))
            rows.append(items)
            cnts.append(count)
    levels: dict[int, Level] = {}
    for k in sorted(grouped):
        rows, cnts = grouped[k]
        ids = keep[np.asarray(rows, dtype=np.int64).reshape(len(rows), k)]
        order = np.lexsort(ids.T[::-1])  # rows in lexicographic order: stable output
        levels[k] = Level(ids[order], np.asarray(cnts, dtype=np.int64)[order])
    return levels


def levels_from_itemsets(itemsets: list[tuple[tuple[str, ...], int]], labels: list[str],
                         min_count: int, max_len: int) -> dict[int, Level]:
    """Levels from itemsets counted elsewhere (Spark MLlib's FP-growth): labels mapped to the
    positions of ``labels`` (sorted), each level in lexicographic order, sets below
    ``min_count`` or above ``max_len`` items left out.

    Example:
        >>> lv = levels_from_itemsets([(("b",), 3), (("a", "b"), 2), (("a",), 2)],
        ...                           ["a", "b"], 2, 3)
        >>> {k: (v.ids.tolist(), v.counts.tolist()) for k, v in lv.items()}
        {1: ([[0], [1]], [2, 3]), 2: ([[0, 1]], [2])}
    """
    pos = {label: i for i, label in enumerate(labels)}
    grouped: dict[int, tuple[list[list[int]], list[int]]] = {}
    for items, count in itemsets:
        if count >= min_count and 0 < len(items) <= max_len:
            rows, cnts = grouped.setdefault(len(items), ([], []))
            rows.append(sorted(pos[i] for i in items))
            cnts.append(int(count))
    levels: dict[int, Level] = {}
    for k in sorted(grouped):
        rows, cnts = grouped[k]
        ids = np.asarray(rows, dtype=np.int64).reshape(len(rows), k)
        order = np.lexsort(ids.T[::-1])
        levels[k] = Level(ids[order], np.asarray(cnts, dtype=np.int64)[order])
    return levels


def _row_keys(ids: IntArray) -> np.ndarray:
    """One opaque, comparable key per row (its bytes), for vectorised equality lookups."""
    rows = np.ascontiguousarray(ids, dtype=np.int64)
    return rows.view(np.dtype((np.void, 8 * max(rows.shape[1], 1)))).ravel()


def _lookup(level: Level, queries: IntArray) -> IntArray:
    """Counts of ``queries`` (rows of item ids), all of which are frequent sets of ``level``."""
    keys = _row_keys(level.ids)
    order = np.argsort(keys, kind="stable")
    wanted = _row_keys(queries)
    pos = order[np.searchsorted(keys[order], wanted)]
    # Every subset of a frequent set is frequent (anti-monotone support): always found.
    assert bool(np.all(keys[pos] == wanted)), "antecedent missing from the frequent sets"
    return level.counts[pos]


def generate_rules(
    levels: dict[int, Level],
    n_baskets: int,
    min_confidence: float,
    min_len: int = 1,
    max_len: int = 10,
) -> RuleArrays:
    """Single-consequent rules from frequent sets of ``min_len..max_len`` items (whole rule)."""
    item_counts = np.zeros(0, dtype=np.int64)
    if 1 in levels:
        lv1 = levels[1]
        item_counts = np.zeros(int(lv1.ids.max()) + 1, dtype=np.int64)
        item_counts[lv1.ids[:, 0]] = lv1.counts
    width = max((k for k in levels if min_len <= k <= max_len), default=1) - 1
    parts: list[tuple[IntArray, IntArray, IntArray, IntArray]] = []
    for k in sorted(levels):
        if not min_len <= k <= max_len:
            continue
        lv = levels[k]
        for j in range(k):
            lhs = np.delete(lv.ids, j, axis=1)
            lhs_counts = (np.full(lv.counts.size, n_baskets, dtype=np.int64) if k == 1
                          else _lookup(levels[k - 1], lhs))
            ok = lv.counts / lhs_counts >= min_confidence - CONF_EPSILON
            padded = np.full((int(ok.sum()), width), -1, dtype=np.int64)
            padded[:, : k - 1] = lhs[ok]
            parts.append((padded, lv.ids[ok, j], lv.counts[ok], lhs_counts[ok]))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return RuleArrays(np.zeros((0, width), dtype=np.int64), empty, empty, empty, empty)
    ante, cons, counts, lhs_counts = (np.concatenate(p) for p in zip(*parts, strict=True))
    return RuleArrays(ante, cons, counts, lhs_counts, item_counts[cons])


def rule_metrics(rules: RuleArrays, n_baskets: int) -> dict[str, np.ndarray]:
    """support, confidence, lift, leverage and conviction of each rule.

    Ratios of integer products are divided once, so rules whose lifts are equal as fractions
    get bit-identical floats and tie-breaking stays deterministic.
    """
    n = float(n_baskets)
    count = rules.counts.astype(np.float64)
    lhs = rules.lhs_counts.astype(np.float64)
    rhs = rules.rhs_counts.astype(np.float64)
    confidence = count / lhs
    rhs_support = rhs / n
    exact = rules.counts == rules.lhs_counts
    denominator = np.where(exact, 1.0, 1.0 - confidence)
    conviction = np.where(exact, np.inf, (1.0 - rhs_support) / denominator)
    return {
        "support": count / n,
        "confidence": confidence,
        "lift": (count * n) / (lhs * rhs),
        "leverage": count / n - (lhs / n) * rhs_support,
        "conviction": conviction,
    }


def rank_order(metrics: dict[str, np.ndarray], antecedents: IntArray,
               consequents: IntArray) -> IntArray:
    """Lift, then confidence, then support (all descending), then the items themselves."""
    item_keys = [consequents, *antecedents.T[::-1]]  # lexsort: last key is the primary one
    return np.lexsort((*item_keys, -metrics["support"], -metrics["confidence"],
                       -metrics["lift"]))
