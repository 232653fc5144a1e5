"""Incremental identity resolution gives exactly what a full one gives, and knows when it can't."""

from __future__ import annotations

from typing import Any

from aidmp import DMP
from aidmp.demo.ingest import run_demo
from aidmp.identity.graph import SPLIT_REASON


def msg(kind: str, day: str, **fields: object) -> dict[str, object]:
    return {"type": kind, "timestamp": f"2026-11-{day}T00:00:00Z", **fields}


def snapshot(dmp: DMP) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    ids = dmp.engine.to_arrow("identities").drop(["build_id"]).to_pylist()
    ep = dmp.engine.to_arrow("event_profiles").to_pylist()
    return (sorted(ids, key=lambda r: (r["id_type"], r["id_value"])),
            sorted((r["message_id"], r["profile_id"]) for r in ep))


def one(dmp: DMP, id_type: str, id_value: str) -> str:
    return dmp.identity.profile_of(id_type, id_value)


def test_new_events_resolved_incrementally_equal_a_full_run(dmp: DMP) -> None:
    run_demo(dmp, people=200, seed=3)
    first = dmp.identity.resolve()
    assert not first.incremental
    ids = dmp.engine.to_arrow("identities").to_pylist()
    users = sorted(r["id_value"] for r in ids if r["id_type"] == "user_id")
    known = {r["profile_id"] for r in ids if r["id_type"] != "anonymous_id"}
    # devices never seen with a user id, e-mail or phone (a log-in merges them, no conflict)
    lone = sorted(r["id_value"] for r in ids if r["profile_id"] not in known)[:2]
    before = {u: one(dmp, "user_id", u) for u in users[:2]}
    dmp.events.ingest([
        # a known device logs in as a known user: two profiles merge
        msg("identify", "02", anonymousId=lone[0], userId=users[0], messageId="x1",
            traits={"email": "Late.Login@Example.com"}),
        # a known user on a brand-new device
        msg("page", "02", anonymousId="fresh-device", userId=users[1], messageId="x2"),
        # someone new, twice
        msg("page", "02", anonymousId="new-person", messageId="x3"),
        msg("track", "03", anonymousId="new-person", event="Product Viewed", messageId="x4"),
        # more events of a known profile, nothing new about who they are
        msg("track", "03", anonymousId=lone[1], event="Product Viewed", messageId="x5"),
    ], source="web")
    inc = dmp.identity.resolve()
    assert inc.incremental
    assert inc.merges == 1
    merged = one(dmp, "anonymous_id", lone[0])
    assert merged == before[users[0]] == one(dmp, "email", "late.login@example.com")
    assert one(dmp, "anonymous_id", "fresh-device") == before[users[1]]
    assert one(dmp, "anonymous_id", "new-person") != before[users[1]]
    got = snapshot(dmp)

    full = dmp.identity.resolve(full=True)
    assert not full.incremental
    assert snapshot(dmp) == got
    assert (inc.identifiers, inc.profiles) == (full.identifiers, full.profiles)
    # nothing new: nothing to do, nothing changes
    again = dmp.identity.resolve()
    assert again.incremental and again.events_mapped == 0 and snapshot(dmp) == got


def test_a_split_profile_or_changed_rules_take_a_full_run(dmp: DMP) -> None:
    dmp.events.ingest([
        msg("identify", "01", anonymousId="shared-laptop", userId="ann", messageId="a1"),
        msg("identify", "02", anonymousId="shared-laptop", userId="bob", messageId="b1"),
        msg("page", "03", anonymousId="ann-phone", userId="ann", messageId="a2"),
    ], source="web")
    dmp.identity.resolve()
    split = [r for r in dmp.engine.to_arrow("identities").to_pylist()
             if r["reason"] == SPLIT_REASON]
    assert {r["id_value"] for r in split} >= {"ann", "bob"}
    dmp.events.ingest([msg("page", "04", anonymousId="shared-laptop", messageId="a3")],
                      source="web")
    again = dmp.identity.resolve()
    assert not again.incremental  # the touched profile is part of a split component
    assert one(dmp, "user_id", "ann") != one(dmp, "user_id", "bob")

    fresh = dmp.identity.resolve()
    assert fresh.incremental  # nothing new since
    dmp.identity.rules = dmp.identity.rules.model_copy(update={"max_shared": 10})
    assert not dmp.identity.resolve().incremental


def test_events_received_late_or_erased_take_a_full_run(dmp: DMP) -> None:
    dmp.events.ingest([msg("page", "01", anonymousId="d1", messageId="e1"),
                       msg("page", "01", anonymousId="d2", messageId="e2")], source="web")
    dmp.identity.resolve()
    dmp.engine.sql("DELETE FROM events WHERE message_id = 'e2'")
    summary = dmp.identity.resolve()
    assert not summary.incremental and summary.identifiers == 1


def test_a_new_event_on_a_shared_value_takes_a_full_run(dmp: DMP) -> None:
    # one tablet used by 60 account holders: a shared value, blocked, linking nobody
    dmp.events.ingest([msg("identify", "01", anonymousId="family-tablet", userId=f"u{i}",
                           messageId=f"s{i}") for i in range(60)], source="web")
    first = dmp.identity.resolve()
    assert first.blocked == 1 and first.profiles == 61
    dmp.events.ingest([msg("page", "02", anonymousId="family-tablet", messageId="s-new"),
                       msg("page", "02", anonymousId="elsewhere", messageId="e-new")],
                      source="web")
    again = dmp.identity.resolve()
    assert not again.incremental and again.blocked == 1 and again.profiles == 62
    # new events away from it stay incremental, and the tablet stays blocked
    dmp.events.ingest([msg("page", "03", anonymousId="elsewhere", userId="u1",
                           messageId="e-2")], source="web")
    last = dmp.identity.resolve()
    assert last.incremental and last.blocked == 1 and last.merges == 1
    assert one(dmp, "anonymous_id", "elsewhere") == one(dmp, "user_id", "u1")
