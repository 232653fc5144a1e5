"""Segment HTTP Tracking API: ``POST /v1/track|identify|page|screen|group|alias|batch``.

The short paths analytics.js uses (``/v1/t``, ``/v1/i``, ``/v1/p``, ``/v1/s``, ``/v1/g``,
``/v1/a``, ``/v1/b``) are served too. The write key comes as HTTP Basic username (empty password)
or as ``writeKey`` in the body.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from aidmp.api.auth import bearer_or_basic
from aidmp.collect.collector import body_write_key, decode_body

router = APIRouter(tags=["collect"])
_SHORT = {"t": "track", "i": "identify", "p": "page", "s": "screen", "g": "group", "a": "alias",
          "b": "batch"}


async def _collect(request: Request, path_type: str) -> Response:
    received_at = datetime.now(UTC)
    collector = request.app.state.collector
    limits = collector.settings.limits
    # The guard middleware (aidmp.api.guard) has verified a header key and cut the body at
    # the size limit before this runs.
    # Segment SDKs send HTTP Basic; a Bearer write key is taken too (one header for all routes)
    header_key = bearer_or_basic(request.headers.get("authorization"))
    keys = request.app.state.keys  # dmp.keys, or the exported key file (collector-only)
    key = keys.verify(header_key, "write") if header_key else None  # 401 before parsing
    body = decode_body(await request.body(), request.headers.get("content-encoding"), limits)
    if key is None:  # the key is in the body (analytics.js): read only that field first
        key = keys.verify(body_write_key(body), "write")
    accepted, quarantined, seq = collector.accept(
        body, path_type=path_type, source=key.source, received_at=received_at)
    await collector.wait_async(seq)
    result: dict[str, Any] = {"success": True, "accepted": accepted,
                              "quarantined": len(quarantined)}
    if quarantined:
        result["errors"] = [{"field": q["field"], "reason": q["reason"]} for q in quarantined]
    return Response(orjson.dumps(result), media_type="application/json")


def _route(path_type: str) -> Any:
    async def endpoint(request: Request) -> Response:
        return await _collect(request, path_type)

    endpoint.__name__ = f"collect_{path_type}"
    endpoint.__doc__ = (f"Segment `{path_type}` call. Answers 200 once the messages are durable; "
                        "invalid messages of a batch go to the quarantine with the reason.")
    return endpoint


for _type in ("track", "identify", "page", "screen", "group", "alias", "batch"):
    router.add_api_route(f"/v1/{_type}", _route(_type), methods=["POST"])
for _short, _type in _SHORT.items():
    router.add_api_route(f"/v1/{_short}", _route(_type), methods=["POST"],
                         include_in_schema=False)
