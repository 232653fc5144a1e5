"""Dashboard speed: server time per page on a large store, and Lighthouse scores.

1. Server time: a store of ``--people`` people / ``--events`` events (default 1M / 10M,
   generated inside DuckDB by ``build_scale_bench.GENERATE`` and built by ``dmp.build()``;
   ``--home`` keeps it for the next run), a segment and its membership, then every page of
   the dashboard requested ``--repeat`` times over HTTP on 127.0.0.1 (the first request of a
   page is reported apart: it pays for ibis compiling the queries). Beside it, the same
   process's REST answers for the same data (``/v1/segments``), the work a user would
   otherwise wait for in a script.
2. Lighthouse 12.2.3 (npm, ``--lighthouse DIR`` where ``npm i -E lighthouse@12.2.3`` ran;
   ``CHROME_PATH=/usr/bin/chromium``): performance and accessibility of the overview, a
   profile and a segment page, signed in (the session cookie passed as a header), desktop
   preset and the default mobile preset.

Run: ``python -m benchmarks.dashboard_bench --home /tmp/dash-1m --lighthouse /tmp/lh``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx

from aidmp import DMP
from aidmp.api.server import ServerThread
from aidmp.dashboard.warm import warm
from benchmarks.build_scale_bench import GENERATE


def make_store(home: Path, people: int, events: int) -> DMP:
    """The generated store in ``home`` (reused when it is already built)."""
    if not (home / "aidmp.duckdb").exists():
        DMP(home=home).close()
        con = duckdb.connect(str(home / "aidmp.duckdb"))
        con.execute(GENERATE.format(people=people, events=events))
        con.close()
    dmp = DMP(home=home)
    if dmp.profiles.last_build() is None:
        t = time.perf_counter()
        dmp.build()
        print(f"built in {time.perf_counter() - t:.1f} s", flush=True)
    if not any(s["id"] == "buyers" for s in dmp.segments.list()):
        dmp.segments.create("buyers", "orders_total >= 1")
        dmp.segments.refresh()
    return dmp


def sign_in(url: str, key: str) -> httpx.Client:
    """An httpx client with a dashboard session."""
    client = httpx.Client(base_url=url, timeout=300)
    form = client.get("/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    assert token
    r = client.post("/login", data={"key": key, "csrf": token.group(1), "next": "/"})
    assert r.status_code == 303, r.text
    return client


def time_pages(client: httpx.Client, paths: list[str], repeat: int) -> dict[str, Any]:
    """First and warm request times (ms) per page."""
    out: dict[str, Any] = {}
    for path in paths:
        times = []
        for _ in range(repeat + 1):
            t = time.perf_counter()
            r = client.get(path)
            times.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
        out[path] = {"first_ms": round(times[0], 1),
                     "warm_p50_ms": round(statistics.median(times[1:]), 1),
                     "warm_max_ms": round(max(times[1:]), 1), "bytes": len(r.content)}
        print(path, out[path], flush=True)
    return out


def lighthouse(tool: Path, url: str, cookie: str, preset: str | None) -> dict[str, float]:
    """Performance and accessibility scores (0-100) of one page."""
    with tempfile.NamedTemporaryFile(suffix=".json") as report:
        cmd = [str(tool / "node_modules" / ".bin" / "lighthouse"), url,
               "--only-categories=performance,accessibility", "--output=json",
               f"--output-path={report.name}", "--quiet",
               "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
               f"--extra-headers={json.dumps({'Cookie': cookie})}"]
        if preset:
            cmd.append(f"--preset={preset}")
        subprocess.run(cmd, check=True, timeout=300,
                       env={**os.environ, "CHROME_PATH": "/usr/bin/chromium"})
        data = json.loads(Path(report.name).read_text())
    cats = data["categories"]
    audits = data["audits"]
    return {"performance": round(cats["performance"]["score"] * 100),
            "accessibility": round(cats["accessibility"]["score"] * 100),
            "lcp_ms": round(audits["largest-contentful-paint"]["numericValue"]),
            "tbt_ms": round(audits["total-blocking-time"]["numericValue"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--lighthouse", type=Path, default=None)
    parser.add_argument("--warm", action="store_true",
                        help="run aidmp serve's dashboard warm-up first (then 'first' is the "
                             "first visitor after a warmed start)")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="aidmp-dash-bench-"))
    dmp = make_store(home, args.people, args.events)
    profiles = dmp.profiles.count()
    key = dmp.keys.create("admin", source="bench").secret
    p = dmp.engine.table("profiles")
    pid = dmp.engine.execute(p.order_by(p.events.desc()).limit(1)).to_pylist()[0]["profile_id"]
    load_before = [round(x, 2) for x in os.getloadavg()]  # the machine is shared
    warmed: dict[str, float] = {}
    with ServerThread(dmp) as server:
        if args.warm:
            t = time.perf_counter()
            warmed = warm(server.url, key)
            warmed["total"] = round(time.perf_counter() - t, 2)
            print("warm-up (s)", warmed, flush=True)
        client = sign_in(server.url, key)
        # /sources/quality (the quality report, loaded after the page; 9-10 s at 10M events,
        # "Clean, resolve, profile" above) and /campaigns/attribution are left out
        paths = ["/", "/sources", "/profiles", f"/profiles/{pid}",
                 f"/profiles/{pid}/timeline?page=2", "/segments", "/segments/new",
                 "/segments/buyers", "/segments/buyers/members?page=3", "/analysis",
                 "/models", "/campaigns", "/audiences", "/privacy", "/settings"]
        pages = time_pages(client, paths, args.repeat)
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/segments/new").text)
        assert token
        checks = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            r = client.post("/segments/check", data={
                "rule": "orders_total >= 2 and events > 10", "csrf": token.group(1)})
            checks.append((time.perf_counter() - t) * 1000)
            assert "data-size" in r.text
        rest = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            httpx.get(server.url + "/v1/segments", headers={"Authorization": f"Bearer {key}"})
            rest.append((time.perf_counter() - t) * 1000)
        scores: dict[str, Any] = {}
        if args.lighthouse:
            cookie = f"aidmp_session={client.cookies['aidmp_session']}"
            for name, path in (("overview", "/"), ("profile", f"/profiles/{pid}"),
                               ("segment", "/segments/buyers")):
                for preset in ("desktop", None):
                    label = f"{name} ({preset or 'mobile'})"
                    scores[label] = lighthouse(args.lighthouse, server.url + path, cookie,
                                               preset)
                    print(label, scores[label], flush=True)
    print(json.dumps({"profiles": profiles, "events": dmp.engine.count("events"),
                      "load_average_before": load_before,
                      "load_average_after": [round(x, 2) for x in os.getloadavg()],
                      "warm_up_s": warmed, "pages": pages,
                      "rule_check_live_size_ms": round(statistics.median(checks), 1),
                      "rest_segments_list_ms": round(statistics.median(rest), 1),
                      "lighthouse": scores}, indent=1))


if __name__ == "__main__":
    main()
