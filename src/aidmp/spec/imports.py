"""Import mappings: how the columns of a file become events, identifies or catalog items.

A mapping is plain data (YAML / JSON / CLI flags) validated strictly, so a typo in a key is an
error that names it rather than a silently ignored setting.

Example:
    >>> m = ImportMapping(source="crm", type="identify", user_id_column="crm_id")
    >>> m.type, m.traits
    ('identify', '*')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from aidmp.errors import ValidationError

FileFormat = Literal["csv", "json", "ndjson", "parquet"]
FORMATS_BY_SUFFIX: dict[str, FileFormat] = {
    ".csv": "csv", ".tsv": "csv", ".txt": "csv", ".json": "json", ".ndjson": "ndjson",
    ".jsonl": "ndjson", ".parquet": "parquet", ".pq": "parquet",
}


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

    @model_validator(mode="after")
    def _check(self) -> ImportMapping:
        if self.type == "item":
            if not self.item_id_column:
                raise ValueError("item_id_column: required when type is 'item'")
            return self
        if not (self.user_id_column or self.anonymous_id_column):
            raise ValueError("user_id_column: give user_id_column and/or anonymous_id_column")
        if self.type == "track" and not (self.event or self.event_column):
            raise ValueError("event: track imports need 'event' (a name) or 'event_column'")
        if self.event and self.event_column:
            raise ValueError("event_column: give either 'event' or 'event_column', not both")
        return self

    def id_columns(self) -> list[str]:
        """Columns consumed by the mapping itself (not copied into properties/traits)."""
        cols = [self.user_id_column, self.anonymous_id_column, self.timestamp_column,
                self.event_column, self.message_id_column, self.item_id_column,
                self.name_column, self.category_column, self.price_column]
        return [c for c in cols if c]


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
            valid = ", ".join(ImportMapping.model_fields)
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
