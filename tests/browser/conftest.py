"""Fixtures of the browser tests: real stores, real servers (uvicorn on 127.0.0.1), Debian's
chromium driven by Playwright, and checks every page visit shares (console, requests, axe).

The demo store is made once per run the way ``aidmp demo`` makes it (a small shop: 100
people, events sent through the real collector); the empty store is a fresh home. Screenshots
go to ``tests/browser/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    sync_playwright,
)

from aidmp import DMP
from aidmp.api.server import ServerThread
from aidmp.cli.demo import DEMO_SEGMENTS
from aidmp.demo.ingest import run_demo

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = Path(__file__).parent / "screenshots"
DEMO_PEOPLE = 100


@dataclass
class Site:
    """A running server on a store, with an admin and a read key."""

    url: str
    dmp: DMP
    admin: str
    read: str
    analyst: str


def _serve(dmp: DMP) -> Iterator[Site]:
    keys = {s: dmp.keys.create(s, source="browser-tests", name=f"{s} key").secret
            for s in ("admin", "read", "analyst")}
    with ServerThread(dmp) as server:
        yield Site(server.url, dmp, keys["admin"], keys["read"], keys["analyst"])


def build_demo(dmp: DMP, people: int = DEMO_PEOPLE) -> None:
    """The demo shop as ``aidmp demo`` makes it, less the identity evaluation and Splink
    matching (a third of the time): events through the real collector, CRM and catalog
    imports, a build, CLV fitted and scored, a rebuild, the demo segments refreshed."""
    run_demo(dmp, people=people)
    dmp.build()
    dmp.models.fit_clv()
    dmp.models.score("clv")
    built = dmp.build()
    for name, rule in DEMO_SEGMENTS.items():
        dmp.segments.create(name, rule)
    dmp.segments.refresh(build_id=built.build_id)


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    dmp = DMP(home=tmp_path_factory.mktemp("demo-home"))
    try:
        build_demo(dmp)
        yield from _serve(dmp)
    finally:
        dmp.close()


@pytest.fixture(scope="session")
def empty_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    dmp = DMP(home=tmp_path_factory.mktemp("empty-home"))
    try:
        yield from _serve(dmp)
    finally:
        dmp.close()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield b
    b.close()


@dataclass
class Watch:
    """What went wrong while a page was open: console errors, failed or 4xx/5xx requests."""

    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    expected_status: set[int] = field(default_factory=set)

    def clear(self) -> None:
        """Forget what was seen so far."""
        self.errors.clear()
        self.failed.clear()


def watch(page: Page) -> Watch:
    """Start collecting a page's console errors and failed requests."""
    w = Watch()

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            w.errors.append(msg.text)

    def on_response(resp: Response) -> None:
        if resp.status >= 400 and resp.status not in w.expected_status:
            w.failed.append(f"{resp.status} {resp.request.method} {resp.url}")

    def on_failed(req: Request) -> None:
        # ERR_ABORTED: the browser cancelled a request still in flight because the page was
        # left (ECharts is fetched lazily, so a flow that moves on at once leaves it behind);
        # refused or broken requests fail with other codes, and 4xx/5xx answers count above
        if req.failure != "net::ERR_ABORTED":
            w.failed.append(f"failed {req.method} {req.url}: {req.failure}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: w.errors.append(str(exc)))
    page.on("response", on_response)
    page.on("requestfailed", on_failed)
    return w


@pytest.fixture()
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    yield ctx
    ctx.close()


def sign_in(page: Page, site: Site, key: str, lang: str = "en") -> None:
    """Sign in through the form (in ``lang``) and land on the overview."""
    page.context.add_cookies([{"name": "aidmp_lang", "value": lang, "url": site.url}])
    page.goto(site.url + "/login")
    page.get_by_label(re.compile("API key|API 密钥")).fill(key)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url(site.url + "/")


def settle(page: Page) -> None:
    """Wait until the page and the fragments htmx loads after it have arrived: htmx starts
    its ``hx-trigger="load"`` requests before the load event and marks each element with
    ``htmx-request`` until the answer is swapped in."""
    page.wait_for_load_state("load")
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


_AXE = Axe()


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    result = _AXE.run(page)
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"][:3]]}
            for v in result.response["violations"] if v["impact"] in ("serious", "critical")]


def shoot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under tests/browser/screenshots/."""
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / f"{name}.png"
    # charts draw when they come near the screen (app.js fetches ECharts then): bring each
    # into view, wait until every one has drawn (a chart that fails to draw fails here)
    page.evaluate("document.querySelectorAll('[data-chart]').forEach(e => e.scrollIntoView())")
    page.wait_for_function("() => [...document.querySelectorAll('[data-chart]')]"
                           ".every(e => e.dataset.drawn === '1' && e.querySelector('canvas'))")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=True)
    return path
