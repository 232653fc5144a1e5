"""Query-parameter types shared by the routes: bounded, so a value out of range is a 400 naming
the parameter before any work (issue 16), never an overflow deep inside a query.

Example:
    >>> from pydantic import TypeAdapter
    >>> TypeAdapter(When).validate_python("2026-12-07T10:00:00Z").year
    2026
    >>> try:
    ...     TypeAdapter(When).validate_python("9999-12-31T00:00:00")
    ... except ValueError as exc:
    ...     print(exc.errors()[0]["msg"])
    Value error, must lie between the years 1900 and 2200
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Query
from pydantic import AfterValidator


def _plausible(when: datetime) -> datetime:
    if not 1900 <= when.year <= 2200:
        raise ValueError("must lie between the years 1900 and 2200")
    # an offset such as +23:59 is valid ISO 8601 but not every engine takes it: UTC it is
    return when.astimezone(UTC) if when.tzinfo is not None else when


#: a point in time given as a query parameter (date arithmetic on it cannot overflow)
When = Annotated[datetime, AfterValidator(_plausible)]

#: a look-back window in days: positive, finite, at most ten years
DAYS = Query(30.0, gt=0, le=3650, allow_inf_nan=False)

#: a page number
PAGE = Query(1, ge=1, le=1_000_000)

__all__ = ["DAYS", "PAGE", "When"]
