"""Write keys for collector-only processes, which cannot open the store.

DuckDB allows one process to open the database file while it is written, and that process is
the loader. So the loader exports the *hashes* of the write keys (never a secret: the store
itself keeps only SHA-256 hashes) to a file in the home folder, and collector-only processes
verify keys against it, re-reading it when it changes. A key created or revoked through the
API reaches the collectors within the export interval (2 s).

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> secret = dmp.keys.create("write", source="web").secret
    >>> path = export_write_keys(dmp.engine, Path(dmp.home) / KEY_FILE)
    >>> WriteKeyFile(path).verify(secret, "write").source
    'web'
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from datetime import datetime
from pathlib import Path

import orjson

from aidmp.engine.base import Engine
from aidmp.errors import AuthError, ForbiddenError
from aidmp.privacy.keys import ApiKey, Scope

KEY_FILE = "collector-keys.json"


def export_write_keys(engine: Engine, path: Path) -> Path:
    """Write the hashes of the keys that may send events (write and admin) to ``path``,
    atomically and readable by the owner only; rewritten only when they changed."""
    t = engine.table("api_keys")
    rows = engine.execute(t.filter(t.scope.isin(["write", "collect", "admin"]))).to_pylist()
    doc = orjson.dumps(sorted(
        ({**r, "created_at": r["created_at"].isoformat(),
          "revoked_at": r["revoked_at"].isoformat() if r["revoked_at"] else None}
         for r in rows), key=lambda r: str(r["key_id"])))
    if path.exists() and path.read_bytes() == doc:
        return path
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(doc)
    tmp.replace(path)
    return path


class WriteKeyFile:
    """Verifies write keys against an exported key file (the ``dmp.keys.verify`` of a
    collector-only process)."""

    _CHECK_EVERY = 1.0

    def __init__(self, path: Path) -> None:
        self.path = path
        self._keys: dict[str, ApiKey] = {}
        self._mtime = -1.0
        self._checked = 0.0
        self._lock = threading.Lock()

    def _reload(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._keys = {}
            return
        if mtime == self._mtime:
            return
        keys: dict[str, ApiKey] = {}
        for r in orjson.loads(self.path.read_bytes()):
            digest = r.pop("key_hash")
            r["created_at"] = datetime.fromisoformat(r["created_at"])
            r["revoked_at"] = datetime.fromisoformat(r["revoked_at"]) if r["revoked_at"] else None
            keys[digest] = ApiKey(**r)
        self._keys, self._mtime = keys, mtime

    def verify(self, secret: str | None, needed: Scope | None = None) -> ApiKey:
        """As :meth:`aidmp.privacy.keys.KeyStore.verify`.

        Raises:
            AuthError: no secret, an unknown one (or no key file yet), or a revoked key.
            ForbiddenError: the key's scope does not cover ``needed``.
        """
        if not secret:
            raise AuthError("missing API key: send it as HTTP Basic username or 'writeKey'")
        digest = hashlib.sha256(secret.encode()).hexdigest()
        with self._lock:
            now = time.monotonic()
            if now - self._checked > self._CHECK_EVERY:
                self._checked = now
                self._reload()
            key = self._keys.get(digest)
        if key is None:
            raise AuthError("unknown API key")
        if key.revoked_at is not None:
            raise AuthError(f"API key {key.key_id} was revoked")
        if needed is not None and not key.allows(needed):
            raise ForbiddenError(f"key {key.key_id} has scope {key.scope!r}; this needs {needed!r}")
        return key
