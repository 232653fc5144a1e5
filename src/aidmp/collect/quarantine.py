"""The quarantine: list what was refused and why, and replay it once the cause is fixed.

Replay runs the stored payload through the same validation as the first time (the collector's
message rules, or the import mapping stored with the row, optionally with changed mapping keys).
What passes is stored as events and marked ``replayed_at``; what still fails keeps its row with
the new reason.

Example:
    >>> from aidmp.engine.duckdb import DuckDBEngine
    >>> from aidmp.spec.imports import ImportMapping
    >>> from aidmp.collect.importer import Importer
    >>> import polars as pl
    >>> eng = DuckDBEngine(":memory:"); _ = eng.migrate()
    >>> m = ImportMapping(source="crm", event="Signed Up", user_id_column="id",
    ...                   timestamp_column="at", timestamp_format="%Y-%m-%d")
    >>> _ = Importer(eng).frame(pl.DataFrame({"id": ["7"], "at": ["01/02/2026"]}), m)
    >>> q = Quarantine(eng)
    >>> q.list()[0]["reason"]
    "cannot parse '01/02/2026' as %Y-%m-%d"
    >>> q.replay(mapping_overrides={"timestamp_format": "%d/%m/%Y"}).stored
    1
"""

from __future__ import annotations

import builtins
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from aidmp.collect.importer import Importer
from aidmp.collect.rows import ColumnBuffer, RowFilter, keep_all
from aidmp.engine.base import Engine, arrow_schema
from aidmp.errors import ValidationError
from aidmp.spec.events import normalize_message
from aidmp.spec.imports import mapping_from
from aidmp.store.schema import TABLES


@dataclass
class ReplayReport:
    """What a replay did."""

    tried: int = 0
    stored: int = 0
    duplicates: int = 0
    still_invalid: int = 0

    def to_dict(self) -> dict[str, int]:
        """JSON-ready form."""
        return asdict(self)


class Quarantine:
    """Read and replay quarantined records."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.row_filter: RowFilter = keep_all

    def _select(
        self, ids: builtins.list[str] | None, source: str | None, include_replayed: bool
    ) -> Any:
        t = self.engine.table("quarantine")
        expr = t
        if not include_replayed:
            expr = expr.filter(t.replayed_at.isnull())
        if ids:
            expr = expr.filter(t.id.isin(ids))
        if source:
            expr = expr.filter(t.source == source)
        return expr.order_by([t.received_at, t.file, t.row_number])

    def list(
        self, *, source: str | None = None, limit: int = 50, include_replayed: bool = False
    ) -> list[dict[str, Any]]:
        """Quarantined records, oldest first."""
        return self.engine.execute(
            self._select(None, source, include_replayed).limit(limit)
        ).to_pylist()

    def count(self, *, source: str | None = None) -> int:
        """How many records wait in the quarantine."""
        expr = self._select(None, source, False)
        return int(self.engine.execute(expr.aggregate(n=expr.count())).column("n")[0].as_py())

    def replay(
        self, *, ids: builtins.list[str] | None = None, source: str | None = None,
        mapping_overrides: dict[str, Any] | None = None,
    ) -> ReplayReport:
        """Re-validate waiting records; store the ones that now pass.

        Args:
            ids: only these quarantine ids (default: all waiting).
            source: only this source.
            mapping_overrides: import-mapping keys to change for import rows
                (e.g. ``{"timestamp_format": "%d/%m/%Y"}``).
        """
        rows = self.engine.execute(self._select(ids, source, False)).to_pylist()
        if ids:
            missing: set[str] = set(ids) - {r["id"] for r in rows}
            if missing:
                raise ValidationError(f"no waiting quarantine record with id {sorted(missing)}",
                                      field="id")
        report = ReplayReport(tried=len(rows))
        now = datetime.now(UTC)
        passed: builtins.list[dict[str, Any]] = []
        failed: builtins.list[dict[str, Any]] = []
        events = ColumnBuffer("events")
        for row in rows:
            try:
                event = self._revalidate(row, mapping_overrides or {})
            except ValidationError as exc:
                failed.append({**row, "reason": exc.message, "field": exc.field or row["field"]})
                continue
            events.add(event)
            passed.append({**row, "replayed_at": now})
        stored = self.engine.append("events", self.row_filter(events.to_arrow())) \
            if passed else 0
        report.stored = stored
        report.duplicates = len(passed) - stored
        report.still_invalid = len(failed)
        if passed or failed:
            schema = arrow_schema(TABLES["quarantine"])
            self.engine.upsert("quarantine", pa.Table.from_pylist(passed + failed, schema=schema))
        return report

    def _revalidate(self, row: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
        options = orjson.loads(row["options"]) if row["options"] else {}
        try:
            payload = orjson.loads(row["payload"])
        except orjson.JSONDecodeError as exc:  # kept as sent: a lone surrogate, deep nesting
            raise ValidationError(f"not decodable JSON: {exc}", field="message") from None
        if row["kind"] == "collector":
            return normalize_message(payload, source=row["source"],
                                     received_at=row["received_at"],
                                     default_type=options.get("type"))
        mapping = mapping_from({**options.get("mapping", {}), **overrides})
        return Importer(self.engine).replay(payload, mapping, row["row_number"] or 1,
                                            row["received_at"])
