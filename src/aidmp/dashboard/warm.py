"""Warm the dashboard after ``aidmp serve`` starts, so that the first person who opens a page
does not pay for the store-wide scans (events by source and day, ROI over every touchpoint,
the optimiser's fit) and the first reads of the columns from disk.

It signs in as any browser would (the login form, its CSRF token, the run's local admin key)
and requests the pages whose aggregates are kept (:func:`aidmp.dashboard.web.aggregate`), so
the cache is filled by the pages' own code and no second list of queries exists.

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> from aidmp.api.server import ServerThread
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> key = dmp.keys.create("admin", source="doc").secret
    >>> with ServerThread(dmp) as server:
    ...     sorted(warm(server.url, key)) == sorted(PAGES)
    True
    >>> dmp.close()
"""

from __future__ import annotations

import logging
import re
import time

import httpx

log = logging.getLogger(__name__)

PAGES = ("/", "/sources", "/profiles", "/segments", "/analysis", "/campaigns",
         "/campaigns/attribution")
"""The pages that read store-wide aggregates, in the order a person is likely to open them."""

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def warm(url: str, key: str, pages: tuple[str, ...] = PAGES,
         timeout: float = 900.0) -> dict[str, float]:
    """Sign in at ``url`` with ``key`` and request each of ``pages`` once.

    Returns:
        Seconds per page that answered 200; empty when signing in failed (logged, never
        raised: a warm-up must not stop the server).
    """
    took: dict[str, float] = {}
    try:
        with httpx.Client(base_url=url, timeout=timeout) as client:
            form = client.get("/login")
            token = _CSRF.search(form.text)
            if token is None:
                log.warning("dashboard warm-up: no sign-in form at /login (%d)",
                            form.status_code)
                return took
            signed = client.post("/login", data={"key": key, "csrf": token.group(1),
                                                 "next": "/"})
            if signed.status_code != 303:
                log.warning("dashboard warm-up: sign-in refused (%d)", signed.status_code)
                return took
            for page in pages:
                start = time.perf_counter()
                answer = client.get(page)
                if answer.status_code == 200:
                    took[page] = round(time.perf_counter() - start, 3)
    except httpx.HTTPError as exc:
        log.warning("dashboard warm-up stopped: %s", type(exc).__name__)
    if took:
        log.info("dashboard warmed in %.1f s", sum(took.values()))
    return took


__all__ = ["PAGES", "warm"]
