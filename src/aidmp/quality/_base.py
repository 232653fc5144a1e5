"""The result type shared by the normalisers, and the texts that mean "no value".

Example:
    >>> Invalid("missing @", "jane.example.com").reason
    'missing @'
    >>> is_blank(" N/A "), is_blank("0")
    (True, False)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

__all__ = ["NULL_TOKENS", "Invalid", "is_blank"]


@dataclass(frozen=True, slots=True)
class Invalid:
    """A value a normaliser refused: why, and the value as it came in."""

    reason: str
    value: object = None


#: Texts that spreadsheets, CRMs and exports use to mean "no value".
NULL_TOKENS: Final = frozenset({
    "", "null", "none", "nil", "nan", "n/a", "na", "n.a.", "-", "--", "?", "unknown",
    "undefined", "#n/a", "(null)", "(blank)",
})


def is_blank(value: object) -> bool:
    """Whether ``value`` is None, NaN or a text meaning "no value"."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().casefold() in NULL_TOKENS
