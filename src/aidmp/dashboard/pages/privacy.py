"""Privacy: consent by purpose, access and erasure requests (as the privacy work lands) and
the audit log with filters."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from aidmp.dashboard import queries
from aidmp.dashboard.web import Viewer, dmp_of, need, render

router = APIRouter()


@router.get("/privacy", response_class=HTMLResponse)
def privacy(request: Request, actor: str = Query("", max_length=64),
            action: str = Query("", max_length=64),
            viewer: Viewer = Depends(need("aggregates"))) -> HTMLResponse:
    """Consent totals for everyone; the audit log for roles that may read it."""
    dmp = dmp_of(request)
    can_audit = viewer.can("audit_read")
    return render(request, "privacy.html", {
        "consents": queries.consent_by_purpose(dmp),
        "entries": queries.audit_entries(dmp, actor=actor.strip() or None,
                                         action=action.strip() or None) if can_audit else [],
        "actions": queries.audit_actions(dmp) if can_audit else [],
        "filters": {"actor": actor, "action": action}, "can_audit": can_audit,
        "requests": dmp.privacy.requests(limit=50) if viewer.can("audit_read") else None,
    }, viewer=viewer)
