"""Probabilistic identity matching over REST: run, fitted model, review, accept / reject."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from aidmp.api.auth import require
from aidmp.identity.matching.config import MatchingConfig
from aidmp.privacy.keys import ApiKey

router = APIRouter()


@router.post("/v1/identity/match", tags=["identity"])
def match(request: Request, config: MatchingConfig | None = None, resolve: bool = True,
          _: ApiKey = Depends(require("operate"))) -> dict[str, Any]:
    """Run probabilistic matching (body: a matching configuration; empty: automatic) and
    re-resolve when something was linked. ``warnings`` say why nothing could be compared;
    ``model`` is the fitted model (prior, m / u / weight per level)."""
    dmp = request.app.state.dmp
    matcher = dmp.matching_with(config)
    result: dict[str, Any] = matcher.match().to_dict()
    if getattr(matcher, "fitted_", None) is not None:
        result["model"] = matcher.model()
    if resolve and result["linked"]:
        result["resolve"] = dmp.identity.resolve().to_dict()
    return result


@router.get("/v1/identity/review", tags=["identity"])
def review(request: Request, limit: int = Query(50, ge=1, le=1000),
           _: ApiKey = Depends(require("personal"))) -> list[dict[str, Any]]:
    """Pairs waiting for a decision with both records' values, each comparison's level and
    match weight, best score first."""
    return request.app.state.dmp.matching.review_list(limit=limit)  # type: ignore[no-any-return]


@router.post("/v1/identity/links/{link_id}/accept", tags=["identity"])
def accept(request: Request, link_id: str,
           _: ApiKey = Depends(require("operate"))) -> dict[str, Any]:
    """Accept a probable match (the two profiles merge)."""
    return request.app.state.dmp.matching.accept(link_id)  # type: ignore[no-any-return]


@router.post("/v1/identity/links/{link_id}/reject", tags=["identity"])
def reject(request: Request, link_id: str,
           _: ApiKey = Depends(require("operate"))) -> dict[str, Any]:
    """Reject a probable match (never proposed again)."""
    return request.app.state.dmp.matching.reject(link_id)  # type: ignore[no-any-return]
