"""One module per page; :func:`routers` lists their routers in mounting order."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    """Every page's router (imported here so that the app imports the pages once)."""
    from aidmp.dashboard.pages import (
        analysis,
        audiences,
        auth,
        campaigns,
        models,
        overview,
        privacy,
        profiles,
        segments,
        settings,
        sources,
    )

    return [auth.router, overview.router, sources.router, profiles.router, segments.router,
            analysis.router, models.router, campaigns.router, audiences.router,
            privacy.router, settings.router]
