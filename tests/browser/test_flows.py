"""The dashboard's main flows in a real browser on the demo store."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import Site, settle, shoot, sign_in, watch


def test_find_a_person_by_email_and_page_their_timeline(context: BrowserContext,
                                                        demo_site: Site) -> None:
    p = demo_site.dmp.engine.table("profiles")
    row = demo_site.dmp.engine.execute(p.filter(p.email.notnull()).order_by(
        p.events.desc()).limit(1)).to_pylist()[0]
    page = context.new_page()
    w = watch(page)
    sign_in(page, demo_site, demo_site.read)
    page.get_by_role("link", name="Profiles").click()
    page.get_by_label("Identifier type").select_option("email")
    page.get_by_label(re.compile("E-mail, phone")).fill(row["email"].upper())
    page.get_by_role("button", name="Find").click()
    page.wait_for_url(re.compile(r"/profiles/p_"))
    assert page.url.endswith(f"/profiles/{row['profile_id']}")
    assert row["email"] not in page.url
    expect(page.locator("h1")).to_contain_text(row["profile_id"])
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("Page 1 of")
    first_page = timeline.locator("tbody").inner_text()
    timeline.get_by_role("button", name="Older").click()
    expect(page.locator("#timeline")).to_contain_text("Page 2 of")
    assert page.locator("#timeline tbody").inner_text() != first_page
    settle(page)
    shoot(page, "flow-profile")
    assert w.errors == [] and w.failed == []


def test_write_a_rule_fix_a_typo_watch_the_size_and_save(context: BrowserContext,
                                                         demo_site: Site) -> None:
    page = context.new_page()
    w = watch(page)
    sign_in(page, demo_site, demo_site.admin)
    page.goto(demo_site.url + "/segments/new")
    page.get_by_label("Name").fill("Loyal buyers")
    rule = page.get_by_role("textbox", name=re.compile("^Rule"))
    rule.fill("ordres_total >= 2")
    check = page.locator("#rule-check")
    expect(check).to_contain_text("Line 1, column 1")
    expect(check).to_contain_text("did you mean 'orders_total'?")
    expect(check.locator("mark")).to_have_text("ordres_total")
    shoot(page, "flow-rule-error")
    rule.fill("orders_total >= 2")
    expect(check.locator("[data-size]")).to_be_visible()
    size = int(check.locator("[data-size]").get_attribute("data-size") or "-1")
    assert size == demo_site.dmp.segments.estimate("orders_total >= 2")["size"] > 0
    rule.fill("orders_total >= 2 and revenue_total > 100")
    expect(check.locator("[data-size]")).not_to_have_attribute("data-size", str(size))
    narrower = int(check.locator("[data-size]").get_attribute("data-size") or "-1")
    assert 0 < narrower < size
    shoot(page, "flow-rule-size")
    page.get_by_role("button", name="Save segment").click()
    page.wait_for_url(re.compile(r"/segments\?saved=loyal_buyers"))
    row = page.locator("tr", has=page.get_by_role("link", name="Loyal buyers"))
    expect(row).to_contain_text(f"{narrower:,}")
    assert w.errors == [] and w.failed == []


def test_the_budget_slider_changes_the_allocation(context: BrowserContext,
                                                  demo_site: Site) -> None:
    page = context.new_page()
    w = watch(page)
    sign_in(page, demo_site, demo_site.admin)
    page.goto(demo_site.url + "/campaigns")
    settle(page)
    table = page.locator("#allocation-table")
    before = [float(v or 0) for v in table.locator("[data-spend]").evaluate_all(
        "els => els.map(e => e.dataset.spend)")]
    slider = page.get_by_label(re.compile("Daily budget"))
    low = float(slider.get_attribute("max") or 0) * 0.15
    slider.evaluate("(el, v) => { el.value = v; el.dispatchEvent(new Event('input', "
                    "{bubbles: true})); }", str(round(low, 2)))
    expect(page.locator("#allocation [data-total]")).to_have_attribute(
        "data-total", re.compile(r"^" + re.escape(str(round(low, 2)))[:4]))
    after = [float(v or 0) for v in page.locator("#allocation-table [data-spend]").evaluate_all(
        "els => els.map(e => e.dataset.spend)")]
    assert after != before and sum(after) <= low + 1e-6
    expect(page.locator("#total-out")).not_to_have_text("")
    shoot(page, "flow-optimiser")
    assert w.errors == [] and w.failed == []


def test_revoke_a_key_and_its_next_request_is_refused(context: BrowserContext,
                                                      demo_site: Site) -> None:
    page = context.new_page()
    sign_in(page, demo_site, demo_site.admin)
    page.goto(demo_site.url + "/settings")
    page.get_by_label("Scope").select_option("read")
    page.get_by_label("Name", exact=True).fill("temporary analyst")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-secret").inner_text().strip()
    key_id = secret.split("_")[2]
    api = httpx.Client(base_url=demo_site.url, headers={"Authorization": f"Bearer {secret}"})
    assert api.get("/v1/segments").status_code == 200
    other = context.browser.new_context()  # type: ignore[union-attr]
    theirs = other.new_page()
    sign_in(theirs, demo_site, secret)
    page.goto(demo_site.url + "/settings")
    page.get_by_role("button", name=f"Revoke key {key_id}").click()
    expect(page.locator("tr", has_text=key_id)).to_contain_text("revoked")
    assert api.get("/v1/segments").status_code == 401
    theirs.goto(demo_site.url + "/segments")
    assert theirs.url.startswith(demo_site.url + "/login")
    other.close()


def test_start_a_build_and_watch_it_to_the_end(context: BrowserContext,
                                               demo_site: Site) -> None:
    page = context.new_page()
    w = watch(page)
    sign_in(page, demo_site, demo_site.admin)
    page.goto(demo_site.url + "/settings")
    page.get_by_role("button", name="Start build").click()
    job = page.locator("#job-progress .job")
    expect(job).to_have_attribute("data-state", re.compile("queued|running|succeeded"))
    states = set()
    for _ in range(240):
        state = job.get_attribute("data-state")
        states.add(state)
        if state in ("succeeded", "failed", "cancelled"):
            break
        page.wait_for_timeout(250)
    assert state == "succeeded", job.inner_text()
    assert states & {"queued", "running"}  # progress was shown before the end
    job_id = job.locator("code").inner_text()
    assert demo_site.dmp.jobs.get(job_id)["state"] == "succeeded"
    shoot(page, "flow-build-job")
    assert w.errors == [] and w.failed == []
