"""Identity-resolution rules: which identifiers exist, their priority, limits and blocked values.

The defaults follow the Segment Unify model: ``user_id`` is the strongest identifier and a
profile holds at most one; e-mails, phones, devices and anonymous ids attach to it up to a limit.
A merge that would break a limit-1 identifier (two ``user_id`` values) splits the component by
that identifier; a merge that would exceed a larger limit detaches the lowest-priority,
latest-seen identifiers. Values used by too many others (a shop's shared e-mail, ``0``) link
nothing.

Example:
    >>> rules = IdentityRules()
    >>> [t.name for t in rules.ordered_types()][:3]
    ['user_id', 'crm_id', 'email']
    >>> rules.type("email").limit
    5
    >>> IdentityRules(types=[{"name": "user_id", "priority": 1, "paths": ["user_id"],
    ...                       "limt": 1}])
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for IdentityRules
    types.0.limt
      Extra inputs are not permitted ...
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from aidmp.errors import ValidationError
from aidmp.spec.strict import StrictModel

Normaliser = Literal["none", "lower", "email", "phone"]
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_PATH = re.compile(r"^(user_id|anonymous_id|previous_id|group_id|"
                   r"(traits|context|properties)(\.[A-Za-z0-9_$-]+)+)$")


class IdentifierType(StrictModel):
    """One kind of identifier and where it is found in events."""

    name: str
    """Identifier type name (``email``), lower-case letters, digits, underscores."""
    priority: int = Field(ge=1)
    """1 is the strongest; decides splits, trimming and which identifier names a profile."""
    limit: int | None = Field(default=None, ge=1)
    """Most values of this type one profile may hold (None: no limit)."""
    paths: list[str] = Field(min_length=1)
    """Event fields holding it: a column (``user_id``) or a JSON path (``traits.email``)."""
    normalize: Normaliser = "none"
    """How values are normalised before matching."""
    sources: list[str] | None = None
    """Only events of these sources carry it (None: every source)."""
    exclude_sources: list[str] = Field(default_factory=list)
    """Events of these sources never carry it."""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("use lower-case letters, digits and underscores, e.g. 'loyalty_id'")
        return v

    @field_validator("paths")
    @classmethod
    def _paths(cls, v: list[str]) -> list[str]:
        for p in v:
            if not _PATH.match(p):
                raise ValueError(f"{p!r} is not an event field; use user_id, anonymous_id, "
                                 "previous_id, group_id or traits.X / context.X.Y / properties.X")
        return v


def split_identifier(text: str, field: str = "id") -> tuple[str, str]:
    """``email:ann@x.com`` -> (``email``, ``ann@x.com``), the form every lookup takes.

    Raises:
        ValidationError: no ``TYPE:VALUE`` shape (naming ``field``).

    Example:
        >>> split_identifier("user_id:42")
        ('user_id', '42')
    """
    id_type, sep, value = text.partition(":")
    if not sep or not id_type or not value:
        raise ValidationError(f"expected TYPE:VALUE such as email:ann@x.com, got {text!r}",
                              field=field)
    return id_type, value


def _defaults() -> list[IdentifierType]:
    return [
        IdentifierType(name="user_id", priority=1, limit=1, paths=["user_id"]),
        # a CRM's customer number, from imports that type it explicitly
        # (``identifiers: {CustomerID: crm_id}``); a source's name never changes a type
        IdentifierType(name="crm_id", priority=2, limit=1,
                       paths=["context.identifiers.crm_id"]),
        IdentifierType(name="email", priority=3, limit=5, normalize="email",
                       paths=["traits.email", "context.traits.email"]),
        IdentifierType(name="phone", priority=4, limit=3, normalize="phone",
                       paths=["traits.phone", "context.traits.phone"]),
        IdentifierType(name="device_id", priority=5, limit=10, paths=["context.device.id"]),
        IdentifierType(name="anonymous_id", priority=6, limit=100, paths=["anonymous_id"]),
    ]


class IdentityRules(StrictModel):
    """The whole rule set (``identity:`` in ``aidmp.yaml``)."""

    types: list[IdentifierType] = Field(default_factory=_defaults)
    """Identifier types, any order; priorities must be distinct."""
    blocked_values: list[str] = Field(default_factory=lambda: [
        "", "null", "none", "nil", "undefined", "anonymous", "unknown", "n/a", "na", "-", "0",
        "test", "guest", "noemail", "no@email", "test@test.com"])
    """Values that never identify anyone (compared after normalisation, case-insensitive)."""
    blocked_patterns: list[str] = Field(default_factory=lambda: [
        r"^0+$", r"^(test|noreply|no-reply|donotreply|null|none)@", r"^\+?1?0{7,}$"])
    """Regular expressions of values that never identify anyone."""
    max_shared: int = Field(default=50, ge=2)
    """An identifier seen with more other identifiers than this is a shared value (a family
    tablet, a shop's till e-mail) and links nothing. Limit-1 types are exempt: conflicts
    between them are split instead."""
    default_region: str = Field(default="US", min_length=2, max_length=2)
    """ISO country used to read phone numbers written without a country code."""
    alias: bool = True
    """Segment / RudderStack ``alias`` calls link their ``previousId`` to the call's own
    identifiers. A previous id is an identifier of whichever type already holds that value in
    some event's ``user_id`` or ``anonymous_id`` (an earlier user id, an anonymous id), and an
    anonymous id when none does; the usual limits apply to it (with one ``user_id`` per
    profile, an alias between two user ids splits instead of merging)."""

    @field_validator("blocked_patterns")
    @classmethod
    def _patterns(cls, v: list[str]) -> list[str]:
        for p in v:
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"{p!r} is not a valid regular expression: {exc}") from None
        return v

    @model_validator(mode="after")
    def _unique(self) -> IdentityRules:
        names = [t.name for t in self.types]
        if len(set(names)) != len(names):
            raise ValueError(f"identifier type names must be unique: {names}")
        prios = [t.priority for t in self.types]
        if len(set(prios)) != len(prios):
            raise ValueError(f"identifier priorities must be distinct: {prios}")
        return self

    def ordered_types(self) -> list[IdentifierType]:
        """Types from the strongest to the weakest."""
        return sorted(self.types, key=lambda t: t.priority)

    def type(self, name: str) -> IdentifierType:
        """The type called ``name``.

        Raises:
            ValidationError: unknown type (the message lists the valid ones).
        """
        for t in self.types:
            if t.name == name:
                return t
        valid = ", ".join(t.name for t in self.ordered_types())
        raise ValidationError(f"unknown identifier type {name!r}; valid types: {valid}",
                              field="id_type")
