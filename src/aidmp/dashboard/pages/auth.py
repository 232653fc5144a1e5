"""Sign in with an API key, sign out, and the language switch."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from aidmp.dashboard.i18n import LOCALES
from aidmp.dashboard.session import COOKIE, LANG_COOKIE, LOGIN_CSRF_COOKIE, MAX_AGE, same_token
from aidmp.dashboard.web import (
    Viewer,
    dmp_of,
    posted,
    redirect,
    render,
    safe_next,
    sessions,
    set_cookie,
)
from aidmp.errors import AidmpError

router = APIRouter()


def _login_page(request: Request, next_path: str, error: str | None = None,
                status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", {"next": safe_next(next_path), "csrf": token,
                                              "error": error}, status=status)
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token, 3600)
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    """The sign-in form."""
    return _login_page(request, next)


@router.post("/login")
def login(request: Request, key: str = Form("", max_length=200),
          csrf: str = Form("", max_length=100), next: str = Form("/", max_length=500)
          ) -> Response:
    """Check the key; on success set the signed session cookie and go on."""
    if not same_token(request.cookies.get(LOGIN_CSRF_COOKIE), csrf):
        return _login_page(request, next, "expired", status=400)
    try:
        api_key = dmp_of(request).keys.verify(key.strip())
    except AidmpError:
        return _login_page(request, next, "refused", status=401)
    dmp_of(request).audit.record(api_key.key_id, "dashboard.sign_in")
    response = redirect(safe_next(next))
    set_cookie(request, response, COOKIE, sessions(request).issue(api_key.key_id), MAX_AGE)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(request: Request, viewer: Viewer = Depends(posted("aggregates"))) -> Response:
    """End the session (the cookie is cleared)."""
    response = redirect("/login")
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/lang")
def language(request: Request, to: str = "en", next: str = "/") -> Response:
    """Switch the language (a cookie for a year) and go back to the page."""
    response = redirect(safe_next(next))
    if to in LOCALES:
        set_cookie(request, response, LANG_COOKIE, to, 365 * 86400, http_only=False)
    return response
