"""``aidmp build``, ``profiles``, ``identity``, ``quality``, ``models`` as a user runs them."""

from __future__ import annotations

import json

from tests.cli.test_cli import aidmp, js


def test_build_lookup_merges_quality_and_models(tmp_path):
    home = tmp_path / "home"
    events = tmp_path / "events.ndjson"
    rows = [
        {"user_id": "u1", "anon": "d1", "event": "Order Completed", "ts": "2026-01-02",
         "revenue": 20.0},
        {"user_id": "u1", "anon": "d2", "event": "Order Completed", "ts": "2026-01-09",
         "revenue": 15.5},
        {"user_id": "u2", "anon": "d3", "event": "Product Viewed", "ts": "2026-01-03",
         "revenue": None},
    ]
    events.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    aidmp(home, "import", str(events), "--source", "shop", "--user-id-column", "user_id",
          "--anonymous-id-column", "anon", "--event-column", "event", "--timestamp-column", "ts")
    built = js(home, "build")
    assert built["profiles"] == 2 and built["identifiers"] == 5
    assert not built["identities_incremental"]  # the first resolution is a full one
    again = js(home, "build")
    assert again["identities_incremental"] and again["identifiers"] == 5
    assert again["profiles_incremental"] and again["profiles_recomputed"] == 0
    forced = js(home, "build", "--full")
    assert not forced["identities_incremental"] and not forced["profiles_incremental"]
    got = js(home, "profiles", "get", "anonymous_id:d2")
    assert got["profile"]["user_id"] == "u1"
    assert got["profile"]["orders_total"] == 2 and got["profile"]["revenue_total"] == 35.5
    assert {i["id_value"] for i in got["identities"]} == {"u1", "d1", "d2"}
    timeline = js(home, "profiles", "events", "user_id:u1", "--size", "1")
    assert timeline["total"] == 2 and timeline["events"][0]["event"] == "Order Completed"
    table = aidmp(home, "profiles", "get", "user_id:u2").stdout
    assert "profile p_" in table and "identities" in table
    assert js(home, "identity", "merges") == []
    report = js(home, "quality", "report")
    assert report["sources"]["shop"]["rows"] == 3
    assert report["profiles"]["rows"] == 2
    assert js(home, "models", "list") == []
    # clean one-line errors
    bad = aidmp(home, "profiles", "get", "u1", ok=False)
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: id: expected TYPE:VALUE")
    missing = aidmp(home, "profiles", "get", "email:nobody@x.example", ok=False)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "no profile has that email" in missing.stderr
    unknown = aidmp(home, "profiles", "get", "emial:a@b.example", ok=False)
    assert "unknown identifier type 'emial'; valid types: user_id, crm_id, email" in unknown.stderr
    nomerge = aidmp(home, "identity", "unmerge", "m_x", ok=False)
    assert nomerge.stderr.startswith("error: no merge 'm_x'")
