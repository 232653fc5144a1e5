"""An incremental build recomputes only the people whose events changed and gives exactly what a
full build gives; it knows when it must run in full."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from aidmp import DMP
from aidmp.demo.ingest import run_demo


def profiles(dmp: DMP) -> dict[str, dict[str, Any]]:
    return {r["profile_id"]: r for r in dmp.engine.to_arrow("profiles").to_pylist()}


def traits(dmp: DMP) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["profile_id"], r["key"]): r for r in dmp.engine.to_arrow("traits").to_pylist()}


def assert_same(got: dict[str, dict[str, Any]], want: dict[str, dict[str, Any]]) -> None:
    assert got.keys() == want.keys()
    for pid, row in want.items():
        other = got[pid]
        assert other.keys() == row.keys()
        for col, value in row.items():
            if isinstance(value, float) and other[col] is not None:
                # interests are ratios of decayed sums: equal up to the last rounding digit
                tol = 1.5e-6 if col.startswith("interest_") else 1e-9
                assert math.isclose(other[col], value, rel_tol=1e-9, abs_tol=tol), (pid, col)
            else:
                assert other[col] == value, (pid, col, other[col], value)


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture()
def built(dmp: DMP) -> tuple[DMP, datetime]:
    run_demo(dmp, people=200, seed=5, campaigns=False)
    first = dmp.build()
    assert not first.profiles_incremental  # nothing to start from
    # the newest tracked activity (the CRM rows carry no time: they are stamped on receipt,
    # and events more than a day after receipt are refused by the clock window)
    ev = dmp.engine.table("events")
    web = ev.filter(ev.source == "web")
    newest = dmp.engine.execute(web.aggregate(t=web.timestamp.max())).column("t")[0].as_py()
    return dmp, newest


def test_incremental_build_equals_a_full_build(built: tuple[DMP, datetime]) -> None:
    dmp, newest = built
    before = profiles(dmp)
    ids = dmp.engine.to_arrow("identities").to_pylist()
    users = sorted(r["id_value"] for r in ids if r["id_type"] == "user_id")
    known = {r["profile_id"] for r in ids if r["id_type"] != "anonymous_id"}
    lone = sorted(r["id_value"] for r in ids if r["profile_id"] not in known)[:2]
    # weeks later (now: after the CRM rows, which were stamped on receipt, and inside the
    # clock window): the reference time moves, and events leave the 30- and 90-day windows
    assert datetime.now(UTC) - newest > timedelta(days=5)
    later = _stamp(datetime.now(UTC))
    dmp.events.ingest([
        {"type": "track", "event": "Order Completed", "userId": users[0], "messageId": "n1",
         "timestamp": later, "properties": {"revenue": 120.0, "category": "books"}},
        # a device seen before logs in: its profile merges into the user's
        {"type": "identify", "userId": users[1], "anonymousId": lone[0], "messageId": "n2",
         "timestamp": later, "traits": {"email": "merged@example.com"}},
        {"type": "page", "anonymousId": "someone-new", "messageId": "n3", "timestamp": later},
        {"type": "track", "event": "Product Viewed", "anonymousId": lone[1], "messageId": "n4",
         "timestamp": later, "properties": {"category": "garden", "price": 12.5}},
    ], source="web")
    inc = dmp.build()
    assert inc.identities_incremental and inc.profiles_incremental
    # the touched people, the merged-away profile, and those with an event leaving a window
    assert 4 < inc.profiles_recomputed < inc.profiles
    got = profiles(dmp)
    user = dmp.identity.profile_of("user_id", users[1])
    assert dmp.identity.profile_of("anonymous_id", lone[0]) == user
    assert got[user]["identifiers"] > before[user]["identifiers"]
    assert len(got) == len(before)  # one profile merged away, one new
    # someone untouched whose window counts moved with the reference time
    touched = {dmp.identity.profile_of("user_id", u) for u in users[:2]}
    moved = [p for p, r in got.items() if p in before and p not in touched
             and r["events_30d"] != before[p]["events_30d"]]
    assert moved

    got_traits = traits(dmp)
    assert got_traits[(user, "email")]["value"] == "merged@example.com"
    full = dmp.build(full=True)
    assert not full.profiles_incremental and full.profiles == inc.profiles
    assert_same(got, profiles(dmp))
    assert traits(dmp) == got_traits and full.traits == inc.traits
    # nothing new: nobody is recomputed, nothing changes
    again = dmp.build()
    assert again.profiles_incremental and again.profiles_recomputed == 0
    assert_same(profiles(dmp), got)


def test_traits_of_a_profile_merged_away_go_with_it(built: tuple[DMP, datetime]) -> None:
    dmp, newest = built
    at = _stamp(newest + timedelta(hours=1))
    dmp.events.ingest([{"type": "identify", "anonymousId": "dev-t", "messageId": "t1",
                        "timestamp": at, "traits": {"favourite_colour": "teal"}}],
                      source="web")
    assert dmp.build().profiles_incremental
    device = dmp.identity.profile_of("anonymous_id", "dev-t")
    assert traits(dmp)[(device, "favourite_colour")]["value"] == "teal"
    user = sorted(r["id_value"] for r in dmp.engine.to_arrow("identities").to_pylist()
                  if r["id_type"] == "user_id")[0]
    dmp.events.ingest([{"type": "identify", "userId": user, "anonymousId": "dev-t",
                        "messageId": "t2", "timestamp": at}], source="web")
    inc = dmp.build()
    assert inc.profiles_incremental
    merged = dmp.identity.profile_of("user_id", user)
    got = traits(dmp)
    assert merged != device and not any(pid == device for pid, _ in got)
    assert got[(merged, "favourite_colour")]["value"] == "teal"
    alive = {r["profile_id"] for r in dmp.engine.to_arrow("identities").to_pylist()}
    assert {pid for pid, _ in got} <= alive
    dmp.build(full=True)
    assert traits(dmp) == got


def test_changed_catalog_or_configuration_take_a_full_build(
        built: tuple[DMP, datetime]) -> None:
    dmp, newest = built
    dmp.events.ingest([{"type": "page", "anonymousId": "x", "messageId": "c1",
                        "timestamp": _stamp(newest)}], source="web")
    assert dmp.build().profiles_incremental
    # a new catalog item may give events a category: every interest is recomputed
    dmp.engine.upsert("items", pa.Table.from_pylist([{
        "item_id": "sku-1", "name": "Spade", "category": "garden", "price": 9.0,
        "attributes": "{}", "source": "shop", "updated_at": newest}]))
    assert not dmp.build().profiles_incremental
    assert dmp.build().profiles_incremental
    dmp.profiles.cfg = dmp.profiles.cfg.model_copy(update={"order_event": "Purchase"})
    assert not dmp.build().profiles_incremental


def test_a_build_that_fails_half_way_leaves_a_full_one_next(
        built: tuple[DMP, datetime], monkeypatch: pytest.MonkeyPatch) -> None:
    dmp, newest = built
    dmp.events.ingest([{"type": "page", "anonymousId": "y", "messageId": "f1",
                        "timestamp": _stamp(newest)}], source="web")

    def broken(self: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("aidmp.profiles.stages.Stages.assemble", broken)
    with pytest.raises(RuntimeError):
        dmp.build()
    monkeypatch.undo()
    assert not dmp.build().profiles_incremental
    assert dmp.build().profiles_incremental


def test_nothing_new_keeps_the_profiles_and_a_new_score_rebuilds_them(
        built: tuple[DMP, datetime]) -> None:
    dmp, newest = built
    before = profiles(dmp)
    again = dmp.build()
    assert again.profiles_reused and again.profiles == len(before) and again.columns > 30
    assert_same(profiles(dmp), before)
    # a model's score written since the last build is pivoted into the wide table
    pid = sorted(before)[0]
    dmp.engine.upsert("predictions", pa.Table.from_pylist([{
        "profile_id": pid, "key": "p_churn_90d", "value": 0.7, "model": "churn", "version": 1,
        "scored_at": newest}]))
    scored = dmp.build()
    assert scored.profiles_incremental and not scored.profiles_reused
    rescored = profiles(dmp)
    assert rescored[pid]["p_churn_90d"] == 0.7
    assert dmp.build().profiles_reused
    # an event that identifies no one (a blocked anonymous id) is stored, and read: nobody is
    # recomputed, the wide table is written again
    dmp.events.ingest([{"type": "track", "event": "Ping", "messageId": "z1",
                        "anonymousId": "anonymous", "timestamp": _stamp(newest)}], source="web")
    late = dmp.build()
    assert not late.profiles_reused and late.profiles_recomputed == 0
    assert_same(profiles(dmp), rescored)
