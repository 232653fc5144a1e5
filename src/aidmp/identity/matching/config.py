"""What a probabilistic matching run does: sources, comparisons, blocking, thresholds.

A :class:`MatchingConfig` is plain data (YAML / JSON file, CLI flags, REST body). Every part
is optional: what is left out is derived from the records themselves (see
:mod:`aidmp.identity.matching.defaults`): the sources that carry person traits, a comparison
for each recognised name, address, date and contact field, and blocking rules on pairs of
those fields.

Example:
    >>> cfg = MatchingConfig.model_validate({
    ...     "sources": ["shop_a", "shop_b"], "one_to_one": True,
    ...     "comparisons": [{"field": "surname", "type": "jaro_winkler",
    ...                      "thresholds": [0.92, 0.8]},
    ...                     {"field": "postcode", "type": "postcode"}],
    ...     "blocking": [["surname", "postcode"]]})
    >>> cfg.comparisons[0].type, cfg.threshold
    ('jaro_winkler', 0.95)
    >>> parse_config({"threshold": 0.5, "review_threshold": 0.9})
    Traceback (most recent call last):
    ...
    aidmp.errors.ValidationError: review_threshold: must be at most threshold (0.5), got 0.9
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, field_validator, model_validator

from aidmp.errors import ValidationError
from aidmp.spec.strict import StrictModel

ComparisonType = Literal["exact", "name", "jaro_winkler", "levenshtein", "damerau_levenshtein",
                         "date", "numeric", "postcode", "email"]
Mode = Literal["auto", "link_only", "dedupe_only", "link_and_dedupe"]
COMPARISON_TYPES: tuple[str, ...] = ComparisonType.__args__  # type: ignore[attr-defined]


class ComparisonSpec(StrictModel):
    """How one field is compared (Splink comparison levels from exact to anything else)."""

    field: str = Field(min_length=1, max_length=64)
    """Trait name as stored (``surname``) or a recognised field (``last_name``)."""
    type: ComparisonType = "exact"
    """``exact``; ``name`` / ``jaro_winkler`` (similarity levels); ``levenshtein`` /
    ``damerau_levenshtein`` (edit-distance levels); ``date`` (exact, one edit, then day, month
    and year differences); ``numeric`` (absolute differences); ``postcode`` (exact, one edit,
    then a shared prefix); ``email`` (exact, then user name, then similarity)."""
    thresholds: list[float] | None = None
    """Level thresholds: similarities in (0, 1] for ``jaro_winkler`` / ``name``, edit distances
    for the edit-distance types, differences for ``numeric``, prefix lengths for ``postcode``,
    years for ``date``; None: the type's defaults."""
    term_frequency: bool = False
    """Weight an exact agreement on a rare value above one on a common value."""

    @model_validator(mode="after")
    def _thresholds(self) -> ComparisonSpec:
        ts = self.thresholds
        if ts is None:
            return self
        if not ts:
            raise ValueError("thresholds: give at least one value, or leave it out")
        if self.type in ("exact", "email"):
            raise ValueError(f"thresholds: a {self.type} comparison takes none")
        if self.type in ("jaro_winkler", "name") and not all(0 < t <= 1 for t in ts):
            raise ValueError(f"thresholds: similarities must lie in (0, 1], got {ts}")
        if self.type in ("levenshtein", "damerau_levenshtein", "postcode") and not all(
                t >= 1 and float(t).is_integer() for t in ts):
            raise ValueError(f"thresholds: {self.type} takes whole numbers >= 1, got {ts}")
        if self.type in ("numeric", "date") and not all(t > 0 for t in ts):
            raise ValueError(f"thresholds: {self.type} differences must be > 0, got {ts}")
        return self


class MatchingConfig(StrictModel):
    """A probabilistic matching run (``aidmp identity match --config m.yaml``)."""

    sources: list[str] | None = None
    """Sources whose records are matched (None: every source whose events carry person
    traits)."""
    left: list[str] | None = None
    """Sources on the left of a link (the rest of ``sources`` are the right). None: each source
    is a side of its own."""
    mode: Mode = "auto"
    """``link_only`` (pairs across sides), ``dedupe_only`` (pairs within the records, sides
    ignored), ``link_and_dedupe`` (both); ``auto``: ``link_only`` with two sides or more,
    else ``dedupe_only``."""
    comparisons: list[ComparisonSpec] | None = None
    """Fields compared and how (None: one comparison per recognised field present)."""
    extra_comparisons: list[ComparisonSpec] = Field(default_factory=list)
    """Comparisons added to the automatic ones (a field the defaults do not recognise)."""
    blocking: list[list[str]] | None = None
    """Blocking rules, each a list of fields that must agree exactly for a pair to be scored
    (None: pairs of fields that keep the comparisons within ``max_block_pairs``)."""
    max_block_pairs: int | None = Field(default=None, ge=100)
    """Most pairs one automatic blocking rule may generate (None: five per record, at least
    10,000)."""
    threshold: float = Field(default=0.95, gt=0, le=1)
    """Match probability from which a pair becomes an active link."""
    review_threshold: float = Field(default=0.80, gt=0, le=1)
    """Match probability from which a pair is listed for review."""
    prior: float | None = Field(default=None, gt=0, lt=1)
    """Probability that two random records match (None: estimated by random sampling)."""
    one_to_one: bool = False
    """Between two sides, each record links to at most one record of the other side (its
    best-scoring partner): for two lists of one record per person."""
    max_pairs: int = Field(default=1_000_000, ge=10_000, le=100_000_000)
    """Random pairs sampled to estimate the u probabilities."""
    seed: int = 42
    """Seed of that sampling (the same data and seed give the same model)."""

    @field_validator("sources", "left")
    @classmethod
    def _names(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and (not v or any(not s.strip() for s in v)):
            raise ValueError("give at least one non-empty source name, or leave it out")
        return v

    @field_validator("blocking")
    @classmethod
    def _rules(cls, v: list[list[str]] | None) -> list[list[str]] | None:
        if v is not None and (not v or any(not rule for rule in v)):
            raise ValueError("each blocking rule names at least one field, e.g. "
                             "[[surname, postcode]]")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> MatchingConfig:
        if self.review_threshold > self.threshold:
            raise ValueError(f"review_threshold: must be at most threshold ({self.threshold}),"
                             f" got {self.review_threshold}")
        if self.left and self.sources and not set(self.left) <= set(self.sources):
            extra = sorted(set(self.left) - set(self.sources))
            raise ValueError(f"left: {extra} not among sources {self.sources}")
        if self.mode == "dedupe_only" and self.one_to_one:
            raise ValueError("one_to_one: needs two sides (mode link_only)")
        return self


def parse_config(data: dict[str, object]) -> MatchingConfig:
    """A :class:`MatchingConfig` from plain data, errors as one :class:`ValidationError`.

    Example:
        >>> parse_config({"treshold": 0.9})
        Traceback (most recent call last):
        ...
        aidmp.errors.ValidationError: treshold: Extra inputs are not permitted
    """
    import pydantic

    try:
        return MatchingConfig.model_validate(data)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        msg = str(err["msg"]).removeprefix("Value error, ")
        where = ".".join(str(p) for p in err["loc"])
        head, sep, rest = msg.partition(": ")
        if sep and head.isidentifier():  # our validators start with the field they blame
            where, msg = ".".join(filter(None, [where, head])), rest
        raise ValidationError(msg, field=where or "config") from None


def load_config(path: Path) -> MatchingConfig:
    """A :class:`MatchingConfig` from a YAML or JSON file.

    Raises:
        ValidationError: the file is missing, unreadable or breaks a rule (naming the field).
    """
    if not path.exists():
        raise ValidationError(f"{path} not found", field="config")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{path} is not YAML or JSON: {exc}", field="config") from None
    if not isinstance(data, dict):
        raise ValidationError(f"{path} must hold a mapping (sources:, comparisons:, ...)",
                              field="config")
    return parse_config(data)


__all__ = ["COMPARISON_TYPES", "ComparisonSpec", "MatchingConfig", "load_config",
           "parse_config"]
