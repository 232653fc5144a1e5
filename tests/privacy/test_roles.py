"""Every route of the OpenAPI document against every kind of key (issue 19).

The expected table below is written from the product's role definitions (what each kind of
person may see and do), not read from the routes' own declarations: a route that declares the
wrong permission fails here.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from aidmp import DMP
from aidmp.api.server import ServerThread
from aidmp.privacy.keys import ROLES

# who may call what, by the nature of the route
PERSONAL = re.compile(r"^/v1/(profiles|events$|quarantine$|identity/(review|merges$)|deliveries$)"
                      r"|/members$|/explain/|/recommendations$")
AGGREGATE_POSTS = {"/v1/segments/estimate", "/v1/segments/overlap", "/v1/campaigns/optimise"}
MAY = {
    "aggregate": {"analyst", "marketer", "engineer", "privacy", "admin"},
    "personal": {"marketer", "privacy", "admin"},
    "audiences": {"marketer", "admin"},
    "operate": {"engineer", "admin"},
    "jobs": {"marketer", "engineer", "admin"},
    "privacy": {"privacy", "admin"},
    "admin": {"admin"},
}


def expected(method: str, path: str) -> str:
    """The permission a route should need."""
    if path.startswith(("/v1/privacy", "/v1/audit")):
        shared = path.endswith("/consent/report") or path.startswith("/v1/privacy/dp/")
        return "aggregate" if shared else "privacy"
    if path.startswith("/v1/keys"):
        return "admin"
    if path.startswith("/v1/profiles/lookup"):
        return "personal"
    if method == "get" or path in AGGREGATE_POSTS:
        return "personal" if PERSONAL.search(path) else "aggregate"
    if path.startswith("/v1/jobs"):
        return "jobs"
    if path.startswith(("/v1/segments", "/v1/destinations", "/v1/campaigns")):
        return "audiences"
    return "operate"


def operations(spec: dict[str, object]) -> list[tuple[str, str]]:
    ops = []
    for path, item in spec["paths"].items():  # type: ignore[attr-defined]
        if not path.startswith("/v1/") or re.match(r"^/v1/(track|identify|page|screen|group|"
                                                   r"alias|batch|[tipsgab])$", path):
            continue  # the collector takes write keys: tests/api
        for method in item:
            if method in ("get", "post", "put", "delete", "patch"):
                ops.append((method, path))
    return sorted(ops)


def call(client: httpx.Client, method: str, path: str, secret: str | None) -> int:
    url = re.sub(r"\{[^}]+\}", "nobody-here", path)
    headers = {"Authorization": f"Bearer {secret}"} if secret is not None else {}
    body = None if method in ("get", "delete") else {}
    r = client.request(method.upper(), url, headers=headers, json=body)
    return r.status_code


@pytest.fixture()
def keys(dmp: DMP) -> dict[str, str]:
    dmp.events.ingest([{"type": "identify", "userId": "u1", "messageId": "m1",
                        "traits": {"email": "ann@x.com"}}], source="web")
    dmp.build()
    out = {role: dmp.keys.create(role, source="t").secret for role in ROLES}
    revoked = dmp.keys.create("admin", source="t")
    dmp.keys.revoke(revoked.key.key_id)
    out["revoked"] = revoked.secret
    soon = dmp.keys.create("admin", source="t", expires_at=datetime.now(UTC) + timedelta(
        seconds=1))
    out["expired"] = soon.secret
    time.sleep(1.1)
    return out


def test_every_route_answers_each_key_as_its_role_allows(dmp: DMP, keys: dict[str, str]
                                                          ) -> None:
    wrong: list[str] = []
    with ServerThread(dmp) as srv, httpx.Client(base_url=srv.url, timeout=60) as client:
        ops = operations(client.get("/openapi.json").json())
        assert len(ops) > 60
        for method, path in ops:
            need = expected(method, path)
            for name, secret in (("no key", None), ("malformed", "not-a-key"),
                                 ("revoked", keys["revoked"]), ("expired", keys["expired"])):
                status = call(client, method, path, secret)
                if status != 401:
                    wrong.append(f"{method.upper()} {path} with {name}: {status}, expected 401")
            for role in ROLES:
                status = call(client, method, path, keys[role])
                allowed = role in MAY[need]
                if allowed and status in (401, 403):
                    wrong.append(f"{method.upper()} {path} as {role}: {status}, expected "
                                 f"to be let in ({need})")
                elif not allowed and status != 403:
                    wrong.append(f"{method.upper()} {path} as {role}: {status}, expected 403 "
                                 f"({need})")
                if status >= 500:
                    wrong.append(f"{method.upper()} {path} as {role}: {status}")
    assert wrong == [], "\n".join(wrong)


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(dmp: DMP) -> None:
    slow = dmp.keys.create("analyst", source="t", rate_limit=2.0).secret
    with ServerThread(dmp) as srv, httpx.Client(base_url=srv.url) as client:
        answers = [client.get("/v1/segments", headers={"Authorization": f"Bearer {slow}"})
                   for _ in range(6)]
        codes = [a.status_code for a in answers]
        assert codes[:2] == [200, 200] and 429 in codes
        limited = next(a for a in answers if a.status_code == 429)
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.json()["code"] == "rate_limited"
        time.sleep(1.1)
        assert client.get("/v1/segments",
                          headers={"Authorization": f"Bearer {slow}"}).status_code == 200
