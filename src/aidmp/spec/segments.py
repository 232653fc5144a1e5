"""Segment rules as plain data: the JSON spec the rule language parses to.

A rule is a tree of conditions. Leaves compare a profile trait, count or sum a person's events,
check a consent or membership of another segment; ``and`` / ``or`` / ``not`` combine them. The
API accepts the spec directly; the rule text (``aidmp.segments.parser``) is a friendlier way to
write the same thing.

Example:
    >>> spec = SegmentSpec.model_validate({"condition": {
    ...     "kind": "and", "conditions": [
    ...         {"kind": "trait", "trait": "age", "op": ">=", "value": 25},
    ...         {"kind": "event", "event": "Order Completed", "within": "30d"}]}})
    >>> spec.condition.conditions[1].within
    '30d'
    >>> duration_seconds("2w")
    1209600
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from aidmp.spec.strict import StrictModel

Scalar = str | float | int | bool
Value = Scalar | list[Scalar] | None
CompareOp = Literal["=", "!=", ">", ">=", "<", "<="]
TraitOp = Literal["=", "!=", ">", ">=", "<", "<=", "in", "not in", "between", "contains",
                  "is null", "is not null"]
_DURATION = re.compile(r"^([1-9][0-9]{0,5})([mhdw])$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
# Event property paths reach JSON by name; limiting them to identifiers keeps the JSON path
# free of quoting questions on both engines.
_IDENT = r"[A-Za-z_][A-Za-z0-9_]{0,63}"
PROPERTY_PATH = re.compile(rf"^(item\.)?{_IDENT}(\.{_IDENT})*$")
MAX_DURATION_S = 100 * 366 * 86400


def duration_seconds(text: str) -> int:
    """Seconds in a duration such as ``30d``, ``12h``, ``2w`` or ``15m``.

    Raises:
        ValueError: not a duration (the message says the valid form).
    """
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"bad duration {text!r}; write a whole number and a unit m, h, d or w "
                         "(e.g. 30d, 12h, 2w)")
    seconds = int(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    if seconds > MAX_DURATION_S:
        raise ValueError(f"duration {text!r} is longer than 100 years")
    return seconds


def _check_duration(value: str | None) -> str | None:
    if value is not None:
        duration_seconds(value)
    return value


class TraitCondition(StrictModel):
    """A profile column compared with a value (``age between 25 and 35``)."""

    kind: Literal["trait"] = "trait"
    trait: str = Field(min_length=1, max_length=128)
    """Column of ``profiles`` (``interest("Sci-Fi")`` is the column ``interest_sci_fi``)."""
    op: TraitOp
    """Comparison; ``in``/``not in`` take a list, ``between`` a pair, ``is null`` no value."""
    value: Value = None
    """What to compare with."""


class PropertyFilter(StrictModel):
    """A filter on one property of an event (``revenue > 50``, ``item.category = "Books"``)."""

    property: str = Field(pattern=PROPERTY_PATH.pattern)
    """Property name; ``item.<field>`` reads the catalog item the event's ``item_id`` names."""
    op: TraitOp
    value: Value = None


class EventCondition(StrictModel):
    """How many matching events a person has (``event("Order Completed", within=30d)``)."""

    kind: Literal["event"] = "event"
    event: str = Field(min_length=1, max_length=200)
    """Track event name."""
    within: str | None = None
    """Only events this recent (duration such as ``30d``); None means all time."""
    count_op: CompareOp = ">="
    count: int = Field(default=1, ge=0, le=10**9)
    """The number of matching events must satisfy ``count_op count`` (default: at least one)."""
    where: list[PropertyFilter] = Field(default_factory=list, max_length=32)
    """Property filters, all of which an event must pass."""

    _within = field_validator("within")(_check_duration)


class AggregateCondition(StrictModel):
    """An aggregate of a numeric event property (``sum("Order Completed", "revenue") > 500``)."""

    kind: Literal["aggregate"] = "aggregate"
    fn: Literal["sum", "avg", "min", "max", "count"]
    event: str = Field(min_length=1, max_length=200)
    property: str | None = Field(default=None, pattern=PROPERTY_PATH.pattern)
    """Numeric property aggregated (not used by ``count``)."""
    within: str | None = None
    where: list[PropertyFilter] = Field(default_factory=list, max_length=32)
    op: CompareOp
    value: float

    _within = field_validator("within")(_check_duration)


class ConsentCondition(StrictModel):
    """The person granted consent for a purpose (``consent("email")``)."""

    kind: Literal["consent"] = "consent"
    purpose: str = Field(min_length=1, max_length=64)


class SegmentCondition(StrictModel):
    """The person is currently a member of another segment (``in_segment("vip")``)."""

    kind: Literal["in_segment"] = "in_segment"
    segment: str = Field(min_length=1, max_length=128)


class AndCondition(StrictModel):
    """Every sub-condition holds."""

    kind: Literal["and"] = "and"
    conditions: list[Condition] = Field(min_length=1, max_length=256)


class OrCondition(StrictModel):
    """At least one sub-condition holds."""

    kind: Literal["or"] = "or"
    conditions: list[Condition] = Field(min_length=1, max_length=256)


class NotCondition(StrictModel):
    """The sub-condition does not hold."""

    kind: Literal["not"] = "not"
    condition: Condition


Condition = Annotated[
    TraitCondition | EventCondition | AggregateCondition | ConsentCondition | SegmentCondition
    | AndCondition | OrCondition | NotCondition,
    Field(discriminator="kind"),
]

for _model in (AndCondition, OrCondition, NotCondition):
    _model.model_rebuild()


class SegmentSpec(StrictModel):
    """A segment rule as data: one root condition."""

    version: Literal[1] = 1
    condition: Condition
