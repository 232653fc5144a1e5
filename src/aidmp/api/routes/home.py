"""``GET /``: where a person who opens the server's address lands.

Until the dashboard replaces it, a small page with links to the API documentation and health.

Example:
    >>> [r.path for r in router.routes]
    ['/']
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from aidmp import __version__

router = APIRouter()

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>aidmp</title></head>
<body><main>
<h1>aidmp {version}</h1>
<p>This server collects events and serves the aidmp REST API.</p>
<ul>
<li><a href="/docs">API documentation</a> (OpenAPI: <a href="/openapi.json">/openapi.json</a>)</li>
<li><a href="/health">Health and collector counters</a></li>
</ul>
</main></body></html>
"""


@router.get("/", include_in_schema=False, response_class=HTMLResponse)
def home() -> HTMLResponse:
    """A page linking the API docs and health."""
    return HTMLResponse(_PAGE.format(version=__version__))
