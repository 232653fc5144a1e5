"""A client of a running aidmp server, driven by the server's own OpenAPI document.

Callers name an operation by its ``operationId`` and give its parameters by name; where each
one goes (path, query string or JSON body) and which method and path to use come from the
server's ``/openapi.json``, fetched once per server run and cached in the home. There is no
hand-written copy of any route here: when a route changes, the client follows.

An error answer becomes a :class:`RemoteError` whose text is the server's one-line message, so
the CLI prints the same ``error: <field>: <problem>`` as when it runs the work itself.

Example:
    >>> ops = operations({"paths": {"/v1/keys/{key_id}/revoke": {"post": {
    ...     "operationId": "keys_revoke",
    ...     "parameters": [{"name": "key_id", "in": "path"}]}}}})
    >>> ops["keys_revoke"].url({"key_id": "a b"})
    ('/v1/keys/a%20b/revoke', {})
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from aidmp.errors import AidmpError
from aidmp.service.handshake import Handshake, alive, read

_TIMEOUT = httpx.Timeout(10.0, read=900.0)  # a synchronous route may work for minutes


class RemoteError(AidmpError):
    """An error answer of the server, carrying its status and one-line message."""

    def __init__(self, status: int, body: Any) -> None:
        body = body if isinstance(body, dict) else {}
        message = str(body.get("message") or f"the server answered HTTP {status}")
        super().__init__(message)
        self.http_status = status
        self.code = str(body.get("error") or "remote_error")
        self.field = body.get("field")

    def __str__(self) -> str:  # the server's message already names the field
        return self.message


@dataclass(frozen=True)
class Operation:
    """One operation of the document: method, path template and where parameters go."""

    operation_id: str
    method: str
    path: str
    path_params: frozenset[str]
    query_params: frozenset[str]

    def url(self, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The path with its parameters filled in, and the query parameters.

        Raises:
            AidmpError: a parameter the operation does not declare (client and server
                disagree: a different version).
        """
        unknown = set(params) - self.path_params - self.query_params
        if unknown:
            raise AidmpError(f"the server's {self.operation_id} takes no parameter "
                             f"{sorted(unknown)[0]!r} (client and server versions differ?)")
        path = self.path
        for name in self.path_params:
            path = path.replace("{" + name + "}", quote(str(params[name]), safe=""))
        query = {k: v for k, v in params.items() if k in self.query_params and v is not None}
        return path, query


_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def revive(value: Any) -> Any:
    """JSON with its date-times as ``datetime`` again (FastAPI writes them as ISO 8601 text),
    so a command renders a server's answer exactly as it renders the facade's own values.

    Example:
        >>> revive({"at": ["2026-12-07T10:00:00Z"], "n": "12"})
        {'at': [datetime.datetime(2026, 12, 7, 10, 0, tzinfo=datetime.timezone.utc)], 'n': '12'}
    """
    if isinstance(value, dict):
        return {k: revive(v) for k, v in value.items()}
    if isinstance(value, list):
        return [revive(v) for v in value]
    if isinstance(value, str) and _ISO_TIME.match(value):
        return datetime.fromisoformat(value)
    return value


def operations(doc: dict[str, Any]) -> dict[str, Operation]:
    """Every operation of an OpenAPI document, by operationId."""
    out = {}
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if not isinstance(op, dict) or "operationId" not in op:
                continue
            params = op.get("parameters", [])
            out[op["operationId"]] = Operation(
                op["operationId"], method.upper(), path,
                frozenset(p["name"] for p in params if p.get("in") == "path"),
                frozenset(p["name"] for p in params if p.get("in") == "query"))
    return out


class ServiceClient:
    """Calls operations of the server a handshake names.

    Args:
        hs: the server's handshake (address and key).
        cache: file to keep the OpenAPI document in between runs of the CLI.
    """

    def __init__(self, hs: Handshake, cache: Path | None = None) -> None:
        self.hs = hs
        self.cache = cache
        self.http = httpx.Client(base_url=hs.url, timeout=_TIMEOUT,
                                 headers={"Authorization": f"Bearer {hs.token}"})
        self._ops: dict[str, Operation] | None = None

    @classmethod
    def discover(cls, home: str | Path) -> ServiceClient | None:
        """The client of the server holding ``home``, or None when no live server does.

        Raises:
            AidmpError: the server's process runs but does not answer ``/health`` within 60 s
                (it holds the store, so opening it here would fail too).
        """
        hs = read(home)
        if hs is None or not alive(hs):
            return None
        try:  # a busy server may take seconds to answer; it still owns the store
            status = httpx.get(hs.url + "/health", timeout=60.0).status_code
        except httpx.HTTPError as exc:
            raise AidmpError(f"home: aidmp serve (pid {hs.pid}) holds this home but does not "
                             f"answer at {hs.url} ({type(exc).__name__})") from None
        if status != 200:
            raise AidmpError(f"home: aidmp serve (pid {hs.pid}) at {hs.url} answered /health "
                             f"with HTTP {status}")
        return cls(hs, Path(home) / ".cache" / "openapi.json")

    def _document(self) -> dict[str, Any]:
        if self.cache is not None and self.cache.exists():
            try:
                cached = orjson.loads(self.cache.read_bytes())
                if cached.get("pid") == self.hs.pid and cached.get("url") == self.hs.url:
                    return dict(cached["doc"])
            except ValueError:
                pass
        doc = self.http.get("/openapi.json").raise_for_status().json()
        if self.cache is not None:
            self.cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.cache.with_suffix(".tmp")
            tmp.write_bytes(orjson.dumps({"pid": self.hs.pid, "url": self.hs.url, "doc": doc}))
            tmp.replace(self.cache)
        return dict(doc)

    def operation(self, operation_id: str) -> Operation:
        """An operation by id.

        Raises:
            AidmpError: the server has no such operation.
        """
        if self._ops is None:
            self._ops = operations(self._document())
        if operation_id not in self._ops:
            raise AidmpError(f"the server at {self.hs.url} has no operation {operation_id!r} "
                             "(client and server versions differ?)")
        return self._ops[operation_id]

    def call(self, operation_id: str, params: dict[str, Any] | None = None, *,
             body: Any = None, content: bytes | None = None) -> Any:
        """Call an operation; its JSON answer.

        Args:
            operation_id: the operation's id in the server's document.
            params: path and query parameters by name.
            body: JSON body.
            content: raw body (uploads), instead of ``body``.

        Raises:
            RemoteError: the server answered an error.
        """
        op = self.operation(operation_id)
        path, query = op.url(params or {})
        resp = self.http.request(op.method, path, params=query, content=content,
                                 json=body if content is None else None)
        if resp.status_code >= 400:
            try:
                detail = resp.json()
            except ValueError:
                detail = None
            raise RemoteError(resp.status_code, detail)
        if not resp.content:
            return None
        if not resp.headers.get("content-type", "").startswith("application/json"):
            return resp.content  # an archive or a file
        return revive(resp.json())

    def download(self, operation_id: str, params: dict[str, Any], target: Path) -> httpx.Headers:
        """Call an operation that answers a file and stream its body into ``target``
        (written beside it first, then moved, so a failed transfer leaves no half file).

        Returns:
            The answer's headers (what the route says about the file).

        Raises:
            RemoteError: the server answered an error (``target`` is left untouched).
        """
        op = self.operation(operation_id)
        path, query = op.url(params)
        with self.http.stream(op.method, path, params=query) as resp:
            if resp.status_code >= 400:
                resp.read()
                try:
                    detail = resp.json()
                except ValueError:
                    detail = None
                raise RemoteError(resp.status_code, detail)
            target.parent.mkdir(parents=True, exist_ok=True)
            part = target.with_name(target.name + ".part")
            with part.open("wb") as fh:
                for chunk in resp.iter_bytes():
                    fh.write(chunk)
            part.replace(target)
            return resp.headers

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()


__all__ = ["Operation", "RemoteError", "ServiceClient", "operations"]
