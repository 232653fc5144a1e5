"""The CLI sub-app and the REST router, wired locally the way main.py / app.py will wire them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from aidmp import DMP
from aidmp.api.routes import segments as segment_routes
from aidmp.cli import segments as segment_cli
from aidmp.errors import AidmpError

from .conftest import build_world


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    dmp, _ = build_world(tmp_path / "home")
    dmp.close()
    return tmp_path / "home"


def run(home: Path, *args: str) -> object:
    root = typer.Typer()
    root.add_typer(segment_cli.app, name="segments")
    result = CliRunner().invoke(root, ["segments", *args, "--home", str(home), "--json"])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_cli_commands(home: Path, tmp_path: Path) -> None:
    made = run(home, "create", "Germans", "--rule", 'country = "DE"')
    assert isinstance(made, dict) and made["id"] == "germans" and made["size"] == 3
    run(home, "create", "Buyers", "--rule", 'event("Order Completed")')  # u1..u5
    assert [s["id"] for s in run(home, "list")] == ["buyers", "germans"]  # type: ignore[attr-defined, index]
    assert run(home, "size", "germans")["size"] == 3  # type: ignore[index]
    assert run(home, "size", "--rule", "age > 29")["size"] == 3  # type: ignore[index]
    assert len(run(home, "members", "germans", "--page-size", "2")["profile_ids"]) == 2  # type: ignore[index]
    assert run(home, "show", "germans")["realtime_capable"] is True  # type: ignore[index]
    assert run(home, "overlap", "germans", "buyers")["matrix"] == [[3, 3], [3, 5]]  # type: ignore[index]
    out = run(home, "export", "germans", str(tmp_path / "de.csv"))
    assert out["rows"] == 3 and (tmp_path / "de.csv").read_text().count("\n") == 4  # type: ignore[index]
    refreshed = run(home, "refresh", "--build-id", "b1")
    assert {r["segment_id"]: r["entered"] for r in refreshed} == {"germans": 3, "buyers": 5}  # type: ignore[attr-defined, index]
    assert run(home, "delete", "germans") == {"id": "germans", "deleted": True}
    with pytest.raises(AidmpError, match="unknown trait 'contry' at 1:1"):
        run(home, "create", "bad", "--rule", 'contry = "DE"')


@pytest.fixture()
def client(home: Path) -> Iterator[tuple[TestClient, dict[str, str], dict[str, str]]]:
    dmp = DMP(home=home)
    app = FastAPI()
    app.state.dmp = dmp

    @app.exception_handler(AidmpError)
    async def _err(request: Request, exc: AidmpError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.http_status)

    app.include_router(segment_routes.router)
    admin = {"Authorization": f"Bearer {dmp.keys.create('admin', source='ops').secret}"}
    read = {"Authorization": f"Bearer {dmp.keys.create('read', source='ops').secret}"}
    with TestClient(app) as c:
        yield c, admin, read
    dmp.close()


def test_rest_routes(client: tuple[TestClient, dict[str, str], dict[str, str]]) -> None:
    c, admin, read = client
    assert c.post("/v1/segments", json={"name": "x", "rule": "age > 1"}, headers=read
                  ).status_code == 403
    r = c.post("/v1/segments", json={"name": "Germans", "rule": 'country = "DE"'},
               headers=admin)
    assert r.status_code == 201 and r.json()["size"] == 3
    spec = {"condition": {"kind": "consent", "purpose": "email"}}
    r = c.post("/v1/segments", json={"name": "Mailable", "spec": spec}, headers=admin)
    assert r.status_code == 201 and r.json()["size"] == 2
    assert [s["id"] for s in c.get("/v1/segments", headers=read).json()] == [
        "germans", "mailable"]
    assert c.get("/v1/segments/germans", headers=read).json()["rule"] == 'country = "DE"'
    assert c.get("/v1/segments/germans/size", headers=read).json()["size"] == 3
    page = c.get("/v1/segments/germans/members?page=2&page_size=2", headers=read).json()
    assert len(page["profile_ids"]) == 1
    est = c.post("/v1/segments/estimate", json={"rule": "age >= 30"}, headers=read).json()
    assert est["size"] == 3 and est["approximate"] is False
    bad = c.post("/v1/segments/estimate", json={"rule": "ag >= 30"}, headers=read)
    assert bad.status_code == 400
    assert bad.json()["message"] == "rule: unknown trait 'ag' at 1:1; did you mean 'age'?"
    ov = c.post("/v1/segments/overlap", json={"segments": ["germans", "mailable"]},
                headers=read).json()
    assert ov["matrix"] == [[3, 1], [1, 2]]
    assert c.delete("/v1/segments/germans", headers=admin).json()["deleted"] is True
    assert c.get("/v1/segments/germans", headers=read).status_code == 404
