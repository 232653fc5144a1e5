"""Any input to the importers and the segment rule language ends in a clean AidmpError (a
4xx / one-line CLI error), never another exception (issue 16). Hypothesis generates the input."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aidmp.collect.importer import Importer
from aidmp.engine.duckdb import DuckDBEngine
from aidmp.errors import AidmpError
from aidmp.segments.parser import parse_rule
from aidmp.spec.imports import ImportMapping

_FUZZ = settings(max_examples=200, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow])

# pieces of real rules, so generated text gets past the first token often
_RULE_TOKENS = st.sampled_from([
    "age", "revenue_total", "interest", "event", "count", "sum", "consent", "in_segment",
    "(", ")", ",", "=", "!=", ">", ">=", "<", "<=", "and", "or", "not", "between", "in", "is",
    "null", "contains", "within", "=", "30d", "12h", "where", ".", '"Order Completed"',
    '"fashion"', '"', "'", "1", "-2.5", "1e400", "nan", "true", "false", "\\", "\x00", "é",
    " ", "\n"])


@_FUZZ
@given(st.one_of(st.text(max_size=120),
                 st.lists(_RULE_TOKENS, max_size=25).map(" ".join)))
def test_any_rule_text_parses_or_fails_cleanly(text):
    try:
        parse_rule(text)
    except AidmpError as exc:
        assert exc.field == "rule" and exc.message  # names the rule and says what is wrong


@pytest.fixture(scope="module")
def engine():
    eng = DuckDBEngine(":memory:")
    eng.migrate()
    return eng


_MAPPING = ImportMapping(source="fuzz", event="Imported", user_id_column="id",
                         timestamp_column="at", properties=["*"])
_CSV_LINES = st.lists(
    st.lists(st.one_of(st.text(max_size=12), st.sampled_from(
        ["id", "at", "u1", "2026-01-01", "2026-13-45", "0001-01-01", "9999-12-31T23:59:59",
         '"', '""', "1e999", "-0", "\r", "é", "\ud7ff"])), max_size=5).map(",".join),
    max_size=8).map("\n".join)
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["id", "at", "x", "nested"]), inner, max_size=4), max_leaves=12)


def _import(engine, suffix: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzz{suffix}"
        path.write_bytes(data)
        try:
            Importer(engine).file(path, _MAPPING)
        except AidmpError as exc:
            assert exc.field and exc.message  # a one-line error naming the field


@_FUZZ
@given(st.one_of(st.binary(max_size=200),
                 _CSV_LINES.map(lambda t: ("id,at,x\n" + t).encode("utf-8", "surrogatepass"))))
def test_any_csv_bytes_import_or_fail_cleanly(engine, data):
    _import(engine, ".csv", data)


@_FUZZ
@given(st.one_of(
    st.binary(max_size=200),
    st.lists(_JSON_VALUES, max_size=5).map(
        lambda rows: "\n".join(__import__("json").dumps(r) for r in rows).encode())))
def test_any_ndjson_bytes_import_or_fail_cleanly(engine, data):
    _import(engine, ".ndjson", data)
