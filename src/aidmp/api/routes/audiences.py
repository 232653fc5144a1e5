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
from aidmp.api.routes.jobs import JOB_RESPONSES, WAIT, answer_job
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


@router.post("/v1/segments/{segment_id}/sync", status_code=202, responses=JOB_RESPONSES)
def sync(request: Request, segment_id: str, body: SyncRequest, wait: bool = WAIT,
         key: ApiKey = Depends(require("audiences"))) -> Any:
    """Send a segment to a destination (everyone first, then only adds and removes).

    An ``audiences.sync`` job: answered 202 with the job at once (an unknown segment or
    destination is a 404 first); ``?wait=true`` answers the sync summary once the job ends.
    """
    return answer_job(request, key, "audiences.sync",
                      {"segment_id": segment_id, **body.model_dump()}, wait=wait)


__all__ = ["router"]
