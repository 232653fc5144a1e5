"""Every page in both languages, on the demo store and on an empty one: it loads (200), shows
its heading in the language, logs no console error and has no failed request. English runs at
1280 px with axe-core on every page (no serious or critical violation); Simplified Chinese runs
at 390 px (a phone) and checks that no page scrolls sideways. A screenshot of each is saved."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import Site, serious_violations, settle, shoot, sign_in, watch

PAGES = ["/", "/sources", "/profiles", "/segments", "/segments/new", "/analysis", "/models",
         "/campaigns", "/audiences", "/privacy", "/settings"]
HEADINGS = {  # the <h1> of each page in each language
    "en": {"/": "Overview", "/sources": "Sources & quality", "/profiles": "Profiles",
           "/segments": "Segments", "/segments/new": "New segment", "/analysis": "Analysis",
           "/models": "Models", "/campaigns": "Campaigns", "/audiences": "Audiences",
           "/privacy": "Privacy", "/settings": "Settings"},
    "zh_Hans": {"/": "概览", "/sources": "数据源与质量", "/profiles": "用户档案",
                "/segments": "人群分组", "/segments/new": "新建分组", "/analysis": "分析",
                "/models": "模型", "/campaigns": "营销活动", "/audiences": "受众投放",
                "/privacy": "隐私", "/settings": "设置"},
}


def detail_pages(site: Site) -> list[str]:
    """A person's page and a segment's page of the demo store."""
    p = site.dmp.engine.table("profiles")
    pid = site.dmp.engine.execute(p.filter(p.email.notnull()).order_by(
        p.events.desc()).limit(1)).to_pylist()[0]["profile_id"]
    return [f"/profiles/{pid}", "/segments/champions"]


WIDTH = {"en": 1280, "zh_Hans": 390}


def visit_all(browser: Browser, site: Site, lang: str, paths: list[str], store: str) -> None:
    width = WIDTH[lang]
    ctx = browser.new_context(viewport={"width": width, "height": 900}, is_mobile=width < 600)
    page: Page = ctx.new_page()
    w = watch(page)
    problems: list[str] = []
    try:
        page.goto(site.url + "/login")
        settle(page)
        if lang == "en":
            problems += [f"/login axe: {v}" for v in serious_violations(page)]
        shoot(page, f"{store}-{lang}-login")
        sign_in(page, site, site.admin, lang)
        for path in paths:
            w.clear()
            response = page.goto(site.url + path)
            assert response is not None
            settle(page)
            if response.status != 200:
                problems.append(f"{path}: HTTP {response.status}")
            heading = HEADINGS[lang].get(path)
            h1 = (page.locator("h1").first.text_content(timeout=2000) or "").strip()
            if heading and h1 != heading:
                problems.append(f"{path}: h1 is {h1!r}")
            problems += [f"{path} console: {e}" for e in w.errors]
            problems += [f"{path} request: {f}" for f in w.failed]
            if lang == "en":
                problems += [f"{path} axe: {v}" for v in serious_violations(page)]
            scroll_width = page.evaluate("() => document.documentElement.scrollWidth")
            if scroll_width > width:
                problems.append(f"{path}: {scroll_width} px wide in a {width} px window")
            name = path.strip("/").replace("/", "-") or "overview"
            shoot(page, f"{store}-{lang}-{name.split('-p_')[0]}")
    finally:
        ctx.close()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("lang", ["en", "zh_Hans"])
def test_every_page_on_the_demo_store(browser: Browser, demo_site: Site, lang: str) -> None:
    visit_all(browser, demo_site, lang, PAGES + detail_pages(demo_site), "demo")


@pytest.mark.parametrize("lang", ["en", "zh_Hans"])
def test_every_page_on_an_empty_store(browser: Browser, empty_site: Site, lang: str) -> None:
    visit_all(browser, empty_site, lang, PAGES, "empty")
