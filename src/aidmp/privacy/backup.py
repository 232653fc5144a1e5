"""Backup and restore of a home while the server runs.

A backup is one consistent snapshot of every table (DuckDB's ``EXPORT DATABASE`` runs in one
transaction, so the collector and jobs go on writing meanwhile) plus the model artefacts, in a
folder of Parquet files and a manifest with row counts. The pseudonymisation secret is not in it
(it lives outside the store): restore on a home that has the same secret, or profile ids of new
people will differ. Erasures reach backups taken after them; older backups are the operator's to
expire (documented in ``docs/privacy.md``).

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> _ = dmp.events.ingest([{"type": "track", "event": "A", "userId": "u1"}], source="web")
    >>> snap = backup(dmp, Path(tempfile.mkdtemp()) / "b1")
    >>> snap["rows"]["events"]
    1
    >>> other = DMP(home=tempfile.mkdtemp())
    >>> restore(other, Path(snap["folder"]))["rows"]["events"], other.events.count()
    (1, 1)
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq

from aidmp.errors import ValidationError

if TYPE_CHECKING:
    from aidmp.service.host import Host

MANIFEST = "aidmp-backup.json"


def backup(dmp: Host, folder: Path | None = None) -> dict[str, Any]:
    """Snapshot the store (and the model artefacts) into ``folder`` (default
    ``<home>/backups/<UTC time>``)."""
    folder = folder or dmp.home / "backups" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    if folder.exists() and any(folder.iterdir()):
        raise ValidationError(f"{folder} is not empty", field="path")
    tables = dmp.engine.export_snapshot(folder / "tables")
    models = dmp.home / "models"
    if models.is_dir():
        shutil.copytree(models, folder / "models")
    # counted in the snapshot itself: the store may have moved on since
    rows = {p.stem: pq.read_metadata(p).num_rows
            for p in sorted((folder / "tables").glob("*.parquet"))}
    manifest = {"created_at": datetime.now(UTC).isoformat(), "tables": len(tables),
                "rows": rows, "schema_version": dmp.engine.schema_version()}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return {"folder": str(folder), **manifest}


def restore(dmp: Host, folder: Path) -> dict[str, Any]:
    """Load a backup into ``dmp`` (an empty home: its tables are replaced)."""
    if not (folder / MANIFEST).is_file():
        raise ValidationError(f"{folder} holds no aidmp backup ({MANIFEST} missing)",
                              field="path")
    manifest = json.loads((folder / MANIFEST).read_text())
    tables = dmp.engine.import_snapshot(folder / "tables")
    if (folder / "models").is_dir():
        shutil.copytree(folder / "models", dmp.home / "models", dirs_exist_ok=True)
    return {"tables": len(tables), "rows": {t: dmp.engine.count(t) for t in tables},
            "backup_created_at": manifest["created_at"]}
