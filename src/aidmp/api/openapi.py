"""The OpenAPI document as the API really behaves: request bodies, every status, security.

FastAPI's generated document leaves out what lives outside the route signatures: the
collector reads its body itself (so it gets no request body), errors are answered ``400`` by
the app's handler (FastAPI announces ``422``), keys are checked by dependencies and by the
:mod:`~aidmp.api.guard` middleware (no security schemes, no ``401``/``403``), bodies are
size-limited (``413``). :func:`truthful_openapi` completes the generated document once.

Statuses, per operation:

- every route under ``/v1/``: ``400`` (a parameter or body that breaks a rule; one status for
  every validation error), ``401`` (no, an unknown or a revoked key), ``403`` (a key of the
  wrong scope), ``404`` (an object the request names does not exist);
- a ``POST``/``PUT``/``PATCH``/``DELETE`` under ``/v1/``: ``413`` (body over the limit);
- the collector: the Segment message schemas as request body, ``503`` (the broker, when one
  is configured, refused the write: nothing was acknowledged).

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> from aidmp.api.app import create_app
    >>> doc = create_app(DMP(home=tempfile.mkdtemp())).openapi()
    >>> sorted(doc["paths"]["/v1/track"]["post"]["responses"])
    ['200', '400', '401', '403', '404', '413', '503']
    >>> doc["paths"]["/v1/batch"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    {'$ref': '#/components/schemas/SegmentBatch'}
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from aidmp.spec.events import SegmentMessage

COLLECTOR_TYPES = ("track", "identify", "page", "screen", "group", "alias", "batch")

_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "machine-readable code"},
        "code": {"type": "string", "description": "the same code (Segment SDKs read it)"},
        "message": {"type": "string", "description": "what is wrong and what would be valid"},
        "field": {"type": "string", "description": "the field at fault, when there is one"},
        "request_id": {"type": "string"},
    },
}
_STATUS_TEXT = {
    "400": "Invalid input: the body names the field and the problem",
    "401": "Missing, unknown or revoked key",
    "403": "The key's scope does not allow this",
    "404": "An object the request names does not exist",
    "413": "Request body (or one message) over the size limit",
    "503": "The broker refused the write; nothing was acknowledged (retry)",
}


def _error_response(status: str) -> dict[str, Any]:
    return {"description": _STATUS_TEXT[status],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _collector_schemas() -> dict[str, Any]:
    message = SegmentMessage.model_json_schema(ref_template="#/components/schemas/{model}")
    message.pop("title", None)
    message["additionalProperties"] = True
    single = copy.deepcopy(message)
    single.pop("required", None)  # the path gives the type
    single["properties"]["writeKey"] = {
        "type": "string", "description": "write key, when not sent as HTTP Basic username"}
    single["description"] = ("One Segment call; `type` defaults to the path's. " +
                             (message.get("description") or ""))
    batch = {
        "type": "object", "required": ["batch"], "additionalProperties": True,
        "properties": {
            "batch": {"type": "array", "minItems": 1,
                      "items": {"$ref": "#/components/schemas/SegmentMessage"}},
            "context": {"type": "object", "description": "applies to every message"},
            "integrations": {"type": "object"},
            "sentAt": {"type": "string", "format": "date-time",
                       "description": "device time of sending (clock-skew correction)"},
            "writeKey": {"type": "string"},
        },
        "description": "A Segment batch: each invalid message goes to the quarantine, the "
                       "valid ones are stored.",
    }
    accepted = {
        "type": "object", "required": ["success", "accepted", "quarantined"],
        "properties": {
            "success": {"type": "boolean"},
            "accepted": {"type": "integer", "description": "messages stored (durable)"},
            "quarantined": {"type": "integer"},
            "errors": {"type": "array", "items": {
                "type": "object", "properties": {"field": {"type": "string"},
                                                 "reason": {"type": "string"}}}},
        },
    }
    return {"SegmentMessage": message, "SegmentCall": single, "SegmentBatch": batch,
            "CollectAnswer": accepted}


def truthful_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, completed as described in the module docstring (cached)."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, description=app.description,
                      routes=app.routes)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["Error"] = _ERROR
    schemas.update(_collector_schemas())
    components["securitySchemes"] = {
        "writeKey": {"type": "http", "scheme": "basic",
                     "description": "a write key as HTTP Basic username, empty password "
                                    "(Segment SDKs); or `writeKey` in the JSON body"},
        "apiKey": {"type": "http", "scheme": "bearer",
                   "description": "a read or admin key: `Authorization: Bearer <key>` "
                                  "(HTTP Basic with the key as username works too)"},
    }
    collector = {f"/v1/{t}" for t in COLLECTOR_TYPES}
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            responses = op["responses"]
            responses.pop("422", None)
            if not path.startswith("/v1/"):
                continue
            statuses = ["400", "401", "403", "404"]
            if method in ("post", "put", "patch", "delete"):
                statuses.append("413")
            if path in collector:
                statuses.append("503")
                kind = "SegmentBatch" if path.endswith("/batch") else "SegmentCall"
                op["requestBody"] = {"required": True, "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{kind}"}}}}
                op["responses"]["200"] = {"description": "Durable (in the write-ahead log)",
                                          "content": {"application/json": {"schema": {
                                              "$ref": "#/components/schemas/CollectAnswer"}}}}
                op["security"] = [{"writeKey": []}]
            else:
                op["security"] = [{"apiKey": []}]
            for status in statuses:
                responses.setdefault(status, _error_response(status))
    app.openapi_schema = doc
    return doc


__all__ = ["COLLECTOR_TYPES", "truthful_openapi"]
