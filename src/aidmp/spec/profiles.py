"""How profiles are built: trait merge rules, computed traits, RFM, interests (``profiles:``).

Example:
    >>> cfg = ProfileConfig()
    >>> [c.name for c in cfg.computed][:3]
    ['orders_total', 'revenue_total', 'orders_90d']
    >>> cfg.merge_rule("email").rule
    'latest'
    >>> ComputedTrait(name="x", agg="median")
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for ComputedTrait
    agg
      Input should be 'count', 'sum', 'avg', 'min', 'max', 'first', 'last', 'distinct' or 'top' ...
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from aidmp.spec.strict import StrictModel

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_PROPERTY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*$")


class TraitRule(StrictModel):
    """How one trait's value is chosen when several events set it."""

    trait: str
    """Trait key (``email``, ``first_name``, ``address_city``)."""
    rule: Literal["latest", "first", "max", "min", "source_priority", "union"] = "latest"
    """latest / first by time, max / min value, the first source in ``sources``, or the union
    of every value (comma-separated)."""
    sources: list[str] = Field(default_factory=list)
    """For ``source_priority``: sources from the most to the least trusted."""

    @model_validator(mode="after")
    def _sources(self) -> TraitRule:
        if self.rule == "source_priority" and not self.sources:
            raise ValueError("source_priority needs 'sources', e.g. [crm, web]")
        return self


class ComputedTrait(StrictModel):
    """An aggregate over a person's events, e.g. ``orders_90d``."""

    name: str
    """Column name in the profile."""
    agg: Literal["count", "sum", "avg", "min", "max", "first", "last", "distinct", "top"]
    """count events, sum/avg/min/max of a property, first/last time or value, distinct values,
    or the top (most frequent) value of a property."""
    event: str | None = None
    """Only events with this name (``Order Completed``); None for every event."""
    property: str | None = None
    """Event property aggregated (``revenue``, ``products[0].category``)."""
    window_days: int | None = Field(default=None, ge=1)
    """Only events in the last N days before the build's reference time."""
    distinct_by: str | None = None
    """count / avg: count distinct values of this property (``order_id``: orders, not order
    lines), an event without it counting once; avg divides the sum by that count."""
    minus_event: str | None = None
    """sum / avg: the absolute value of the property on these events is subtracted
    (``Order Refunded``: revenue net of refunds)."""
    absolute: bool = False
    """sum: add absolute values (refunds recorded as negative amounts count as refunds)."""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("use lower-case letters, digits and underscores, e.g. 'orders_90d'")
        return v

    @field_validator("property")
    @classmethod
    def _prop(cls, v: str | None) -> str | None:
        if v is not None and not _PROPERTY.match(v):
            raise ValueError("use a property name or path like 'revenue' or 'products[0].price'")
        return v

    @model_validator(mode="after")
    def _needs_property(self) -> ComputedTrait:
        if self.agg in ("sum", "avg", "min", "max", "distinct", "top") and not self.property:
            raise ValueError(f"agg '{self.agg}' needs a 'property'")
        if self.distinct_by and self.agg not in ("count", "avg"):
            raise ValueError("distinct_by: only for agg 'count' or 'avg'")
        if self.minus_event and self.agg not in ("sum", "avg"):
            raise ValueError("minus_event: only for agg 'sum' or 'avg'")
        if self.absolute and self.agg != "sum":
            raise ValueError("absolute: only for agg 'sum'")
        return self


def _computed() -> list[ComputedTrait]:
    # orders are distinct order ids (a line-item import sends one event per line); revenue is
    # net of refunds, which are also reported on their own
    oc, refund, oid = "Order Completed", "Order Refunded", "order_id"
    return [
        ComputedTrait(name="orders_total", agg="count", event=oc, distinct_by=oid),
        ComputedTrait(name="revenue_total", agg="sum", event=oc, property="revenue",
                      minus_event=refund),
        ComputedTrait(name="orders_90d", agg="count", event=oc, window_days=90,
                      distinct_by=oid),
        ComputedTrait(name="revenue_90d", agg="sum", event=oc, property="revenue",
                      window_days=90, minus_event=refund),
        ComputedTrait(name="avg_order_value", agg="avg", event=oc, property="revenue",
                      distinct_by=oid, minus_event=refund),
        ComputedTrait(name="refunds", agg="count", event=refund, distinct_by=oid),
        ComputedTrait(name="refunds_total", agg="sum", event=refund, property="revenue",
                      absolute=True),
        ComputedTrait(name="first_order_at", agg="first", event=oc),
        ComputedTrait(name="last_order_at", agg="last", event=oc),
        ComputedTrait(name="events_30d", agg="count", window_days=30),
        ComputedTrait(name="product_views_30d", agg="count", event="Product Viewed",
                      window_days=30),
        ComputedTrait(name="top_category", agg="top", event="Product Viewed",
                      property="category"),
    ]


class InterestConfig(StrictModel):
    """Time-decayed interest scores per category: I(i,u) = sum_t w_t * p_t(i,u)."""

    half_life_days: float = Field(default=30.0, gt=0)
    """An event's weight halves every this many days before the reference time."""
    weights: dict[str, float] = Field(default_factory=lambda: {
        "Product Viewed": 1.0, "Product Added": 3.0, "Checkout Started": 3.0,
        "Order Completed": 5.0, "Item Rated": 1.0})
    """Weight of each event name (others count 0)."""
    category_paths: list[str] = Field(default_factory=lambda: [
        "category", "products[0].category"])
    """Event properties holding the category; items joined by ``item_id``/``product_id``
    add the catalog's category and genres."""
    rating_property: str | None = "rating"
    """Property scaling a rating event's weight by rating / 5 (None: ignore)."""


class ProfileConfig(StrictModel):
    """The ``profiles:`` section of ``aidmp.yaml``."""

    trait_rules: list[TraitRule] = Field(default_factory=list)
    """Merge rules per trait; traits without one use ``latest``."""
    computed: list[ComputedTrait] = Field(default_factory=_computed)
    """Computed traits."""
    interests: InterestConfig = InterestConfig()
    """Interest scores."""
    order_event: str = "Order Completed"
    """The purchase event (RFM, purchasing power)."""
    revenue_property: str = "revenue"
    """Its money property."""
    order_id_property: str = "order_id"
    """The order number: RFM frequency counts distinct values (events without one count
    once each), so order lines are not orders."""
    refund_event: str | None = "Order Refunded"
    """Refunds and cancellations: their revenue's absolute value is subtracted from RFM
    monetary (None: no refunds)."""
    price_property: str = "price"
    """Product price property (purchasing power from what people look at)."""

    @model_validator(mode="after")
    def _unique(self) -> ProfileConfig:
        names = [c.name for c in self.computed]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"computed trait names must be unique: {', '.join(dupes)}")
        return self

    def merge_rule(self, trait: str) -> TraitRule:
        """The rule for ``trait`` (``latest`` unless configured)."""
        for r in self.trait_rules:
            if r.trait == trait:
                return r
        return TraitRule(trait=trait)
