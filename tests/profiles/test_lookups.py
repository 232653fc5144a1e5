"""Profile lookups: what they reuse between calls (the newest build, "nothing arrived since the
build") is read again as soon as anything is written, and the fast paths answer exactly what the
general ones do."""

from __future__ import annotations

import polars as pl
import pytest

from aidmp import DMP
from aidmp.engine.duckdb import DuckDBEngine
from aidmp.identity.extract import normalise_values

EVENTS = [
    {"type": "identify", "userId": "u1", "anonymousId": "a1",
     "traits": {"email": "Ann@X.example", "plan": "pro", "age": 31, "city": "Oslo"},
     "timestamp": "2026-01-01T00:00:00Z"},
    {"type": "track", "userId": "u1", "event": "Order Completed",
     "properties": {"revenue": 10.0}, "timestamp": "2026-01-02T00:00:00Z"},
    {"type": "page", "anonymousId": "a2", "timestamp": "2026-01-03T00:00:00Z"},
]


def order(user: str, revenue: float, day: str) -> dict[str, object]:
    return {"type": "track", "userId": user, "event": "Order Completed",
            "properties": {"revenue": revenue}, "timestamp": f"2026-01-{day}T00:00:00Z"}


@pytest.fixture()
def built(dmp: DMP) -> DMP:
    dmp.events.ingest(EVENTS, source="web")
    dmp.build()
    return dmp


def test_a_write_after_a_quiet_lookup_is_seen_at_once(built: DMP) -> None:
    first = built.profiles.get("user_id", "u1")
    assert first["since_build"] == {} and first["profile"]["orders_total"] == 1
    assert built.profiles.get("user_id", "u1") == first  # answered from what it reused
    built.events.ingest([order("u1", 5.5, "05")], source="web")
    got = built.profiles.get("email", "ann@x.example")
    assert got["since_build"]["orders_total"] == 1 and got["since_build"]["events"] == 1
    assert got["profile"]["orders_total"] == 2 and got["profile"]["revenue_total"] == 15.5
    # an event of somebody else counts for nobody here, and is not lost for them
    built.events.ingest([{"type": "page", "anonymousId": "a2",
                          "timestamp": "2026-01-06T00:00:00Z"}], source="web")
    assert built.profiles.get("user_id", "u1")["since_build"]["events"] == 1
    assert built.profiles.get("anonymous_id", "a2")["since_build"]["events"] == 1


def test_a_build_by_another_builder_replaces_the_reused_build(built: DMP) -> None:
    built.profiles.get("user_id", "u1")
    built.events.ingest([order("u1", 5.5, "05")], source="web")
    other = DMP(home=built.home, engine=built.engine)  # its own ProfileBuilder
    other.build()
    got = built.profiles.get("user_id", "u1")
    # counted once: in the new build's row, not again as "since the build"
    assert got["since_build"] == {}
    assert got["profile"]["orders_total"] == 2 and got["profile"]["revenue_total"] == 15.5
    assert built.profiles.last_build() == other.profiles.last_build()


def test_a_build_through_another_connection_to_the_file_is_seen(built: DMP) -> None:
    built.profiles.get("user_id", "u1")
    other = DMP(home=built.home)  # a second engine on the same database file
    try:
        other.events.ingest([order("u1", 5.5, "05")], source="web")
        assert built.profiles.get("user_id", "u1")["since_build"]["orders_total"] == 1
        other.build()
        got = built.profiles.get("user_id", "u1")
    finally:
        other.close()
    assert got["since_build"] == {} and got["profile"]["orders_total"] == 2


def test_lookup_shape_and_order(built: DMP) -> None:
    got = built.profiles.get("anonymous_id", "a1")
    assert list(got) == ["profile_id", "profile", "traits", "identities", "interests",
                         "since_build"]
    keys = [t["key"] for t in got["traits"]]
    assert keys == sorted(keys) and {"plan", "age", "city", "email"} <= set(keys)
    assert list(got["traits"][0]) == ["key", "value", "source", "updated_at", "rule"]
    assert [i["id_type"] for i in got["identities"]] == ["user_id", "email", "anonymous_id"]
    assert "build_id" not in got["identities"][0]
    assert got["identities"] == built.identity.identities_of(got["profile_id"])
    assert got["profile"]["profile_id"] == got["profile_id"]


@pytest.mark.parametrize(("id_type", "values"), [
    ("email", [" Ann@X.example ", "ANN@x.EXAMPLE", "Ann Smith <ann@x.example>",
               "mailto:Ann@X.example?subject=hi", "n/a", "not-an-email", "a@@b.c", "  ",
               "ann@b\u00fccher.de", "ann@x.example\t"]),
    ("user_id", [" u1 ", "U1", "u\u00a01 ", "\tu1"]),
    ("anonymous_id", ["a1", " a1", "A1 "]),
    ("phone", ["+1 (415) 555-0100", "0415 555 0100", "x"]),
])
def test_normalise_one_value_agrees_with_the_column_normaliser(
        dmp: DMP, id_type: str, values: list[str]) -> None:
    rules = dmp.identity.rules
    kind = rules.type(id_type)
    for value in values:
        column, _ = normalise_values(kind, pl.Series([value]), rules.default_region)
        expected = column[0] if column[0] is not None else value.strip()
        assert dmp.identity.normalise(id_type, value) == expected, value


def test_data_version_moves_with_every_commit(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert DuckDBEngine(":memory:").data_version() is None
    dmp = DMP(home=tmp_path)
    try:
        before = dmp.engine.data_version()
        assert before is not None and dmp.engine.data_version() == before
        dmp.events.ingest(EVENTS[:1], source="web")
        after = dmp.engine.data_version()
        assert after != before
        dmp.engine.checkpoint()
        assert dmp.engine.data_version() not in (before, after)
    finally:
        dmp.close()


def test_prepared_answers_the_same_without_the_fast_path(
        built: DMP, monkeypatch: pytest.MonkeyPatch) -> None:
    built.events.ingest([order("u1", 2.0, "07")], source="web")
    fast = DMP(home=built.home, engine=built.engine).profiles.get("user_id", "u1")
    assert fast["since_build"]["orders_total"] == 1
    cursor = built.engine._cursor()  # type: ignore[attr-defined]

    class NoSubmit:  # a DuckDB package without the direct call: lookups go through sql()
        def __getattr__(self, name: str) -> object:
            if name == "_submit":
                raise AttributeError(name)
            return getattr(cursor, name)

    other = DMP(home=built.home, engine=built.engine)
    monkeypatch.setattr(built.engine, "_cursor", lambda: NoSubmit())
    assert other.profiles.get("user_id", "u1") == fast
