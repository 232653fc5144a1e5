"""Attach the dashboard to the API app: its routes, its static files, its error pages."""

from __future__ import annotations

import inspect
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from aidmp.dashboard import pages
from aidmp.dashboard.web import NotAllowed, SignInRequired, render, secure
from aidmp.errors import AidmpError

STATIC = Path(__file__).parent / "static"


class _CachedStatic:
    """Static files compressed and cached for a year (their URLs carry a version)."""

    def __init__(self) -> None:
        self.app = GZipMiddleware(StaticFiles(directory=STATIC), minimum_size=1024)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_cached(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                message = {**message, "headers": [
                    *message.get("headers", []),
                    (b"cache-control", b"public, max-age=31536000, immutable"),
                    (b"x-content-type-options", b"nosniff")]}
            await send(message)

        await self.app(scope, receive, send_cached)


def mount(app: FastAPI) -> None:
    """Add the dashboard's pages at ``/`` and its assets at ``/static`` to ``app``."""
    for router in pages.routers():
        app.include_router(router, include_in_schema=False)
    app.mount("/static", _CachedStatic(), name="dashboard-static")

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        if request.headers.get("hx-request"):  # htmx: reload the whole page at the sign-in form
            return Response(status_code=204, headers={"HX-Redirect": "/login"})
        target = "/login" if exc.next_path in ("/", "") else f"/login?next={exc.next_path}"
        return secure(RedirectResponse(target, status_code=303))

    api_handler = app.exception_handlers.get(AidmpError)

    @app.exception_handler(AidmpError)
    async def _error(request: Request, exc: AidmpError) -> Response:
        # The dashboard's own routes answer an error as a page (or a fragment for htmx); every
        # other route keeps the API's JSON answer.
        endpoint = getattr(request.scope.get("route"), "endpoint", None)
        if api_handler is not None and not getattr(endpoint, "__module__", "").startswith(
                "aidmp.dashboard."):
            answer = api_handler(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        status = exc.http_status if exc.http_status < 500 else 500
        message = str(exc) if status < 500 else ""
        if request.headers.get("hx-request"):  # htmx swaps only 2xx answers into the page
            return render(request, "partials/error.html", {"error": message})
        return render(request, "message.html", {"error": message, "back": "/"}, status=status)

    @app.exception_handler(NotAllowed)
    async def _forbidden(request: Request, exc: NotAllowed) -> HTMLResponse:
        return render(request, "forbidden.html", {"permission": exc.permission},
                      viewer=exc.viewer, status=403)
