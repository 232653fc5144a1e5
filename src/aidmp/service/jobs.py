"""Jobs: long work (builds, refreshes, fits, imports, syncs) run in the background with progress.

A job is submitted with a registered kind and its parameters (validated before anything runs),
answered with an id at once, and run by one worker thread, one job at a time: the store has one
writer, and long jobs that overlap would only slow each other down. Short writes (the
collector's flushes, real-time membership, API calls) go on meanwhile between the job's own
statements (the engine's write lock is held per statement, never per job).

State lives in memory while a job runs (progress is read from there) and in the ``jobs`` table
at every change of state or stage, so the list survives a restart. A job that was queued or
running when its process stopped is marked failed with that reason when the next process opens
the jobs (:meth:`Jobs.recover`): one process at a time can open a DuckDB store, so no live job
is ever mistaken for a dead one.

Cancelling is cooperative: the job stops at its next progress report (between stages), by
raising :class:`JobCancelled` inside the work.

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> job_id = dmp.jobs.submit("quality.report")
    >>> dmp.jobs.wait(job_id)["state"]
    'succeeded'
    >>> dmp.jobs.close()
"""

from __future__ import annotations

import builtins
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa

from aidmp.engine.base import arrow_schema
from aidmp.errors import AidmpError, NotFoundError, ValidationError
from aidmp.service import analytics_kinds  # noqa: F401  (registers its kinds)
from aidmp.service.kinds import KINDS, JobKind, validate_params
from aidmp.store.schema import TABLES

if TYPE_CHECKING:
    from aidmp.service.host import Host

log = logging.getLogger("aidmp.jobs")
STATES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL = frozenset({"succeeded", "failed", "cancelled"})
RESTART_REASON = "the server stopped while this job was {state}; nothing it half-wrote is kept"


class JobCancelled(Exception):
    """Raised inside a job's work at a progress report once a cancel was asked for."""


@dataclass
class _Live:
    """A job's state in memory."""

    row: dict[str, Any]
    params: dict[str, Any]
    """The parameters whole (the row holds them as they may be shown)."""
    cancel: threading.Event = field(default_factory=threading.Event)


def _now() -> datetime:
    return datetime.now(UTC)


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def public(row: dict[str, Any]) -> dict[str, Any]:
    """A stored job row as the API shows it (JSON fields decoded, progress grouped)."""
    out = {k: row.get(k) for k in ("id", "kind", "state", "submitted_by", "created_at",
                                   "started_at", "finished_at", "error")}
    out["params"] = orjson.loads(row["params"]) if row.get("params") else {}
    out["progress"] = {"stage": row.get("stage"), "done": row.get("done"),
                       "total": row.get("total")}
    out["result"] = orjson.loads(row["result"]) if row.get("result") else None
    return out


class Jobs:
    """Submit, follow and cancel jobs of a Host (``dmp.jobs``).

    Args:
        dmp: the Host whose store the jobs work on.
        before: called in the worker before each job (the server flushes the collector's
            buffer, so a build sees every event acknowledged before it was submitted).
    """

    def __init__(self, dmp: Host, *, before: Callable[[], None] | None = None) -> None:
        self.dmp = dmp
        self.before = before
        self._live: dict[str, _Live] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        # the error of each recently failed job, so that a caller who waits (``?wait=true``)
        # gets the same error (status, field) as the work raised; bounded
        self._errors: dict[str, AidmpError] = {}
        self.recovered = self.recover()

    # -- storage ------------------------------------------------------------------------------
    def _save(self, row: dict[str, Any]) -> None:
        self.dmp.engine.upsert(
            "jobs", pa.Table.from_pylist([row], schema=arrow_schema(TABLES["jobs"])))

    def _stored(self, job_id: str) -> dict[str, Any] | None:
        t = self.dmp.engine.table("jobs")
        rows = self.dmp.engine.execute(t.filter(t.id == job_id)).to_pylist()
        return rows[0] if rows else None

    def recover(self) -> int:
        """Mark jobs left queued or running by a stopped process as failed; how many."""
        t = self.dmp.engine.table("jobs")
        rows = self.dmp.engine.execute(t.filter(t.state.isin(["queued", "running"]))).to_pylist()
        for row in rows:
            row.update(state="failed", finished_at=_now(),
                       error=RESTART_REASON.format(state=row["state"]))
            self._save(row)
        return len(rows)

    # -- the facade ---------------------------------------------------------------------------
    def kinds(self) -> list[dict[str, Any]]:
        """Registered job kinds: name, description, whether it can be cancelled, parameters."""
        return [k.describe() for k in KINDS.values()]

    def submit(self, kind: str, params: dict[str, Any] | None = None, *,
               submitted_by: str = "python") -> str:
        """Queue a job; its id. Parameters are checked now (an error names the field), and so
        is what the kind checks cheaply (that the model, segment or destination exists).

        Raises:
            ValidationError: unknown kind or bad parameters.
            NotFoundError: the kind's check found no such model, segment, destination...
        """
        spec = _kind(kind)
        checked = validate_params(spec, params or {})
        if spec.check is not None:
            spec.check(self.dmp, checked)
        shown = spec.shown(checked) if spec.shown is not None else checked
        row: dict[str, Any] = {
            "id": f"job_{secrets.token_hex(8)}", "kind": kind, "params": _dumps(shown),
            "state": "queued", "stage": None, "done": None, "total": None, "result": None,
            "error": None, "submitted_by": submitted_by, "created_at": _now(),
            "started_at": None, "finished_at": None,
        }
        with self._lock:
            self._live[row["id"]] = _Live(row, checked)
            self._save(row)
            self._ensure_worker()
        self._queue.put(row["id"])
        return str(row["id"])

    def get(self, job_id: str) -> dict[str, Any]:
        """A job: state, progress (stage, done, total), result or error.

        Raises:
            NotFoundError: no job has that id.
        """
        with self._lock:
            live = self._live.get(job_id)
            row = dict(live.row) if live else None
        row = row or self._stored(job_id)
        if row is None:
            raise NotFoundError(f"No job with id {job_id!r}; see `aidmp jobs list`")
        return public(row)

    def list(self, *, state: str | None = None, kind: str | None = None,
             limit: int = 50) -> builtins.list[dict[str, Any]]:
        """Jobs, newest first (``state``/``kind`` filter them)."""
        if state is not None and state not in STATES:
            raise ValidationError(f"unknown state {state!r}; valid: {', '.join(STATES)}",
                                  field="state")
        if not 1 <= limit <= 1000:
            raise ValidationError("must be between 1 and 1000", field="limit")
        t = self.dmp.engine.table("jobs")
        if state is not None:
            t = t.filter(t.state == state)
        if kind is not None:
            t = t.filter(t.kind == kind)
        rows = self.dmp.engine.execute(t.order_by(t.created_at.desc()).limit(limit)).to_pylist()
        with self._lock:  # live progress is newer than the stored row
            rows = [dict(self._live[r["id"]].row) if r["id"] in self._live else r for r in rows]
        return [public(r) for r in rows]

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Ask a job to stop: a queued job is cancelled at once, a running one at its next
        stage (where its kind allows cancelling).

        Raises:
            NotFoundError: no job has that id.
            ValidationError: the job has ended, or its kind cannot be cancelled while running.
        """
        with self._lock:
            live = self._live.get(job_id)
            if live is None:
                if self._stored(job_id) is None:
                    raise NotFoundError(f"No job with id {job_id!r}; see `aidmp jobs list`")
                raise ValidationError("the job has already ended", field="job_id")
            if live.row["state"] == "running" and not _kind(live.row["kind"]).cancellable:
                raise ValidationError(
                    f"a running {live.row['kind']} job cannot be stopped half-way; wait for it",
                    field="job_id")
            live.cancel.set()
            if live.row["state"] == "queued":
                self._finish(live, "cancelled", error="cancelled before it started")
            return public(dict(live.row))

    def wait(self, job_id: str, timeout: float | None = None,
             poll: float = 0.05) -> dict[str, Any]:
        """Block until the job ends (or ``timeout`` seconds pass); the job as :meth:`get`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job["state"] in FINAL or (deadline is not None and time.monotonic() > deadline):
                return job
            time.sleep(poll)

    def outcome(self, job_id: str) -> Any:
        """Wait for a job to end; its result, or its error raised as the work raised it (a
        ``?wait=true`` request answers as the synchronous route did).

        Raises:
            AidmpError: the job failed (the work's own error where this process ran it) or
                was cancelled.
        """
        job = self.wait(job_id)
        if job["state"] == "succeeded":
            return job["result"]
        with self._lock:
            exc = self._errors.pop(job_id, None)
        if exc is not None:
            raise exc
        raise AidmpError(job["error"] or f"job {job_id} was {job['state']}")

    def run_here(self, kind: str, params: dict[str, Any] | None = None,
                 progress: Callable[[str, int, int], None] | None = None) -> Any:
        """Run a job kind in this thread, unrecorded (the CLI when no server holds the store):
        the same work and the same result as a submitted job."""
        spec = _kind(kind)
        checked = validate_params(spec, params or {})
        return spec.run(self.dmp, checked, progress or (lambda stage, done, total: None))

    def close(self, timeout: float = 30) -> None:
        """Stop the worker after the running job (queued ones stay queued, then are failed
        by the next :meth:`recover`)."""
        with self._lock:
            worker = self._worker
            self._worker = None
        if worker is not None:
            for live in list(self._live.values()):
                live.cancel.set()
            self._queue.put(None)
            worker.join(timeout)

    # -- the worker ---------------------------------------------------------------------------
    def _ensure_worker(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="aidmp-jobs", daemon=True)
            self._worker.start()

    def _finish(self, live: _Live, state: str, *, result: Any = None,
                error: str | None = None) -> None:
        live.row.update(state=state, finished_at=_now(), error=error,
                        result=None if result is None else _dumps(result))
        self._save(live.row)
        self._live.pop(live.row["id"], None)

    def _work(self) -> None:
        while (job_id := self._queue.get()) is not None:
            with self._lock:
                live = self._live.get(job_id)
                if live is None or live.row["state"] != "queued":
                    continue
                live.row.update(state="running", started_at=_now())
                self._save(live.row)
            self._run(live)

    def _run(self, live: _Live) -> None:
        spec = _kind(live.row["kind"])
        last_stage: builtins.list[str | None] = [None]

        def progress(stage: str, done: int, total: int) -> None:
            if live.cancel.is_set() and spec.cancellable:
                raise JobCancelled
            with self._lock:
                live.row.update(stage=stage, done=int(done), total=int(total))
                if stage != last_stage[0]:  # stored once per stage; polls read memory
                    last_stage[0] = stage
                    self._save(live.row)

        try:
            if self.before is not None:
                self.before()
            result = spec.run(self.dmp, live.params, progress)
        except JobCancelled:
            with self._lock:
                self._finish(live, "cancelled", error="cancelled at a stage boundary")
            return
        except AidmpError as exc:
            with self._lock:
                while len(self._errors) >= 100:
                    self._errors.pop(next(iter(self._errors)))
                self._errors[live.row["id"]] = exc
                self._finish(live, "failed", error=str(exc))
            return
        except Exception as exc:  # a bug, not the user's: logged with the job id only
            log.error("job %s (%s) failed", live.row["id"], live.row["kind"], exc_info=exc)
            with self._lock:
                self._finish(live, "failed",
                             error=f"internal error ({type(exc).__name__}); see the server log")
            return
        with self._lock:
            self._finish(live, "succeeded", result=result)


def _kind(kind: str) -> JobKind:
    if kind not in KINDS:
        raise ValidationError(f"unknown job kind {kind!r}; valid: {', '.join(sorted(KINDS))}",
                              field="kind")
    return KINDS[kind]


__all__ = ["FINAL", "STATES", "JobCancelled", "Jobs", "public"]
