"""Known answers on the hand-built world: predicates, sizes, members, overlap, history."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from aidmp import DMP
from aidmp.errors import NotFoundError, ValidationError
from aidmp.segments.service import Segments

from .conftest import AS_OF, order

World = tuple[DMP, dict[str, str]]

CASES = [
    ('age between 25 and 35 and interest("fashion") > 0.5 and purchasing_power = "high" '
     'and not event("Order Completed", within=30d)', {"u2", "u4", "u6"}),
    ('event("Order Completed", within=90d, count >= 2, where revenue > 50)', {"u1", "u5"}),
    ('sum("Order Completed", "revenue", within=365d) > 500', {"u1"}),
    # people without orders have a sum of 0 and a count of 0
    ('sum("Order Completed", "revenue", within=365d) < 100', {"u2", "u3", "u4", "u6"}),
    ('count("Order Completed") = 0', {"u6"}),
    ('event("Order Completed", count < 2)', {"u2", "u4", "u6"}),
    ('avg("Order Completed", "revenue") >= 100', {"u1", "u4"}),
    ('max("Order Completed", "revenue", where currency = "EUR") between 60 and 80',
     {"u3", "u5"}),
    ('consent("email")', {"u1", "u4"}),
    ('country in ("DE", "FR")', {"u1", "u2", "u3", "u5"}),
    ('country not in ("DE", "FR")', {"u4", "u6"}),
    ('country contains "Deu"', {"u6"}),
    ("email is null", {"u2", "u5"}),
    ("age is not null and age >= 35", {"u3", "u6"}),
    ("newsletter = true", {"u1", "u4", "u5"}),
    # not is the exact complement: u3's unknown newsletter flag counts as "not true"
    ("NOT (newsletter = TRUE)", {"u2", "u3", "u6"}),
    ('gender != "f" or age < 26', {"u2", "u4", "u5", "u6"}),
    ('(country = "DE" or country = "US") and not consent("email")', {"u3", "u5"}),
]


def members(segs: Segments, rule: str, pid: dict[str, str]) -> set[str]:
    user = {v: k for k, v in pid.items()}
    expr = segs.compile(rule=rule).expr
    return {user[p] for p in segs.engine.execute(expr).column("profile_id").to_pylist()}


@pytest.mark.parametrize(("rule", "expected"), CASES, ids=[c[0][:40] for c in CASES])
def test_known_members(world: World, rule: str, expected: set[str]) -> None:
    dmp, pid = world
    segs = Segments(dmp.engine, as_of=AS_OF)
    assert members(segs, rule, pid) == expected
    assert segs.estimate(rule=rule)["size"] == len(expected)


def test_spec_json_gives_the_same_answer_and_errors_name_the_field(world: World) -> None:
    dmp, _ = world
    segs = Segments(dmp.engine, as_of=AS_OF)
    spec = {"condition": {"kind": "and", "conditions": [
        {"kind": "trait", "trait": "country", "op": "=", "value": "DE"},
        {"kind": "event", "event": "Order Completed", "within": "90d", "count": 2,
         "where": [{"property": "revenue", "op": ">", "value": 50}]}]}}
    created = segs.create("DE repeat buyers", spec=spec)
    assert created["id"] == "de_repeat_buyers"
    assert created["size"] == 2  # u1 and u5
    assert created["spec"]["condition"]["conditions"][1]["count"] == 2
    with pytest.raises(ValidationError, match=r"condition\.trait\.op"):
        segs.estimate(spec={"condition": {"kind": "trait", "trait": "age", "op": "~"}})
    with pytest.raises(ValidationError, match=r"unknown trait 'ag' at condition; did you mean"):
        segs.estimate(spec={"condition": {"kind": "trait", "trait": "ag", "op": ">",
                                          "value": 3}})
    with pytest.raises(ValidationError, match="bad duration '3x'"):
        segs.estimate(spec={"condition": {"kind": "event", "event": "E", "within": "3x"}})


def test_realtime_capability_is_decided_by_the_compiler(world: World) -> None:
    dmp, _ = world
    segs = Segments(dmp.engine, as_of=AS_OF)
    live = segs.estimate(rule='age > 30 and event("Order Completed", within=30d)')
    assert live["realtime_capable"] is True
    scored = segs.estimate(rule="clv_12m > 500")
    assert scored["realtime_capable"] is False
    assert "'clv_12m' is a model score" in scored["realtime_reason"]
    with pytest.raises(ValidationError, match="cannot be real-time"):
        segs.create("vip", rule="clv_12m > 500", realtime=True)
    segs.create("vip", rule="clv_12m > 500")
    via = segs.estimate(rule='in_segment("vip") and age > 1')
    assert via["realtime_capable"] is False
    assert "in_segment('vip') reads a batch segment" in via["realtime_reason"]
    segs.create("adults live", rule="age >= 30", realtime=True)
    assert segs.estimate(rule='in_segment("adults_live")')["realtime_capable"] is True


def test_create_show_list_members_export_delete(world: World, tmp_path: Path) -> None:
    dmp, pid = world
    segs = Segments(dmp.engine, as_of=AS_OF)
    shown = segs.create("Germans", rule='country = "DE"', description="home market")
    assert shown["size"] == 3 and shown["realtime_capable"] is True
    assert "FROM" in shown["sql"] and "profiles" in shown["sql"]
    with pytest.raises(ValidationError, match="exists"):
        segs.create("germans", rule="age > 3")
    assert [s["id"] for s in segs.list()] == ["germans"]
    expected = sorted(pid[u] for u in ("u1", "u3", "u5"))
    page1 = segs.members("germans", page=1, page_size=2)
    page2 = segs.members("germans", page=2, page_size=2)
    assert page1["size"] == 3
    assert page1["profile_ids"] + page2["profile_ids"] == expected
    out = segs.export("germans", tmp_path / "de.csv")
    assert out["rows"] == 3
    csv = pacsv.read_csv(tmp_path / "de.csv").to_pydict()
    assert csv["profile_id"] == expected
    assert sorted(e for e in csv["email"] if e) == ["a@example.com", "c@example.com"]
    segs.export("germans", tmp_path / "de.parquet")
    assert pq.read_table(tmp_path / "de.parquet").column("user_id").to_pylist() == [
        {v: k for k, v in pid.items()}[p] for p in expected]
    segs.delete("germans")
    assert segs.list() == []
    with pytest.raises(NotFoundError, match="no segment 'germans'"):
        segs.show("germans")


def test_overlap_matrix(world: World) -> None:
    dmp, _ = world
    segs = Segments(dmp.engine, as_of=AS_OF)
    segs.create("a", rule=CASES[0][0])  # u2 u4 u6
    segs.create("b", rule=CASES[1][0])  # u1 u5
    segs.create("c", rule='gender != "f"')  # u2 u5 u6
    out = segs.overlap(["a", "b", "c"])
    assert out["matrix"] == [[3, 0, 2], [0, 2, 1], [2, 1, 3]]


def test_membership_history_across_refreshes(world: World) -> None:
    dmp, pid = world
    user = {v: k for k, v in pid.items()}
    segs = Segments(dmp.engine, as_of=AS_OF)
    segs.create("recent buyers", rule='event("Order Completed", within=30d)')
    first = segs.refresh(build_id="b1")[0]
    assert (first.entered, first.exited, first.stayed, first.size) == (2, 0, 0, 2)  # u1 u3

    # u2 orders 10 days later; 22 days on, u1's last order is 32 days old, u3's 27.
    dmp.events.ingest([order("u2", AS_OF + timedelta(days=10), 15.0, 9)], source="shop")
    dmp.identity.resolve()
    t2 = AS_OF + timedelta(days=22)
    second = Segments(dmp.engine, as_of=t2).refresh(build_id="b2")[0]
    assert (second.entered, second.exited, second.stayed, second.size) == (1, 1, 1, 2)
    again = Segments(dmp.engine, as_of=t2).refresh(build_id="b3")[0]
    assert (again.entered, again.exited, again.stayed) == (0, 0, 2)

    # u1 comes back: a second spell, the first stays closed.
    dmp.events.ingest([order("u1", t2 + timedelta(days=1), 5.0, 10)], source="shop")
    dmp.identity.resolve()
    Segments(dmp.engine, as_of=t2 + timedelta(days=2)).refresh(build_id="b4")
    spells = {(user[r["profile_id"]], r["entered_at"], r["exited_at"], r["trigger"])
              for r in segs.history("recent_buyers")}
    t4 = t2 + timedelta(days=2)
    assert spells == {
        ("u1", AS_OF, t2, "build:b1"), ("u1", t4, None, "build:b4"),
        ("u3", AS_OF, None, "build:b1"), ("u2", t2, None, "build:b2"),
    }


def test_in_segment_reads_materialised_membership(world: World) -> None:
    dmp, pid = world
    segs = Segments(dmp.engine, as_of=AS_OF)
    segs.create("vip", rule="clv_12m > 500")
    segs.create("german vip", rule='in_segment("vip") and country = "DE"')
    assert segs.size("german_vip")["size"] == 0  # vip not materialised yet
    reports = segs.refresh(build_id="b1")
    assert [r.segment_id for r in reports] == ["vip", "german_vip"]  # dependency first
    assert segs.members("german_vip")["profile_ids"] == [pid["u1"]]
    with pytest.raises(ValidationError, match="used by german_vip"):
        segs.delete("vip")
    segs.delete("german_vip")
    segs.delete("vip")
    assert dmp.engine.count("segment_members") == 0


def test_approximate_size_is_labelled(world: World) -> None:
    dmp, _ = world
    out = Segments(dmp.engine, as_of=AS_OF).estimate(rule="age > 0", approximate_above=3)
    assert out["approximate"] is True and out["sample_fraction"] == 0.01
    assert out["size"] % 100 == 0 and 0 <= out["size"] <= 500
