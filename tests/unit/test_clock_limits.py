"""The clock policy, nesting checks and the configured limits (issue 16)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aidmp import DMP
from aidmp.config import LimitsConfig, load_settings
from aidmp.errors import ConfigError, ValidationError
from aidmp.spec.clock import ClockPolicy, event_time
from aidmp.spec.events import normalize_message
from aidmp.spec.limits import MessageLimits, clip_json, exceeds_depth, json_depth

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
CLAMP = ClockPolicy(out_of_window="clamp")


def test_skew_correction_and_the_window():
    five_min_ago = NOW - timedelta(minutes=5)
    assert event_time(five_min_ago, None, NOW) == five_min_ago
    assert event_time(None, None, NOW) == NOW
    # the device clock is 3 h fast: the correction removes it
    fast = NOW + timedelta(hours=3)
    assert event_time(fast - timedelta(minutes=5), fast, NOW) == five_min_ago
    # a clock reset to 0001 at sending would push the time ~2,000 years ahead
    with pytest.raises(ValidationError, match=r"limits\.max_future_skew") as err:
        event_time(NOW, datetime(1, 1, 1, tzinfo=UTC), NOW)
    assert err.value.field == "timestamp"
    with pytest.raises(ValidationError, match="representable range"):
        event_time(datetime(9999, 12, 31, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC), NOW)
    assert event_time(NOW + timedelta(hours=23), None, NOW) == NOW + timedelta(hours=23)


def test_clamp_moves_times_to_the_window_edge():
    assert event_time(datetime(1, 1, 1, tzinfo=UTC), None, NOW, CLAMP) == \
        datetime(2000, 1, 1, tzinfo=UTC)
    assert event_time(datetime(9999, 1, 1, tzinfo=UTC), None, NOW, CLAMP) == \
        NOW + timedelta(days=1)
    assert event_time(datetime(9999, 12, 31, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC), NOW,
                      CLAMP) == NOW + timedelta(days=1)


def test_configured_limits_reach_message_validation():
    limits = LimitsConfig(max_depth=3, min_timestamp=datetime(2020, 1, 1),
                          max_future_skew_s=60, out_of_window="clamp")
    policy = limits.clock()
    assert policy == ClockPolicy(datetime(2020, 1, 1, tzinfo=UTC), timedelta(seconds=60),
                                 "clamp")
    msg_limits = MessageLimits(max_depth=3, clock=policy)
    row = normalize_message({"type": "track", "event": "E", "userId": "u", "messageId": "m",
                             "timestamp": "2019-06-01T00:00:00Z"}, source="web",
                            received_at=NOW, limits=msg_limits)
    assert row["timestamp"] == datetime(2020, 1, 1, tzinfo=UTC)
    assert row["original_timestamp"] == datetime(2019, 6, 1, tzinfo=UTC)  # kept as sent
    with pytest.raises(ValidationError, match=r"nested more than 3 levels") as err:
        normalize_message({"type": "track", "event": "E", "userId": "u",
                           "properties": {"a": {"b": {}}}}, source="web", received_at=NOW,
                          limits=msg_limits)
    assert err.value.field == "message"
    with pytest.raises(ConfigError):
        DMP(home="/tmp/never-created-aidmp", limits={"max_depth": 500})


def test_depth_checks_agree_and_skip_strings():
    assert json_depth(b'"[{[{"') == 0
    for depth in (1, 5, 40):
        text = '{"k": ' * depth + '"[{[{"' + "}" * depth
        assert json_depth(text.encode()) == depth
        assert exceeds_depth(text, depth) is False and exceeds_depth(text, depth - 1) is True
    clipped = clip_json('{"a": [1, {"b": {"c": "}"}}], "d": 2}', 3)
    assert clipped == '{"a": [1, {"b": "<nested deeper than 3 levels>"}], "d": 2}'


def test_duckdb_memory_limit_is_configured_and_applied(tmp_path):
    settings = load_settings(tmp_path / "h", engine={"kind": "duckdb", "memory_limit": "300MB"})
    with DMP(settings=settings) as dmp:
        value = dmp.engine.sql("SELECT current_setting('memory_limit') AS m").to_pylist()[0]["m"]
    assert value == "286.1 MiB"  # DuckDB shows 300 MB in MiB
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path / "x", engine={"kind": "duckdb", "memory_limit": "lots"})
    assert err.value.field == "engine.duckdb.memory_limit"
