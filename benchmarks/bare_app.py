"""The framework limit: a bare FastAPI ``/v1/batch`` that validates the JSON and keeps the bytes.

This is what STACK-NOTES calls the baseline: parse + validate with one pydantic model per
request (``model_validate_json``), keep the raw body in memory, answer 200. No auth, no
per-event quarantine, no durability. ``BARE_PARSE_ONLY=1`` makes it only decode the JSON
(orjson), a stricter limit. Run: ``uvicorn benchmarks.bare_app:app``.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from pydantic import BaseModel, ConfigDict


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    messageId: str | None = None
    userId: str | None = None
    anonymousId: str | None = None
    event: str | None = None
    timestamp: str | None = None
    properties: dict[str, Any] | None = None
    context: dict[str, Any] | None = None


class Batch(BaseModel):
    model_config = ConfigDict(extra="allow")
    batch: list[Message]


app = FastAPI()
KEPT: list[bytes] = []


PARSE_ONLY = os.environ.get("BARE_PARSE_ONLY") == "1"


@app.post("/v1/batch")
async def batch(request: Request) -> Response:
    raw = await request.body()
    if PARSE_ONLY:  # the stricter limit: decode the JSON, no validation at all
        orjson.loads(raw)
    else:
        Batch.model_validate_json(raw)
    KEPT.append(raw)
    if len(KEPT) > 10_000:  # bounded memory for long runs
        KEPT.clear()
    return Response(b'{"success":true}', media_type="application/json")
