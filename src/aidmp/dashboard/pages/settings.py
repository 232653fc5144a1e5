"""Settings: API keys (create, revoke), jobs (start a build, follow its progress), schedules."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from aidmp.dashboard.web import Viewer, dmp_of, need, posted, redirect, render
from aidmp.errors import AidmpError
from aidmp.privacy.keys import SCOPES

router = APIRouter()
STARTABLE = ("build", "segments.refresh", "quality.report")
"""Job kinds offered as buttons (their parameters all have defaults)."""
FINAL = ("succeeded", "failed", "cancelled")
JOBS_SHOWN = 15
"""The newest jobs listed on the page."""


def _jobs(request: Request) -> Any:
    return getattr(dmp_of(request), "jobs", None)


def _context(request: Request, viewer: Viewer, **extra: Any) -> dict[str, Any]:
    dmp = dmp_of(request)
    jobs = _jobs(request)
    kinds = [k["kind"] for k in jobs.kinds()] if jobs is not None else []
    schedules = getattr(dmp, "schedules", None)
    try:
        schedule_rows = schedules.list() if schedules is not None else None
    except AidmpError:
        schedule_rows = None
    return {
        "keys": dmp.keys.list() if viewer.can("keys_manage") else [],
        "scopes": SCOPES,
        "jobs": jobs.list(limit=JOBS_SHOWN) if jobs is not None else None,
        "startable": [k for k in STARTABLE if k in kinds],
        "schedules": schedule_rows,
        **extra,
    }


@router.get("/settings", response_class=HTMLResponse)
def settings(request: Request, viewer: Viewer = Depends(need("aggregates"))) -> HTMLResponse:
    """Keys, jobs and schedules."""
    return render(request, "settings.html", _context(request, viewer), viewer=viewer)


@router.post("/settings/keys", response_class=HTMLResponse)
def create_key(request: Request, scope: str = Form(..., max_length=20),
               source: str = Form("dashboard", max_length=64),
               name: str = Form("", max_length=200),
               viewer: Viewer = Depends(posted("keys_manage"))) -> HTMLResponse:
    """Create a key; its secret is shown on this answer only."""
    dmp = dmp_of(request)
    try:
        created = dmp.keys.create(scope, source=source.strip() or "dashboard",
                                  name=name.strip() or None)
    except AidmpError as exc:
        return render(request, "settings.html", _context(request, viewer, error=str(exc)),
                      viewer=viewer, status=400)
    dmp.audit.record(viewer.key.key_id, "keys.create", created.key.key_id, {"scope": scope})
    return render(request, "settings.html",
                  _context(request, viewer, created=created), viewer=viewer, status=201)


@router.post("/settings/keys/{key_id}/revoke")
def revoke_key(request: Request, key_id: str,
               viewer: Viewer = Depends(posted("keys_manage"))) -> Response:
    """Revoke a key: its next request, and any dashboard session made with it, is refused."""
    dmp = dmp_of(request)
    dmp.keys.revoke(key_id)
    dmp.audit.record(viewer.key.key_id, "keys.revoke", key_id)
    return redirect("/settings")


@router.post("/settings/jobs", response_class=HTMLResponse)
def start_job(request: Request, kind: str = Form(..., max_length=64),
              viewer: Viewer = Depends(posted("models_run"))) -> HTMLResponse:
    """Start a job; the answer is its progress bar, which polls itself until the job ends."""
    jobs = _jobs(request)
    if jobs is None or kind not in STARTABLE:
        return render(request, "partials/job.html", {"error": "kind"}, viewer=viewer,
                      status=400)
    job_id = jobs.submit(kind, {}, submitted_by=f"key:{viewer.key.key_id}")
    answer = render(request, "partials/job.html", {"job": jobs.get(job_id), "final": FINAL},
                    viewer=viewer)
    answer.headers["hx-trigger"] = "jobs-changed"  # the jobs table reloads and follows it
    return answer


@router.get("/settings/jobs-list", response_class=HTMLResponse)
def job_list(request: Request,
             viewer: Viewer = Depends(need("aggregates"))) -> HTMLResponse:
    """The jobs table (fragment; polls itself every 2 s while a job is queued or running)."""
    jobs = _jobs(request)
    return render(request, "partials/jobs.html",
                  {"jobs": jobs.list(limit=JOBS_SHOWN) if jobs is not None else []},
                  viewer=viewer)


@router.get("/settings/jobs/{job_id}", response_class=HTMLResponse)
def job(request: Request, job_id: str,
        viewer: Viewer = Depends(need("aggregates"))) -> HTMLResponse:
    """One job's progress (fragment; polled every second while it runs)."""
    jobs = _jobs(request)
    if jobs is None:
        return render(request, "partials/job.html", {"error": "none"}, viewer=viewer)
    return render(request, "partials/job.html", {"job": jobs.get(job_id), "final": FINAL},
                  viewer=viewer)
