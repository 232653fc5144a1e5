"""What a rule may name: the traits of ``profiles`` with their kinds, and the known segments.

Checks here raise :class:`aidmp.errors.ValidationError` with the place (``at 1:5`` in rule text,
``at condition.conditions[0]`` in a JSON spec) and what would be valid.

Example:
    >>> cat = Catalog(traits={"age": "number", "gender": "text"})
    >>> cat.check_trait("ag", "=", 3, "at 1:1")
    Traceback (most recent call last):
    ...
    aidmp.errors.ValidationError: rule: unknown trait 'ag' at 1:1; did you mean 'age'?
    >>> cat.check_trait("age", ">", "x", "at 1:1")
    Traceback (most recent call last):
    ...
    aidmp.errors.ValidationError: rule: 'age' is a number; compare it with a number (at 1:1)
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import ibis.expr.datatypes as dt

from aidmp.errors import ValidationError

Kind = Literal["number", "text", "boolean", "timestamp", "other"]
FIELD = "rule"
_ORDERED = {">", ">=", "<", "<=", "between"}
# Batch-computed model outputs: a live event cannot change them, so rules using them are batch.
MODEL_PREFIXES = ("rfm_", "p_", "clv_", "churn", "propensity", "score_")
MODEL_TRAITS = {"engagement_score"}


def slug(text: str) -> str:
    """The column suffix of a category: lower-case, non-alphanumerics as ``_``.

    Example:
        >>> slug("Sci-Fi")
        'sci_fi'
    """
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def kind_of(dtype: dt.DataType) -> Kind:
    """The rule-language kind of an ibis type."""
    if dtype.is_boolean():
        return "boolean"
    if dtype.is_numeric():
        return "number"
    if dtype.is_string():
        return "text"
    if dtype.is_timestamp() or dtype.is_date():
        return "timestamp"
    return "other"


def fail(message: str) -> ValidationError:
    """A rule validation error (field ``rule``)."""
    return ValidationError(message, field=FIELD)


def suggest(name: str, valid: Iterable[str], what: str, loc: str) -> ValidationError:
    """``unknown <what> 'x' at <loc>; did you mean 'y'?`` (or the valid names when none is near)."""
    names = sorted(valid)
    near = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if near:
        hint = f"did you mean {near[0]!r}?"
    elif names:
        shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        hint = f"valid: {shown}"
    else:
        hint = f"there are no {what}s yet"
    return fail(f"unknown {what} {name!r} {loc}; {hint}")


def _value_kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    return "other"


@dataclass
class Catalog:
    """The names a rule may use.

    Args:
        traits: profile column -> kind; None skips trait checks (no profiles table yet).
        segments: known segment id -> whether it is real-time; None skips segment checks.
        model_traits: columns that hold model scores (prediction keys).
    """

    traits: dict[str, Kind] | None = None
    segments: dict[str, bool] | None = None
    model_traits: set[str] = field(default_factory=set)

    def is_model_trait(self, name: str) -> bool:
        """Whether a trait is a batch model score rather than a plain trait."""
        return (name in self.model_traits or name in MODEL_TRAITS
                or name.startswith(MODEL_PREFIXES))

    def check_trait(self, name: str, op: str, value: object, loc: str) -> None:
        """Check that a trait exists and that ``op value`` suits its kind."""
        if self.traits is None:
            return
        if name not in self.traits:
            raise suggest(name, self.traits, "trait", loc)
        check_value(name, self.traits[name], op, value, loc)

    def check_segment(self, segment: str, loc: str) -> None:
        """Check that a segment exists."""
        if self.segments is not None and segment not in self.segments:
            raise suggest(segment, self.segments, "segment", loc)


def check_value(name: str, kind: Kind, op: str, value: object, loc: str) -> None:
    """Check that ``op value`` suits a column of ``kind`` (the message names the right type)."""
    if op in ("is null", "is not null"):
        return
    values = value if isinstance(value, list) else [value]
    if op in ("in", "not in") and not isinstance(value, list):
        raise fail(f"{op!r} on {name!r} takes a list of values in parentheses ({loc})")
    if op == "between" and (not isinstance(value, list) or len(value) != 2):
        raise fail(f"'between' on {name!r} takes two values: between A and B ({loc})")
    if op == "contains":
        if kind != "text" or not isinstance(value, str):
            raise fail(f"'contains' needs a text trait and a text value; {name!r} is a "
                       f"{kind} ({loc})")
        return
    if kind == "boolean" and op not in ("=", "!=", "in", "not in"):
        raise fail(f"{name!r} is true or false; compare it with = or != ({loc})")
    if kind == "text" and op in _ORDERED:
        raise fail(f"{name!r} is a text; use =, !=, in, contains or is null ({loc})")
    for v in values:
        got = _value_kind(v)
        if kind == "number" and got != "number":
            raise fail(f"{name!r} is a number; compare it with a number ({loc})")
        if kind == "text" and got != "text":
            raise fail(f"{name!r} is a text; compare it with a quoted text ({loc})")
        if kind == "boolean" and got != "boolean":
            raise fail(f"{name!r} is true or false; compare it with true or false ({loc})")
        if kind == "timestamp" and got != "text":
            raise fail(f"{name!r} is a date-time; compare it with a quoted ISO date such as "
                       f"\"2024-01-31\" ({loc})")
        if kind == "other":
            raise fail(f"{name!r} has a type rules cannot compare; use is null / is not null "
                       f"({loc})")
