"""Schedules: cron checks, a missed run after downtime runs once, the configuration file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from aidmp import DMP
from aidmp.errors import NotFoundError, ValidationError
from aidmp.service.schedules import Scheduler, due_time


def test_due_time_collapses_missed_runs() -> None:
    last = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    # down from the 1st to the 4th at 09:00: three 03:00 runs missed, one is due (the latest)
    assert due_time("0 3 * * *", last, datetime(2026, 12, 4, 9, tzinfo=UTC)) == \
        datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
    assert due_time("0 3 * * *", datetime(2026, 12, 4, 3, tzinfo=UTC),
                    datetime(2026, 12, 4, 9, tzinfo=UTC)) is None
    assert due_time("*/15 * * * *", last, last + timedelta(minutes=15)) == \
        last + timedelta(minutes=15)


def test_add_tick_run_remove(tmp_path: Path) -> None:
    with DMP(home=tmp_path) as dmp:
        cases: list[tuple[dict[str, Any], str]] = [
                           ({"cron": "daily"}, "cron"), ({"cron": "0 3 * * * *"}, "cron"),
                           ({"kind": "rebuild"}, "kind"),
                           ({"params": {"full": "yes please"}}, "params.full"),
                           ({"name": "a b"}, "name")]
        for bad, field in cases:
            values: dict[str, Any] = {"name": "nightly", "cron": "0 3 * * *", "kind": "build",
                                      **bad}
            with pytest.raises(ValidationError) as err:
                dmp.schedules.add(**values)
            assert err.value.field == field
        added = dmp.schedules.add("nightly", "0 3 * * *", "quality.report")
        assert added["last_run_at"] is None and added["next_run_at"].hour == 3
        now = datetime.now(UTC)
        assert dmp.schedules.tick(now) == []  # created now: nothing due yet
        later = now + timedelta(days=3)  # three nights without a server
        submitted = dmp.schedules.tick(later)
        assert len(submitted) == 1
        assert dmp.schedules.tick(later) == []  # once, not three times
        job = dmp.jobs.wait(submitted[0], timeout=60)
        assert job["state"] == "succeeded" and job["submitted_by"] == "schedule:nightly"
        shown = dmp.schedules.get("nightly")
        assert shown["last_job_id"] == submitted[0] and shown["last_run_at"].hour == 3
        assert shown["next_run_at"] > later
        ran = dmp.schedules.run("nightly")
        assert dmp.jobs.wait(ran, timeout=60)["kind"] == "quality.report"
        dmp.schedules.remove("nightly")
        assert dmp.schedules.list() == []
        with pytest.raises(NotFoundError):
            dmp.schedules.remove("nightly")


def test_schedules_from_the_configuration_file(tmp_path: Path) -> None:
    (tmp_path / "aidmp.yaml").write_text(
        "service:\n  schedules:\n    - {name: refresh, cron: '*/5 * * * *', "
        "kind: segments.refresh}\n")
    with DMP(home=tmp_path) as dmp:
        scheduler = Scheduler(cast(Any, dmp))  # stores them, as `aidmp serve` does at start
        assert [(s["name"], s["kind"]) for s in dmp.schedules.list()] == \
            [("refresh", "segments.refresh")]
        scheduler.stop()
