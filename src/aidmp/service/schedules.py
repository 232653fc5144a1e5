"""Schedules: job kinds submitted at the times a cron expression names (croniter).

A schedule remembers the time of the last run it submitted. When the scheduler finds that
one or more of its times have passed (the server was down over several of them), it submits
**one** run and records the latest passed time: a missed run after downtime runs once, not
once per missed time. Runs are ordinary jobs (``submitted_by = schedule:<name>``).

Schedules come from ``aidmp schedules add`` / ``POST /v1/schedules`` (stored in the
``schedules`` table) and from ``service.schedules`` in ``aidmp.yaml`` (stored at start; the
file wins for the names it holds).

Example:
    >>> from datetime import datetime, UTC
    >>> due_time("0 3 * * *", datetime(2026, 12, 1, 3, 0, tzinfo=UTC),
    ...          datetime(2026, 12, 4, 9, 0, tzinfo=UTC))
    datetime.datetime(2026, 12, 4, 3, 0, tzinfo=datetime.timezone.utc)
    >>> due_time("0 3 * * *", datetime(2026, 12, 4, 3, 0, tzinfo=UTC),
    ...          datetime(2026, 12, 4, 9, 0, tzinfo=UTC)) is None
    True
"""

from __future__ import annotations

import builtins
import logging
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
from croniter import croniter
from pydantic import ValidationError as PydanticValidationError

from aidmp.engine.base import arrow_schema
from aidmp.errors import AidmpError, NotFoundError, ValidationError
from aidmp.service.config import ScheduleConfig
from aidmp.service.kinds import KINDS, validate_params
from aidmp.store.schema import TABLES

if TYPE_CHECKING:
    from aidmp.service.host import Host

log = logging.getLogger("aidmp.schedules")


def _utc(ts: datetime) -> datetime:
    out = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    return out.replace(fold=0)  # croniter marks some results fold=1


def next_time(cron: str, after: datetime) -> datetime:
    """The first time of ``cron`` strictly after ``after`` (UTC)."""
    return _utc(croniter(cron, _utc(after)).get_next(datetime))


def due_time(cron: str, last: datetime, now: datetime) -> datetime | None:
    """The latest time of ``cron`` in ``(last, now]``, or None when none has passed."""
    if next_time(cron, last) > _utc(now):
        return None
    return _utc(croniter(cron, _utc(now)).get_prev(datetime)) if not croniter.match(
        cron, _utc(now)) else _utc(now).replace(second=0, microsecond=0)


def check(values: dict[str, Any]) -> ScheduleConfig:
    """A schedule checked: name, cron expression, job kind and its parameters.

    Raises:
        ValidationError: naming the field and the problem.
    """
    try:
        sched = ScheduleConfig.model_validate(values)
    except PydanticValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise ValidationError(str(err["msg"]),
                              field=".".join(str(p) for p in err["loc"]) or "schedule") from None
    if not croniter.is_valid(sched.cron) or len(sched.cron.split()) != 5:
        raise ValidationError(f"{sched.cron!r} is not a cron expression; use five fields, "
                              "minute hour day month weekday, e.g. '0 3 * * *'", field="cron")
    if sched.kind not in KINDS:
        raise ValidationError(f"unknown job kind {sched.kind!r}; valid: "
                              f"{', '.join(sorted(KINDS))}", field="kind")
    validate_params(KINDS[sched.kind], sched.params)
    return sched


class Schedules:
    """Add, list, remove and run schedules (``dmp.schedules``)."""

    def __init__(self, dmp: Host) -> None:
        self.dmp = dmp

    def _rows(self) -> list[dict[str, Any]]:
        t = self.dmp.engine.table("schedules")
        return self.dmp.engine.execute(t.order_by(t.name)).to_pylist()

    def _row(self, name: str) -> dict[str, Any]:
        for row in self._rows():
            if row["name"] == name:
                return row
        raise NotFoundError(f"No schedule named {name!r}; see `aidmp schedules list`")

    def _save(self, row: dict[str, Any]) -> None:
        self.dmp.engine.upsert("schedules", pa.Table.from_pylist(
            [row], schema=arrow_schema(TABLES["schedules"])))

    @staticmethod
    def _show(row: dict[str, Any]) -> dict[str, Any]:
        base = row["last_run_at"] or row["created_at"]
        return {"name": row["name"], "cron": row["cron"], "kind": row["kind"],
                "params": orjson.loads(row["params"] or "{}"),
                "last_run_at": row["last_run_at"], "last_job_id": row["last_job_id"],
                "next_run_at": next_time(row["cron"], base)}

    def add(self, name: str, cron: str, kind: str,
            params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Add or replace a schedule (its run history is kept when the cron stays)."""
        sched = check({"name": name, "cron": cron, "kind": kind, "params": params or {}})
        old = next((r for r in self._rows() if r["name"] == name), None)
        row = {"name": sched.name, "cron": sched.cron, "kind": sched.kind,
               "params": orjson.dumps(sched.params).decode(),
               "created_at": old["created_at"] if old else datetime.now(UTC),
               "last_run_at": old["last_run_at"] if old else None,
               "last_job_id": old["last_job_id"] if old else None}
        self._save(row)
        return self._show(row)

    def list(self) -> builtins.list[dict[str, Any]]:
        """Every schedule with its next run time."""
        return [self._show(r) for r in self._rows()]

    def get(self, name: str) -> dict[str, Any]:
        """One schedule."""
        return self._show(self._row(name))

    def remove(self, name: str) -> dict[str, Any]:
        """Delete a schedule (its past jobs stay)."""
        row = self._row(name)
        t = self.dmp.engine.table("schedules")
        self.dmp.engine.keep_only("schedules", t.filter(t.name != name))
        return self._show(row)

    def run(self, name: str) -> str:
        """Submit the schedule's job now (out of turn); the job id."""
        row = self._row(name)
        return self.dmp.jobs.submit(row["kind"], orjson.loads(row["params"] or "{}"),
                                    submitted_by=f"schedule:{name}")

    def load(self, configured: builtins.list[ScheduleConfig]) -> None:
        """Store the schedules of the configuration file."""
        for s in configured:
            self.add(s.name, s.cron, s.kind, s.params)

    def tick(self, now: datetime | None = None) -> builtins.list[str]:
        """Submit every due schedule once; the job ids."""
        now = _utc(now or datetime.now(UTC))
        submitted = []
        for row in self._rows():
            when = due_time(row["cron"], row["last_run_at"] or row["created_at"], now)
            if when is None:
                continue
            try:
                job_id = self.run(row["name"])
            except AidmpError as exc:  # e.g. the kind's parameters no longer pass
                log.error("schedule %s: %s", row["name"], exc)
                job_id = None
            row.update(last_run_at=when, last_job_id=job_id)
            self._save(row)
            if job_id:
                submitted.append(job_id)
        return submitted


class Scheduler:
    """A thread that ticks the schedules every ``service.scheduler_tick_s`` seconds."""

    def __init__(self, dmp: Host) -> None:
        self.schedules = dmp.schedules
        self.every = dmp.settings.service.scheduler_tick_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="aidmp-scheduler", daemon=True)
        self.schedules.load(dmp.settings.service.schedules)

    def start(self) -> Scheduler:
        """Start ticking (the first tick runs at once: runs missed while down are due)."""
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.schedules.tick()
            except Exception as exc:  # one bad tick must not stop the scheduler
                log.error("scheduler tick failed: %s", type(exc).__name__, exc_info=exc)
            self._stop.wait(self.every)

    def stop(self) -> None:
        """Stop ticking."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)


__all__ = ["Scheduler", "Schedules", "check", "due_time", "next_time"]
