"""Import mappings: how the columns of a file become events, identifies or catalog items.

A mapping is plain data (YAML / JSON / CLI flags) validated strictly, so a typo in a key is an
error that names it rather than a silently ignored setting.

Besides naming columns, a mapping can type them (``types``), derive new ones with SQL
expressions (``derive``), drop rows (``where``), pick the event name per row (``event_when``),
split multi-valued text into lists (``split``), type identifiers explicitly (``identifiers``)
and group line-item files into one order event per order (``lines``); docs/importing.md walks
through each shape.

Example:
    >>> m = ImportMapping(source="crm", type="identify", identifiers={"CustomerID": "crm_id"})
    >>> m.type, m.traits
    ('identify', '*')
    >>> lines = ImportMapping(source="shop", event="Order Completed", user_id_column="CustomerID",
    ...     derive={"revenue": "Quantity * UnitPrice"},
    ...     event_when={"Order Refunded": "InvoiceNo LIKE 'C%'"},
    ...     lines={"order_id_column": "InvoiceNo", "products": {"StockCode": "product_id"}})
    >>> lines.lines.order_id_column
    'InvoiceNo'
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from aidmp.errors import ValidationError

FileFormat = Literal["csv", "json", "ndjson", "parquet"]
ColumnType = Literal["string", "int", "float", "bool", "timestamp", "date"]
RowIdentity = Literal["content", "occurrence", "position"]
_ID_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_CONTEXT_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
FORMATS_BY_SUFFIX: dict[str, FileFormat] = {
    ".csv": "csv", ".tsv": "csv", ".txt": "csv", ".json": "json", ".ndjson": "ndjson",
    ".jsonl": "ndjson", ".parquet": "parquet", ".pq": "parquet",
}


class OrderLines(BaseModel):
    """How a line-item file (one row per product of an order) becomes one order event per
    order, in the shape of Segment's e-commerce spec: ``order_id``, ``revenue`` (the sum of
    the lines) and a ``products`` list with one object per line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_id_column: str = Field(min_length=1)
    """Column holding the order (invoice) number the lines share."""
    products: dict[str, str] = Field(default_factory=dict)
    """Line column -> field of each ``products`` entry (``StockCode: product_id``,
    ``Quantity: quantity``, ``UnitPrice: price``)."""
    revenue: str | None = None
    """SQL expression of a line's revenue, summed over the order (``Quantity * UnitPrice``);
    default: a column or derived column named ``revenue`` when there is one."""


class ImportMapping(BaseModel):
    """Column mapping for one import.

    ``properties`` (track/page) or ``traits`` (identify) name the columns to keep; ``"*"`` keeps
    every column not used for an id, the event name or the timestamp.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    """Source name the rows are tagged with (e.g. ``crm``, ``orders-2024``)."""
    type: Literal["track", "identify", "page", "item"] = "track"
    """What each row is: a track event, an identify (traits), a page view or a catalog item."""
    event: str | None = None
    """Constant event name for track rows (e.g. ``Order Completed``)."""
    event_column: str | None = None
    """Column holding the event name (instead of ``event``)."""
    user_id_column: str | None = None
    """Column with the known user id."""
    anonymous_id_column: str | None = None
    """Column with an anonymous / device id."""
    timestamp_column: str | None = None
    """Column with when it happened; without it rows are stamped with the import time."""
    timestamp_format: str | None = None
    """strftime format (``%Y%m%d``), ``unix`` / ``unix_ms``, or empty for ISO 8601."""
    message_id_column: str | None = None
    """Column with a unique row id (order id...); else a hash of the row's content is used."""
    properties: list[str] | Literal["*"] = "*"
    """Columns kept as event properties (track/page)."""
    traits: list[str] | Literal["*"] = "*"
    """Columns kept as traits (identify)."""
    rename: dict[str, str] = Field(default_factory=dict)
    """Column -> property/trait name (e.g. ``amount: revenue``)."""
    item_id_column: str | None = None
    """Item imports: the catalog id column."""
    name_column: str | None = None
    """Item imports: display name column."""
    category_column: str | None = None
    """Item imports: category column."""
    price_column: str | None = None
    """Item imports: price column."""
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    """CSV field separator."""
    has_header: bool = True
    """CSV: whether the first line names the columns."""
    column_names: list[str] | None = None
    """Names for the columns of a header-less CSV."""
    types: dict[str, ColumnType] = Field(default_factory=dict)
    """Column -> type (string, int, float, bool, timestamp, date). CSV columns without one
    stay text unless every value is a number without a leading zero (``0812`` stays text) or
    true/false; a value that does not read as its declared type quarantines its row."""
    derive: dict[str, str] = Field(default_factory=dict)
    """New column -> SQL expression over the file's columns (``revenue: Quantity *
    UnitPrice``), in order (one may use those before it)."""
    where: str | None = None
    """SQL condition a row must meet to be imported; the others are dropped and counted."""
    event_when: dict[str, str] = Field(default_factory=dict)
    """Event name -> SQL condition (``Order Refunded: "InvoiceNo LIKE 'C%'"``): a row takes
    the first name whose condition holds, else ``event`` / ``event_column``."""
    split: dict[str, str] = Field(default_factory=dict)
    """Column -> separator: the text is split into a list (``genres: "|"``)."""
    identifiers: dict[str, str] = Field(default_factory=dict)
    """Column -> identifier type (``CustomerID: crm_id``): ``user_id`` and ``anonymous_id``
    fill those fields, any other type configured in the identity rules is stored where its
    rules read it. The type never depends on the source's name."""
    context: dict[str, str] = Field(default_factory=dict)
    """Event context path -> column (``campaign.medium: channel``, ``campaign.name:
    campaign``): campaign touches for attribution are read from ``context.campaign``."""
    row_identity: RowIdentity = "content"
    """Without ``message_id_column``: ``content`` (a hash of the row: identical rows are one
    record), ``occurrence`` (the hash and how many identical rows came before it: identical
    rows are kept, re-imports still store nothing twice) or ``position`` (the file's name and
    row number)."""
    lines: OrderLines | None = None
    """Group line-item rows into one event per order (see :class:`OrderLines`)."""

    @model_validator(mode="after")
    def _check(self) -> ImportMapping:
        for col, kind in self.identifiers.items():
            if not _ID_TYPE.match(kind):
                raise ValueError(f"identifiers.{col}: {kind!r} is not an identifier type name "
                                 "(lower-case letters, digits, underscores, e.g. crm_id)")
        if self.identifiers.get(self.user_id_column or "", "user_id") != "user_id":
            raise ValueError("identifiers: the user_id_column cannot have another type")
        for path in self.context:
            if not _CONTEXT_PATH.match(path):
                raise ValueError(f"context.{path}: use a dotted path of names such as "
                                 "campaign.medium")
        for col, sep in self.split.items():
            if not sep:
                raise ValueError(f"split.{col}: give a separator such as '|'")
        if self.type == "item":
            if not self.item_id_column:
                raise ValueError("item_id_column: required when type is 'item'")
            if self.lines is not None or self.identifiers:
                raise ValueError("type: 'lines' and 'identifiers' are for events, not items")
            return self
        if not (self.user_id_column or self.anonymous_id_column or self.identifiers):
            raise ValueError("user_id_column: give user_id_column, anonymous_id_column and/or "
                             "identifiers (column: identifier type)")
        if self.lines is not None and self.type != "track":
            raise ValueError("lines: order lines make track events; use type: track")
        if self.event_when and self.type == "identify":
            raise ValueError("event_when: identify rows have no event name")
        if self.type == "track" and not (self.event or self.event_column or self.event_when):
            raise ValueError("event: track imports need 'event' (a name) or 'event_column'")
        if self.event and self.event_column:
            raise ValueError("event_column: give either 'event' or 'event_column', not both")
        return self

    def id_columns(self) -> list[str]:
        """Columns consumed by the mapping itself (not copied into properties/traits)."""
        cols = [self.user_id_column, self.anonymous_id_column, self.timestamp_column,
                self.event_column, self.message_id_column, self.item_id_column,
                self.name_column, self.category_column, self.price_column,
                *self.identifiers, *self.context.values()]
        if self.lines is not None:
            cols += [self.lines.order_id_column, *self.lines.products]
        return list(dict.fromkeys(c for c in cols if c))


def mapping_from(values: dict[str, Any]) -> ImportMapping:
    """Validate a mapping dict, raising an aidmp ValidationError that names the bad key."""
    try:
        return ImportMapping.model_validate(values)
    except PydanticValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if ": " in msg and not loc:
            loc, _, msg = msg.partition(": ")
        if err["type"] == "extra_forbidden":
            model = OrderLines if loc.startswith("lines.") else ImportMapping
            valid = ", ".join(model.model_fields)
            msg = f"unknown mapping key; valid keys: {valid}"
        raise ValidationError(msg, field=loc or "mapping") from None


def load_mapping(path: str | Path, **overrides: Any) -> ImportMapping:
    """Read a YAML mapping file, with CLI flags in ``overrides`` taking precedence."""
    p = Path(path)
    if not p.exists():
        raise ValidationError(f"mapping file {p} does not exist", field="mapping")
    values = yaml.safe_load(p.read_text()) or {}
    if not isinstance(values, dict):
        raise ValidationError(f"{p} must hold a mapping of keys to values", field="mapping")
    return mapping_from({**values, **{k: v for k, v in overrides.items() if v is not None}})
