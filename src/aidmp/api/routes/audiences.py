"""``/v1/destinations`` and ``/v1/segments/{id}/sync``: activation over REST (admin keys).

Example:
    >>> sorted(r.path for r in router.routes)  # doctest: +NORMALIZE_WHITESPACE
    ['/v1/destinations', '/v1/destinations', '/v1/destinations/{name}',
     '/v1/segments/{segment_id}/sync']
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from aidmp.api.auth import require
from aidmp.audiences.service import Audiences
from aidmp.privacy.keys import ApiKey

router = APIRouter(tags=["audiences"])


def _audiences(request: Request) -> Audiences:
    return request.app.state.dmp.audiences  # type: ignore[no-any-return]


class SyncRequest(BaseModel):
    """Which destination to sync a segment to."""

    model_config = ConfigDict(extra="forbid")
    destination: str = Field(min_length=1, max_length=64)
    dry_run: bool = False
    campaign: str | None = Field(default=None, description="leave out this campaign's holdout")


@router.post("/v1/destinations", status_code=201)
def add_destination(request: Request, body: dict[str, Any] = Body(...), replace: bool = False,
                    key: ApiKey = Depends(require("audiences"))) -> dict[str, Any]:
    """Check and save a destination (the body is its config, with ``type`` and ``name``;
    ``replace`` overwrites one of that name)."""
    dest = _audiences(request).add_destination(body, replace=replace)
    request.app.state.dmp.audit.record(key.key_id, "destinations.add", dest.name,
                                       {"type": dest.type})
    return dest.model_dump()


@router.get("/v1/destinations")
def list_destinations(request: Request,
                      _: ApiKey = Depends(require("aggregate"))) -> list[dict[str, Any]]:
    """Every saved destination (admin: configs name URLs and folders)."""
    return [d.model_dump() for d in _audiences(request).list_destinations()]


@router.delete("/v1/destinations/{name}")
def remove_destination(request: Request, name: str,
                       key: ApiKey = Depends(require("audiences"))) -> dict[str, Any]:
    """Delete a saved destination."""
    _audiences(request).remove_destination(name)
    request.app.state.dmp.audit.record(key.key_id, "destinations.remove", name, {})
    return {"name": name, "deleted": True}


@router.post("/v1/segments/{segment_id}/sync")
def sync(request: Request, segment_id: str, body: SyncRequest,
         key: ApiKey = Depends(require("audiences"))) -> dict[str, Any]:
    """Send a segment to a destination (everyone first, then only adds and removes)."""
    result = _audiences(request).sync(segment_id, body.destination, dry_run=body.dry_run,
                                      campaign=body.campaign).to_dict()
    if not body.dry_run:
        request.app.state.dmp.audit.record(
            key.key_id, "audiences.sync", segment_id,
            {"destination": body.destination, "added": result["added"],
             "removed": result["removed"]})
    return result


__all__ = ["router"]
