"""Long schemathesis run (at least 20,000 generated cases) against the real server, every role.

The same operations, checks and key roles as tests/api/test_fuzz_openapi.py, on a store with
events, built profiles and a campaign, and many more cases per operation (``FUZZ_EXAMPLES``,
default 60; roles run side by side). The goal is **0** 5xx and no undocumented status or
schema violation. Writes benchmarks/results/fuzz_api.json with the cases generated, the
failures per role and the wall time.

Run: ``.venv/bin/python benchmarks/fuzz_api_bench.py``.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
SECONDS = int(os.environ.get("FUZZ_SECONDS", "1500"))


def main() -> None:
    from tests.api.test_fuzz_openapi import roles, run_schemathesis

    from aidmp import DMP
    from aidmp.api.server import ServerThread

    home = Path(tempfile.mkdtemp(prefix="aidmp-fuzz-"))
    dmp = DMP(home=home)
    msgs = [{"type": "track", "event": "Order Completed", "userId": f"u{i % 40}",
             "properties": {"revenue": 10 + i, "utm_campaign": "spring"},
             "context": {"campaign": {"source": "google", "medium": "cpc", "name": "spring"}}}
            for i in range(400)]
    msgs += [{"type": "identify", "userId": f"u{i}", "traits": {"email": f"u{i}@example.com",
                                                              "age": 20 + i}}
             for i in range(40)]
    dmp.events.ingest(msgs, source="web")
    dmp.build()
    keys = {role: dmp.keys.create(role, source="web").secret for role in roles()}
    reports = Path(tempfile.mkdtemp(prefix="aidmp-fuzz-reports-"))
    started = time.perf_counter()
    with ServerThread(dmp) as server, ThreadPoolExecutor(len(keys)) as pool:
        runs = {role: pool.submit(run_schemathesis, server.url, key, examples=EXAMPLES,
                                  seconds=SECONDS, seed=1600 + n, report=reports / role)
                for n, (role, key) in enumerate(keys.items())}
        done = {role: run.result() for role, run in runs.items()}
    wall = time.perf_counter() - started
    result: dict[str, object] = {"examples_per_operation": EXAMPLES, "wall_s": round(wall, 1),
                                 "roles": {}}
    total = server_errors = 0
    for role, d in done.items():
        generated = sum(int(n) for n in re.findall(r"(\d+) generated", d.stdout))
        errors_5xx = len(re.findall(r"\[5\d\d\]", d.stdout))
        total += generated
        server_errors += errors_5xx
        result["roles"][role] = {  # type: ignore[index]
            "generated": generated, "exit": d.returncode, "responses_5xx": errors_5xx,
            "failures": re.findall(r"^_{3,} (.+?) _{3,}$", d.stdout, re.M)}
        (reports / f"{role}.txt").write_text(d.stdout + d.stderr)
    result.update(cases=total, responses_5xx=server_errors, reports=str(reports))
    (ROOT / "benchmarks" / "results" / "fuzz_api.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    # no dmp.close(): a request the fuzzer gave up on (a 30 s time-out) may still hold the
    # connection; the process exit ends it


if __name__ == "__main__":
    main()
