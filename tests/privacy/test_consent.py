"""Consent that follows the person, and where it is enforced (issue 19)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import httpx
import numpy as np
from typer.testing import CliRunner

from aidmp import DMP
from aidmp.api.server import ServerThread
from aidmp.cli.main import app
from aidmp.ml.data import write_predictions

runner = CliRunner()


def prefs(**categories: bool) -> dict[str, object]:
    return {"consent": {"categoryPreferences": categories}}


def test_decisions_from_events_traits_and_the_api_resolve_most_restrictively(dmp: DMP) -> None:
    dmp.events.ingest([
        # a device says yes to advertising before anyone logs in
        {"type": "page", "anonymousId": "dev-1", "messageId": "m1", "name": "Home",
         "timestamp": "2026-11-01T10:00:00Z", "context": prefs(Advertising=True, Analytics=True)},
        # the person's laptop, logged in, said no to advertising
        {"type": "identify", "userId": "u1", "anonymousId": "dev-2", "messageId": "m2",
         "timestamp": "2026-11-02T10:00:00Z", "traits": {"email": "ann@x.com"},
         "context": prefs(Advertising=False)},
        # an identify trait grants e-mail; another person grants everything
        {"type": "identify", "userId": "u1", "messageId": "m3",
         "timestamp": "2026-11-03T10:00:00Z", "traits": {"consent": {"email": True}}},
        {"type": "identify", "userId": "u2", "messageId": "m4",
         "timestamp": "2026-11-03T10:00:00Z", "context": prefs(Advertising=True)},
    ], source="web")
    dmp.build()
    before = {c["purpose"]: c["granted"] for c in dmp.privacy.consent.of("anonymous_id", "dev-1")}
    assert before == {"advertising": True, "analytics": True}
    # the device logs in: it joins u1, whose no to advertising wins; its yes to analytics stays
    dmp.events.ingest([{"type": "track", "event": "Login", "userId": "u1",
                        "anonymousId": "dev-1", "messageId": "m5",
                        "timestamp": "2026-11-04T10:00:00Z"}], source="web")
    dmp.build()
    merged = {c["purpose"]: c["granted"] for c in dmp.privacy.consent.of("anonymous_id", "dev-1")}
    assert merged == {"advertising": False, "analytics": True, "email": True}
    # a withdrawal through the API takes effect at once, and the history keeps every answer
    dmp.privacy.consent.record("email", " ANN@x.com ", "email", False, source="support")
    now = {c["purpose"]: c["granted"] for c in dmp.privacy.consent.of("user_id", "u1")}
    assert now["email"] is False
    history = dmp.privacy.consent.history("user_id", "u1")
    assert [(h["purpose"], h["granted"]) for h in history if h["purpose"] == "email"] == [
        ("email", True), ("email", False)]
    report = {r["purpose"]: r for r in dmp.privacy.consent.report()}
    assert report["advertising"]["granted"] == 1 and report["advertising"]["withdrawn"] == 1


def _two_people(dmp: DMP) -> None:
    dmp.events.ingest([
        {"type": "identify", "userId": f"u{i}", "messageId": f"m{i}",
         "timestamp": "2026-11-01T10:00:00Z",
         "traits": {"email": f"p{i}@x.com"},
         "context": prefs(Advertising=(i == 1), Analytics=(i == 1), Personalization=(i == 1))}
        for i in (1, 2)], source="web")
    dmp.build()


def test_segments_syncs_and_scores_respect_consent(dmp: DMP, tmp_path: Path) -> None:
    _two_people(dmp)
    p1, p2 = (dmp.identity.profile_of("user_id", f"u{i}") for i in (1, 2))
    # a rule can ask for consent
    dmp.segments.create("ads ok", 'consent("advertising")')
    assert set(dmp.segments.member_ids("ads_ok")) == {p1}
    # an ad platform receives only people who granted advertising
    dmp.segments.create("everyone", "events >= 0")
    dmp.audiences.add_destination({"type": "meta_custom_audience", "name": "meta",
                                   "folder": str(tmp_path / "meta"), "min_audience": 1})
    sent = dmp.audiences.sync("everyone", "meta")
    assert sent.to_dict()["added"] == 1
    # a person who withdrew personalisation gets no stored score
    n = write_predictions(dmp.engine, [p1, p2], {"p_test": np.array([0.2, 0.9])}, "t", 1)
    assert n == 1
    scored = dmp.engine.to_arrow("predictions").column("profile_id").to_pylist()
    assert scored == [p1]


def test_privacy_over_rest_and_the_cli(dmp: DMP, tmp_path: Path) -> None:
    _two_people(dmp)
    admin = dmp.keys.create("admin", source="ops").secret
    read = dmp.keys.create("read", source="ops").secret
    with ServerThread(dmp) as srv:
        h = {"Authorization": f"Bearer {admin}"}
        r = httpx.post(f"{srv.url}/v1/privacy/consent", headers=h, json={
            "id_type": "email", "id_value": "p2@x.com", "purpose": "email", "granted": True})
        assert r.status_code == 200, r.text
        bad = httpx.post(f"{srv.url}/v1/privacy/consent", headers=h, json={
            "id_type": "email", "id_value": "p2@x.com", "purpose": "telepathy", "granted": True})
        assert bad.status_code == 400 and "purpose" in bad.text and "p2@x.com" not in bad.text
        # a read key may see aggregates but not a person's consents
        denied = httpx.post(f"{srv.url}/v1/privacy/consent/lookup",
                            headers={"Authorization": f"Bearer {read}"},
                            json={"id_type": "email", "id_value": "p2@x.com"})
        assert denied.status_code == 403
        look = httpx.post(f"{srv.url}/v1/privacy/consent/lookup", headers=h,
                          json={"id_type": "email", "id_value": "p2@x.com"}).json()
        assert {c["purpose"]: c["granted"] for c in look["consents"]}["email"] is True
        z = httpx.post(f"{srv.url}/v1/privacy/access", headers=h,
                       json={"id_type": "user_id", "id_value": "u2"})
        assert z.headers["content-type"] == "application/zip"
        assert "profile.json" in zipfile.ZipFile(io.BytesIO(z.content)).namelist()
        gone = httpx.post(f"{srv.url}/v1/privacy/erasure", headers=h,
                          json={"id_type": "user_id", "id_value": "u2"}).json()
        assert gone["status"] == "done" and gone["rows"]["events"] == 1
        assert httpx.get(f"{srv.url}/v1/audit/verify", headers=h).json()["ok"] is True
    home = ["--home", str(dmp.home)]
    dmp.close()
    out = runner.invoke(app, ["privacy", "consent", "report", "--json", *home])
    assert out.exit_code == 0, out.output
    assert runner.invoke(app, ["audit", "verify", *home]).exit_code == 0
    # tamper with one entry: verify names it and fails
    with DMP(home=home[1]) as again:
        first = again.engine.sql("SELECT min(seq) AS s FROM audit_log").column("s")[0].as_py()
        again.engine.sql("UPDATE audit_log SET actor = 'someone-else' WHERE seq = ?", [first])
    broken = runner.invoke(app, ["audit", "verify", "--json", *home])
    assert broken.exit_code == 1 and '"first_bad": 1' in broken.output
    erased = runner.invoke(app, ["privacy", "erase", "email:p1@x.com", "--yes", "--json", *home])
    assert erased.exit_code == 0, erased.output
    assert runner.invoke(app, ["privacy", "erase", "nothing-here", "--yes", *home]).exit_code == 1

