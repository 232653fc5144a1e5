"""The real-time evaluator's batch mechanics, called directly (no server).

One query per batch answers every real-time segment for the touched profiles: these tests pin
down that this gives the batch refresh's answers (restricted compile, ``within=`` ending at the
batch's time), that segments reading each other are evaluated in order, that big batches are
taken in chunks, and that queries are compiled again only when the segments change.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import ibis
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from aidmp import DMP
from aidmp.segments import realtime
from aidmp.segments.compiler import compile_spec
from aidmp.segments.parser import parse_rule
from aidmp.segments.realtime import MembershipChange, RealtimeEvaluator

from .conftest import AS_OF
from .test_service import CASES

World = tuple[DMP, dict[str, str]]
RECENT = 'event("Order Completed", within=30d)'


def test_restricted_compile_gives_the_same_answer_for_those_profiles(world: World) -> None:
    dmp, pid = world
    user = {v: k for k, v in pid.items()}
    some = {"u1", "u2", "u3", "u6"}
    # "now" as cast text (a bound parameter in real-time) means what the datetime means
    at = ibis.literal(AS_OF.isoformat()).cast("timestamp('UTC')")
    for rule, expected in CASES:
        expr = compile_spec(parse_rule(rule), dmp.engine, as_of=at,
                            profile_ids=[pid[u] for u in sorted(some)]).expr
        got = {user[p] for p in dmp.engine.execute(expr).column("profile_id").to_pylist()}
        assert got == expected & some, rule


def orders(dmp: DMP, batch: list[tuple[str, str, datetime]]) -> pa.Table:
    """Store (user, message id, timestamp) orders as the collector would; return their rows."""
    dmp.events.ingest([{"type": "track", "event": "Order Completed", "userId": u,
                        "messageId": m, "timestamp": at.isoformat()} for u, m, at in batch],
                      source="web")
    ids = [m for _, m, _ in batch]
    rows = dmp.engine.to_arrow("events").filter(pc.is_in(pc.field("message_id"),
                                                         pa.array(ids)))
    # the collector hands rows over in arrival order
    return rows.take(pc.sort_indices(pc.index_in(rows.column("message_id"), pa.array(ids))))


def changed(changes: list[MembershipChange], pid: dict[str, str]) -> list[tuple[str, ...]]:
    user = {v: k for k, v in pid.items()}
    return [(c.segment_id, user[c.profile_id], c.change, c.trigger) for c in changes]


def test_within_window_ends_at_the_batch_time(world: World) -> None:
    dmp, pid = world
    dmp.segments.create("recent buyers", rule=RECENT, realtime=True)
    ev = RealtimeEvaluator(dmp, sender=None)
    now = datetime.now(UTC)
    rows = orders(dmp, [("u2", "w-1", now - timedelta(days=29)),
                        ("u4", "w-2", now - timedelta(days=31))])
    assert changed(ev.on_events(rows), pid) == [
        ("recent_buyers", "u2", "entered", "realtime:w-1")]
    assert (ev.stats.attributed, ev.stats.unknown) == (2, 0)


def test_segment_reading_a_live_segment_sees_this_batch_entries(world: World) -> None:
    dmp, pid = world
    # created dependent first: the evaluator still evaluates "recent buyers" before it
    dmp.segments.create("recent buyers", rule=RECENT, realtime=True)
    dmp.segments.create("german recent buyers", rule='in_segment("recent_buyers") and '
                        'country = "DE"', realtime=True)
    dmp.segments.create("fr", rule='country = "FR"', realtime=True)
    ev = RealtimeEvaluator(dmp, sender=None)
    now = datetime.now(UTC)
    rows = orders(dmp, [("u1", "d-1", now), ("u2", "d-2", now), ("u3", "d-3", now)])
    got = changed(ev.on_events(rows), pid)
    assert sorted(got) == [
        ("fr", "u2", "entered", "realtime:d-2"),
        ("german_recent_buyers", "u1", "entered", "realtime:d-1"),
        ("german_recent_buyers", "u3", "entered", "realtime:d-3"),
        ("recent_buyers", "u1", "entered", "realtime:d-1"),
        ("recent_buyers", "u2", "entered", "realtime:d-2"),
        ("recent_buyers", "u3", "entered", "realtime:d-3"),
    ]
    assert sorted(got[-2:]) == [("german_recent_buyers", "u1", "entered", "realtime:d-1"),
                                ("german_recent_buyers", "u3", "entered", "realtime:d-3")]
    # two rounds: the independent segments together, then the one reading them
    assert [sorted(s for s, _ in r.segments) for r in ev._rounds] == [
        ["fr", "recent_buyers"], ["german_recent_buyers"]]
    # the live answer is what a batch refresh concludes: nothing left to change
    reports = dmp.segments.refresh(segment_ids=["recent_buyers", "german_recent_buyers"])
    assert {(r.segment_id, r.entered, r.exited) for r in reports} == {
        ("recent_buyers", 0, 0), ("german_recent_buyers", 0, 0)}


def test_big_batch_is_taken_in_chunks(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    dmp, pid = world
    dmp.segments.create("recent buyers", rule=RECENT, realtime=True)
    dmp.segments.create("few orders", rule='event("Order Completed", count < 2)', realtime=True)
    dmp.segments.refresh(segment_ids=["few_orders"])  # u2, u4, u6 are members
    monkeypatch.setattr(realtime, "_CHUNK", 2)
    ev = RealtimeEvaluator(dmp, sender=None)
    now = datetime.now(UTC)
    users = ["u1", "u2", "u3", "u4", "u5", "u6", "u2"]
    rows = orders(dmp, [(u, f"c-{i}", now) for i, u in enumerate(users)]
                  + [("stranger", "c-x", now)])
    got = changed(ev.on_events(rows), pid)
    # a profile's trigger is its latest event of the batch (u2: c-6)
    assert sorted(got) == sorted(
        [("recent_buyers", u, "entered", f"realtime:c-{i}")
         for i, u in enumerate(users) if (u, i) != ("u2", 1)]
        + [("few_orders", "u2", "exited", "realtime:c-6"),
           ("few_orders", "u4", "exited", "realtime:c-3")])
    assert (ev.stats.attributed, ev.stats.unknown) == (7, 1)
    # replaying the batch changes nothing and links nothing twice
    assert ev.on_events(rows) == []
    ep = dmp.engine.table("event_profiles")
    linked = dmp.engine.execute(ep.filter(ep.message_id.startswith("c-")))
    assert linked.num_rows == 7


def counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real: Callable[..., Any] = realtime.compile_spec

    def compile_spec(*args: Any, **kwargs: Any) -> Any:
        calls.append("compile")
        return real(*args, **kwargs)

    monkeypatch.setattr(realtime, "compile_spec", compile_spec)
    return calls


def test_queries_are_compiled_again_only_when_segments_change(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    dmp, pid = world
    calls = counting(monkeypatch)
    dmp.segments.create("recent buyers", rule=RECENT, realtime=True)
    ev = RealtimeEvaluator(dmp, sender=None, segments_ttl=0.0)
    ev.warm()
    assert len(calls) == 1
    now = datetime.now(UTC)
    entered = [changed(ev.on_events(orders(dmp, [("u1", f"q-{i}", now)])), pid)
               for i in range(3)]  # looked at every batch (ttl 0); unchanged: not compiled
    assert entered == [[("recent_buyers", "u1", "entered", "realtime:q-0")], [], []]
    assert len(calls) == 1
    dmp.segments.create("fr", rule='country = "FR"', realtime=True)
    got = changed(ev.on_events(orders(dmp, [("u2", "q-9", now)])), pid)
    assert sorted(got) == [("fr", "u2", "entered", "realtime:q-9"),
                           ("recent_buyers", "u2", "entered", "realtime:q-9")]
    assert len(calls) == 3  # both segments compiled once more
    dmp.segments.delete("fr")
    assert changed(ev.on_events(orders(dmp, [("u3", "q-10", now)])), pid) == [
        ("recent_buyers", "u3", "entered", "realtime:q-10")]
    assert ev.stats.errors == 0


def test_the_flusher_hands_over_and_never_waits_for_an_evaluation(world: World) -> None:
    """``submit`` returns at once while an evaluation is held up; what was handed over
    meanwhile is evaluated together in one round, and ``close`` evaluates what is left."""
    import threading

    dmp, pid = world
    dmp.segments.create("recent buyers", rule=RECENT, realtime=True)
    release = threading.Event()
    seen: list[list[tuple[str, ...]]] = []

    def slow(changes: list[MembershipChange]) -> None:
        seen.append(changed(changes, pid))
        release.wait(30)  # the evaluator's thread is held here, as by a long build statement

    ev = RealtimeEvaluator(dmp, sender=None, on_change=slow).start()
    now = datetime.now(UTC)
    first = orders(dmp, [("u2", "h-1", now)])
    later = [orders(dmp, [(u, f"h-{u}", now)]) for u in ("u3", "u4", "u5")]
    ev.submit(first)
    assert not ev.drain(0.5) and seen == [[("recent_buyers", "u2", "entered", "realtime:h-1")]]
    for rows in later:
        ev.submit(rows)  # a submit that waited for the held evaluation would find none queued
    assert ev.stats.queued == 3 and ev.stats.batches == 1
    release.set()
    assert ev.drain(30)
    # the three hand-overs were one evaluation (one batch), with each person's own trigger
    assert ev.stats.batches == 2 and ev.stats.queued == 0
    assert sorted(seen[1]) == [("recent_buyers", u, "entered", f"realtime:h-{u}")
                               for u in ("u3", "u4", "u5")]
    ev.submit(orders(dmp, [("u6", "h-u6", now)]))
    ev.close()  # evaluates what is queued before stopping
    assert ev.stats.batches == 3 and seen[2][0][1] == "u6"


def test_only_events_a_rule_reads_are_evaluated_live(world: World) -> None:
    """Page views and other events change no real-time segment on ``Order Completed``: they
    are neither attributed nor evaluated; a segment reading it through ``in_segment`` adds
    no other trigger; a real-time segment without event predicates makes every event count."""
    dmp, pid = world
    dmp.segments.create("recent buyers", rule=RECENT, realtime=True)
    dmp.segments.create("german recent buyers", rule='in_segment("recent_buyers") and '
                        'country = "DE"', realtime=True)
    ev = RealtimeEvaluator(dmp, sender=None)
    now = datetime.now(UTC)
    dmp.events.ingest([
        {"type": "page", "userId": "u1", "messageId": "r-page", "timestamp": now.isoformat()},
        {"type": "track", "event": "Product Viewed", "userId": "u1", "messageId": "r-view",
         "timestamp": now.isoformat()}], source="web")
    noise = dmp.engine.to_arrow("events").filter(
        pc.is_in(pc.field("message_id"), pa.array(["r-page", "r-view"])))
    order = orders(dmp, [("u2", "r-order", now)])
    got = changed(ev.on_events(pa.concat_tables([noise, order])), pid)
    assert got == [("recent_buyers", "u2", "entered", "realtime:r-order")]
    assert (ev.stats.skipped, ev.stats.attributed) == (2, 1)
    ep = dmp.engine.table("event_profiles")
    linked = dmp.engine.execute(ep.filter(ep.message_id.isin(["r-page", "r-view", "r-order"]))
                                ).column("message_id").to_pylist()
    assert linked == ["r-order"]  # the next build links the others
    assert ev.on_events(noise) == [] and ev.stats.skipped == 4

    # a trait-only real-time segment: any event of a person may be the first after the build
    dmp.segments.create("germans", rule='country = "DE"', realtime=True)
    ev = RealtimeEvaluator(dmp, sender=None)
    got = changed(ev.on_events(noise), pid)
    assert got == [("germans", "u1", "entered", "realtime:r-view")] and ev.stats.skipped == 0
