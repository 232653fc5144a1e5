"""Consent, data-subject access and erasure, the audit log (``/v1/privacy/...``, ``/v1/audit``).

Identifiers travel in request bodies, never in URLs (they would reach access logs)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from aidmp.api.auth import require
from aidmp.api.params import When
from aidmp.privacy.keys import ApiKey

router = APIRouter(tags=["privacy"])


class Subject(BaseModel):
    """A person, named by any identifier."""

    model_config = ConfigDict(extra="forbid")
    id_type: str = Field(min_length=1, max_length=64, description="email, phone, user_id...")
    id_value: str = Field(min_length=1, max_length=1024)


class ConsentDecision(Subject):
    """One consent decision for one identifier."""

    purpose: str = Field(min_length=1, max_length=64)
    granted: bool
    source: str = Field(default="api", min_length=1, max_length=64)


@router.post("/v1/privacy/consent")
def set_consent(request: Request, body: ConsentDecision,
                key: ApiKey = Depends(require("privacy"))) -> dict[str, Any]:
    """Record a decision; the person's consents are resolved again at once."""
    dmp = request.app.state.dmp
    out = dmp.privacy.consent.record(body.id_type, body.id_value, body.purpose, body.granted,
                                     source=body.source, actor=key.key_id)
    dmp.audit.record(key.key_id, "privacy.consent.set", None,
                     {"purpose": body.purpose, "granted": body.granted})
    return out  # type: ignore[no-any-return]


@router.post("/v1/privacy/consent/lookup")
def consent_of(request: Request, body: Subject,
               key: ApiKey = Depends(require("privacy"))) -> dict[str, Any]:
    """The person's resolved consents and the history of their decisions."""
    dmp = request.app.state.dmp
    ledger = dmp.privacy.consent
    out = {"consents": ledger.of(body.id_type, body.id_value),
           "history": ledger.history(body.id_type, body.id_value)}
    pid = out["consents"][0]["profile_id"] if out["consents"] else None
    dmp.audit.record(key.key_id, "privacy.consent.read", pid)
    return out


@router.get("/v1/privacy/consent/report")
def consent_report(request: Request,
                   _: ApiKey = Depends(require("aggregate"))) -> list[dict[str, Any]]:
    """Per purpose: people who granted, withdrew, said nothing; what each excludes."""
    return request.app.state.dmp.privacy.consent.report()  # type: ignore[no-any-return]


@router.post("/v1/privacy/access", response_class=Response,
             responses={200: {"content": {"application/zip": {}},
                              "description": "the access archive"}})
def access(request: Request, body: Subject,
           key: ApiKey = Depends(require("privacy"))) -> Response:
    """Everything held about the person, as a ZIP archive (layout in docs/privacy.md)."""
    data = request.app.state.dmp.privacy.access(body.id_type, body.id_value, actor=key.key_id)
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": 'attachment; filename="access.zip"'})


class ErasureRequest(Subject):
    """A person to erase; ``compact`` false leaves the file rewrite to the privacy.compact job
    (the rows are gone from every query at once)."""

    compact: bool = True


@router.post("/v1/privacy/erasure")
def erase(request: Request, body: ErasureRequest,
          key: ApiKey = Depends(require("privacy"))) -> dict[str, Any]:
    """Erase the person everywhere and suppress their identifiers; counts only in the
    answer."""
    return request.app.state.dmp.privacy.erase(  # type: ignore[no-any-return]
        body.id_type, body.id_value, actor=key.key_id, compact=body.compact)


@router.get("/v1/privacy/requests")
def requests(request: Request, kind: Literal["access", "erasure"] | None = None,
             limit: int = Query(100, ge=1, le=1000),
             _: ApiKey = Depends(require("privacy"))) -> list[dict[str, Any]]:
    """Access and erasure requests, newest first (no identifier in them)."""
    return request.app.state.dmp.privacy.requests(kind, limit)  # type: ignore[no-any-return]


@router.get("/v1/audit", tags=["audit"])
def audit(request: Request, limit: int = Query(100, ge=1, le=10_000),
          actor: str | None = Query(None, max_length=128),
          action: str | None = Query(None, max_length=128),
          object: str | None = Query(None, max_length=256),
          since: When | None = None, until: When | None = None,
          _: ApiKey = Depends(require("privacy"))) -> list[dict[str, Any]]:
    """Audit entries, newest first, filtered by actor, action (``profiles.*``), object, time."""
    return request.app.state.dmp.audit.entries(  # type: ignore[no-any-return]
        limit, actor=actor, action=action, obj=object, since=since, until=until)


@router.get("/v1/audit/verify", tags=["audit"])
def audit_verify(request: Request, _: ApiKey = Depends(require("privacy"))) -> dict[str, Any]:
    """Walk the hash chain: ``ok`` false and the first bad entry when one was edited."""
    return request.app.state.dmp.audit.verify()  # type: ignore[no-any-return]


class PrivateRelease(BaseModel):
    """Segments to release noisy counts of, and the privacy budget to spend on them."""

    model_config = ConfigDict(extra="forbid")
    segment_ids: list[str] = Field(min_length=1, max_length=20)
    epsilon: float = Field(gt=0, le=1e6)


@router.post("/v1/privacy/dp/segment-sizes")
def dp_sizes(request: Request, body: PrivateRelease,
             key: ApiKey = Depends(require("aggregate"))) -> dict[str, Any]:
    """Differentially private segment sizes (Laplace noise; the budget spent is recorded)."""
    return request.app.state.dmp.privacy.dp.segment_sizes(  # type: ignore[no-any-return]
        body.segment_ids, epsilon=body.epsilon, actor=key.key_id)


@router.post("/v1/privacy/dp/overlaps")
def dp_overlaps(request: Request, body: PrivateRelease,
                key: ApiKey = Depends(require("aggregate"))) -> dict[str, Any]:
    """Differentially private pairwise overlaps of segments."""
    return request.app.state.dmp.privacy.dp.overlaps(  # type: ignore[no-any-return]
        body.segment_ids, epsilon=body.epsilon, actor=key.key_id)


@router.get("/v1/privacy/dp/budget")
def dp_budget(request: Request, _: ApiKey = Depends(require("aggregate"))) -> dict[str, Any]:
    """The privacy budget: total, spent, left, and every release."""
    reports = request.app.state.dmp.privacy.dp
    spent = reports.spent()
    return {"budget": reports.budget, "spent": spent, "left": reports.budget - spent,
            "releases": reports.releases()}
