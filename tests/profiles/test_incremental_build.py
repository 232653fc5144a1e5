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


class Clock:
    """The wall clock the builds read (``dmp.profiles.clock``), set by the test: a build's
    reference time is the wall clock, and these tests choose how far it moves."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture()
def built(dmp: DMP) -> tuple[DMP, datetime]:
    run_demo(dmp, people=200, seed=5, campaigns=False)
    dmp.profiles.clock = Clock(datetime.now(UTC))
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
    # new events now (after the CRM rows, which were stamped on receipt, and inside the
    # clock window), built 40 days later: the reference time moves, and events leave the 30-
    # and 90-day windows
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
    clock = dmp.profiles.clock
    assert isinstance(clock, Clock)
    clock.at += timedelta(days=40)
    inc = dmp.build()
    assert inc.identities_incremental and inc.profiles_incremental
    assert inc.reference_time == clock.at
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
    # nothing new, the same wall clock: the profiles are kept
    again = dmp.build()
    assert again.profiles_reused and again.profiles_recomputed == 0
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


def test_a_moving_wall_clock_keeps_profiles_only_while_no_window_changes(dmp: DMP) -> None:
    """The reference time is the wall clock at the start of each build. A build with nothing
    new keeps the profiles only while no event crosses a window's edge and no buyer's RFM
    recency changes; otherwise it recomputes exactly those people (and the ranks) and gives
    what a full build gives. An event stamped ahead of the wall clock (a device's clock skew)
    counts from the first build whose reference time has reached it."""
    now = datetime.now(UTC).replace(microsecond=0)
    clock = Clock(now)
    dmp.profiles.clock = clock
    day, hour = timedelta(days=1), timedelta(hours=1)
    dmp.events.ingest([
        # a's only order: 9 whole days back from now, 10 from now + 1 h
        {"type": "track", "event": "Order Completed", "userId": "a", "messageId": "a1",
         "timestamp": _stamp(now - 10 * day + hour),
         "properties": {"revenue": 10.0, "order_id": "o1"}},
        # b's page view leaves the 30-day window 2 h from now
        {"type": "page", "userId": "b", "messageId": "b1", "timestamp": _stamp(now - 30 * day
                                                                              + 2 * hour)},
        # c's order is stamped 3 h ahead of the wall clock (within the clock policy's skew)
        {"type": "page", "userId": "c", "messageId": "c1", "timestamp": _stamp(now - 5 * day)},
        {"type": "track", "event": "Order Completed", "userId": "c", "messageId": "c2",
         "timestamp": _stamp(now + 3 * hour),
         "properties": {"revenue": 25.0, "order_id": "o2"}},
    ], source="web")

    def row(user: str) -> dict[str, Any]:
        return profiles(dmp)[dmp.identity.profile_of("user_id", user)]

    def same_as_full() -> None:
        inc = profiles(dmp)
        assert not dmp.build(full=True).profiles_incremental
        assert_same(profiles(dmp), inc)

    first = dmp.build()
    assert first.reference_time == now and not first.profiles_incremental
    assert row("a")["rfm_recency_days"] == 9 and row("b")["events_30d"] == 1
    # not yet: the order ahead of the wall clock is in no count, no window, no RFM
    c = row("c")
    assert (c["events"], c["orders_total"], c["revenue_total"]) == (1, 0, 0.0)
    assert c["last_seen"] == now - 5 * day and c["rfm_recency_days"] is None

    clock.at = now + hour / 2  # nothing crosses an edge: the profiles are kept
    kept = dmp.build()
    assert kept.profiles_reused and kept.reference_time == now + hour / 2

    clock.at = now + 3 * hour / 2  # a's recency moves to 10 days: the ranks are recomputed
    moved = dmp.build()
    assert moved.profiles_incremental and not moved.profiles_reused
    assert moved.profiles_recomputed == 0 and row("a")["rfm_recency_days"] == 10
    same_as_full()

    clock.at = now + 5 * hour / 2  # b's page view leaves the 30-day window
    left = dmp.build()
    assert left.profiles_incremental and left.profiles_recomputed == 1
    assert row("b")["events_30d"] == 0 and row("b")["events"] == 1
    same_as_full()

    clock.at = now + 7 * hour / 2  # c's order's time has come
    came = dmp.build()
    assert came.profiles_incremental and came.profiles_recomputed == 1
    c = row("c")
    assert (c["events"], c["orders_total"], c["revenue_total"]) == (2, 1, 25.0)
    assert c["orders_90d"] == 1 and c["rfm_recency_days"] == 0
    assert c["last_seen"] == now + 3 * hour
    same_as_full()
