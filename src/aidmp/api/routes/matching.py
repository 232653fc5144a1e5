"""Probabilistic identity matching over REST: run, fitted model, review, accept / reject."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from aidmp.api.auth import require
from aidmp.api.routes.jobs import JOB_RESPONSES, WAIT, answer_job
from aidmp.identity.matching.config import MatchingConfig
from aidmp.privacy.keys import ApiKey

router = APIRouter()


@router.post("/v1/identity/match", tags=["identity"], status_code=202,
             responses=JOB_RESPONSES)
def match(request: Request, config: MatchingConfig | None = None, resolve: bool = True,
          wait: bool = WAIT, key: ApiKey = Depends(require("operate"))) -> Any:
    """Run probabilistic matching (body: a matching configuration; empty: automatic) and
    re-resolve when something was linked.

    An ``identity.match`` job (Splink fits its model for minutes on a large store; stages
    blocking, training, predicting, linking, resolving): answered 202 with the job at once
    (``Location: /v1/jobs/{id}``), or its result with ``?wait=true``: the run's summary
    (``warnings`` say why nothing could be compared), ``model`` (prior, m / u / weight per
    level) and ``resolve``. A bad configuration, an unknown source or field is a 400 naming
    it before any job exists.
    """
    body = None if config is None else config.model_dump(mode="json", exclude_unset=True)
    return answer_job(request, key, "identity.match", {"config": body, "resolve": resolve},
                      wait=wait)


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
