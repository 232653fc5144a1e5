"""Schemathesis against the real server's own OpenAPI document, with a key of every role: no
5xx, no undocumented status, every answer in its documented schema (issue 16).

Bounded to fit CI (a few cases per operation, a time budget per role); the long run is
benchmarks/fuzz_api_bench.py. Operations that reach beyond this machine (destinations,
database sources, audience syncs) or run for minutes (model fits, builds, Splink matching,
uplift, charts) are left out here; the benchmark's longer run takes the same set.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from aidmp.api.server import ServerThread
from aidmp.privacy import keys as key_module

#: what the fuzzer may call: the API (not the HTML dashboard), minus remote or minutes-long work
INCLUDE = r"^/(v1/|health)"
EXCLUDE = (r"^/v1/(destinations|sources|segments/\{[a-z_]+\}/sync|build|models/\{name\}/fit"
           r"|campaigns/plots|campaigns/experiments/.*/uplift|campaigns/optimise|matching"
           r"|jobs|schedules|privacy/access)")
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance")


INTERPRETER_BUG = "AST constructor recursion depth mismatch"


def roles() -> tuple[str, ...]:
    """Every key role the installation knows."""
    return tuple(getattr(key_module, "ROLES", None) or key_module.SCOPES)


def run_schemathesis(url: str, key: str, *, examples: int, seconds: int, seed: int,
                     report: Path) -> subprocess.CompletedProcess[str]:
    """One schemathesis run as a key holder; the CLI's own exit code says pass/fail.

    One worker thread per run (the roles run as parallel processes instead): CPython 3.11's
    ``ast`` is not safe when two threads parse at once ("AST constructor recursion depth
    mismatch"), which hypothesis does when it describes a strategy."""
    exe = Path(sys.executable).with_name("schemathesis")
    return subprocess.run(
        [str(exe), "run", url + "/openapi.json", "-H", f"Authorization: Bearer {key}",
         "--checks", CHECKS, "--phases", "examples,fuzzing", "-n", str(examples),
         "--max-time", str(seconds), "--seed", str(seed), "--no-shrink", "-w", "1",
         "--request-timeout", "60", "--include-path-regex", INCLUDE,
         "--exclude-path-regex", EXCLUDE, "--suppress-health-check", "all",
         "--report", "ndjson", "--report-dir", str(report), "--max-failures", "20"],
        capture_output=True, text=True, timeout=seconds + 120)


@pytest.fixture()
def seeded(dmp):
    """A store with a few events of every type, so reads have something to return."""
    msgs = [{"type": "track", "event": "Order Completed", "userId": f"u{i}",
             "properties": {"revenue": i}} for i in range(10)]
    msgs += [{"type": "identify", "userId": f"u{i}", "traits": {"email": f"u{i}@example.com"}}
             for i in range(5)]
    dmp.events.ingest(msgs, source="web")
    return dmp


def test_schemathesis_finds_no_5xx_and_no_undocumented_answer(seeded, tmp_path):
    keys = {role: seeded.keys.create(role, source="web").secret for role in roles()}
    with ServerThread(seeded) as server, ThreadPoolExecutor(len(keys)) as pool:
        # every role at once: the server sees mixed traffic, the test stays within CI's time
        runs = {role: pool.submit(run_schemathesis, server.url, key, examples=4, seconds=25,
                                  seed=16 + n, report=tmp_path / role)
                for n, (role, key) in enumerate(keys.items())}
        done = {role: run.result() for role, run in runs.items()}
        for n, role in enumerate(keys):
            # CPython 3.11's ast can fail inside hypothesis' repr of a strategy ("AST
            # constructor recursion depth mismatch", a bug of the interpreter, not of the
            # server): such a run tested nothing, so it runs again with another seed
            if INTERPRETER_BUG in done[role].stdout + done[role].stderr:
                done[role] = run_schemathesis(server.url, keys[role], examples=4, seconds=25,
                                              seed=116 + n, report=tmp_path / f"{role}-2")
    failures = [f"--- role {role}:\n{d.stdout[-6000:]}{d.stderr[-2000:]}"
                for role, d in done.items() if d.returncode != 0]
    assert not failures, "\n".join(failures)
    assert all("passed" in d.stdout for d in done.values())  # each role really ran cases
