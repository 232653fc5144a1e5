"""Erasure, proved by a byte scan of the whole home folder (issue 19).

A small shop sends its events through the real collector (HTTP, write-ahead log), imports a CRM
file, builds, syncs an audience to a file destination and fits a model; then one person is
erased by e-mail. Every file under the home — the DuckDB file, write-ahead logs, audience
files, model artefacts — must no longer contain their e-mail, phone, name or user id, while
everyone else's data is intact, and data sent for them later must not bring them back.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from aidmp import DMP, ImportMapping
from aidmp.api.server import ServerThread
from tests.conftest import basic

FIRST = ["Ada", "Bo", "Cy", "Di", "Ed", "Flo", "Gus", "Hal", "Ivy", "Jo"]
TARGET = 7  # this person is erased
EMAIL, PHONE, NAME, USER = ("zelda.quistorp@example.org", "+4915112340007", "Quistorp",
                            "user-007-zq")


def person(i: int) -> dict[str, str]:
    if i == TARGET:
        return {"user": USER, "email": EMAIL, "phone": PHONE, "first": "Zelda", "last": NAME}
    return {"user": f"user-{i:03d}-ok", "email": f"p{i}.someone@example.org",
            "phone": f"+49151123{40000 + i}", "first": FIRST[i % 10], "last": f"Family{i}"}


def messages(i: int) -> list[dict[str, object]]:
    p = person(i)
    out: list[dict[str, object]] = [
        {"type": "identify", "userId": p["user"], "anonymousId": f"anon-{i}-device",
         "messageId": f"id-{i}", "timestamp": "2026-11-01T10:00:00Z",
         "traits": {"email": p["email"], "phone": p["phone"], "first_name": p["first"],
                    "last_name": p["last"]},
         "context": {"consent": {"categoryPreferences": {"Advertising": True}}}}]
    for k in range(3):
        out.append({"type": "track", "event": "Order Completed", "userId": p["user"],
                    "messageId": f"order-{i}-{k}", "timestamp": f"2026-11-0{k + 2}T12:00:00Z",
                    "properties": {"order_id": f"o-{i}-{k}", "revenue": 10.0 + i + k,
                                   "products": [{"product_id": f"sku{(i + k) % 5}"}]}})
    return out


def scan(home: Path, needles: list[str]) -> dict[str, list[str]]:
    """needle -> files under ``home`` whose bytes contain it."""
    found: dict[str, list[str]] = {n: [] for n in needles}
    for path in home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for n in needles:
                if n.encode() in data:
                    found[n].append(str(path.relative_to(home)))
    return {n: files for n, files in found.items() if files}


@pytest.fixture()
def shop(dmp: DMP, tmp_path: Path) -> DMP:
    key = dmp.keys.create("write", source="web").secret
    with ServerThread(dmp) as srv:
        batch = [m for i in range(30) for m in messages(i)]
        r = httpx.post(f"{srv.url}/v1/batch", json={"batch": batch}, headers=basic(key))
        assert r.status_code == 200, r.text
        srv.flush()
    crm = tmp_path / "export" / "crm.csv"  # the source file lives outside the home
    crm.parent.mkdir()
    pacsv.write_csv(pa.table({
        "crm_id": [f"C{i:04d}" for i in range(30)],
        "email": [person(i)["email"] for i in range(30)],
        "city": ["Berlin"] * 30}), crm)
    dmp.imports.file(crm, ImportMapping(source="crm", type="identify",
                                        identifiers={"crm_id": "crm_id"}, traits="*"))
    dmp.build()
    dmp.segments.create("buyers", 'event("Order Completed")')
    dmp.segments.refresh()
    dmp.audiences.add_destination({"type": "file", "name": "drop", "min_audience": 1,
                                   "folder": str(dmp.home / "exports" / "drop"),
                                   "columns": ["user_id", "email"]})
    dmp.audiences.sync("buyers", "drop")
    return dmp


def test_erasure_leaves_no_byte_of_the_person_in_the_home(shop: DMP) -> None:
    dmp = shop
    needles = [EMAIL, PHONE, NAME, USER]
    dmp.engine.checkpoint()
    before = scan(dmp.home, needles)
    assert set(before) == set(needles), before  # the scan sees them while they are stored
    other = dmp.profiles.get("email", person(3)["email"])
    events_before = dmp.events.count()

    report = dmp.privacy.erase("email", EMAIL.upper())  # any spelling of the identifier

    assert report["status"] == "done"
    # the identify call, three orders and the CRM row
    assert report["rows"]["events"] == 5 and report["rows"]["identities"] >= 4
    assert report["files_rewritten"] >= 1 and report["store_compacted"] is True
    assert scan(dmp.home, needles) == {}
    # everyone else is intact
    assert dmp.events.count() == events_before - 5
    again = dmp.profiles.get("email", person(3)["email"])
    assert again["profile"]["revenue_total"] == other["profile"]["revenue_total"]
    drop_rows = sum(len(p.read_text().splitlines()) - 1
                    for p in (dmp.home / "exports" / "drop").rglob("*.csv"))
    assert drop_rows >= 29
    # the request is recorded without the identifier; the audit chain holds
    req = dmp.privacy.requests("erasure")[0]
    assert req["status"] == "done" and EMAIL not in json.dumps(req, default=str)
    assert dmp.audit.verify()["ok"]


def test_an_erased_person_does_not_come_back(shop: DMP, tmp_path: Path) -> None:
    dmp = shop
    dmp.privacy.erase("user_id", USER)
    n = dmp.events.count()
    late = dmp.events.ingest(messages(TARGET), source="web")  # a re-sent batch
    assert late.accepted == 4 and dmp.events.count() == n
    src = tmp_path / "again.csv"
    pacsv.write_csv(pa.table({"crm_id": ["C9999"], "email": [EMAIL]}), src)
    dmp.imports.file(src, ImportMapping(source="crm", type="identify",
                                        identifiers={"crm_id": "crm_id"}, traits="*"))
    assert dmp.events.count() == n
    dmp.build()
    dmp.engine.checkpoint()
    assert scan(dmp.home, [EMAIL, USER]) == {}


def test_access_archive_holds_everything_about_the_person(shop: DMP) -> None:
    archive = zipfile.ZipFile(io.BytesIO(shop.privacy.access("phone", PHONE)))
    doc = json.loads(archive.read("profile.json"))
    assert {i["id_type"] for i in doc["identities"]} >= {"user_id", "email", "phone", "crm_id"}
    assert any(t["key"] == "last_name" and NAME in t["value"] for t in doc["traits"])
    assert [s["segment_id"] for s in doc["segments"]] == ["buyers"]
    assert doc["destinations"] == [{"destination": "drop", "segment_id": "buyers"}]
    assert {c["purpose"]: c["granted"] for c in doc["consents"]} == {"advertising": True}
    events = [json.loads(line) for line in archive.read("events.ndjson").splitlines()]
    assert len(events) == 5 and {e["user_id"] for e in events if e["user_id"]} == {USER}
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["counts"]["events"] == 5
    # someone else's archive holds nothing of this person
    other = zipfile.ZipFile(io.BytesIO(shop.privacy.access("email", person(2)["email"])))
    assert EMAIL.encode() not in b"".join(other.read(n) for n in other.namelist())
