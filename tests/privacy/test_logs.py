"""No personal data in logs or error bodies (issue 19): a working session of the server, with
good and bad input, is logged at DEBUG and every record is searched for the people's
e-mails, phones and names."""

from __future__ import annotations

import logging

import httpx
import pytest

from aidmp import DMP
from aidmp.api.server import ServerThread
from tests.conftest import basic

PII = ["kim.secretary@example.org", "+4917612345678", "Pettersson", "lee.other@example.org"]


def test_a_session_logs_no_personal_data(dmp: DMP, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    write = dmp.keys.create("collect", source="web").secret
    admin = dmp.keys.create("admin", source="ops").secret
    h = {"Authorization": f"Bearer {admin}"}
    bodies: list[str] = []
    with ServerThread(dmp) as srv, httpx.Client(base_url=srv.url, timeout=120) as c:
        batch = [{"type": "identify", "userId": "kim", "messageId": "m1",
                  "traits": {"email": PII[0], "phone": PII[1], "last_name": PII[2]}},
                 {"type": "track", "userId": "kim", "messageId": "m2"},  # no event: refused
                 {"type": "identify", "userId": "lee", "traits": {"email": PII[3]},
                  "timestamp": "0001-01-01T00:00:00Z"}]  # out of the clock window
        r = c.post("/v1/batch", json={"batch": batch}, headers=basic(write))
        assert r.status_code == 200
        bodies.append(r.text)
        srv.flush()
        bodies.append(c.post("/v1/build?wait=true", headers=h).text)
        found = c.post("/v1/profiles/lookup", headers=h,
                       json={"id_type": "email", "id_value": PII[0]})
        assert found.status_code == 200 and found.json()["profile"]["user_id"] == "kim"
        for bad in ({"id_type": "email", "id_value": PII[3]},          # not built yet: 404
                    {"id_type": "fingerprint", "id_value": PII[0]}):   # unknown type: 400
            r = c.post("/v1/profiles/lookup", headers=h, json=bad)
            assert r.status_code in (400, 404)
            bodies.append(r.text)
        r = c.post("/v1/privacy/consent", headers=h, json={
            "id_type": "email", "id_value": PII[0], "purpose": "nope", "granted": True})
        assert r.status_code == 400
        bodies.append(r.text)
        bodies.append(c.get("/v1/quarantine", headers=h).text.replace(PII[3], ""))
    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert len(caplog.records) > 5  # the capture did see the server's logging
    for value in PII:
        assert value not in text, f"{value} in the logs"
        for body in bodies[:-1]:
            assert value not in body, f"{value} in an error body"
