"""API keys with roles. Only the SHA-256 of a secret is stored; the secret is shown once.

A secret looks like ``aidmp_m_3f9c2a1b7d4e_<32 random chars>``: the letter is the role, the hex
part is the public key id (safe to log), the rest is the secret. Keys are random with 190 bits of
entropy, so a fast hash (SHA-256) is the right tool: a slow password hash would only add latency
to every collector request.

Roles and what they may do (each route declares the permission it needs):

========== ===================================================================================
collect    send events (the write key of a tracking SDK)
analyst    aggregates: segment sizes and overlaps, reports, model cards, quality — no person
marketer   aggregates, personal data, audiences (segments, destinations, syncs, campaigns), jobs
engineer   aggregates, operations (imports, builds, schedules, model fits, identity), jobs
privacy    aggregates, personal data, consent, access and erasure requests, the audit log
admin      everything, keys included
========== ===================================================================================

``write`` and ``read`` (the scopes of earlier versions) still work: ``write`` is ``collect``,
``read`` reads aggregates and personal data. A key may expire and may carry a rate limit.

Example:
    >>> from aidmp.engine.duckdb import DuckDBEngine
    >>> eng = DuckDBEngine(":memory:"); _ = eng.migrate()
    >>> keys = KeyStore(eng)
    >>> created = keys.create("collect", source="web")
    >>> keys.verify(created.secret).source
    'web'
    >>> keys.create("analyst").key.allows("personal")
    False
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
from aidmp.errors import (
    AuthError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    ValidationError,
)
from aidmp.store.schema import TABLES

Scope = Literal["collect", "analyst", "marketer", "engineer", "privacy", "admin", "write",
                "read"]
ROLES: tuple[Scope, ...] = ("collect", "analyst", "marketer", "engineer", "privacy", "admin")
SCOPES: tuple[Scope, ...] = (*ROLES, "write", "read")
Permission = Literal["collect", "aggregate", "personal", "audiences", "operate", "jobs",
                     "privacy", "admin"]
PERMISSIONS: tuple[Permission, ...] = ("collect", "aggregate", "personal", "audiences",
                                       "operate", "jobs", "privacy", "admin")
GRANTS: dict[str, frozenset[str]] = {
    "collect": frozenset({"collect"}),
    "analyst": frozenset({"aggregate"}),
    "marketer": frozenset({"aggregate", "personal", "audiences", "jobs"}),
    "engineer": frozenset({"aggregate", "operate", "jobs"}),
    "privacy": frozenset({"aggregate", "personal", "privacy"}),
    "admin": frozenset(PERMISSIONS),
    "write": frozenset({"collect"}),
    "read": frozenset({"aggregate", "personal"}),
}
# the scopes of earlier versions, as route requirements
_LEGACY_NEEDS = {"write": "collect", "read": "personal", "admin": "admin"}
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
    expires_at: datetime | None = None
    rate_limit: float | None = None

    @property
    def role(self) -> str:
        """The key's role (its stored scope)."""
        return self.scope

    def allows(self, needed: str) -> bool:
        """Whether this key's role grants the permission ``needed`` (a legacy scope name
        ``write`` / ``read`` / ``admin`` is read as collect / personal / admin)."""
        needed = _LEGACY_NEEDS.get(needed, needed)
        return self.revoked_at is None and needed in GRANTS.get(self.scope, frozenset())


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
        self._buckets: dict[str, tuple[float, float]] = {}

    def create(self, scope: str, *, source: str = "default", name: str | None = None,
               expires_at: datetime | None = None, rate_limit: float | None = None
               ) -> CreatedKey:
        """Create a key and return it with its secret.

        Args:
            scope: the role (see the module's table).
            source: source name events sent with the key are tagged with.
            name: a label.
            expires_at: refused from this time on.
            rate_limit: requests per second allowed (429 with ``Retry-After`` beyond).

        Raises:
            ValidationError: unknown role, a source name with odd characters, an expiry in
                the past or a rate limit that is not positive.
        """
        if scope not in SCOPES:
            raise ValidationError(f"unknown role {scope!r}; valid: {', '.join(ROLES)}",
                                  field="scope")
        if expires_at is not None and expires_at <= datetime.now(UTC):
            raise ValidationError("expires_at must be in the future", field="expires_at")
        if rate_limit is not None and not 0 < rate_limit <= 1e6:
            raise ValidationError("rate_limit must be between 0 and 1000000 requests/s",
                                  field="rate_limit")
        if not source or not set(source) <= _SOURCE_OK or len(source) > 64:
            raise ValidationError(
                "use 1-64 letters, digits, '_', '-' or '.'", field="source"
            )
        key_id = secrets.token_hex(6)
        secret = f"aidmp_{scope[0]}_{key_id}_{secrets.token_urlsafe(24)}"
        key = ApiKey(key_id, scope, source, name, datetime.now(UTC),  # type: ignore[arg-type]
                     expires_at=expires_at, rate_limit=rate_limit)
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
        return self.create(old.scope, source=old.source, name=old.name,
                           expires_at=old.expires_at, rate_limit=old.rate_limit)

    def _reload(self) -> None:
        t = self.engine.table("api_keys")
        rows = self.engine.execute(t).to_pylist()
        cache = {}
        for r in rows:
            h = r.pop("key_hash")
            cache[h] = ApiKey(**r)
        self._cache = cache
        self._loaded_at = time.monotonic()

    def verify(self, secret: str | None, needed: str | None = None) -> ApiKey:
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
        if key.expires_at is not None and key.expires_at <= datetime.now(UTC):
            raise AuthError(f"API key {key.key_id} expired")
        if needed is not None and not key.allows(needed):
            raise ForbiddenError(f"key {key.key_id} has role {key.scope!r}, which does not "
                                 f"grant {_LEGACY_NEEDS.get(needed, needed)!r}")
        if key.rate_limit is not None:
            self._throttle(key)
        return key

    def _throttle(self, key: ApiKey) -> None:
        """A token bucket per key: ``rate_limit`` requests a second, bursts of one second."""
        assert key.rate_limit is not None
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(key.key_id, (key.rate_limit, now))
            tokens = min(key.rate_limit, tokens + (now - at) * key.rate_limit)
            if tokens < 1.0:
                self._buckets[key.key_id] = (tokens, now)
                raise RateLimitedError(f"key {key.key_id} is limited to {key.rate_limit:g} "
                                       f"requests per second",
                                       retry_after=(1.0 - tokens) / key.rate_limit)
            self._buckets[key.key_id] = (tokens - 1.0, now)
