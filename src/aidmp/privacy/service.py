"""``dmp.privacy``: consent, data-subject access and erasure, the suppression list.

Requests are recorded in ``privacy_requests`` with a keyed hash of the identifier asked
about, never the identifier, and each one is written to the audit log.

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> _ = dmp.events.ingest([{"type": "identify", "userId": "u1", "messageId": "m1",
    ...                         "traits": {"email": "ann@x.com"}}], source="web")
    >>> _ = dmp.build()
    >>> report = dmp.privacy.erase("email", "ann@x.com")
    >>> report["status"], report["rows"]["events"], dmp.events.count()
    ('done', 1, 0)
    >>> _ = dmp.events.ingest([{"type": "track", "userId": "u1", "event": "Back"}], source="web")
    >>> dmp.events.count()   # the erased person does not come back
    0
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa

from aidmp.collect.walcrypt import FrameCipher
from aidmp.engine.base import Engine, arrow_schema
from aidmp.errors import ValidationError
from aidmp.privacy.access import AccessExport
from aidmp.privacy.consent import ConsentLedger
from aidmp.privacy.dp import PrivateReports
from aidmp.privacy.erasure import Eraser, new_request_id
from aidmp.privacy.pseudonym import Pseudonymiser
from aidmp.privacy.suppression import Suppression
from aidmp.store.schema import TABLES

if TYPE_CHECKING:
    from aidmp.config import PrivacyConfig
    from aidmp.identity.service import IdentityGraph
    from aidmp.privacy.audit import AuditLog
    from aidmp.segments.service import Segments

Progress = Callable[[str, int, int], None]
KINDS = ("access", "erasure")


class Privacy:
    """Consent, access and erasure over one store.

    Args:
        engine: the store.
        config: privacy settings.
        identity: the identity graph.
        pseudonymiser: keyed hashes under the installation's secret.
        suppression: the suppression list shared with every write path.
        audit: the audit log.
        wal_dir: the collector's write-ahead log.
        files: folders of audience files that file destinations write.
    """

    def __init__(self, engine: Engine, config: PrivacyConfig, identity: IdentityGraph,
                 pseudonymiser: Pseudonymiser, suppression: Suppression, audit: AuditLog,
                 wal_dir: Path, files: Callable[[], list[Path]], segments: Segments) -> None:
        self.engine = engine
        self.config = config
        self.identity = identity
        self.pseudonymiser = pseudonymiser
        self.suppression = suppression
        self.audit = audit
        self.wal_dir = wal_dir
        self._files = files
        self.consent = ConsentLedger(engine, config, identity)
        self.wal_cipher: FrameCipher | None = None  # set by the DMP from the collector's keys
        self._segments = segments
        self._lock = threading.Lock()

    def _subject(self, id_type: str, id_value: str) -> str:
        names = [t.name for t in self.identity.rules.ordered_types()]
        if id_type not in names:
            raise ValidationError(f"unknown identifier type {id_type!r}; types: "
                                  f"{', '.join(names)}", field="id_type")
        return self.pseudonymiser.hash(id_type, self.identity.normalise(id_type, id_value))

    def _request(self, kind: str, subject: str, actor: str) -> str:
        rid = new_request_id()
        self.engine.append("privacy_requests", pa.Table.from_pylist([{
            "id": rid, "kind": kind, "subject": subject, "status": "running",
            "requested_at": datetime.now(UTC), "finished_at": None, "actor": actor,
            "report": None}], schema=arrow_schema(TABLES["privacy_requests"])))
        self.audit.record(actor, f"privacy.{kind}.start", rid)
        return rid

    def _finish(self, rid: str, status: str, report: dict[str, Any], actor: str) -> None:
        t = self.engine.table("privacy_requests")
        row = self.engine.execute(t.filter(t.id == rid)).to_pylist()[0]
        row.update(status=status, finished_at=datetime.now(UTC),
                   report=orjson.dumps(report, default=str).decode())
        self.engine.upsert("privacy_requests", pa.Table.from_pylist(
            [row], schema=arrow_schema(TABLES["privacy_requests"])))
        self.audit.record(actor, f"privacy.{row['kind']}.{status}", rid,
                          {k: v for k, v in report.items() if k != "rows"})

    @property
    def dp(self) -> PrivateReports:
        """Differentially private segment sizes and overlaps with a tracked budget."""
        return PrivateReports(self.engine, self._segments, self.config.dp_budget)

    def access(self, id_type: str, id_value: str, *, actor: str = "cli") -> bytes:
        """The access archive (ZIP bytes) of the person an identifier belongs to.

        Raises:
            ValidationError: an unknown identifier type.
            NotFoundError: no one holds that identifier.
        """
        rid = self._request("access", self._subject(id_type, id_value), actor)
        try:
            data = AccessExport(self.engine, self.identity, self.consent).archive(
                id_type, id_value, rid)
        except Exception as exc:
            self._finish(rid, "failed", {"error": type(exc).__name__}, actor)
            raise
        self._finish(rid, "done", {"bytes": len(data)}, actor)
        return data

    def erase(self, id_type: str, id_value: str, *, actor: str = "cli",
              progress: Progress | None = None, compact: bool = True) -> dict[str, Any]:
        """Erase the person an identifier belongs to, everywhere (see
        :mod:`aidmp.privacy.erasure`); the identifier is suppressed even when no data is
        found for it. ``compact=False`` defers the rewrite of the store (and so the removal
        of the deleted bytes) to the ``privacy.compact`` job, which batches many requests.

        Returns:
            the request id, status and what was removed (counts only).
        """
        rid = self._request("erasure", self._subject(id_type, id_value), actor)
        eraser = Eraser(self.engine, self.identity, self.suppression, self.wal_dir,
                        self._files())
        eraser.wal_cipher = self.wal_cipher
        with self._lock:
            try:
                person = eraser.find(id_type, id_value)
                report = eraser.erase(person, rid, progress, compact=compact)
            except Exception as exc:
                self._finish(rid, "failed", {"error": type(exc).__name__}, actor)
                raise
        self._finish(rid, "done", report, actor)
        return {"request_id": rid, "status": "done", **report}

    def requests(self, kind: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Access and erasure requests, newest first (no identifier in them)."""
        if kind is not None and kind not in KINDS:
            raise ValidationError(f"kind must be one of {', '.join(KINDS)}", field="kind")
        t = self.engine.table("privacy_requests")
        if kind is not None:
            t = t.filter(t.kind == kind)
        rows = self.engine.execute(t.order_by(t.requested_at.desc()).limit(limit)).to_pylist()
        for r in rows:
            r["report"] = orjson.loads(r["report"]) if r["report"] else None
        return rows
