"""Removal-effect attribution over a first-order Markov chain of channel transitions.

Example:
    >>> m = MarkovAttribution().fit(["(start)", "search", "(start)"],
    ...                             ["search", "(conversion)", "(null)"], [2, 1, 1])
    >>> round(m.conversion_rate_, 2), m.shares_
    (0.67, {'search': 1.0})
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np

from aidmp.errors import ValidationError

START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"

__all__ = ["CONVERSION", "NULL", "START", "MarkovAttribution"]


class MarkovAttribution:
    """Removal-effect attribution over a first-order Markov chain of channel transitions.

    Args:
        min_share: removal effects below this share of the total are reported as 0 (noise).

    Attributes:
        states_: the channels, in matrix order.
        conversion_rate_: probability of reaching a conversion from the start.
        removal_effects_: channel -> relative drop of the conversion probability without it.
        shares_: channel -> removal effect normalised to sum to 1.
    """

    def __init__(self, min_share: float = 0.0) -> None:
        self.min_share = min_share

    def fit(self, from_state: Sequence[str], to_state: Sequence[str],
            counts: Sequence[float]) -> Self:
        """Learn the chain from transition counts (``(start)`` -> channel ... -> terminal)."""
        if not len(from_state) == len(to_state) == len(counts):
            raise ValidationError("from_state, to_state and counts must have the same length",
                                  field="counts")
        special = {START, CONVERSION, NULL}
        channels = sorted({s for s in (*from_state, *to_state) if s not in special})
        self.states_ = channels
        index = {s: i for i, s in enumerate([START, *channels])}
        k = len(index)
        q = np.zeros((k, k))  # transient -> transient
        r = np.zeros((k, 2))  # transient -> (conversion, null)
        for f, t, c in zip(from_state, to_state, counts, strict=True):
            if f in (CONVERSION, NULL):
                raise ValidationError(f"terminal state {f!r} cannot be a from_state",
                                      field="from_state")
            if t == START:
                raise ValidationError("(start) cannot be a to_state", field="to_state")
            if t in (CONVERSION, NULL):
                r[index[f], 0 if t == CONVERSION else 1] += c
            else:
                q[index[f], index[t]] += c
        totals = q.sum(axis=1) + r.sum(axis=1)
        # a channel never left (no outgoing count) ends its journeys without converting
        r[totals == 0, 1] = 1.0
        totals[totals == 0] = 1.0
        q, r = q / totals[:, None], r / totals[:, None]
        base = self._p_convert(q, r)
        self.conversion_rate_ = base
        effects: dict[str, float] = {}
        for ch in channels:
            i = index[ch]
            q2, r2 = q.copy(), r.copy()
            r2[:, 1] += q2[:, i]  # every move into the removed channel now ends the journey
            q2[:, i] = 0.0
            effects[ch] = 0.0 if base <= 0 else max(0.0, 1.0 - self._p_convert(q2, r2) / base)
        self.removal_effects_ = effects
        total = sum(effects.values())
        shares = {c: (e / total if total > 0 else 0.0) for c, e in effects.items()}
        self.shares_ = {c: (s if s >= self.min_share else 0.0) for c, s in shares.items()}
        return self

    @staticmethod
    def _p_convert(q: np.ndarray, r: np.ndarray) -> float:
        # absorbing-chain probabilities B = (I - Q)^-1 R; lstsq copes with loops that never end
        b = np.linalg.lstsq(np.eye(len(q)) - q, r[:, 0], rcond=None)[0]
        return float(b[0])
