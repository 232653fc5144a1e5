"""Campaigns, audience activation and erasure give the same answers on DuckDB and Spark.

One small deterministic shop (16 people, UTM touches on four channels, orders, imported costs,
one campaign with an audience and a holdout) is built on each engine; ROI / ROAS by every
grouping, the attribution report (every rule model and Markov), a campaign's performance, a
first and an incremental file sync of a segment and the erasure of one person must agree.
The stores are built once per engine for the module (a Spark build is slow); the erasure
test, which changes them, is the last one in the file.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from aidmp import DMP
from aidmp.engine.base import Engine
from aidmp.errors import NotFoundError
from tests.conformance.conftest import fresh_engine

pytestmark = pytest.mark.spark

CAMPAIGNS = [{"source": "google", "medium": "cpc", "name": "spring"},
             {"source": "newsletter", "medium": "email", "name": "march"},
             {"source": "facebook", "name": "brand"},  # no medium: the channel is the source
             {"source": "partner", "medium": "affiliate", "name": "(none)"}]
PEOPLE = 16
ERASED = 5  # the person erased by the last test


def _email(i: int) -> str:
    return f"person{i:02d}.shop@example.org"


def _messages() -> list[dict[str, Any]]:
    rng = random.Random(21)
    out: list[dict[str, Any]] = []
    for i in range(PEOPLE):
        user = f"user-{i:02d}"
        out.append({"type": "identify", "userId": user, "messageId": f"id-{i}",
                    "timestamp": "2026-03-01T08:00:00Z",
                    "traits": {"email": _email(i), "first_name": f"P{i}"}})
        for k in range(rng.randrange(1, 5)):
            day, hour = rng.randrange(2, 20), rng.randrange(8, 20)
            out.append({"type": "page", "name": "Landing", "userId": user,
                        "messageId": f"touch-{i}-{k}",
                        "timestamp": f"2026-03-{day:02d}T{hour:02d}:{rng.randrange(60):02d}:00Z",
                        "context": {"campaign": rng.choice(CAMPAIGNS)}})
        for k in range(rng.randrange(0, 3)):
            day = rng.randrange(4, 24)
            out.append({"type": "track", "event": "Order Completed", "userId": user,
                        "messageId": f"order-{i}-{k}", "timestamp": f"2026-03-{day:02d}T21:30:00Z",
                        "properties": {"order_id": f"o-{i}-{k}",
                                       "revenue": float(rng.randrange(10, 300))}})
    return out


COSTS = pa.table({"date": ["2026-03-02", "2026-03-09", "2026-03-03", "2026-03-10",
                           "2026-03-04", "2026-03-05"],
                  "channel": ["cpc", "cpc", "email", "email", "facebook", "affiliate"],
                  "campaign": ["spring", "spring", "march", "march", "brand", "(none)"],
                  "cost": [120.0, 80.0, 20.0, 25.0, 60.0, 15.0]})


def _norm(value: Any) -> Any:
    """Engine-neutral values: dates and times as ISO text, floats rounded (Spark sums in
    another order), containers element-wise."""
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_norm(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 6)
    return value


def _read_files(folder: Path) -> list[tuple[str, list[dict[str, Any]]]]:
    """(kind of file, rows sorted by profile) of every audience file in ``folder``; the kind is
    the name without the sync's timestamp (``full`` / ``added`` / ``removed``)."""
    out = []
    for path in sorted(folder.rglob("*.csv")):
        rows = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            strings_can_be_null=True)).to_pylist()
        kind = next((k for k in ("full", "added", "removed") if k in path.name), path.name)
        out.append((kind, sorted(rows, key=lambda r: str(r["profile_id"]))))
    return sorted(out, key=lambda t: (t[0], str(t[1])))


def _flow(dmp: DMP) -> dict[str, Any]:
    """Build the shop, then everything the campaigns and audiences areas answer."""
    dmp.events.ingest(_messages(), source="web")
    dmp.build()
    dmp.segments.create("Buyers", rule="orders_total >= 1")
    dmp.segments.refresh()
    camp = dmp.campaigns
    assert camp.import_costs(COSTS) == COSTS.num_rows
    plan = camp.create("Spring search", "cpc", date(2026, 3, 1), date(2026, 3, 20),
                       audience="buyers", utm_campaign="spring", holdout=0.25)
    out: dict[str, Any] = {}
    # every rule model per channel is in the attribution rows; ROI by each grouping once
    for by in ("channel", "campaign", "week", "segment"):
        out[f"roi_{by}"] = camp.roi(by)
    out["roi_channel_position_based"] = camp.roi("channel", model="position_based")
    attribution = camp.attribution()
    out["attribution"] = {k: attribution[k] for k in
                          ("conversions", "revenue", "unattributed", "removal_effects", "rows")}
    perf = camp.performance(plan["id"])
    out["performance"] = {k: v for k, v in perf.items() if k != "campaign"}
    out["history"] = camp.history(period="week").to_pylist()

    folder = dmp.home / "exports"
    aud = dmp.audiences
    aud.add_destination({"type": "file", "name": "drop", "folder": str(folder),
                         "columns": ["user_id", "email"], "min_audience": 2})
    syncs = [aud.sync("buyers", "drop").to_dict()]
    # the campaign's holdout share of the members leaves the audience: the next sync sends
    # only the change (removals)
    syncs.append(aud.sync("buyers", "drop", campaign=plan["id"]).to_dict())
    out["syncs"] = [{k: v for k, v in s.items() if k not in ("files", "sync_id")}
                    for s in syncs]
    out["files"] = _read_files(folder)
    return _norm(out)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def stores(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[dict[str, tuple[DMP, dict[str, Any]]]]:
    directory = tmp_path_factory.mktemp("campaigns")
    with (fresh_engine("duckdb", request, directory) as duck,
          fresh_engine("spark", request, directory) as spark):
        out = {}
        # tests/conftest.py gives every store one pseudonymisation secret, so both engines
        # derive the same keyed profile ids (and the same holdout draws)
        for name, eng in (("duckdb", duck), ("spark", spark)):
            dmp = DMP(home=directory / name, engine=eng)
            out[name] = (dmp, _flow(dmp))
        yield out


def test_campaign_roi_and_attribution_agree(stores: dict[str, tuple[DMP, dict[str, Any]]]
                                            ) -> None:
    duck, spark = stores["duckdb"][1], stores["spark"][1]
    # known answers first: every channel and a credit for each conversion
    channels = {r["channel"] for r in duck["roi_channel"]}
    assert channels == {"cpc", "email", "facebook", "affiliate"}
    assert sum(r["cost"] for r in duck["roi_channel"]) == pytest.approx(
        sum(COSTS.column("cost").to_pylist()))
    attributed = sum(r["conversions"] for r in duck["roi_channel"])
    for model in ("roi_campaign", "roi_week", "roi_channel_position_based"):
        # every grouping and rule model credits each attributed conversion exactly once
        assert sum(r["conversions"] for r in duck[model]) == pytest.approx(attributed, abs=1e-6)
    assert attributed > 5 and duck["performance"]["touches"] > 0
    assert duck["performance"]["holdout_test"] is not None
    for key in duck:
        if key.startswith("roi_") or key in ("attribution", "performance", "history"):
            assert spark[key] == duck[key], key


def test_audience_exports_agree(stores: dict[str, tuple[DMP, dict[str, Any]]]) -> None:
    duck, spark = stores["duckdb"][1], stores["spark"][1]
    first, second = duck["syncs"]
    assert first["first_sync"] and first["added"] == first["members"] > 2
    assert not second["first_sync"] and second["added"] == 0
    assert second["removed"] == second["skipped_holdout"] > 0
    assert second["unchanged"] + second["skipped_holdout"] == second["members"] == \
        first["members"]
    kinds = [k for k, _ in duck["files"]]
    assert kinds.count("full") == 1 and "removed" in kinds
    full = next(rows for k, rows in duck["files"] if k == "full")
    assert {r["email"] for r in full} <= {_email(i) for i in range(PEOPLE)}
    assert spark["syncs"] == duck["syncs"]
    assert spark["files"] == duck["files"]


def _rows_of(engine: Engine, table: str, column: str, values: list[str]) -> int:
    t = engine.table(table)
    f = t.filter(t[column].isin(values))
    return int(engine.execute(f.aggregate(n=f.count())).column("n")[0].as_py())


def test_erasure_agrees(stores: dict[str, tuple[DMP, dict[str, Any]]]) -> None:
    """Erasing one person by e-mail removes their events, identities and profile on both
    engines and leaves everybody else's rows as they were."""
    reports, left = {}, {}
    for name, (dmp, _) in stores.items():
        eng = dmp.engine
        pid = dmp.identity.profile_of("email", _email(ERASED))
        assert pid is not None
        before = {t: eng.count(t) for t in ("events", "identities", "profiles")}
        mine = {"events": _rows_of(eng, "events", "user_id", [f"user-{ERASED:02d}"]),
                "identities": _rows_of(eng, "identities", "profile_id", [pid]),
                "profiles": _rows_of(eng, "profiles", "profile_id", [pid])}
        assert all(mine.values())
        report = dmp.privacy.erase("email", _email(ERASED))
        assert report["status"] == "done"
        after = {t: eng.count(t) for t in before}
        assert after == {t: before[t] - mine[t] for t in before}
        assert _rows_of(eng, "events", "user_id", [f"user-{ERASED:02d}"]) == 0
        assert _rows_of(eng, "identities", "profile_id", [pid]) == 0
        assert _rows_of(eng, "profiles", "profile_id", [pid]) == 0
        with pytest.raises(NotFoundError):
            dmp.identity.profile_of("email", _email(ERASED))
        p = eng.table("profiles")
        left[name] = eng.execute(p.select("profile_id", "orders_total", "revenue_total")
                                 .order_by("profile_id")).to_pylist()
        reports[name] = {k: v for k, v in report["rows"].items() if v}
    assert len(left["duckdb"]) == PEOPLE - 1
    assert left["spark"] == left["duckdb"]
    assert reports["spark"] == reports["duckdb"]
