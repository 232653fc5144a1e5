"""The audit log: who did what to which object, when. ``detail`` must never carry personal data.

Example:
    >>> from aidmp.engine.duckdb import DuckDBEngine
    >>> eng = DuckDBEngine(":memory:"); _ = eng.migrate()
    >>> AuditLog(eng).record("cli", "keys.create", "ak_123", {"scope": "write"})
    >>> eng.count("audit_log")
    1
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from aidmp.engine.base import Engine, arrow_schema
from aidmp.store.schema import TABLES


class AuditLog:
    """Append-only record of actions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(
        self, actor: str, action: str, obj: str | None = None, detail: dict[str, Any] | None = None
    ) -> None:
        """Append one entry."""
        row = {
            "id": uuid.uuid4().hex,
            "at": datetime.now(UTC),
            "actor": actor,
            "action": action,
            "object": obj,
            "detail": orjson.dumps(detail).decode() if detail else None,
        }
        self.engine.append(
            "audit_log", pa.Table.from_pylist([row], schema=arrow_schema(TABLES["audit_log"]))
        )

    def entries(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest entries first."""
        t = self.engine.table("audit_log")
        return self.engine.execute(t.order_by(t.at.desc()).limit(limit)).to_pylist()
