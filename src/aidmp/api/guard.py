"""The ASGI middleware in front of every route: request ids, the key and the size limit before
a body is read, and 500s that say nothing but a request id.

For ``POST``/``PUT``/``PATCH``/``DELETE`` under ``/v1/``, before one byte of the body is read:

1. the key in ``Authorization`` (Bearer or Basic) is verified (401 when missing, unknown or
   revoked; the collector alone may go on without one, since analytics.js puts ``writeKey``
   in the body, which the collector reads before parsing anything else);
2. a declared ``Content-Length`` above the route's limit is a 413;
3. the body is read as it streams and refused with a 413 the moment it passes the limit, so
   a chunked body without a length is never held whole.

The scope check (403) stays with each route's dependency. Every answer carries
``X-Request-ID`` (the client's, when it is a short token, else a new one). An exception no
handler took is logged with method, route, request id and traceback (never the body or the
query string) and answered ``{"error": "internal_error", "message": ..., "request_id": ...}``.

Example:
    >>> request_id_from([(b"x-request-id", b"abc-123")])
    'abc-123'
    >>> len(request_id_from([(b"x-request-id", b"not valid!")]))
    32
"""

from __future__ import annotations

import logging
import re
import traceback
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from aidmp.api.auth import bearer_or_basic
from aidmp.errors import AidmpError, AuthError, PayloadTooLarge

log = logging.getLogger("aidmp.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")
_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's ``X-Request-ID`` when it is a short token, else a new random one."""
    for name, value in headers:
        if name == b"x-request-id" and _REQUEST_ID.match(value):
            return value.decode()
    return uuid.uuid4().hex


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


class InputGuard:
    """See the module docstring.

    Args:
        app: the wrapped ASGI app.
        verify: checks a key's secret (any scope) and raises :class:`AuthError`.
        collector_paths: paths that take ``writeKey`` in the body and ``collector_limit``.
        collector_limit: body limit of the collector paths (bytes, as sent on the wire).
        body_limit: body limit of every other route.
    """

    def __init__(self, app: ASGIApp, *, verify: Callable[[str], object],
                 collector_paths: frozenset[str], collector_limit: int, body_limit: int) -> None:
        self.app = app
        self.verify = verify
        self.collector_paths = collector_paths
        self.collector_limit = collector_limit
        self.body_limit = body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or [])
        rid = request_id_from(headers)
        scope.setdefault("state", {})["request_id"] = rid
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-request-id", rid.encode())]}
            await send(message)

        try:
            if scope["method"] in _WITH_BODY and scope["path"].startswith("/v1/"):
                replay = await self._admit(scope, headers, receive)
                receive = replay
            await self.app(scope, receive, send_with_id)
        except AidmpError as exc:  # refused by the guard itself
            if started:
                raise
            await _answer(send_with_id, exc.http_status, {**exc.to_dict(), "request_id": rid},
                          close=isinstance(exc, PayloadTooLarge))
        except Exception as exc:
            log_failure(exc, scope, rid)
            if started:
                return
            await _answer(send_with_id, 500, internal_error_body(rid))

    async def _admit(self, scope: Scope, headers: list[tuple[bytes, bytes]],
                     receive: Receive) -> Receive:
        collector = scope["path"] in self.collector_paths
        authorization = _header(headers, b"authorization")
        secret = bearer_or_basic(authorization)
        if secret:
            self.verify(secret)
        elif not collector:
            raise AuthError("missing API key: send it as 'Authorization: Bearer <key>'")
        limit = self.collector_limit if collector else self.body_limit
        length = _header(headers, b"content-length")
        if length is not None and length.strip().isdigit() and int(length) > limit:
            raise PayloadTooLarge(f"request body is {int(length)} bytes; the limit is {limit}",
                                  field="body")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes",
                                      field="body")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as a server does

        return replay


def log_failure(exc: BaseException, scope: Scope, request_id: str) -> None:
    """Log a failure of ours: method, route template (not the URL: it may hold an e-mail),
    request id and the traceback's frames, without the exception's message (it may quote
    personal data from the request)."""
    route = scope.get("route")
    where = getattr(route, "path", None) or scope.get("path", "?")
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("unhandled %s on %s %s (request %s)\nTraceback (most recent call last):\n%s",
              type(exc).__name__, scope.get("method"), where, request_id, frames.rstrip())


def internal_error_body(request_id: str) -> dict[str, str]:
    """The whole body of a 500: no detail of the failure, the id to find it in the log."""
    return {"error": "internal_error", "code": "internal_error",
            "message": f"internal error; the server log has it under request id {request_id}",
            "request_id": request_id}


async def _answer(send: Send, status: int, body: dict[str, Any], *, close: bool = False) -> None:
    payload = orjson.dumps(body)
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(payload)).encode())]
    if close:  # the rest of the body was not read: the connection cannot be reused
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


__all__ = ["InputGuard", "internal_error_body", "log_failure", "request_id_from"]
