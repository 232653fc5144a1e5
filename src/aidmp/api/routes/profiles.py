"""Profiles, identity, build and quality over REST."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from aidmp.api.auth import require
from aidmp.api.params import PAGE, When
from aidmp.api.routes.jobs import JOB_RESPONSES, WAIT, answer_job
from aidmp.privacy.keys import ApiKey
from aidmp.spec.identity import split_identifier

router = APIRouter()


def _fresh(request: Request) -> None:
    # An event accepted a moment ago may still sit in the collector's buffer: a lookup right
    # after an order must show it.
    collector = getattr(request.app.state, "collector", None)
    if collector is not None:
        collector.flush()


@router.get("/v1/profiles/{ident}", tags=["profiles"])
def get_profile(request: Request, ident: str,
                _: ApiKey = Depends(require("personal"))) -> dict[str, Any]:
    """A profile by any identifier (``email:ann@x.com``): traits with provenance, computed
    traits, scores, interests, identities, and counters updated since the last build."""
    _fresh(request)
    id_type, value = split_identifier(ident)
    return request.app.state.dmp.profiles.get(id_type, value)  # type: ignore[no-any-return]


@router.get("/v1/profiles/{ident}/events", tags=["profiles"])
def profile_events(request: Request, ident: str, page: int = PAGE,
                   size: int = Query(50, ge=1, le=1000),
                   _: ApiKey = Depends(require("personal"))) -> dict[str, Any]:
    """The person's timeline, newest first, paged."""
    _fresh(request)
    dmp = request.app.state.dmp
    id_type, value = split_identifier(ident)
    return dmp.profiles.events(  # type: ignore[no-any-return]
        dmp.identity.profile_of(id_type, value), page=page, size=size)


class Lookup(BaseModel):
    """A person named by any identifier, in the body so that it stays out of URLs and access
    logs."""

    model_config = ConfigDict(extra="forbid")
    id_type: str = Field(min_length=1, max_length=64, description="email, phone, user_id...")
    id_value: str = Field(min_length=1, max_length=1024)


class TimelineLookup(Lookup):
    """A person and a page of their timeline."""

    page: int = Field(default=1, ge=1)
    size: int = Field(default=50, ge=1, le=1000)


@router.post("/v1/profiles/lookup", tags=["profiles"])
def lookup_profile(request: Request, body: Lookup,
                   _: ApiKey = Depends(require("personal"))) -> dict[str, Any]:
    """``GET /v1/profiles/{ident}`` with the identifier in the body."""
    _fresh(request)
    return request.app.state.dmp.profiles.get(  # type: ignore[no-any-return]
        body.id_type, body.id_value)


@router.post("/v1/profiles/lookup/events", tags=["profiles"])
def lookup_events(request: Request, body: TimelineLookup,
                  _: ApiKey = Depends(require("personal"))) -> dict[str, Any]:
    """``GET /v1/profiles/{ident}/events`` with the identifier in the body."""
    _fresh(request)
    dmp = request.app.state.dmp
    return dmp.profiles.events(  # type: ignore[no-any-return]
        dmp.identity.profile_of(body.id_type, body.id_value), page=body.page, size=body.size)


@router.post("/v1/build", tags=["profiles"], status_code=202, responses=JOB_RESPONSES)
def build(request: Request, full: bool = False, as_of: When | None = None,
          wait: bool = WAIT, key: ApiKey = Depends(require("operate"))) -> Any:
    """Resolve identities and rebuild profiles: only what new events touch (the people whose
    events changed, then the ranks over everyone), unless ``full``.

    Every window ends at the wall clock at the start of the build; ``as_of`` (ISO-8601, UTC;
    not in the future) builds the profiles as they stood at that instant instead: only events
    up to it, every window ending there (always a full build).

    A ``build`` job: answered 202 with the job at once (``Location: /v1/jobs/{id}``; its
    result is the build report). ``?wait=true`` answers the build report itself once the job
    ends, for scripts.
    """
    return answer_job(request, key, "build",
                      {"full": full, "as_of": as_of.isoformat() if as_of else None}, wait=wait)


@router.post("/v1/identity/resolve", tags=["identity"], status_code=202,
             responses=JOB_RESPONSES, operation_id="identity_resolve")
def identity_resolve(request: Request, full: bool = False, wait: bool = WAIT,
                     key: ApiKey = Depends(require("operate"))) -> Any:
    """Bring the identity graph up to date with the events (a build does this too):
    incremental unless a full run could give another answer, or ``full``.

    An ``identity.resolve`` job: answered 202 with the job at once; ``?wait=true`` answers
    the resolution's counts once it ends.
    """
    return answer_job(request, key, "identity.resolve", {"full": full}, wait=wait)


class TruthRow(BaseModel):
    """One identifier and the person it really belongs to."""

    model_config = ConfigDict(extra="forbid")
    id_type: str = Field(min_length=1, max_length=64)
    id_value: str = Field(min_length=1, max_length=1024)
    person_id: str = Field(min_length=1, max_length=1024)


class TruthRequest(BaseModel):
    """A ground truth to score the stored resolution against."""

    model_config = ConfigDict(extra="forbid")
    rows: list[TruthRow] = Field(min_length=1, max_length=1_000_000)


@router.post("/v1/identity/evaluate", tags=["identity"], operation_id="identity_evaluate")
def identity_evaluate(request: Request, body: TruthRequest,
                      _: ApiKey = Depends(require("operate"))) -> dict[str, Any]:
    """Pairwise precision and recall of the stored resolution against a ground truth."""
    import polars as pl

    from aidmp.identity.evaluate import evaluate

    frame = pl.DataFrame([r.model_dump() for r in body.rows],
                         schema={"id_type": pl.String, "id_value": pl.String,
                                 "person_id": pl.String})
    return evaluate(request.app.state.dmp.identity, frame)


@router.get("/v1/identity/merges", tags=["identity"])
def merges(request: Request, profile_id: str | None = None,
           limit: int = Query(100, ge=1, le=10_000),
           _: ApiKey = Depends(require("personal"))) -> list[dict[str, Any]]:
    """Merge records with rule and evidence, newest first."""
    return request.app.state.dmp.identity.merges(  # type: ignore[no-any-return]
        profile_id, limit=limit)


@router.post("/v1/identity/merges/{merge_id}/unmerge", tags=["identity"])
def unmerge(request: Request, merge_id: str,
            _: ApiKey = Depends(require("operate"))) -> dict[str, Any]:
    """Undo a merge."""
    return request.app.state.dmp.identity.unmerge(merge_id)  # type: ignore[no-any-return]


@router.get("/v1/quality", tags=["quality"])
def quality(request: Request, as_of: When | None = None,
            _: ApiKey = Depends(require("aggregate"))) -> dict[str, Any]:
    """The data-quality report per source and for the last build.

    ``as_of`` (ISO-8601, UTC; not in the future) profiles the store as it stood at that
    instant: only events up to it, freshness lag measured to it (the profiles' figures, of
    the last build's own instant, are left out)."""
    _fresh(request)
    return request.app.state.dmp.quality.report(as_of=as_of)  # type: ignore[no-any-return]


@router.get("/v1/stats/traits", tags=["profiles"])
def describe_traits(request: Request, traits: str | None = Query(None, max_length=2000),
                    _: ApiKey = Depends(require("aggregate"))) -> dict[str, Any]:
    """Count, mean, median, std, quartiles (numbers) or top values (texts) of ``traits``
    (comma-separated profile columns; every column, up to 50, when omitted)."""
    return request.app.state.dmp.profiles.describe(traits)  # type: ignore[no-any-return]


@router.get("/v1/stats/rfm", tags=["profiles"])
def rfm_distribution(request: Request,
                     _: ApiKey = Depends(require("aggregate"))) -> dict[str, Any]:
    """Buyers per R x F score pair (5 x 5 grid) and per RFM segment."""
    return request.app.state.dmp.profiles.rfm()  # type: ignore[no-any-return]
