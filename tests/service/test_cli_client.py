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


def _import_cdnow(dmp: DMP, lines: int = 600) -> None:
    """The first ``lines`` CDNOW order lines as ``Order Completed`` events of source cdnow."""
    rows = [ln.split() for ln in CDNOW.read_text().splitlines() if ln.strip()][:lines]
    dmp.imports.frame(pl.DataFrame({
        "customer_id": [r[0] for r in rows], "date": [r[2] for r in rows],
        "revenue": [float(r[4]) for r in rows]}), ImportMapping(
        source="cdnow", event="Order Completed", user_id_column="customer_id",
        timestamp_column="date", timestamp_format="%Y%m%d"))


def test_same_answers_through_the_server(tmp_path: Path) -> None:
    dmp = DMP(home=tmp_path, collector={"fsync": False})
    _import_cdnow(dmp)
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


def _touch(user: str, day: int, campaign: dict[str, str]) -> dict[str, object]:
    return {"type": "page", "name": "Landing", "userId": user,
            "timestamp": f"2026-03-{day:02d}T10:00:00Z", "context": {"campaign": campaign}}


def _order(user: str, day: int, revenue: float) -> dict[str, object]:
    return {"type": "track", "event": "Order Completed", "userId": user,
            "timestamp": f"2026-03-{day:02d}T12:00:00Z", "properties": {"revenue": revenue}}


CPC = {"source": "google", "medium": "cpc", "name": "spring"}
EMAIL = {"source": "newsletter", "medium": "email", "name": "march"}
#: every command that used to refuse while a server held the home, in an order that works
COMMANDS = (
    ["events", "count"], ["events", "count", "--event", "Order Completed"],
    ["quarantine", "list", "--all"], ["quarantine", "replay"],
    ["models", "list"], ["models", "show", "clv"], ["models", "score", "clv"],
    ["models", "evaluate", "clv"],
    ["identity", "merges"], ["identity", "resolve"],
    ["campaigns", "create", "spring", "--channel", "cpc", "--start", "2026-03-01",
     "--end", "2026-03-31", "--daily-cost", "10"],
    ["campaigns", "list"], ["campaigns", "costs", "COSTS"], ["campaigns", "show", "spring"],
    ["campaigns", "roi"], ["campaigns", "report"], ["campaigns", "attribution"],
    ["campaigns", "delete", "spring"], ["models", "archive", "clv"],
)
#: what differs between two runs of the same work (ids and clocks of that run)
VOLATILE = {"build_id", "created_at", "seconds", "duration_s", "elapsed_s", "started_at",
            "finished_at", "archived_at", "at"}


def _stable(value: object) -> object:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def test_every_remaining_command_gives_the_local_json_through_the_server(
        tmp_path: Path) -> None:
    import shutil

    local_home, served_home = tmp_path / "local", tmp_path / "served"
    with DMP(home=local_home, collector={"fsync": False}) as dmp:
        _import_cdnow(dmp)
        dmp.events.ingest([_touch("u1", 3, CPC), _touch("u1", 4, EMAIL), _order("u1", 5, 100),
                           _touch("u2", 3, EMAIL), _order("u2", 4, 40.0),
                           {"type": "track", "userId": "u3", "messageId": "no-event"}],
                          source="web")
        dmp.build()
        dmp.models.fit("clv")
    shutil.copytree(local_home, served_home)  # the same store twice: one local, one served
    costs = tmp_path / "costs.csv"
    costs.write_text("date,channel,campaign,cost\n2026-03-02,cpc,spring,50\n"
                     "2026-03-03,email,march,20\n")
    runner = CliRunner()

    def run_all(home: Path) -> list[object]:
        out = []
        for args in COMMANDS:
            args = [str(costs) if a == "COSTS" else a for a in args]
            result = runner.invoke(app, [*args, "--json", "--home", str(home)])
            assert result.exit_code == 0, (args, result.output, result.exception)
            out.append(_stable(orjson.loads(result.stdout)))
        return out

    client._clients.clear()
    local = run_all(local_home)
    dmp = DMP(home=served_home, collector={"fsync": False})
    admin = dmp.keys.create("admin", source="cli")
    try:
        with ServerThread(dmp) as srv:
            handshake.write(served_home, handshake.Handshake(
                url=srv.url, token=admin.secret, key_id=admin.key.key_id, pid=os.getpid()))
            client._clients.clear()
            served = run_all(served_home)
            assert client.server(served_home) is not None  # it went through the server
            refused = runner.invoke(app, ["models", "show", "nope", "--home", str(served_home)])
    finally:
        handshake.remove(served_home)
        client._clients.clear()
        dmp.close()
    for args, want, got in zip(COMMANDS, local, served, strict=True):
        assert got == want, args
    # known answers, so that equal is not equally wrong
    answers = dict(zip((" ".join(a) for a in COMMANDS), local, strict=True))
    # 600 CDNOW lines hold one repeated order (599 stored), + 2 web orders and 3 landings;
    # the track without an event waits in the quarantine
    assert answers["events count"] == {"events": 599 + 2 + 3}
    assert answers["events count --event Order Completed"] == {"events": 599 + 2}
    assert [r["field"] for r in answers["quarantine list --all"]] == ["batch[5].event"]
    assert answers["quarantine replay"] == {"tried": 1, "stored": 0, "duplicates": 0,
                                            "still_invalid": 1}
    assert answers["models score clv"]["profiles"] > 0
    assert answers["campaigns costs COSTS"] == {"rows": 2}
    roi = {r["channel"]: r for r in answers["campaigns roi"]}  # type: ignore[union-attr]
    assert (roi["email"]["cost"], roi["email"]["revenue"], roi["email"]["roas"]) == (20, 140, 7)
    assert answers["models archive clv"] == {"name": "clv", "version": 1, "status": "archived"}
    assert isinstance(refused.exception, AidmpError) and refused.exception.http_status == 404


#: the commands that went through the server next (issue 15, second round); EXPORT is a
#: file in each home's own folder, compared by content below
MORE = (
    ["profiles", "describe", "--traits", "orders_total,revenue_total"], ["profiles", "rfm"],
    ["segments", "overlap", "buyers", "few_orders"],
    ["segments", "export", "buyers", "EXPORT"],
    ["segments", "lookalike", "few_orders", "--name", "like few", "--top-n", "5"],
    ["segments", "cluster", "shoppers", "--k", "2",
     "--features", "orders_total,revenue_total"],
    ["segments", "delete", "buyers"],
    ["sources", "list"], ["identity", "review"], ["datasets", "load", "groceries"],
)
#: the same refusal both ways (no such model / link), as the server's own error
REFUSED = (["profiles", "recommend", "user_id:00004"], ["rules", "bought-together", "milk"],
           ["identity", "accept", "nope"], ["identity", "reject", "nope"],
           ["identity", "match", "--source", "cdnow"])
#: a matching run with nothing to compare: its report, then exit 1, both ways
MATCH = ["identity", "match", "--threshold", "0.9", "--seed", "7"]


def test_profiles_segments_rules_sources_identity_through_the_server(tmp_path: Path) -> None:
    import shutil

    local_home, served_home = tmp_path / "local", tmp_path / "served"
    with DMP(home=local_home, collector={"fsync": False}) as dmp:
        _import_cdnow(dmp)
        dmp.build()
        dmp.segments.create("buyers", rule='event("Order Completed")')
        dmp.segments.create("few orders", rule='event("Order Completed", count < 2)')
    shutil.copytree(local_home, served_home)
    runner = CliRunner()

    def run_all(home: Path) -> tuple[list[object], list[str]]:
        out, errors = [], []
        result = runner.invoke(app, [*MATCH, "--json", "--home", str(home)])
        assert result.exit_code == 1, (result.output, result.exception)
        out.append(orjson.loads(result.stdout))
        for args in MORE:
            args = [str(home.parent / f"{home.name}.csv") if a == "EXPORT" else a
                    for a in args]
            result = runner.invoke(app, [*args, "--json", "--home", str(home)])
            assert result.exit_code == 0, (args, result.output, result.exception)
            out.append(_stable(orjson.loads(result.stdout)))
        for args in REFUSED:
            result = runner.invoke(app, [*args, "--json", "--home", str(home)])
            assert isinstance(result.exception, AidmpError), (args, result.output)
            errors.append(str(result.exception))
        return out, errors

    client._clients.clear()
    local, local_errors = run_all(local_home)
    dmp = DMP(home=served_home, collector={"fsync": False})
    admin = dmp.keys.create("admin", source="cli")
    try:
        with ServerThread(dmp) as srv:
            handshake.write(served_home, handshake.Handshake(
                url=srv.url, token=admin.secret, key_id=admin.key.key_id, pid=os.getpid()))
            client._clients.clear()
            served, served_errors = run_all(served_home)
            assert client.server(served_home) is not None  # it went through the server
            missing = runner.invoke(app, ["segments", "export", "nope",
                                          str(tmp_path / "nope.csv"), "--home",
                                          str(served_home)])
    finally:
        handshake.remove(served_home)
        client._clients.clear()
        dmp.close()
    assert served[0] == local[0]  # identity match
    assert local[0]["linked"] == 0 and local[0]["warnings"][0].startswith(  # type: ignore[index]
        "no field to compare")
    local, served = local[1:], served[1:]
    answers = dict(zip((" ".join(a) for a in MORE), local, strict=True))
    for args, want, got in zip(MORE, local, served, strict=True):
        if args[1] == "export":  # the path is each home's own
            assert {**got, "path": None} == {**want, "path": None}  # type: ignore[dict-item]
        elif args[1] == "cluster":  # plots are written in each home
            assert {**got, "plots": None} == {**want, "plots": None}  # type: ignore[dict-item]
        else:
            assert got == want, args
    assert served_errors == local_errors
    assert local_errors[-1].startswith("sources: unknown source 'cdnow'")
    # the served export is the same file, written here from the server's stream
    assert (tmp_path / "served.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    # known answers: every buyer is in "buyers"; the overlap's diagonal is each size
    overlap = answers["segments overlap buyers few_orders"]
    buyers = answers["segments export buyers EXPORT"]["rows"]  # type: ignore[index]
    assert buyers == pl.read_csv(tmp_path / "local.csv").height > 0
    assert overlap["matrix"][0][0] == buyers  # type: ignore[index]
    assert overlap["matrix"][0][1] == overlap["matrix"][1][1] > 0  # type: ignore[index]
    assert answers["profiles rfm"]["buyers"] == buyers  # type: ignore[index]
    assert answers["segments delete buyers"] == {"id": "buyers", "deleted": True}
    assert answers["sources list"] == [] and answers["identity review"] == []
    assert answers["datasets load groceries"]["baskets"]["stored"] == 9835  # type: ignore[index]
    assert isinstance(missing.exception, AidmpError) and missing.exception.http_status == 404
    assert not (tmp_path / "nope.csv").exists()
