"""Evaluation protocols: how to cut interactions into train and test, vectorised.

- :func:`leave_last_out`: each user's latest ``n`` interactions are the test set (next-item).
- :func:`temporal_split`: one global cut-off time; everything after it is the test set.
- :func:`random_split`: a seeded random share of each user's interactions is the test set.

All return ``(train, test)`` over the same id maps, disjoint and together the whole input.

Example:
    >>> import polars as pl
    >>> from aidmp.ml.recommend import Interactions
    >>> df = pl.DataFrame({"user": ["a", "a", "a", "b", "b"], "item": ["x", "y", "z", "x", "y"],
    ...                    "t": [1, 3, 2, 5, 4]})
    >>> train, test = leave_last_out(Interactions.from_frame(df, "user", "item", time_col="t"))
    >>> test.item_ids[test.items].tolist(), train.nnz
    (['y', 'x'], 3)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aidmp.errors import ValidationError
from aidmp.ml.recommend.interactions import IntArray, Interactions

Split = tuple[Interactions, Interactions]


def _rank_within_user(users: IntArray, order: IntArray) -> tuple[IntArray, IntArray]:
    """Position of each pair within its user under ``order`` (a permutation sorted by user
    first), and the user's number of pairs."""
    counts = np.bincount(users, minlength=int(users.max()) + 1 if len(users) else 0)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.empty(len(users), dtype=np.int64)
    rank[order] = np.arange(len(users)) - starts[users[order]]
    return rank, counts[users]


def _need_times(data: Interactions) -> np.ndarray[Any, Any]:
    if data.times is None:
        raise ValidationError("this split needs times; build the Interactions with time_col",
                              field="time_col")
    return data.times


def _check_fraction(fraction: float) -> None:
    if not 0.0 < fraction < 1.0:
        raise ValidationError(f"must be between 0 and 1 (exclusive), got {fraction!r}",
                              field="test_fraction")


def leave_last_out(data: Interactions, n: int = 1, min_train: int = 1) -> Split:
    """Each user's ``n`` latest interactions go to test (ties broken by item position).

    Args:
        data: Interactions with times.
        n: Test interactions per user.
        min_train: Users with fewer than ``n + min_train`` interactions stay wholly in train.
    """
    times = _need_times(data)
    if n < 1 or min_train < 0:
        raise ValidationError(f"need n >= 1 and min_train >= 0, got {n}, {min_train}",
                              field="n")
    # The item position as the last key makes equal timestamps split the same way every run.
    order = np.lexsort((data.items, times, data.users))
    rank, counts = _rank_within_user(data.users, order)
    is_test = (rank >= counts - n) & (counts >= n + min_train)
    return data.subset(~is_test), data.subset(is_test)


def temporal_split(data: Interactions, test_fraction: float = 0.2) -> Split:
    """One global cut-off: the latest ``test_fraction`` of interactions form the test set.

    Test users or items unseen before the cut-off cannot be recommended (cold start); the
    evaluation counts those users only if they also have training interactions.
    """
    _check_fraction(test_fraction)
    times = _need_times(data)
    cutoff = np.quantile(times, 1.0 - test_fraction, method="lower")
    is_test = times > cutoff
    return data.subset(~is_test), data.subset(is_test)


def random_split(data: Interactions, test_fraction: float = 0.2, seed: int = 42) -> Split:
    """A seeded random ``test_fraction`` of every user's interactions (rounded, and at least
    one interaction left in train) goes to test.
    """
    _check_fraction(test_fraction)
    noise = np.random.default_rng(seed).random(data.nnz)
    rank, counts = _rank_within_user(data.users, np.lexsort((noise, data.users)))
    n_test = np.minimum(np.round(counts * test_fraction), counts - 1)
    is_test = rank < n_test
    return data.subset(~is_test), data.subset(is_test)
