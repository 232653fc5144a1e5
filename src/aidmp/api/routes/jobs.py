"""``/v1/jobs``: submit long work, follow its progress, cancel it.

Example:
    >>> sorted({r.path for r in router.routes})
    ['/v1/jobs', '/v1/jobs/kinds', '/v1/jobs/{job_id}']
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from aidmp.api.auth import require
from aidmp.privacy.keys import ApiKey
from aidmp.service.jobs import Jobs

router = APIRouter(tags=["jobs"])


def _jobs(request: Request) -> Jobs:
    return request.app.state.dmp.jobs  # type: ignore[no-any-return]


#: ``?wait=true`` on a long-work route: answer with the result once the job ends
WAIT = Query(False, description="Wait for the job to end and answer its result (200) or its "
             "error, as a synchronous call; by default the answer is 202 with the job at once.")

#: the answers a long-work route documents (202 at once; 200 with ``?wait=true``)
JOB_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "With `wait=true`: the job's result.",
          "content": {"application/json": {"schema": {}}}},
    202: {"description": "The job, queued: follow it at `Location` (`GET /v1/jobs/{id}`).",
          "content": {"application/json": {"schema": {"type": "object"}}}},
}


def answer_job(request: Request, key: ApiKey, kind: str, params: dict[str, Any], *,
               wait: bool = False) -> Any:
    """Submit a job of ``kind`` for a long-work route (the runner of ``POST /v1/jobs``) and
    answer 202 with the job and its ``Location`` at once, or, with ``wait``, its result as
    the route used to answer synchronously (a failed job's error as the work raised it).

    The parameters are checked before the job exists: a bad one is a 400 naming it.
    """
    jobs = _jobs(request)
    _fresh(request)
    job_id = jobs.submit(kind, params, submitted_by=key.key_id)
    request.app.state.dmp.audit.record(key.key_id, "jobs.submit", job_id, {"kind": kind})
    if wait:
        return JSONResponse(jsonable_encoder(jobs.outcome(job_id)), status_code=200)
    return JSONResponse(jsonable_encoder(jobs.get(job_id)), status_code=202,
                        headers={"Location": f"/v1/jobs/{job_id}"})


def _fresh(request: Request) -> None:
    # events acknowledged a moment ago may sit in the collector's buffer; the served job
    # runner flushes it before each job too, this covers an app without the service
    collector = getattr(request.app.state, "collector", None)
    if collector is not None:
        collector.flush()


class JobRequest(BaseModel):
    """A job to run: a registered kind (see ``GET /v1/jobs/kinds``) and its parameters."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)


@router.post("/v1/jobs", status_code=202, operation_id="jobs_submit")
def jobs_submit(request: Request, body: JobRequest,
                key: ApiKey = Depends(require("jobs"))) -> dict[str, Any]:
    """Queue a job; answered at once with its id and state (poll ``GET /v1/jobs/{id}``, also
    in the ``Location`` header)."""
    return answer_job(request, key, body.kind, body.params)  # type: ignore[no-any-return]


@router.get("/v1/jobs", operation_id="jobs_list")
def jobs_list(request: Request, state: str | None = None, kind: str | None = None,
              limit: int = Query(50, ge=1, le=1000),
              _: ApiKey = Depends(require("aggregate"))) -> list[dict[str, Any]]:
    """Jobs, newest first."""
    return _jobs(request).list(state=state, kind=kind, limit=limit)


@router.get("/v1/jobs/kinds", operation_id="jobs_kinds")
def jobs_kinds(request: Request, _: ApiKey = Depends(require("aggregate"))) -> list[dict[str, Any]]:
    """The job kinds this server runs, with their parameters' JSON schema."""
    return _jobs(request).kinds()


@router.get("/v1/jobs/{job_id}", operation_id="jobs_get")
def jobs_get(request: Request, job_id: str,
             _: ApiKey = Depends(require("aggregate"))) -> dict[str, Any]:
    """A job: state, progress (stage, done, total), result or error."""
    return _jobs(request).get(job_id)


@router.delete("/v1/jobs/{job_id}", operation_id="jobs_cancel")
def jobs_cancel(request: Request, job_id: str,
                key: ApiKey = Depends(require("jobs"))) -> dict[str, Any]:
    """Cancel a job: a queued one at once, a running one at its next stage boundary."""
    out = _jobs(request).cancel(job_id)
    request.app.state.dmp.audit.record(key.key_id, "jobs.cancel", job_id, {})
    return out
