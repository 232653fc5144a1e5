"""The rule language: specs it makes, errors with positions and suggestions, fuzzing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aidmp.engine.duckdb import DuckDBEngine
from aidmp.errors import ValidationError
from aidmp.segments.catalog import Catalog
from aidmp.segments.compiler import catalog_of, compile_spec
from aidmp.segments.parser import parse_rule

CATALOG = Catalog(
    traits={"age": "number", "gender": "text", "country": "text", "purchasing_power": "text",
            "interest_fashion": "number", "interest_sci_fi": "number", "newsletter": "boolean",
            "last_order_at": "timestamp", "clv_12m": "number"},
    segments={"vip": False, "live": True},
)
VALID = [
    'age between 25 and 35 and interest("fashion") > 0.5 and purchasing_power = "high" and '
    'not event("Order Completed", within=30d)',
    'event("Order Completed", within=90d, count >= 2, where revenue > 50)',
    'sum("Order Completed", "revenue", within=365d) > 500',
    'consent("email") or in_segment("vip")',
    "country in ('DE', \"FR\") and gender != \"m\" and newsletter = false",
    'country is not null and (age < 18 or age >= 65) and country contains "D"',
    'event("Item Rated", within=12h, where item.genres contains "Sci-Fi" and rating >= 4)',
    'last_order_at > "2024-01-31" and count("Page Viewed", within=2w) <= 3',
]


def test_spec_of_the_headline_rule() -> None:
    spec = parse_rule(VALID[0], CATALOG).model_dump(exclude_defaults=True)
    assert spec == {"condition": {"conditions": [
        {"trait": "age", "op": "between", "value": [25, 35]},
        {"trait": "interest_fashion", "op": ">", "value": 0.5},
        {"trait": "purchasing_power", "op": "=", "value": "high"},
        {"condition": {"event": "Order Completed", "within": "30d"}}]}}


def test_event_arguments() -> None:
    c = parse_rule(VALID[1], CATALOG).condition
    assert c.kind == "event"
    assert (c.within, c.count_op, c.count) == ("90d", ">=", 2)
    assert [(f.property, f.op, f.value) for f in c.where] == [("revenue", ">", 50)]
    agg = parse_rule(VALID[2], CATALOG).condition
    assert agg.kind == "aggregate"
    assert (agg.fn, agg.property, agg.within, agg.op, agg.value) == (
        "sum", "revenue", "365d", ">", 500.0)


def test_precedence_and_binds_tighter_than_or() -> None:
    c = parse_rule('age > 1 or age > 2 and age > 3', CATALOG).condition
    assert c.kind == "or"
    assert [x.kind for x in c.conditions] == ["trait", "and"]


@pytest.mark.parametrize(("rule", "message"), [
    ("ag > 30", "unknown trait 'ag' at 1:1; did you mean 'age'?"),
    ('age > 30 and\n  contry = "DE"', "unknown trait 'contry' at 2:3; did you mean 'country'?"),
    ('age = "thirty"', "'age' is a number; compare it with a number (at 1:1)"),
    ("gender > 3", "'gender' is a text; use =, !=, in, contains or is null (at 1:1)"),
    ('newsletter = "yes"', "'newsletter' is true or false; compare it with true or false"),
    ('in_segment("vpi")', "unknown segment 'vpi' at 1:1; did you mean 'vip'?"),
    ('event("Order Completed", within=30days)', "bad duration '30days'; write a whole number"),
    ('event("Order Completed", within=30)', "bad duration '30'"),
    ('evnt("Order Completed")', "unknown function 'evnt' at 1:1; did you mean 'event'?"),
    ('interest("fashon") > 0.5', "unknown trait 'interest_fashon' at 1:1; did you mean "
                                 "'interest_fashion'?"),
    ("age >", "the rule ends too early at 1:6; expected"),
    ("age > 30 and", "the rule ends too early at 1:13"),
    ("age >> 30", "unexpected '>' at 1:6; expected"),
    ("age > 30 $", "unexpected character '$' at 1:10"),
    ("(age > 30", "the rule ends too early at 1:10; expected ')'"),
    ("age > 30d", "a duration (30d) only goes in within="),
    ('event("X", when=3)', "event(...) has no option 'when' (at 1:12); valid: within, count"),
    ('count("X") > "many"', "count(...) is a number; compare it with a number"),
    ('last_order_at > 3', "'last_order_at' is a date-time; compare it with a quoted ISO date"),
    ("", "the rule is empty"),
])
def test_errors_point_at_the_place_and_say_what_is_valid(rule: str, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_rule(rule, CATALOG)
    assert message in str(err.value)
    assert err.value.field == "rule"


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80))
def test_random_text_raises_only_validation_errors(text: str) -> None:
    with contextlib.suppress(ValidationError):
        parse_rule(text, CATALOG)


_ALPHABET = st.sampled_from([*'()",=<>!. \n0123456789adnotrwhe_-\'\\',
                            "and ", "or ", "not ", " in ", "is null", "30d", "between",
                            "event(", "count", "where ", "sum(", "\"x\"", "age", ")"])


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 6)))
        op = draw(st.sampled_from(["delete", "insert", "replace", "duplicate"]))
        piece = draw(_ALPHABET)
        if op == "delete":
            text = text[:i] + text[j:]
        elif op == "insert":
            text = text[:i] + piece + text[i:]
        elif op == "replace":
            text = text[:i] + piece + text[j:]
        else:
            text = text[:j] + text[i:j] + text[j:]
    return text


@pytest.fixture(scope="module")
def engine() -> Iterator[DuckDBEngine]:
    eng = DuckDBEngine(":memory:")
    eng.migrate()
    eng.write_table("profiles", pa.table({
        "profile_id": ["a"], "age": [1.0], "gender": ["f"], "country": ["DE"],
        "purchasing_power": ["high"], "interest_fashion": [0.1], "interest_sci_fi": [0.1],
        "newsletter": [True], "last_order_at": pa.array([None], pa.timestamp("us", "UTC")),
        "clv_12m": [1.0]}))
    eng.write_table("event_profiles", pa.table({"message_id": ["m"], "profile_id": ["a"]}))
    yield eng
    eng.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_rules_raise_only_validation_errors(engine: DuckDBEngine, text: str) -> None:
    catalog = catalog_of(engine, {"vip": False, "live": True})
    try:
        spec = parse_rule(text, catalog)
    except ValidationError:
        return
    # What parses also compiles to SQL (or is refused as input, never a crash).
    try:
        compiled = compile_spec(spec, engine, catalog=catalog)
    except ValidationError:
        return
    assert "SELECT" in engine.compile(compiled.expr)


def test_every_valid_rule_runs(engine: DuckDBEngine) -> None:
    catalog = catalog_of(engine, {"vip": False, "live": True})
    for rule in VALID:
        expr = compile_spec(parse_rule(rule, catalog), engine, catalog=catalog).expr
        assert engine.execute(expr).column_names == ["profile_id"]
