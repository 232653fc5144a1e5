"""The audit log: who did what to which object, when — append-only and tamper-evident.

Each entry carries its position (``seq``), the hash of the entry before it and its own hash,
SHA-256 over a canonical JSON of its fields and the previous hash. Editing, deleting or
inserting an entry anywhere breaks every later link, which :meth:`AuditLog.verify` finds.
``detail`` must never carry personal data (identifiers are given as profile ids or keyed
hashes).

Example:
    >>> from aidmp.engine.duckdb import DuckDBEngine
    >>> eng = DuckDBEngine(":memory:"); _ = eng.migrate()
    >>> log = AuditLog(eng)
    >>> log.record("cli", "keys.create", "ak_123", {"scope": "write"})
    >>> log.record("ak_9", "profiles.read", "p_1")
    >>> log.verify()["ok"], eng.count("audit_log")
    (True, 2)
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import ibis
import orjson
import pyarrow as pa

from aidmp.engine.base import Engine, arrow_schema
from aidmp.errors import ValidationError
from aidmp.store.schema import TABLES

GENESIS = "0" * 64
_FIELDS = ("id", "at", "actor", "action", "object", "detail", "seq")
# one chain per process and store: entries are numbered under this lock
_LOCK = threading.Lock()


def entry_hash(row: dict[str, Any], prev_hash: str) -> str:
    """The hash of one entry: SHA-256 of its fields (canonical JSON, times in UTC ISO form to
    the microsecond) followed by the previous entry's hash."""
    at = row["at"]
    fields = {k: row.get(k) for k in _FIELDS}
    fields["at"] = at.astimezone(UTC).isoformat(timespec="microseconds") \
        if isinstance(at, datetime) else str(at)
    payload = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS) + prev_hash.encode()
    return hashlib.sha256(payload).hexdigest()


class AuditLog:
    """Append-only, hash-chained record of actions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _tail(self) -> tuple[int, str]:
        def last() -> ibis.Table:
            t = self.engine.table("audit_log")
            chained = t.filter(t.seq.notnull())
            return chained.order_by(chained.seq.desc()).limit(1).select("seq", "hash")

        # read before every entry (each profile view writes one): compiled once
        rows = self.engine.prepared("audit.tail", last, []).to_pylist()
        return (int(rows[0]["seq"]), str(rows[0]["hash"])) if rows else (0, GENESIS)

    def record(
        self, actor: str, action: str, obj: str | None = None, detail: dict[str, Any] | None = None
    ) -> None:
        """Append one entry, chained to the last one."""
        with _LOCK:
            seq, prev = self._tail()
            row: dict[str, Any] = {
                "id": uuid.uuid4().hex,
                "at": datetime.now(UTC),
                "actor": actor,
                "action": action,
                "object": obj,
                "detail": orjson.dumps(detail).decode() if detail else None,
                "seq": seq + 1,
                "prev_hash": prev,
            }
            row["hash"] = entry_hash(row, prev)
            self.engine.append(
                "audit_log", pa.Table.from_pylist([row], schema=arrow_schema(TABLES["audit_log"]))
            )

    def entries(self, limit: int = 100, *, actor: str | None = None, action: str | None = None,
                obj: str | None = None, since: datetime | None = None,
                until: datetime | None = None) -> list[dict[str, Any]]:
        """The newest entries first, optionally filtered (``action`` may end with ``*``:
        ``profiles.*``)."""
        if limit < 1 or limit > 10_000:
            raise ValidationError("limit must be between 1 and 10000", field="limit")
        t = self.engine.table("audit_log")
        if actor is not None:
            t = t.filter(t.actor == actor)
        if action is not None:
            t = t.filter(t.action.startswith(action[:-1]) if action.endswith("*")
                         else t.action == action)
        if obj is not None:
            t = t.filter(t.object == obj)
        if since is not None:
            t = t.filter(t.at >= since)
        if until is not None:
            t = t.filter(t.at < until)
        order = [t.seq.desc(), t.at.desc()]
        return self.engine.execute(t.order_by(order).limit(limit)).to_pylist()

    def verify(self) -> dict[str, Any]:
        """Walk the chain from the first entry: every entry's hash must match its fields and
        the previous hash, and positions must run 1, 2, 3... without a gap.

        Returns:
            ``{"ok": bool, "entries": n, "first_bad": seq or None, "reason": text or None}``
        """
        t = self.engine.table("audit_log")
        chained = t.filter(t.seq.notnull()).order_by("seq")
        prev, expected = GENESIS, 1
        n = 0
        for batch in self.engine.execute(chained).to_batches(max_chunksize=50_000):
            for row in batch.to_pylist():
                n += 1
                seq = int(row["seq"])
                reason = None
                if seq != expected:
                    reason = f"entry {expected} is missing (found {seq})"
                elif row["prev_hash"] != prev:
                    reason = "its link to the previous entry was changed"
                elif entry_hash(row, prev) != row["hash"]:
                    reason = "its content was changed after it was written"
                if reason:
                    return {"ok": False, "entries": n, "first_bad": expected, "reason": reason}
                prev, expected = row["hash"], expected + 1
        return {"ok": True, "entries": n, "first_bad": None, "reason": None}
