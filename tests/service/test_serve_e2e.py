"""End to end: ``aidmp serve`` owns a home and the CLI, run as separate processes on the same
home, does its work through it while events keep arriving.

The orders are the CDNOW sample (shared datasets), turned into a CSV in the test's folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from aidmp.api.server import free_port
from aidmp.service import handshake
from aidmp.service.runtime import wait_for_handshake

CDNOW = Path(__file__).parents[3] / "shared" / "datasets" / "cdnow" / "CDNOW_sample.txt"
ENV = {**os.environ, "AIDMP_COLLECTOR__FSYNC": "false", "AIDMP_COLLECTOR__FLUSH_INTERVAL_MS": "50"}


def aidmp(home: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would (a new process), on ``home``."""
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "aidmp.cli.main", *args, "--home", str(home)],
                         capture_output=True, text=True, env=ENV, timeout=120)
    print(f"{time.monotonic() - t0:6.2f} s  aidmp {' '.join(args[:3])}", file=sys.stderr)
    if ok:
        assert out.returncode == 0, (args, out.stdout[-2000:], out.stderr[-2000:])
    return out


def as_json(out: subprocess.CompletedProcess[str]) -> Any:
    return orjson.loads(out.stdout)


@pytest.fixture()
def orders(tmp_path: Path) -> Path:
    lines = [ln.split() for ln in CDNOW.read_text().splitlines() if ln.strip()]
    csv = tmp_path / "orders.csv"
    csv.write_text("customer_id,date,quantity,revenue\n" + "".join(
        f"{c},{d},{q},{r}\n" for c, _, d, q, r in lines))
    return csv


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[Path, handshake.Handshake]]:
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "aidmp.cli.main", "serve", "--home",
                             str(home), "--port", str(port)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        hs = wait_for_handshake(str(home), timeout=60)
        yield home, hs
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    # uvicorn re-raises the SIGINT it handled once shut down: 130 is a clean Ctrl-C exit
    assert proc.returncode in (0, 130), proc.stderr.read()[-3000:] if proc.stderr else ""
    assert not handshake.path(home).exists()  # removed at exit


class Load(threading.Thread):
    """Posts batches of events with fresh message ids; remembers those acknowledged (2xx)."""

    def __init__(self, url: str, write_key: str) -> None:
        super().__init__(daemon=True)
        self.url, self.key = url, write_key
        self.acked: list[str] = []
        self.refused = 0
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, auth=(self.key, ""), timeout=30) as client:
            while not self.stop.is_set():
                ids = [uuid.uuid4().hex for _ in range(20)]
                batch = [{"type": "track", "event": "Page Viewed", "messageId": i,
                          "anonymousId": f"a{n % 50}"} for n, i in enumerate(ids)]
                r = client.post("/v1/batch", json={"batch": batch})
                if r.status_code == 200:
                    self.acked += ids
                else:
                    self.refused += 1
                time.sleep(0.02)


def test_cli_through_the_server_while_events_arrive(served: tuple[Path, handshake.Handshake],
                                                    orders: Path, tmp_path: Path) -> None:
    home, hs = served
    assert oct(handshake.path(home).stat().st_mode & 0o777) == "0o600"
    # the dashboard, or a page of links
    page = httpx.get(hs.url + "/", follow_redirects=True, timeout=60)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'href="/docs"' in page.text or page.url.path == "/login"

    loader_key = as_json(aidmp(home, "keys", "create", "--scope", "write", "--json"))
    load = Load(hs.url, loader_key["secret"])
    load.start()
    try:
        imported = as_json(aidmp(
            home, "import", str(orders), "--source", "cdnow", "--type", "track",
            "--event", "Order Completed", "--user-id-column", "customer_id",
            "--timestamp-column", "date", "--timestamp-format", "%Y%m%d", "--json"))
        # 21 lines repeat another line of the customer exactly: one event each
        assert imported["read"] == 6919 and imported["stored"] == len(_distinct_lines())
        assert imported["stored"] + imported["duplicates"] == 6919
        # the same file again stores nothing twice
        assert as_json(aidmp(
            home, "import", str(orders), "--source", "cdnow", "--type", "track",
            "--event", "Order Completed", "--user-id-column", "customer_id",
            "--timestamp-column", "date", "--timestamp-format", "%Y%m%d", "--json",
        ))["stored"] == 0

        built = as_json(aidmp(home, "build", "--json"))
        assert built["profiles"] >= 2357  # the CDNOW customers, plus the load's visitors

        seg = as_json(aidmp(home, "segments", "create", "repeat buyers", "--rule",
                            'count("Order Completed") >= 2', "--json"))
        assert seg["id"] == "repeat_buyers"
        refreshed = as_json(aidmp(home, "segments", "refresh", "--json"))
        size = {r["segment_id"]: r["size"] for r in refreshed}["repeat_buyers"]
        # CDNOW sample: customers with two or more (distinct) order lines
        per_customer: dict[str, int] = {}
        for customer, *_ in _distinct_lines():
            per_customer[customer] = per_customer.get(customer, 0) + 1
        assert size == sum(1 for n in per_customer.values() if n >= 2)

        listed = as_json(aidmp(home, "segments", "list", "--json"))
        assert [s["id"] for s in listed] == ["repeat_buyers"]
        # a command that needs the store itself (init migrates it) says so, in one line
        held = aidmp(home, "init", ok=False)
        assert held.returncode == 1 and held.stderr.startswith("error: home: aidmp serve")

        fitted = as_json(aidmp(home, "models", "fit", "clv", "--json"))
        assert fitted["name"] == "clv" and fitted["version"] == 1

        aidmp(home, "audiences", "destinations", "add", "files", "--type", "file",
              "--folder", str(tmp_path / "out"), "--json")
        synced = as_json(aidmp(home, "audiences", "sync", "repeat_buyers", "--to", "files",
                               "--json"))
        assert synced["added"] == size

        # a CLI error through the server: one line, exit code 1, as locally
        bad = aidmp(home, "segments", "create", "broken", "--rule", "revenue_total >", ok=False)
        assert bad.returncode == 1 and bad.stderr.startswith("error: ")
        assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr

        # a revoked key is refused within a second, without a restart
        victim = as_json(aidmp(home, "keys", "create", "--scope", "read", "--json"))
        auth = {"Authorization": f"Bearer {victim['secret']}"}
        assert httpx.get(hs.url + "/v1/jobs", headers=auth, timeout=60).status_code == 200
        aidmp(home, "keys", "revoke", victim["key_id"])
        revoked_at = time.monotonic()
        assert httpx.get(hs.url + "/v1/jobs", headers=auth).status_code == 401
        assert time.monotonic() - revoked_at < 1.0
    finally:
        load.stop.set()
        load.join(30)
    assert load.refused == 0 and len(load.acked) > 200

    jobs = as_json(aidmp(home, "jobs", "list", "--json"))
    assert {j["kind"] for j in jobs} >= {"import", "build", "segments.refresh", "models.fit",
                                         "audiences.sync"}
    assert all(j["state"] == "succeeded" for j in jobs)

    admin = {"Authorization": f"Bearer {hs.token}"}
    counted = httpx.get(hs.url + "/v1/events/stats", headers=admin, timeout=60).json()
    assert counted  # the server answers the admin credential of the handshake
    _bad_input_on_every_new_route(hs.url, admin)
    _every_acknowledged_event_once(home, hs, load.acked)


def _distinct_lines() -> set[tuple[str, ...]]:
    return {tuple(ln.split()) for ln in CDNOW.read_text().splitlines() if ln.strip()}


def _every_acknowledged_event_once(home: Path, hs: handshake.Handshake,
                                   acked: list[str]) -> None:
    # events are unique on message_id, every id sent is new, no request was refused: the
    # acknowledged events are all stored, once each, when the store holds exactly as many
    del home
    job = httpx.post(hs.url + "/v1/jobs", json={"kind": "build", "params": {}}, timeout=60,
                     headers={"Authorization": f"Bearer {hs.token}"})
    assert job.status_code == 202  # the build flushes the collector's buffer first
    done = _wait(hs, job.json()["id"])
    assert done["state"] == "succeeded"
    events = httpx.get(hs.url + "/v1/events/stats", timeout=60,
                       headers={"Authorization": f"Bearer {hs.token}"}).json()
    assert events["top_events"]["Page Viewed"] == len(acked), (events, len(acked))


def _wait(hs: handshake.Handshake, job_id: str) -> dict[str, Any]:
    for _ in range(600):
        job = httpx.get(f"{hs.url}/v1/jobs/{job_id}", timeout=60,
                        headers={"Authorization": f"Bearer {hs.token}"}).json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return dict(job)
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not end")


def _bad_input_on_every_new_route(url: str, admin: dict[str, str]) -> None:
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("POST", "/v1/jobs", {"json": {"kind": "bild"}}, 400, "kind"),
        ("POST", "/v1/jobs", {"json": {"kind": "build", "params": {"full": "x"}}}, 400,
         "params.full"),
        ("POST", "/v1/jobs", {"json": {"kind": "build", "extra": 1}}, 400, "extra"),
        ("GET", "/v1/jobs", {"params": {"limit": 0}}, 400, "limit"),
        ("GET", "/v1/jobs", {"params": {"state": "done"}}, 400, "state"),
        ("GET", "/v1/jobs/job_nope", {}, 404, ""),
        ("DELETE", "/v1/jobs/job_nope", {}, 404, ""),
        ("POST", "/v1/schedules", {"json": {"name": "n", "cron": "every day", "kind": "build"}},
         400, "cron"),
        ("POST", "/v1/schedules", {"json": {"name": "n", "cron": "0 3 * * *", "kind": "x"}},
         400, "kind"),
        ("POST", "/v1/schedules", {"json": {"name": "n n", "cron": "0 3 * * *",
                                            "kind": "build"}}, 400, "name"),
        ("DELETE", "/v1/schedules/nope", {}, 404, ""),
        ("POST", "/v1/schedules/nope/run", {}, 404, ""),
        ("GET", "/v1/deliveries", {"params": {"state": "lost"}}, 400, "state"),
        ("POST", "/v1/deliveries/replay", {"json": {"ids": ["dlv_nope"]}}, 400, "ids"),
        ("POST", "/v1/keys/nope/revoke", {}, 404, ""),
        ("POST", "/v1/keys/nope/rotate", {}, 404, ""),
        ("PUT", "/v1/uploads/..evil.csv", {"content": b"a,b\n"}, 400, "filename"),
        ("PUT", "/v1/uploads/orders.exe", {"content": b"a,b\n"}, 400, "filename"),
        ("PUT", "/v1/uploads/orders.csv", {"content": b""}, 400, "body"),
    ]
    for method, path, kwargs, status, field in cases:
        r = httpx.request(method, url + path, headers=admin, timeout=60, **kwargs)
        assert r.status_code == status, (method, path, r.status_code, r.text)
        body = r.json()
        assert body["message"] and "Traceback" not in r.text
        if field:
            assert body.get("field") == field, (method, path, body)
    r = httpx.post(url + "/v1/jobs", json={"kind": "build"}, timeout=60)  # no key
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
