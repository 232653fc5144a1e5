"""``aidmp audiences`` commands and the REST routes, on a world built from events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from aidmp import DMP
from aidmp.api.app import create_app
from aidmp.api.routes.audiences import router
from aidmp.audiences.sync import state_table
from aidmp.cli.audiences import app as cli
from tests.audiences.conftest import ADS_WITHDRAWN, PROS, build_world


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli")
    build_world(path).close()
    return path


def run(home: Path, *args: str) -> Any:
    result = CliRunner().invoke(cli, [*args, "--home", str(home), "--json"])
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)


def test_cli_destinations_and_sync(home: Path, tmp_path: Path) -> None:
    added = run(home, "destinations", "add", "meta_cli", "--type", "meta_custom_audience",
                "--folder", str(tmp_path), "--min-audience", "10")
    assert added == {**added, "name": "meta_cli", "purpose": "advertising", "min_audience": 10}
    names = [d["name"] for d in run(home, "destinations", "list")]
    assert "meta_cli" in names
    dry = run(home, "sync", "pros", "--to", "meta_cli", "--dry-run")
    assert dry["dry_run"] and dry["skipped_no_consent"] == len(ADS_WITHDRAWN)
    real = run(home, "sync", "pros", "--to", "meta_cli")
    assert real["added"] == dry["added"] == PROS - 20 and len(real["files"]) == 1
    assert run(home, "destinations", "remove", "meta_cli") == {"removed": "meta_cli"}
    bad = CliRunner().invoke(cli, ["sync", "pros", "--to", "meta_cli", "--home", str(home)])
    assert bad.exit_code != 0


@pytest.fixture
def api(home: Path) -> Iterator[tuple[TestClient, DMP, dict[str, str], dict[str, str]]]:
    dmp = DMP(home=home)
    app = create_app(dmp)
    app.include_router(router)
    admin = {"Authorization": f"Bearer {dmp.keys.create('admin').secret}"}
    reader = {"Authorization": f"Bearer {dmp.keys.create('read').secret}"}
    yield TestClient(app), dmp, admin, reader
    dmp.close()


def test_rest_destinations_and_sync(api: tuple[TestClient, DMP, dict[str, str],
                                               dict[str, str]], tmp_path: Path) -> None:
    client, dmp, admin, reader = api
    body = {"type": "file", "name": "rest_drop", "folder": str(tmp_path)}
    r = client.post("/v1/destinations", json=body, headers=admin)
    assert r.status_code == 201 and r.json()["columns"] == ["user_id", "email"]
    assert client.post("/v1/destinations", json=body, headers=reader).status_code == 403
    bad = client.post("/v1/destinations", json={**body, "name": "Bad Name"}, headers=admin)
    assert bad.status_code == 400 and bad.json()["field"] == "destination"
    listed = client.get("/v1/destinations", headers=admin).json()
    assert [d["name"] for d in listed if d["name"] == "rest_drop"] == ["rest_drop"]
    r = client.post("/v1/segments/pros/sync?wait=true", json={"destination": "rest_drop"},
                    headers=admin)
    assert r.status_code == 200
    assert (r.json()["added"], r.json()["first_sync"]) == (PROS, True)
    assert dmp.engine.count(state_table("rest_drop")) == PROS
    again = client.post("/v1/segments/pros/sync?wait=true",
                        json={"destination": "rest_drop", "dry_run": True}, headers=admin)
    assert (again.json()["added"], again.json()["unchanged"]) == (0, PROS)
    small = {"type": "file", "name": "rest_small", "folder": str(tmp_path),
             "min_audience": 1000}
    assert client.post("/v1/destinations", json=small, headers=admin).status_code == 201
    refused = client.post("/v1/segments/pros/sync?wait=true", json={"destination": "rest_small"},
                          headers=admin)
    assert refused.status_code == 400 and "minimum audience size of 1000" in \
        refused.json()["message"]
    assert client.post("/v1/segments/pros/sync", json={"destination": "rest_drop"},
                       headers=reader).status_code == 403
