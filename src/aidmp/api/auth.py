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
from aidmp.privacy.keys import ApiKey, Scope


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


def require(scope: Scope):  # type: ignore[no-untyped-def]
    """A FastAPI dependency that checks the request's key against ``scope``."""

    def dependency(request: Request) -> ApiKey:
        secret = bearer_or_basic(request.headers.get("authorization"))
        return request.app.state.dmp.keys.verify(secret, scope)  # type: ignore[no-any-return]

    return dependency
