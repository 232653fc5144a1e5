"""The ``aidmp`` command as a user runs it: real process, real files, JSON and clean errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from aidmp.demo.generator import DemoConfig, DemoGenerator
from aidmp.store.schema import MIGRATIONS


def aidmp(home, *args, ok=True):
    proc = subprocess.run([sys.executable, "-m", "aidmp.cli.main", *args, "--home", str(home)],
                          capture_output=True, text=True, timeout=120)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def js(home, *args):
    return json.loads(aidmp(home, *args, "--json").stdout)


def test_init_keys_import_events_quarantine_round_trip(tmp_path):
    home = tmp_path / "home"
    assert js(home, "init")["schema_version"] == MIGRATIONS[-1].version
    key = js(home, "keys", "create", "--scope", "write", "--source", "web")
    assert key["secret"].startswith("aidmp_w_") and key["scope"] == "write"
    listed = js(home, "keys", "list")
    assert [k["key_id"] for k in listed] == [key["key_id"]] and "secret" not in listed[0]

    csv = tmp_path / "orders.csv"
    csv.write_text("order_id,customer,day,amount\n1,c1,20260101,9.99\n2,c2,2026-01-02,5\n"
                   "3,,20260103,1\n")
    args = ["import", str(csv), "--source", "shop", "--event", "Order Completed",
            "--user-id-column", "customer", "--timestamp-column", "day",
            "--timestamp-format", "%Y%m%d", "--message-id-column", "order_id"]
    report = js(home, *args)
    assert {k: report[k] for k in ("read", "stored", "quarantined", "duplicates")} == {
        "read": 3, "stored": 1, "quarantined": 2, "duplicates": 0}
    assert js(home, *args)["duplicates"] == 1  # re-import stores nothing twice

    assert js(home, "events", "count") == {"events": 1}
    assert js(home, "events", "tail")[0]["message_id"] == "shop:1"
    stats = js(home, "events", "stats")
    assert stats["by_source"] == {"shop": 1} and stats["top_events"] == {"Order Completed": 1}

    q = js(home, "quarantine", "list")
    assert sorted((r["row_number"], r["field"]) for r in q) == [(2, "day"), (3, "customer")]
    replay = js(home, "quarantine", "replay", "--set", "timestamp_format=%Y-%m-%d")
    assert replay == {"tried": 2, "stored": 1, "duplicates": 0, "still_invalid": 1}
    assert js(home, "events", "count") == {"events": 2}

    human = aidmp(home, "events", "stats").stdout
    assert "Order Completed" in human and "by source" in human
    revoked = js(home, "keys", "revoke", key["key_id"])
    assert revoked["revoked_at"] is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["import", "missing.csv", "--source", "s", "--event", "E", "--user-id-column", "u"],
         "error: file: missing.csv does not exist"),
        (["import", "x.csv"], "error: --source: required (or give --mapping FILE)"),
        (["import", "x.csv", "--source", "s", "--user-id-column", "u"],
         "error: event: track imports need 'event' (a name) or 'event_column'"),
        (["keys", "create", "--scope", "root"],
         "error: scope: unknown role 'root'; valid: collect, analyst, marketer, engineer, "
         "privacy, admin"),
        (["keys", "revoke", "abc"], "error: No key with id 'abc'; see `aidmp keys list`"),
        (["quarantine", "replay", "--set", "oops"], "error: --set: expected KEY=VALUE"),
        (["datasets", "load", "imdb"], "error: dataset: unknown dataset 'imdb'; valid: cdnow"),
    ],
)
def test_errors_are_one_clean_line(tmp_path, args, message):
    proc = aidmp(tmp_path / "home", *args, ok=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith(message), proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2  # one logical line (may soft-wrap once)


def test_usage_errors_exit_2_without_traceback(tmp_path):
    proc = aidmp(tmp_path / "home", "events", "tail", "-n", "0", ok=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_datasets_load_and_mapping_file(tmp_path, datasets):
    home = tmp_path / "home"
    out = js(home, "datasets", "load", "groceries")
    assert out["baskets"]["stored"] == 9835
    mapping = tmp_path / "m.yaml"
    mapping.write_text("source: crm\ntype: identify\nuser_id_column: id\nsurname_column: x\n")
    csv = tmp_path / "crm.csv"
    csv.write_text("id,email\n1,a@b.c\n")
    proc = aidmp(home, "import", str(csv), "--mapping", str(mapping), ok=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: surname_column: unknown mapping key; valid keys: source")


def test_demo_builds_through_the_collector_and_importer(tmp_path):
    home = tmp_path / "home"
    out = js(home, "demo", "--people", "60", "--seed", "3")
    assert out["events_quarantined"] == 0
    assert out["events_stored"] == out["events_accepted"] > 60 * 10
    assert out["stats"]["by_source"]["web"] == out["events_stored"]
    assert out["stats"]["by_source"]["crm"] == out["crm_rows_stored"] > 10
    assert out["crm_duplicates"] >= 0 and out["catalog_items"] > 50
    types = out["stats"]["by_type"]
    assert types["track"] > types["identify"] > 0 and types["page"] > 0
    # the campaign study: its own source, daily costs, a recorded holdout test
    study = out["campaign_study"]
    assert out["stats"]["by_source"]["campaigns"] == study["events_accepted"] > 100
    assert study["cost_rows"] == 3 * 84 + 4
    exp = out["campaigns"]["experiment"]
    people = DemoGenerator(DemoConfig(people=60, seed=3)).people()
    assert exp["holdout"] + exp["exposed"] == people["user_id"].is_not_null().sum()
    assert exp["holdout"] > 0 and exp["exposed"] > 0
    assert {r["channel"] for r in out["campaigns"]["roi"]} >= {"cpc", "paid_social", "display",
                                                               "email"}
    # 60 people are too few to validate a churn model: the demo says so and goes on
    assert "5-fold" in out["models"]["churn_30d"]["skipped"]
    assert out["models"]["clv"]["customers"] > 0 and out["models"]["rules"]["rules"] > 0
    # same seed, same data: running it again stores nothing new
    again = js(home, "demo", "--people", "60", "--seed", "3")
    assert again["stats"]["events"] == out["stats"]["events"]
