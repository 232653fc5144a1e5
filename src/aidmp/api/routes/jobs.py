"""``/v1/jobs``: submit long work, follow its progress, cancel it.

Example:
    >>> sorted({r.path for r in router.routes})
    ['/v1/jobs', '/v1/jobs/kinds', '/v1/jobs/{job_id}']
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from aidmp.api.auth import require
from aidmp.privacy.keys import ApiKey
from aidmp.service.jobs import Jobs

router = APIRouter(tags=["jobs"])


def _jobs(request: Request) -> Jobs:
    return request.app.state.dmp.jobs  # type: ignore[no-any-return]


class JobRequest(BaseModel):
    """A job to run: a registered kind (see ``GET /v1/jobs/kinds``) and its parameters."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)


@router.post("/v1/jobs", status_code=202, operation_id="jobs_submit")
def jobs_submit(request: Request, body: JobRequest,
                key: ApiKey = Depends(require("jobs"))) -> dict[str, Any]:
    """Queue a job; answered at once with its id and state (poll ``GET /v1/jobs/{id}``)."""
    jobs = _jobs(request)
    job_id = jobs.submit(body.kind, body.params, submitted_by=key.key_id)
    request.app.state.dmp.audit.record(key.key_id, "jobs.submit", job_id, {"kind": body.kind})
    return jobs.get(job_id)


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
