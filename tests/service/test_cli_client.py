"""The CLI as a client: the same JSON through a running server as from the store itself."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import polars as pl
from typer.testing import CliRunner

from aidmp import DMP
from aidmp.api.server import ServerThread
from aidmp.cli import client
from aidmp.cli.main import app
from aidmp.cli.output import to_json
from aidmp.errors import AidmpError
from aidmp.service import handshake
from aidmp.service.client import operations
from aidmp.spec.imports import ImportMapping

CDNOW = Path(__file__).parents[3] / "shared" / "datasets" / "cdnow" / "CDNOW_sample.txt"


def test_same_answers_through_the_server(tmp_path: Path) -> None:
    rows = [ln.split() for ln in CDNOW.read_text().splitlines() if ln.strip()][:600]
    dmp = DMP(home=tmp_path, collector={"fsync": False})
    dmp.imports.frame(pl.DataFrame({
        "customer_id": [r[0] for r in rows], "date": [r[2] for r in rows],
        "revenue": [float(r[4]) for r in rows]}), ImportMapping(
        source="cdnow", event="Order Completed", user_id_column="customer_id",
        timestamp_column="date", timestamp_format="%Y%m%d"))
    dmp.build()
    local = {
        "profile": orjson.loads(to_json(dmp.profiles.get("user_id", "00004"))),
        "events": orjson.loads(to_json(dmp.profiles.events(
            dmp.identity.profile_of("user_id", "00004"), page=1, size=5))),
        "stats": orjson.loads(to_json(dmp.events.stats())),
    }
    admin = dmp.keys.create("admin", source="cli")
    runner = CliRunner()
    try:
        with ServerThread(dmp) as srv:
            handshake.write(tmp_path, handshake.Handshake(
                url=srv.url, token=admin.secret, key_id=admin.key.key_id, pid=os.getpid()))
            client._clients.clear()
            home = ["--home", str(tmp_path)]
            got = {
                "profile": runner.invoke(app, ["profiles", "get", "user_id:00004", "--json",
                                               *home]),
                "events": runner.invoke(app, ["profiles", "events", "user_id:00004", "--size",
                                              "5", "--json", *home]),
                "stats": runner.invoke(app, ["events", "stats", "--json", *home]),
            }
            assert client.server(tmp_path) is not None  # it went through the server
            bad = runner.invoke(app, ["profiles", "get", "user_id:nobody", *home])
            # the OpenAPI document is cached for the next CLI process of this server run
            cached = orjson.loads((tmp_path / ".cache" / "openapi.json").read_bytes())
            assert "get_profile_v1_profiles__ident__get" in operations(cached["doc"])
    finally:
        handshake.remove(tmp_path)
        client._clients.clear()
        dmp.close()
    for name, result in got.items():
        assert result.exit_code == 0, (name, result.output)
        assert orjson.loads(result.stdout) == local[name], name
    # the server's error, raised as the AidmpError that main() prints as one line
    assert isinstance(bad.exception, AidmpError) and bad.exception.http_status == 404
    assert str(bad.exception) == "no profile has that user_id (or no build has run yet)"
