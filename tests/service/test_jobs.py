"""Jobs: a real build as a job, progress, cancel, bad parameters, and a crash mid-job."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from aidmp import DMP
from aidmp.errors import NotFoundError, ValidationError
from aidmp.service.kinds import KINDS, JobKind, register

CDNOW = Path(__file__).parents[3] / "shared" / "datasets" / "cdnow" / "CDNOW_sample.txt"


class Gate(BaseModel):
    stages: int = 3


GATE = threading.Event()


def _gated(dmp: Any, p: dict[str, Any], progress: Any) -> dict[str, int]:
    for i in range(p["stages"]):
        progress(f"stage {i}", i, p["stages"])
        GATE.wait(10)
    return {"stages": p["stages"]}


@pytest.fixture()
def dmp(tmp_path: Path) -> Iterator[DMP]:
    register(JobKind("test.gated", "waits for the test", Gate, _gated, cancellable=True))
    register(JobKind("test.gated_stuck", "waits, cannot cancel", Gate, _gated))
    GATE.clear()
    d = DMP(home=tmp_path)
    yield d
    GATE.set()
    d.close()
    KINDS.pop("test.gated")
    KINDS.pop("test.gated_stuck")


def _orders(dmp: DMP) -> int:
    import polars as pl

    from aidmp.spec.imports import ImportMapping

    rows = [ln.split() for ln in CDNOW.read_text().splitlines() if ln.strip()]
    frame = pl.DataFrame({"customer_id": [r[0] for r in rows], "date": [r[2] for r in rows],
                      "revenue": [float(r[4]) for r in rows]})
    dmp.imports.frame(frame, ImportMapping(
        source="cdnow", event="Order Completed", user_id_column="customer_id",
        timestamp_column="date", timestamp_format="%Y%m%d"))
    return len({r[0] for r in rows})


def test_build_job_progress_and_result(dmp: DMP) -> None:
    customers = _orders(dmp)
    job_id = dmp.jobs.submit("build", {"full": True})
    job = dmp.jobs.wait(job_id, timeout=120)
    assert job["state"] == "succeeded", job["error"]
    assert job["progress"] == {"stage": "profiles", "done": 6, "total": 6}
    assert job["result"]["profiles"] == customers == 2357
    assert dmp.jobs.list(kind="build")[0]["id"] == job_id
    # stored: a new process sees the same outcome
    assert dmp.jobs.get(job_id)["result"]["profiles"] == 2357


def test_bad_parameters_named_before_anything_runs(dmp: DMP) -> None:
    with pytest.raises(ValidationError) as err:
        dmp.jobs.submit("build", {"ful": True})
    assert err.value.field == "params.ful"
    with pytest.raises(ValidationError) as err:
        dmp.jobs.submit("rebuild")
    assert err.value.field == "kind" and "build" in str(err.value)
    with pytest.raises(NotFoundError):
        dmp.jobs.get("job_nope")
    assert dmp.jobs.list() == []


def _wait_running(dmp: DMP, job_id: str, stage: str | None = None) -> None:
    deadline = time.monotonic() + 60
    while (job := dmp.jobs.get(job_id))["state"] != "running" or (
            stage is not None and (job["progress"] or {}).get("stage") != stage):
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.02)


def test_cancel_queued_and_running(dmp: DMP) -> None:
    running = dmp.jobs.submit("test.gated", {"stages": 5})
    # a cancel before the worker reaches its first stage would stop it before "stage 0"
    _wait_running(dmp, running, stage="stage 0")
    queued = dmp.jobs.submit("test.gated")
    assert dmp.jobs.cancel(queued)["state"] == "cancelled"  # at once
    dmp.jobs.cancel(running)
    GATE.set()
    job = dmp.jobs.wait(running, timeout=30)
    assert job["state"] == "cancelled" and job["progress"]["stage"] == "stage 0"
    with pytest.raises(ValidationError):
        dmp.jobs.cancel(running)  # ended


def test_a_running_job_whose_kind_cannot_stop_is_not_cancelled(dmp: DMP) -> None:
    job_id = dmp.jobs.submit("test.gated_stuck", {"stages": 1})
    _wait_running(dmp, job_id)
    with pytest.raises(ValidationError) as err:
        dmp.jobs.cancel(job_id)
    assert "cannot be stopped" in str(err.value)
    GATE.set()
    assert dmp.jobs.wait(job_id, timeout=30)["result"] == {"stages": 1}


def test_a_job_running_when_its_process_dies_is_failed_on_restart(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import os, time
        from pydantic import BaseModel
        from aidmp import DMP
        from aidmp.service.kinds import JobKind, register

        class P(BaseModel):
            pass

        def slow(dmp, p, progress):
            progress("half", 1, 2)
            time.sleep(60)

        register(JobKind("test.slow", "", P, slow))
        dmp = DMP(home={str(tmp_path)!r})
        job = dmp.jobs.submit("test.slow")
        while dmp.jobs.get(job)["progress"]["stage"] != "half":
            time.sleep(0.01)
        print(job, flush=True)
        os._exit(9)  # killed mid-job: no clean-up runs
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    job_id = out.stdout.strip()
    assert out.returncode == 9 and job_id.startswith("job_"), out.stderr[-2000:]
    with DMP(home=tmp_path) as dmp:
        job = dmp.jobs.get(job_id)
        assert dmp.jobs.recovered == 1
    assert job["state"] == "failed" and "stopped while this job was running" in job["error"]
