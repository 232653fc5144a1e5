"""A small store behind a real server for the dashboard's HTTP tests (no browser)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from aidmp import DMP
from aidmp.api.server import ServerThread

NOW = datetime.now(UTC)


def shop() -> list[dict[str, object]]:
    """Three people: two buyers with e-mails, one anonymous browser."""
    out: list[dict[str, object]] = []
    for i, (user, email) in enumerate([("u1", "ann@example.com"), ("u2", "bob@example.com")]):
        out.append({"type": "identify", "userId": user, "messageId": f"id-{user}",
                    "timestamp": (NOW - timedelta(days=40)).isoformat(),
                    "traits": {"email": email, "age": 30 + i}})
        for n in range(3 + i):
            out.append({"type": "track", "userId": user, "event": "Order Completed",
                        "messageId": f"o-{user}-{n}",
                        "timestamp": (NOW - timedelta(days=5 + 7 * n)).isoformat(),
                        "properties": {"revenue": 20.0 + n, "currency": "EUR"}})
    out.append({"type": "page", "anonymousId": "a-1", "name": "Home", "messageId": "p-a1",
                "timestamp": (NOW - timedelta(days=1)).isoformat()})
    return out


@dataclass
class Site:
    url: str
    dmp: DMP
    admin: str
    read: str
    analyst: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    dmp = DMP(home=Path(tmp_path_factory.mktemp("dash")) / "home")
    dmp.events.ingest(shop(), source="web")
    dmp.build()
    keys = {s: dmp.keys.create(s, source="tests").secret for s in ("admin", "read", "analyst")}
    with ServerThread(dmp) as server:
        yield Site(server.url, dmp, keys["admin"], keys["read"], keys["analyst"])
    dmp.close()


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def signed_in(site: Site, key: str) -> httpx.Client:
    """A client that signed in through the form with ``key``."""
    client = httpx.Client(base_url=site.url, timeout=60)
    form = client.get("/login")
    r = client.post("/login", data={"key": key, "csrf": csrf_of(form.text), "next": "/"})
    assert r.status_code == 303 and r.headers["location"] == "/"
    return client
