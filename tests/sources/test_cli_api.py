"""``aidmp sources import|list`` and ``POST /v1/sources/import`` over the same facade, with
errors that name the field and never carry the password."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from aidmp import DMP
from aidmp.api.server import ServerThread
from tests.conftest import basic
from tests.sources.conftest import PASSWORD
from tests.sources.test_database import _reset


def _aidmp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aidmp.cli.main", *args], capture_output=True,
                          text=True, timeout=180, env=os.environ.copy())


def test_cli_imports_incrementally_and_lists_the_cursor(tmp_path, postgres_dsn):
    _reset(postgres_dsn, "cli_orders")
    home = str(tmp_path / "home")
    args = ("sources", "import", postgres_dsn, "--home", home, "--table", "cli_orders",
            "--cursor", "id", "--source", "pg", "--event", "Order Completed",
            "--user-id-column", "customer", "--timestamp-column", "updated_at", "--json")
    first = _aidmp(*args)
    assert first.returncode == 0, first.stderr
    assert '"stored": 3' in first.stdout and '"quarantined": 1' in first.stdout
    second = _aidmp(*args)
    assert '"read": 0' in second.stdout and '"cursor_from": "4"' in second.stdout
    listed = _aidmp("sources", "list", "--home", home, "--json")
    assert '"cursor": "id"' in listed.stdout and "***" in listed.stdout
    bad = _aidmp("sources", "import", postgres_dsn, "--home", home, "--table", "nope",
                 "--name", "x", "--source", "pg", "--event", "E", "--user-id-column", "customer")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "error: table: no table 'nope'" in bad.stderr
    for out in (first, second, listed, bad):
        assert PASSWORD not in out.stdout + out.stderr


def test_rest_import_needs_admin_and_answers_counts(dmp: DMP, admin_key, write_key, mariadb_dsn):
    _reset(mariadb_dsn, "api_orders")
    body = {"dsn": mariadb_dsn, "table": "api_orders", "cursor": "updated_at",
            "mapping": {"source": "maria", "event": "Order Completed",
                        "user_id_column": "customer", "timestamp_column": "updated_at"}}
    with ServerThread(dmp) as server:
        url = server.url + "/v1/sources/import"
        assert httpx.post(url, json=body, headers=basic(write_key)).status_code == 403
        r = httpx.post(url, json=body, headers=basic(admin_key), timeout=60)
        assert r.status_code == 202, r.text  # a sources.import job, answered at once
        job = r.json()
        while job["state"] in ("queued", "running"):
            time.sleep(0.1)
            job = httpx.get(server.url + r.headers["Location"], headers=basic(admin_key)).json()
        assert job["state"] == "succeeded", job["error"]
        assert (job["result"]["stored"], job["result"]["quarantined"]) == (3, 1)
        assert job["result"]["dsn"].startswith("mysql://aidmp:***@")
        # the job's stored parameters carry no password
        assert job["params"]["dsn"] == body["dsn"].replace("${AIDMP_TEST_DB_PASSWORD}", "***")
        again = httpx.post(url + "?wait=true", json=body, headers=basic(admin_key),
                           timeout=60).json()
        assert (again["read"], again["stored"], again["mode"]) == (0, 0, "incremental")
        bad = httpx.post(url, json={**body, "mapping": {"source": "maria"}},
                         headers=basic(admin_key))
        assert bad.status_code == 400 and bad.json()["field"] == "user_id_column"
        wrong = httpx.post(url + "?wait=true", json={**body, "dsn": body["dsn"].replace(
            "${AIDMP_TEST_DB_PASSWORD}", "not-the-password")}, headers=basic(admin_key),
            timeout=60)
        assert wrong.status_code == 503 and wrong.json()["field"] == "dsn"
        assert "not-the-password" not in wrong.text
        listed = httpx.get(server.url + "/v1/sources", headers=basic(admin_key)).json()
    assert [s["source"] for s in listed] == ["maria"]
    assert PASSWORD not in str(listed)


def test_cli_import_and_list_through_a_server_give_the_local_json(tmp_path, postgres_dsn):
    """While ``aidmp serve`` holds a home, ``sources import`` is its ``sources.import`` job
    and ``sources list`` its ``GET /v1/sources``: the same JSON as on a home run locally."""
    import orjson
    from typer.testing import CliRunner

    from aidmp.cli import client
    from aidmp.cli.main import app
    from aidmp.service import handshake

    _reset(postgres_dsn, "served_orders")
    runner = CliRunner()
    volatile = {"seconds", "imported_at"}

    def run(home: str) -> list[object]:
        out = []
        for args in (["import", postgres_dsn, "--table", "served_orders", "--cursor", "id",
                      "--source", "pg", "--event", "Order Completed", "--user-id-column",
                      "customer", "--timestamp-column", "updated_at"], ["list"]):
            result = runner.invoke(app, ["sources", *args, "--json", "--home", home])
            assert result.exit_code == 0, (args, result.output, result.exception)
            got = orjson.loads(result.stdout)
            rows = got if isinstance(got, list) else [got]
            out.append([{k: v for k, v in r.items() if k not in volatile} for r in rows])
        return out

    client._clients.clear()
    local = run(str(tmp_path / "local"))
    dmp = DMP(home=tmp_path / "served", collector={"fsync": False})
    admin = dmp.keys.create("admin", source="cli")
    try:
        with ServerThread(dmp) as srv:
            handshake.write(tmp_path / "served", handshake.Handshake(
                url=srv.url, token=admin.secret, key_id=admin.key.key_id, pid=os.getpid()))
            client._clients.clear()
            served = run(str(tmp_path / "served"))
            assert client.server(tmp_path / "served") is not None
            jobs = dmp.jobs.list(kind="sources.import")
    finally:
        handshake.remove(tmp_path / "served")
        client._clients.clear()
        dmp.close()
    assert served == local
    assert (local[0][0]["stored"], local[0][0]["quarantined"]) == (3, 1)  # type: ignore[index]
    assert [r["source"] for r in local[1]] == ["pg"]  # type: ignore[union-attr]
    assert len(jobs) == 1 and PASSWORD not in str(jobs) + str(served)
