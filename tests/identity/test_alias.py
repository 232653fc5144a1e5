"""Segment / RudderStack ``alias`` calls: the previous id joins the caller's profile."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from aidmp import DMP
from aidmp.identity.service import IdentityGraph
from aidmp.spec.identity import IdentityRules


def msg(kind: str, day: int, mid: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "messageId": mid, "timestamp": f"2026-02-{day:02d}T10:00:00Z",
            **fields}


def identities(dmp: DMP) -> pa.Table:
    t = dmp.engine.table("identities")
    return dmp.engine.execute(t.select("id_type", "id_value", "profile_id", "status")
                              .order_by(["id_type", "id_value"]))


def test_alias_merges_an_anonymous_previous_id_into_the_user(dmp: DMP) -> None:
    dmp.events.ingest([
        msg("track", 1, "e1", anonymousId="a1", event="Product Viewed"),
        msg("track", 2, "e2", anonymousId="a2", userId="u1", event="Order Completed"),
    ], source="web")
    first = dmp.identity.resolve()
    g = dmp.identity
    assert g.profile_of("anonymous_id", "a1") != g.profile_of("user_id", "u1")
    assert first.profiles == 2
    # the shop's server aliases the browsing device (a1) to the account after sign-up
    dmp.events.ingest([msg("alias", 3, "e3", previousId="a1", userId="u1")], source="server")
    second = dmp.identity.resolve()
    assert not second.incremental  # a new alias call: the whole graph is read again
    assert second.profiles == 1 and second.merges == 1
    assert g.profile_of("anonymous_id", "a1") == g.profile_of("user_id", "u1")
    merge = g.merges()[0]
    assert merge["evidence"]["via_message_id"] == "e3"
    assert merge["rule"] == "deterministic:user_id"
    # the device's earlier event now belongs to the account's profile
    dmp.profiles.build()
    assert [e["message_id"] for e in dmp.profiles.events(g.profile_of("user_id", "u1"))[
        "events"]] == ["e3", "e2", "e1"]
    # the device comes back: an ordinary incremental run keeps it where the alias put it
    dmp.events.ingest([msg("track", 4, "e4", anonymousId="a1", event="Product Viewed")],
                      source="web")
    third = dmp.identity.resolve()
    assert third.incremental and third.profiles == 1


def test_a_previous_id_reads_as_the_type_that_holds_its_value(dmp: DMP) -> None:
    dmp.events.ingest([
        msg("identify", 1, "e1", userId="old-7", anonymousId="a1"),
        msg("identify", 2, "e2", userId="new-7", anonymousId="a2"),
        msg("alias", 3, "e3", previousId="old-7", userId="new-7"),
        msg("alias", 3, "e4", previousId="legacy-9", userId="new-7"),
    ], source="web")
    dmp.identity.resolve()
    g = dmp.identity
    ids = identities(dmp).to_pylist()
    typed = {(r["id_type"], r["id_value"]) for r in ids}
    # old-7 is a user id (some event carries it as one); legacy-9 is in no event: anonymous
    assert ("user_id", "old-7") in typed and ("anonymous_id", "old-7") not in typed
    assert ("anonymous_id", "legacy-9") in typed
    # one user id per profile (the default): two user ids are not merged by an alias
    assert g.profile_of("user_id", "old-7") != g.profile_of("user_id", "new-7")
    assert g.profile_of("anonymous_id", "legacy-9") == g.profile_of("user_id", "new-7")
    # rules allowing two user ids per profile let the alias merge them
    rules = IdentityRules()
    two = IdentityRules(types=[t.model_copy(update={"limit": 2}) if t.name == "user_id" else t
                               for t in rules.types])
    graph = IdentityGraph(dmp.engine, two)
    graph.resolve(full=True)
    assert graph.profile_of("user_id", "old-7") == graph.profile_of("user_id", "new-7") \
        == graph.profile_of("anonymous_id", "a1")
    # and alias calls can be switched off
    off = IdentityGraph(dmp.engine, IdentityRules(alias=False))
    off.resolve(full=True)
    off_ids = {(r["id_type"], r["id_value"]) for r in identities(dmp).to_pylist()}
    assert ("anonymous_id", "legacy-9") not in off_ids


def test_a_previous_id_seen_later_as_a_user_id_is_read_again_in_full(dmp: DMP) -> None:
    dmp.events.ingest([msg("identify", 1, "e1", userId="u1", anonymousId="a1"),
                       msg("alias", 2, "e2", previousId="x1", userId="u1")], source="web")
    dmp.identity.resolve()
    assert dmp.identity.profile_of("anonymous_id", "x1") == dmp.identity.profile_of(
        "user_id", "u1")
    # x1 turns out to be a user id: the earlier alias now names a second user id
    dmp.events.ingest([msg("identify", 3, "e3", userId="x1", anonymousId="a3")],
                      source="web")
    later = dmp.identity.resolve()
    assert not later.incremental
    incremental_result = identities(dmp)
    dmp.identity.resolve(full=True)
    assert identities(dmp) == incremental_result
    typed = {(r["id_type"], r["id_value"]) for r in incremental_result.to_pylist()}
    assert ("user_id", "x1") in typed and ("anonymous_id", "x1") not in typed
    # an unrelated new device afterwards is resolved incrementally again
    dmp.events.ingest([msg("track", 4, "e4", anonymousId="a9", event="Page Viewed")],
                      source="web")
    assert dmp.identity.resolve().incremental
