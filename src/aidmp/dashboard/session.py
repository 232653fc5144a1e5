"""Signed-in sessions: a signed cookie that names the key (never holds its secret), CSRF tokens.

The cookie holds ``{"k": key id, "c": CSRF token}`` signed with itsdangerous (HMAC-SHA1 over a key
derived from a 32-byte server secret kept in ``<home>/dashboard.secret``, created on first use
with mode 0600) and is refused after :data:`MAX_AGE` seconds. Each request checks the key again,
so a revoked key's session ends at its next request.

Example:
    >>> import tempfile
    >>> s = Sessions(secret_file(tempfile.mkdtemp()))
    >>> cookie = s.issue("3f9c2a1b7d4e")
    >>> s.read(cookie).key_id
    '3f9c2a1b7d4e'
    >>> s.read(cookie + "x") is None
    True
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "aidmp_session"
LOGIN_CSRF_COOKIE = "aidmp_login_csrf"
LANG_COOKIE = "aidmp_lang"
MAX_AGE = 12 * 3600
"""Seconds a sign-in lasts."""
CSRF_HEADER = "x-csrf-token"


def secret_file(home: str | Path) -> Path:
    """The server secret's file in ``home``, created (random, mode 0600) when missing."""
    path = Path(home) / "dashboard.secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path


@dataclass(frozen=True)
class Session:
    """What a signed cookie says: the key signed in with and the session's CSRF token."""

    key_id: str
    csrf: str


class Sessions:
    """Issue and read signed session cookies."""

    def __init__(self, secret_path: Path) -> None:
        self._serializer = URLSafeTimedSerializer(
            secret_path.read_text().strip(), salt="aidmp.dashboard.session")

    def issue(self, key_id: str) -> str:
        """A new cookie value for ``key_id`` with a fresh CSRF token."""
        return self._serializer.dumps({"k": key_id, "c": secrets.token_urlsafe(24)})

    def read(self, cookie: str | None) -> Session | None:
        """The session of a cookie, or None when missing, tampered with or expired."""
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=MAX_AGE)
        except BadSignature:  # SignatureExpired is a BadSignature
            return None
        if not isinstance(data, dict) or not isinstance(data.get("k"), str) \
                or not isinstance(data.get("c"), str):
            return None
        return Session(data["k"], data["c"])


def same_token(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of two CSRF tokens (both must be present)."""
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
