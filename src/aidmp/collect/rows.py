"""Column buffers for ``events`` and ``quarantine`` rows, and quarantine-row construction.

Rows are kept column-wise (one Python list per column) because building an Arrow table from
columns is an order of magnitude cheaper than from a list of dicts.

Example:
    >>> from datetime import UTC, datetime
    >>> buf = ColumnBuffer("items")
    >>> buf.add({"item_id": "i1", "source": "s", "updated_at": datetime(2026, 1, 1, tzinfo=UTC)})
    >>> buf.to_arrow().num_rows
    1
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import msgspec
import orjson
import pyarrow as pa

from aidmp.engine.base import arrow_schema
from aidmp.store.schema import TABLES

RowFilter = Callable[[pa.Table], pa.Table]
"""What every write path passes its event rows through before storing them (the DMP sets
the suppression list's filter, :mod:`aidmp.privacy.suppression`)."""


def keep_all(rows: pa.Table) -> pa.Table:
    """The filter of a write path no one restricted: every row is kept."""
    return rows



class ColumnBuffer:
    """Rows of one declared table, accumulated column by column."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.schema = _schema(table)
        self._cols: dict[str, list[Any]] = {name: [] for name in self.schema.names}

    def add(self, row: dict[str, Any]) -> None:
        """Append one row (missing columns become null)."""
        for name, values in self._cols.items():
            values.append(row.get(name))

    def extend(self, rows: Iterable[dict[str, Any]]) -> None:
        """Append many rows."""
        rows = rows if isinstance(rows, list) else list(rows)
        for name, values in self._cols.items():
            values.extend([row.get(name) for row in rows])

    def extend_values(self, rows: list[tuple[Any, ...]]) -> None:
        """Append rows given as value tuples in the schema's column order."""
        for values, column in zip(self._cols.values(), zip(*rows, strict=True), strict=True):
            values.extend(column)

    def __len__(self) -> int:
        return len(next(iter(self._cols.values())))

    def to_arrow(self) -> pa.Table:
        """The buffered rows as an Arrow table with the declared schema."""
        return pa.table([_array(self._cols[f.name], f.type) for f in self.schema],
                        schema=self.schema)


@functools.cache
def _schema(table: str) -> pa.Schema:
    return arrow_schema(TABLES[table])


def _array(values: list[Any], type_: pa.DataType) -> pa.Array:
    if pa.types.is_timestamp(type_):
        # Converting tz-aware datetimes straight to a tz type costs ~90 us each in pyarrow;
        # letting it infer the type and casting after is ~300x faster.
        return pa.array(values).cast(type_)
    return pa.array(values, type=type_)


def json_text(value: Any) -> str:
    """``value`` as JSON text, whatever a client managed to send: orjson first, msgspec for
    integers beyond 64 bits, a marked placeholder for what neither can write (never raises)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        pass
    try:
        return msgspec.json.encode(value).decode()
    except (msgspec.EncodeError, TypeError, ValueError, RecursionError) as exc:
        return orjson.dumps({"unserialisable_payload": str(exc)[:200]}).decode()


def quarantine_row(
    *,
    source: str,
    kind: str,
    payload: Any,
    reason: str,
    field: str | None,
    received_at: datetime,
    options: dict[str, Any] | None = None,
    row_number: int | None = None,
    file: str | None = None,
) -> dict[str, Any]:
    """A ``quarantine`` row; its id is deterministic so a re-delivery is stored once."""
    text = payload if isinstance(payload, str) else json_text(payload)
    ident = hashlib.sha256(
        "\x00".join([source, kind, text, file or "", str(row_number or "")]).encode()
    ).hexdigest()[:32]
    return {
        "id": ident,
        "source": source,
        "kind": kind,
        "payload": text,
        "options": orjson.dumps(options).decode() if options else None,
        "field": field,
        "reason": reason,
        "row_number": row_number,
        "file": file,
        "received_at": received_at,
        "replayed_at": None,
    }
