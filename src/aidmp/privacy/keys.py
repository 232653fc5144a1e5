"""API keys with scopes. Only the SHA-256 of a secret is stored; the secret is shown once.

A secret looks like ``aidmp_w_3f9c2a1b7d4e_<32 random chars>``: the letter is the scope, the hex
part is the public key id (safe to log), the rest is the secret. Keys are random with 190 bits of
entropy, so a fast hash (SHA-256) is the right tool: a slow password hash would only add latency
to every collector request.

Scopes: ``write`` sends events, ``read`` reads data, ``admin`` does everything.

Example:
    >>> from aidmp.engine.duckdb import DuckDBEngine
    >>> eng = DuckDBEngine(":memory:"); _ = eng.migrate()
    >>> keys = KeyStore(eng)
    >>> created = keys.create("write", source="web")
    >>> keys.verify(created.secret).source
    'web'
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import pyarrow as pa

from aidmp.engine.base import Engine, arrow_schema
from aidmp.errors import AuthError, ForbiddenError, NotFoundError, ValidationError
from aidmp.store.schema import TABLES

Scope = Literal["write", "read", "admin"]
SCOPES: tuple[Scope, ...] = ("write", "read", "admin")
_SOURCE_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


@dataclass(frozen=True)
class ApiKey:
    """A stored key (without its secret)."""

    key_id: str
    scope: Scope
    source: str
    name: str | None
    created_at: datetime
    revoked_at: datetime | None = None

    def allows(self, needed: Scope) -> bool:
        """Whether this key may do what ``needed`` covers (admin covers all)."""
        return self.revoked_at is None and (self.scope == needed or self.scope == "admin")


@dataclass(frozen=True)
class CreatedKey:
    """A new key, with the secret that is shown only this once."""

    key: ApiKey
    secret: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyStore:
    """Create, list, revoke and verify keys; verified keys are cached in memory."""

    _RELOAD_EVERY = 1.0  # at most one reload a second when an unknown key is presented

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._cache: dict[str, ApiKey] = {}
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def create(self, scope: str, *, source: str = "default", name: str | None = None) -> CreatedKey:
        """Create a key and return it with its secret.

        Raises:
            ValidationError: unknown scope or a source name with odd characters.
        """
        if scope not in SCOPES:
            raise ValidationError(f"unknown scope {scope!r}; valid: {', '.join(SCOPES)}",
                                  field="scope")
        if not source or not set(source) <= _SOURCE_OK or len(source) > 64:
            raise ValidationError(
                "use 1-64 letters, digits, '_', '-' or '.'", field="source"
            )
        key_id = secrets.token_hex(6)
        secret = f"aidmp_{scope[0]}_{key_id}_{secrets.token_urlsafe(24)}"
        key = ApiKey(key_id, scope, source, name, datetime.now(UTC))  # type: ignore[arg-type]
        self._store(key, _hash(secret))
        return CreatedKey(key, secret)

    def _store(self, key: ApiKey, key_hash: str) -> None:
        row = {**key.__dict__, "key_hash": key_hash}
        self.engine.upsert(
            "api_keys", pa.Table.from_pylist([row], schema=arrow_schema(TABLES["api_keys"]))
        )
        with self._lock:
            self._loaded_at = 0.0

    def list(self) -> list[ApiKey]:
        """Every key, newest first (secrets are never stored, so never shown)."""
        t = self.engine.table("api_keys")
        rows = self.engine.execute(t.drop("key_hash").order_by(t.created_at.desc())).to_pylist()
        return [ApiKey(**r) for r in rows]

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key by id.

        Raises:
            NotFoundError: no key has that id.
        """
        t = self.engine.table("api_keys")
        rows = self.engine.execute(t.filter(t.key_id == key_id)).to_pylist()
        if not rows:
            raise NotFoundError(f"No key with id {key_id!r}; see `aidmp keys list`")
        row = rows[0]
        row["revoked_at"] = datetime.now(UTC)
        self.engine.upsert(
            "api_keys", pa.Table.from_pylist([row], schema=arrow_schema(TABLES["api_keys"]))
        )
        with self._lock:
            self._loaded_at = 0.0
            self._cache.clear()
        return ApiKey(**{k: v for k, v in row.items() if k != "key_hash"})

    def rotate(self, key_id: str) -> CreatedKey:
        """Replace a key: a new one with its scope, source and name, and the old one revoked
        (requests with the old secret are refused at once).

        Raises:
            NotFoundError: no key has that id.
        """
        old = self.revoke(key_id)
        return self.create(old.scope, source=old.source, name=old.name)

    def _reload(self) -> None:
        t = self.engine.table("api_keys")
        rows = self.engine.execute(t).to_pylist()
        cache = {}
        for r in rows:
            h = r.pop("key_hash")
            cache[h] = ApiKey(**r)
        self._cache = cache
        self._loaded_at = time.monotonic()

    def verify(self, secret: str | None, needed: Scope | None = None) -> ApiKey:
        """The key a secret belongs to, checked against the scope ``needed``.

        Raises:
            AuthError: no secret, an unknown one, or a revoked key.
            ForbiddenError: the key's scope does not cover ``needed``.
        """
        if not secret:
            raise AuthError("missing API key: send it as HTTP Basic username, Bearer token "
                            "or 'writeKey'")
        digest = _hash(secret)
        with self._lock:
            key = self._cache.get(digest)
            if key is None and time.monotonic() - self._loaded_at > self._RELOAD_EVERY:
                self._reload()
                key = self._cache.get(digest)
        if key is None:
            raise AuthError("unknown API key")
        if key.revoked_at is not None:
            raise AuthError(f"API key {key.key_id} was revoked")
        if needed is not None and not key.allows(needed):
            raise ForbiddenError(f"key {key.key_id} has scope {key.scope!r}; this needs {needed!r}")
        return key
