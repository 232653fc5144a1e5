"""Sign-in, sessions, CSRF, roles and privacy of the dashboard, over real HTTP."""

from __future__ import annotations

import re

import httpx

from tests.dashboard.conftest import Site, csrf_of, signed_in


def test_pages_need_a_session(site: Site) -> None:
    r = httpx.get(site.url + "/segments", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/segments"
    htmx = httpx.get(site.url + "/segments", headers={"HX-Request": "true"})
    assert htmx.headers["hx-redirect"] == "/login"


def test_the_session_cookie_is_signed_http_only_and_holds_no_secret(site: Site) -> None:
    client = httpx.Client(base_url=site.url)
    form = client.get("/login")
    r = client.post("/login", data={"key": site.read, "csrf": csrf_of(form.text), "next": "/"})
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("aidmp_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    secret_part = site.read.rsplit("_", 1)[1]
    assert secret_part not in cookie and site.read not in cookie
    assert client.get("/").status_code == 200
    value = client.cookies["aidmp_session"]
    client.cookies.set("aidmp_session", value[:-2] + ("A" if value[-1] != "A" else "B") * 2)
    assert client.get("/", follow_redirects=False).status_code == 303  # tampered: signed out


def test_a_wrong_key_or_a_stale_form_is_refused(site: Site) -> None:
    client = httpx.Client(base_url=site.url)
    form = client.get("/login")
    wrong = client.post("/login", data={"key": "aidmp_r_000000000000_nope",
                                         "csrf": csrf_of(form.text)})
    assert wrong.status_code == 401 and "unknown or has been revoked" in wrong.text
    stale = client.post("/login", data={"key": site.read, "csrf": "forged"})
    assert stale.status_code == 400 and "aidmp_session" not in stale.headers.get(
        "set-cookie", "")


def test_posts_need_the_csrf_token(site: Site) -> None:
    client = signed_in(site, site.admin)
    refused = client.post("/segments/check", data={"rule": "age > 3"})
    assert refused.status_code == 401
    token = csrf_of(client.get("/segments/new").text)
    ok = client.post("/segments/check", data={"rule": "age > 3"},
                     headers={"X-CSRF-Token": token})
    assert ok.status_code == 200 and 'data-size="2"' in ok.text


def test_the_rule_check_points_at_the_error_and_suggests(site: Site) -> None:
    client = signed_in(site, site.admin)
    token = csrf_of(client.get("/segments/new").text)
    r = client.post("/segments/check", data={"rule": "agee > 30 and orders_total >= 3",
                                              "csrf": token})
    assert "Line 1, column 1" in r.text and "<mark>agee</mark>" in r.text
    assert "did you mean &#39;age&#39;?" in r.text
    r = client.post("/segments/check", data={"rule": "age > 30 and orders_total >=",
                                              "csrf": token})
    assert "Line 1, column 29" in r.text
    r = client.post("/segments/check", data={"rule": "age > 30 and orders_total >= 3",
                                              "csrf": token})
    assert 'data-size="1"' in r.text  # bob: 31 years, 4 orders


def test_profile_search_keeps_identifiers_out_of_urls_and_audits(site: Site) -> None:
    client = signed_in(site, site.read)
    token = csrf_of(client.get("/profiles").text)
    r = client.post("/profiles/search", data={"id_type": "any", "value": "Ann@Example.com",
                                               "csrf": token})
    assert r.status_code == 303
    location = r.headers["location"]
    pid = site.dmp.identity.profile_of("email", "ann@example.com")
    assert location == f"/profiles/{pid}" and "ann" not in location.lower()
    page = client.get(location)
    assert page.status_code == 200 and "ann@example.com" in page.text
    assert "Order Completed" in client.get(f"{location}/timeline?page=1").text
    missing = client.post("/profiles/search", data={"id_type": "email",
                                                     "value": "nobody@example.com",
                                                     "csrf": token})
    assert missing.status_code == 404 and "No profile has this identifier" in missing.text
    actions = [e["action"] for e in site.dmp.audit.entries(50)]
    assert "dashboard.profile_search" in actions and "dashboard.profile_view" in actions


def test_a_role_without_personal_data_sees_aggregates_only(site: Site) -> None:
    client = signed_in(site, site.analyst)
    pid = site.dmp.identity.profile_of("email", "ann@example.com")
    profiles = client.get("/profiles")
    assert profiles.status_code == 200 and "aggregates only" in profiles.text
    assert 'action="/profiles/search"' not in profiles.text
    assert client.get(f"/profiles/{pid}").status_code == 403
    assert client.get(f"/profiles/{pid}/timeline").status_code == 403
    token = csrf_of(profiles.text)
    assert client.post("/profiles/search", data={"value": "ann@example.com",
                                                  "csrf": token}).status_code == 403
    segment = client.get("/segments")
    assert segment.status_code == 200
    assert client.get("/settings").status_code == 200
    assert 'action="/settings/keys"' not in client.get("/settings").text


def test_revoking_a_key_ends_its_session_and_its_api_access(site: Site) -> None:
    victim = site.dmp.keys.create("read", source="tests").secret
    victim_id = victim.split("_")[2]
    theirs = signed_in(site, victim)
    assert theirs.get("/").status_code == 200
    admin = signed_in(site, site.admin)
    token = csrf_of(admin.get("/settings").text)
    r = admin.post(f"/settings/keys/{victim_id}/revoke", data={"csrf": token})
    assert r.status_code == 303
    assert theirs.get("/", follow_redirects=False).status_code == 303
    api = httpx.get(site.url + "/v1/segments", headers={"Authorization": f"Bearer {victim}"})
    assert api.status_code == 401


def test_a_created_key_is_shown_once_and_works(site: Site) -> None:
    admin = signed_in(site, site.admin)
    token = csrf_of(admin.get("/settings").text)
    r = admin.post("/settings/keys", data={"scope": "read", "source": "web",
                                            "name": "analyst", "csrf": token})
    assert r.status_code == 201
    secret = r.text.split('id="new-secret">')[1].split("<")[0]
    assert secret.startswith("aidmp_r_")
    assert secret not in admin.get("/settings").text
    assert httpx.get(site.url + "/v1/segments",
                     headers={"Authorization": f"Bearer {secret}"}).status_code == 200


def test_redirects_stay_on_this_site(site: Site) -> None:
    r = httpx.get(site.url + "/lang?to=zh_Hans&next=//evil.example/x", follow_redirects=False)
    assert r.headers["location"] == "/"
    assert "aidmp_lang=zh_Hans" in r.headers["set-cookie"]
    form = httpx.get(site.url + "/login?next=https://evil.example/")
    assert 'name="next" value="/"' in form.text


def test_pages_carry_security_headers_and_assets_are_cached(site: Site) -> None:
    r = httpx.get(site.url + "/login")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
    # the chart library app.js fetches when a chart comes near the screen
    src = re.search(r'<body [^>]*data-echarts="(/static/vendor/[^"]+)"', r.text)
    assert src and 'src="/static/vendor/echarts' not in r.text
    js = httpx.get(site.url + src.group(1), headers={"Accept-Encoding": "gzip"})
    assert js.status_code == 200 and js.headers["content-encoding"] == "gzip"
    assert "immutable" in js.headers["cache-control"] and "window.echarts" in js.text
    assert httpx.get(site.url + "/v1/nope").headers["content-type"] == "application/json"


def test_a_collect_key_signs_in_but_sees_no_page(site: Site) -> None:
    collector = site.dmp.keys.create("collect", source="web").secret
    client = signed_in(site, collector)
    page = client.get("/")
    assert page.status_code == 403 and "does not allow this page" in page.text


def test_segment_members_export_as_csv_for_personal_data_roles_only(site: Site) -> None:
    if not any(s["id"] == "buyers_4" for s in site.dmp.segments.list()):
        site.dmp.segments.create("buyers 4", "orders_total >= 4")
    reader = signed_in(site, site.read)
    r = reader.get("/segments/buyers_4/export.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    bob = site.dmp.identity.profile_of("email", "bob@example.com")
    assert len(lines) == 2
    assert lines[1].strip('"').startswith(bob)
    analyst = signed_in(site, site.analyst)
    assert analyst.get("/segments/buyers_4/export.csv").status_code == 403
    page = analyst.get("/segments/buyers_4")
    assert page.status_code == 200 and "the size only" in page.text and bob not in page.text


def test_the_language_switch_and_sign_out(site: Site) -> None:
    client = signed_in(site, site.read)
    switched = client.get("/lang?to=zh_Hans&next=/segments", follow_redirects=False)
    assert switched.headers["location"] == "/segments"
    page = client.get("/segments")
    assert '<html lang="zh-Hans">' in page.text and "人群分组" in page.text
    client.cookies.set("aidmp_lang", "en")
    assert "<h1>Segments</h1>" in client.get("/segments").text
    out = client.post("/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert client.get("/", follow_redirects=False).status_code == 303
