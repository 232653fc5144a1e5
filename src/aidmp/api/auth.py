"""Reading keys from requests: HTTP Basic username (Segment SDKs), Bearer token, or ``writeKey``.

Example:
    >>> import base64
    >>> basic_username("Basic " + base64.b64encode(b"wk_123:").decode())
    'wk_123'
    >>> bearer_or_basic("Bearer abc")
    'abc'
"""

from __future__ import annotations

import base64
import binascii

from fastapi import Request

from aidmp.errors import AuthError
from aidmp.privacy.keys import PERMISSIONS, ApiKey, Permission


def basic_username(header: str | None) -> str | None:
    """The username of an HTTP Basic ``Authorization`` header (Segment's write-key slot)."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise AuthError("Authorization header is not valid Basic base64") from None
    return decoded.partition(":")[0]


def bearer_or_basic(header: str | None) -> str | None:
    """A key from ``Bearer <key>`` or ``Basic base64(<key>:)``."""
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip()
    return basic_username(header)


AUDITED = frozenset({"personal", "privacy", "admin"})
"""Permissions whose every use is written to the audit log (besides every change)."""


def require(permission: Permission):  # type: ignore[no-untyped-def]
    """A FastAPI dependency that checks the request's key grants ``permission`` (the roles
    granting each one: :mod:`aidmp.privacy.keys`)."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}; valid: {', '.join(PERMISSIONS)}")

    def dependency(request: Request) -> ApiKey:
        secret = bearer_or_basic(request.headers.get("authorization"))
        dmp = request.app.state.dmp
        key: ApiKey = dmp.keys.verify(secret, permission)
        if request.method != "GET" or permission in AUDITED:
            # who read personal data or changed something, by route (never the identifiers
            # a path may carry)
            route = request.scope.get("route")
            dmp.audit.record(key.key_id, f"{request.method} {getattr(route, 'path', '?')}",
                             None, {"role": key.scope,
                                    "request_id": getattr(request.state, "request_id", None)})
        return key

    dependency.permission = permission  # type: ignore[attr-defined]  # read by the tests
    return dependency
