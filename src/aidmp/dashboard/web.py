"""The plumbing every page shares: templates per language, the signed-in viewer, CSRF, headers.

Pages are FastAPI routes that take a :class:`Viewer` (from :func:`viewer` or :func:`need`), call
one DMP namespace and return :func:`render`. Nothing here knows about marketing data.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from aidmp.dashboard.access import Permission, allowed, role_of
from aidmp.dashboard.i18n import (
    LANGUAGE_NAMES,
    LOCALES,
    NONE,
    Formats,
    html_lang,
    pick_locale,
    translations,
)
from aidmp.dashboard.session import (
    COOKIE,
    CSRF_HEADER,
    LANG_COOKIE,
    Session,
    Sessions,
    same_token,
    secret_file,
)
from aidmp.dmp import DMP
from aidmp.errors import AuthError
from aidmp.privacy.keys import ApiKey

TEMPLATES = Path(__file__).parent / "templates"
STATIC_VERSION = "5"
"""Bumped when app.css / app.js change: their URLs carry it, so browsers may cache for a year."""
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
       "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
       "form-action 'self'")
_LOCAL_PATH = re.compile(r"^/(?!/)[A-Za-z0-9/_\-.]*$")


class SignInRequired(Exception):
    """No valid session: the handler sends the browser to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class NotAllowed(Exception):
    """The viewer's role lacks a permission: the handler renders a 403 page."""

    def __init__(self, viewer: Viewer, permission: Permission) -> None:
        super().__init__(permission)
        self.viewer = viewer
        self.permission = permission


@dataclass(frozen=True)
class Viewer:
    """The signed-in person: their key (no secret), role, CSRF token and language."""

    key: ApiKey
    csrf: str
    locale: str
    role: str = field(default="")

    def can(self, permission: Permission) -> bool:
        """Whether this viewer's role holds ``permission``."""
        return allowed(self.role, permission)


def dmp_of(request: Request) -> DMP:
    """The DMP the app serves."""
    return request.app.state.dmp  # type: ignore[no-any-return]


def sessions(request: Request) -> Sessions:
    """The app's session signer (made on first use from the home's secret file)."""
    state = request.app.state
    if getattr(state, "dashboard_sessions", None) is None:
        state.dashboard_sessions = Sessions(secret_file(dmp_of(request).home))
    return state.dashboard_sessions  # type: ignore[no-any-return]


def locale_of(request: Request) -> str:
    """The language of this request (cookie, then ``Accept-Language``)."""
    return pick_locale(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def safe_next(path: str | None) -> str:
    """``path`` when it is a path on this site, else ``/`` (no open redirects)."""
    return path if path and _LOCAL_PATH.match(path) else "/"


def _live_key(request: Request, key_id: str) -> ApiKey | None:
    """The key of a session if it still exists and is not revoked (checked every request,
    against the key list read again whenever the store's data changes: a revocation is a
    write, so it ends the session at once)."""
    keys: list[ApiKey] = cached(request, "api_keys", dmp_of(request).keys.list)
    for key in keys:
        if key.key_id == key_id:
            return key if key.revoked_at is None else None
    return None


def viewer(request: Request) -> Viewer:
    """FastAPI dependency: the signed-in viewer, or a redirect to the sign-in page."""
    session: Session | None = sessions(request).read(request.cookies.get(COOKIE))
    key = _live_key(request, session.key_id) if session else None
    if session is None or key is None:
        raise SignInRequired(request.url.path)
    return Viewer(key=key, csrf=session.csrf, locale=locale_of(request), role=role_of(key))


def need(permission: Permission) -> Callable[[Request], Viewer]:
    """FastAPI dependency factory: the viewer, who must hold ``permission``."""

    def dependency(request: Request) -> Viewer:
        v = viewer(request)
        if not v.can(permission):
            raise NotAllowed(v, permission)
        return v

    return dependency


def posted(permission: Permission) -> Callable[..., Viewer]:
    """Dependency factory for POSTs: ``permission`` plus the session's CSRF token, sent as the
    ``csrf`` form field or the ``X-CSRF-Token`` header (htmx)."""

    def dependency(request: Request, csrf: str | None = Form(None)) -> Viewer:
        v = need(permission)(request)
        if not same_token(v.csrf, csrf or request.headers.get(CSRF_HEADER)):
            raise AuthError("the form's security token is missing or old; reload the page")
        return v

    return dependency


@cache
def environment(locale: str) -> Environment:
    """The Jinja environment of one language (catalog and number formats bound)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    fmt = Formats(locale)
    env.filters.update(num=fmt.number, compact=fmt.compact, pct=fmt.percent, money=fmt.money,
                       date=fmt.date, datetime=fmt.datetime, chart=chart_json,
                       value=lambda v: show_value(fmt, v))
    env.globals.update(LOCALES=LOCALES, LANGUAGE_NAMES=LANGUAGE_NAMES,
                       html_lang=html_lang(locale), locale=locale, static_version=STATIC_VERSION)
    return env


def show_value(fmt: Formats, value: object) -> str:
    """Any stored value written for people: numbers and dates per locale, none as a dash."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, int | float):
        return fmt.number(value, 2)
    if isinstance(value, datetime):
        return fmt.datetime(value)
    if isinstance(value, date):
        return fmt.date(value)
    return str(value)


def chart_json(option: dict[str, Any]) -> str:
    """An ECharts option as JSON for a ``data-chart`` attribute (autoescaped by Jinja)."""
    return json.dumps(option, default=str, separators=(",", ":"))


def gettext_for(locale: str) -> Callable[[str], str]:
    """The ``_`` of ``locale`` for strings made in Python (chart labels, messages)."""
    return translations(locale).gettext


def render(request: Request, template: str, context: dict[str, Any], *,
           viewer: Viewer | None = None, status: int = 200) -> HTMLResponse:
    """A page or an htmx fragment, with the security headers every dashboard answer carries."""
    started = time.perf_counter()
    locale = viewer.locale if viewer else locale_of(request)
    html = environment(locale).get_template(template).render(
        request=request, viewer=viewer, path=request.url.path,
        nav=nav_items(viewer), **context)
    response = HTMLResponse(html, status_code=status)
    response.headers["server-timing"] = f"render;dur={(time.perf_counter() - started) * 1000:.1f}"
    secure(response)
    return response


def secure(response: Response) -> Response:
    """Headers that keep pages out of frames, caches and other sites' scripts."""
    response.headers["content-security-policy"] = CSP
    response.headers["x-content-type-options"] = "nosniff"
    response.headers["referrer-policy"] = "same-origin"
    response.headers["x-frame-options"] = "DENY"
    response.headers["cache-control"] = "no-store"
    return response


def redirect(path: str) -> RedirectResponse:
    """A 303 to ``path`` (after a POST). Paths that come from the request go through
    :func:`safe_next` first."""
    return RedirectResponse(path, status_code=303)


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int, *,
               http_only: bool = True) -> None:
    """A cookie that is HttpOnly, SameSite=Lax and Secure when served over TLS."""
    response.set_cookie(name, value, max_age=max_age, httponly=http_only, samesite="lax",
                        secure=request.url.scheme == "https", path="/")


NAV: tuple[tuple[str, str, Permission], ...] = (
    ("/", "overview", "aggregates"),
    ("/sources", "sources", "aggregates"),
    ("/profiles", "profiles", "aggregates"),
    ("/segments", "segments", "aggregates"),
    ("/analysis", "analysis", "aggregates"),
    ("/models", "models", "aggregates"),
    ("/campaigns", "campaigns", "aggregates"),
    ("/audiences", "audiences", "aggregates"),
    ("/privacy", "privacy", "aggregates"),
    ("/settings", "settings", "aggregates"),
)


def nav_items(viewer: Viewer | None) -> list[tuple[str, str]]:
    """The header's links this viewer may follow: (path, page name)."""
    if viewer is None:
        return []
    return [(path, name) for path, name, perm in NAV if viewer.can(perm)]


AGGREGATE_TTL = 30.0
"""Seconds a store-wide aggregate (counts, sums, sizes) may be shown while events arrive."""


def aggregate(request: Request, name: str, compute: Callable[[], Any]) -> Any:
    """A store-wide aggregate, cached as :func:`cached` with :data:`AGGREGATE_TTL`."""
    return cached(request, name, compute, ttl=AGGREGATE_TTL)


def cached(request: Request, name: str, compute: Callable[[], Any], *,
           ttl: float | None = None) -> Any:
    """``compute()``'s answer, kept until the store's data changes or, with ``ttl``, for
    ``ttl`` seconds even while it changes (store-wide aggregates a page may show a little
    late while events keep arriving). Engines without a data version cache by ``ttl`` only.

    A ``ttl`` aggregate older than ``ttl`` whose data changed is still answered at once, and
    recomputed in a background thread for the next request (stale while revalidating): while
    events keep arriving, no page waits for a store-wide scan after the first one."""
    version = dmp_of(request).engine.data_version()
    if version is None and ttl is None:
        return compute()
    state = request.app.state
    store: dict[str, tuple[Any, float, Any]] = getattr(state, "dashboard_cache", None) or {}
    state.dashboard_cache = store
    hit = store.get(name)
    now = time.monotonic()
    if hit is not None and ((version is not None and hit[0] == version)
                            or (ttl is not None and now - hit[1] < ttl)):
        return hit[2]
    if hit is not None and ttl is not None:
        _revalidate(state, store, name, compute, version)
        return hit[2]
    value = compute()
    store[name] = (version, now, value)
    return value


def _revalidate(state: Any, store: dict[str, tuple[Any, float, Any]], name: str,
                compute: Callable[[], Any], version: Any) -> None:
    """Recompute ``store[name]`` in a daemon thread, one at a time per name."""
    running: set[str] = getattr(state, "dashboard_refreshing", None) or set()
    state.dashboard_refreshing = running
    with _REFRESH_LOCK:
        if name in running:
            return
        running.add(name)

    def work() -> None:
        try:
            store[name] = (version, time.monotonic(), compute())
        except Exception:  # the stale value stays; the next request tries again
            log.warning("dashboard aggregate %r could not be refreshed", name, exc_info=True)
        finally:
            with _REFRESH_LOCK:
                running.discard(name)

    threading.Thread(target=work, name=f"dashboard-refresh-{name}", daemon=True).start()


_REFRESH_LOCK = threading.Lock()
log = logging.getLogger(__name__)


def known_segments(request: Request) -> list[dict[str, Any]]:
    """``dmp.segments.list()``, read again when the store's data changes."""
    return cached(request, "segments.list", dmp_of(request).segments.list)  # type: ignore[no-any-return]
