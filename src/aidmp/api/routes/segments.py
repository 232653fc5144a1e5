"""``/v1/segments``: create, list, show, size, members, export, delete, estimate, overlap."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from aidmp.api.auth import require
from aidmp.api.params import When
from aidmp.api.routes.jobs import JOB_RESPONSES, WAIT, answer_job
from aidmp.privacy.keys import ApiKey
from aidmp.segments.service import ExportFormat, Segments
from aidmp.spec.clock import point_in_time
from aidmp.spec.segments import SegmentSpec

router = APIRouter(tags=["segments"])


def _segments(request: Request) -> Segments:
    segments: Segments = request.app.state.dmp.segments
    return segments


class SegmentRequest(BaseModel):
    """A segment to create: a rule text or a JSON spec."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    rule: str | None = None
    spec: SegmentSpec | None = None
    description: str | None = None
    realtime: bool = False
    webhook_url: str | None = None


class RuleRequest(BaseModel):
    """An unsaved rule (text or spec) to size."""

    model_config = ConfigDict(extra="forbid")
    rule: str | None = None
    spec: SegmentSpec | None = None
    as_of: datetime | None = Field(default=None, description=(
        "evaluate event windows at this instant (ISO-8601, UTC), ignoring later events"))


class OverlapRequest(BaseModel):
    """Segments to intersect."""

    model_config = ConfigDict(extra="forbid")
    segments: list[str] = Field(min_length=1, max_length=50)


@router.post("/v1/segments", status_code=201)
def create(request: Request, body: SegmentRequest,
           key: ApiKey = Depends(require("audiences"))) -> dict[str, Any]:
    """Check, compile and save a segment; answers what ``GET /v1/segments/{id}`` shows."""
    dmp = request.app.state.dmp
    shown = _segments(request).create(
        body.name, rule=body.rule, spec=body.spec, description=body.description,
        realtime=body.realtime, webhook_url=body.webhook_url)
    dmp.audit.record(key.key_id, "segments.create", shown["id"], {"realtime": body.realtime})
    collector = getattr(request.app.state, "collector", None)
    if body.realtime and collector is not None and \
            getattr(request.app.state, "realtime", None) is None:
        # the first real-time segment starts the evaluator without a restart
        from aidmp.segments import realtime

        request.app.state.realtime = realtime.attach(dmp, collector)
    return shown


@router.get("/v1/segments")
def list_(request: Request, _: ApiKey = Depends(require("aggregate"))) -> list[dict[str, Any]]:
    """Every segment."""
    return _segments(request).list()


@router.post("/v1/segments/estimate")
def estimate(request: Request, body: RuleRequest,
             _: ApiKey = Depends(require("aggregate"))) -> dict[str, Any]:
    """Size of a rule without saving it (and whether it could be real-time); ``as_of``
    evaluates its event windows at that instant."""
    segments: Segments = request.app.state.dmp.segments_at(point_in_time(body.as_of))
    return segments.estimate(rule=body.rule, spec=body.spec)


@router.post("/v1/segments/overlap")
def overlap(request: Request, body: OverlapRequest,
            _: ApiKey = Depends(require("aggregate"))) -> dict[str, Any]:
    """Pairwise intersection sizes of segments."""
    return _segments(request).overlap(body.segments)


@router.get("/v1/segments/{segment_id}")
def show(request: Request, segment_id: str,
         _: ApiKey = Depends(require("aggregate"))) -> dict[str, Any]:
    """Rule, spec, SQL, size and real-time capability."""
    return _segments(request).show(segment_id)


@router.get("/v1/segments/{segment_id}/size")
def size(request: Request, segment_id: str, as_of: When | None = None,
         _: ApiKey = Depends(require("aggregate"))) -> dict[str, Any]:
    """Members now, or with ``as_of`` (ISO-8601, UTC; not in the future) its event windows
    evaluated at that instant, later events ignored."""
    if as_of is None:
        return _segments(request).size(segment_id)
    segments: Segments = request.app.state.dmp.segments_at(point_in_time(as_of))
    return segments.size(segment_id)


@router.get("/v1/segments/{segment_id}/describe")
def describe(request: Request, segment_id: str,
             traits: str | None = Query(None, max_length=2000),
             _: ApiKey = Depends(require("aggregate"))) -> dict[str, Any]:
    """Statistics of ``traits`` (comma-separated) for the members beside every profile."""
    return _segments(request).describe(segment_id, traits)


@router.get("/v1/segments/{segment_id}/members")
def members(request: Request, segment_id: str, page: int = Query(1, ge=1, le=1_000_000),
            page_size: int = Query(100, ge=1, le=10_000),
            _: ApiKey = Depends(require("personal"))) -> dict[str, Any]:
    """One page of member profile ids."""
    return _segments(request).members(segment_id, page=page, page_size=page_size)


@router.delete("/v1/segments/{segment_id}")
def delete(request: Request, segment_id: str,
           key: ApiKey = Depends(require("audiences"))) -> dict[str, Any]:
    """Delete a segment and its membership history."""
    dmp = request.app.state.dmp
    _segments(request).delete(segment_id)
    dmp.audit.record(key.key_id, "segments.delete", segment_id, {})
    return {"id": segment_id, "deleted": True}


@router.post("/v1/segments/{segment_id}/export", operation_id="segments_export",
             responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}},
                              "description": "the members file; X-Rows: how many rows"}})
def export(request: Request, segment_id: str, format: ExportFormat = "csv",
           key: ApiKey = Depends(require("audiences"))) -> FileResponse:
    """The members (profile id, user id, e-mail) as a CSV or Parquet file, streamed; the
    ``X-Rows`` header says how many rows it holds. Exporting is an audience action (audited):
    the file names people."""
    import shutil
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp(prefix="aidmp-export-"))
    try:
        out = _segments(request).export(segment_id, folder / f"members.{format}", format)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    request.app.state.dmp.audit.record(key.key_id, "segments.export", segment_id,
                                       {"rows": out["rows"]})
    media = "text/csv" if out["format"] == "csv" else "application/vnd.apache.parquet"
    return FileResponse(out["path"], media_type=media, headers={"X-Rows": str(out["rows"])},
                        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True))


class ClusterRequest(BaseModel):
    """Cluster the profiles into segments."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    features: list[str] | None = None
    method: Literal["kmeans", "dbscan", "agglomerative"] = "kmeans"
    k: int | None = Field(default=None, ge=2, le=50)


class LookalikeRequest(BaseModel):
    """Build a lookalike segment from a seed segment."""

    model_config = ConfigDict(extra="forbid")
    seed: str
    name: str = Field(min_length=1, max_length=100)
    top_percent: float | None = Field(default=10.0, gt=0, le=100)
    top_n: int | None = Field(default=None, ge=1)
    features: list[str] | None = None
    purpose: str = "advertising"


class RefreshRequest(BaseModel):
    """Which segments to refresh."""

    model_config = ConfigDict(extra="forbid")
    segment_ids: list[str] | None = Field(default=None, min_length=1, max_length=1000,
                                          description="only these (default: every segment)")
    as_of: datetime | None = Field(default=None, description=(
        "evaluate event windows at this instant (ISO-8601, UTC), ignoring later events"))


@router.post("/v1/segments/refresh", status_code=202, responses=JOB_RESPONSES)
def refresh(request: Request, body: RefreshRequest, wait: bool = WAIT,
            key: ApiKey = Depends(require("audiences"))) -> Any:
    """Materialise membership (with history) of every segment, or of ``segment_ids``.

    A ``segments.refresh`` job: answered 202 with the job at once (an unknown segment is a
    404 first); ``?wait=true`` answers the refresh reports once the job ends.
    """
    return answer_job(request, key, "segments.refresh",
                      {"segment_ids": body.segment_ids,
                       "as_of": body.as_of.isoformat() if body.as_of else None}, wait=wait)


@router.post("/v1/segments/cluster", status_code=202, responses=JOB_RESPONSES)
def cluster(request: Request, body: ClusterRequest, wait: bool = WAIT,
            key: ApiKey = Depends(require("audiences"))) -> Any:
    """Cluster profiles; each cluster becomes a segment with a plain-words description.

    A ``segments.cluster`` job: answered 202 with the job at once; ``?wait=true`` answers
    the clusters, their segment ids and plots once the job ends.
    """
    return answer_job(request, key, "segments.cluster", body.model_dump(), wait=wait)


@router.post("/v1/segments/lookalike", status_code=202, responses=JOB_RESPONSES)
def lookalike(request: Request, body: LookalikeRequest, wait: bool = WAIT,
              key: ApiKey = Depends(require("audiences"))) -> Any:
    """Score non-members by similarity to the seed; save the top as a segment.

    A ``segments.lookalike`` job: answered 202 with the job at once (an unknown seed is a
    404 first); ``?wait=true`` answers the saved segment and the model's report.
    """
    return answer_job(request, key, "segments.lookalike", body.model_dump(), wait=wait)
