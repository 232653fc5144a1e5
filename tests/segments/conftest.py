"""A small hand-built world with known segment answers.

Six people; orders at known days before ``AS_OF``; consents; a ``profiles`` table written by
hand (the columns ``dmp.profiles.build()`` makes: traits, an interest, a model score).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from aidmp import DMP

AS_OF = datetime(2025, 7, 1, tzinfo=UTC)

# user: age, gender, country, purchasing_power, interest_fashion, clv_12m, newsletter, email
TRAITS = {
    "u1": (30.0, "f", "DE", "high", 0.8, 900.0, True, "a@example.com"),
    "u2": (28.0, "m", "FR", "high", 0.6, 100.0, False, None),
    "u3": (40.0, "f", "DE", "medium", 0.9, 50.0, None, "c@example.com"),
    "u4": (25.0, "f", "US", "high", 0.7, 1200.0, True, "d@example.com"),
    "u5": (None, "m", "DE", "low", 0.1, None, True, None),
    "u6": (35.0, "x", "Deutschland", "high", 0.55, 20.0, False, "f@example.com"),
}
ORDERS = {  # user: (days before AS_OF, revenue)
    "u1": [(10, 60.0), (40, 80.0), (200, 400.0)],
    "u2": [(100, 30.0)],
    "u3": [(5, 20.0), (20, 70.0)],
    "u4": [(400, 1000.0)],
    "u5": [(50, 55.0), (60, 65.0), (70, 10.0)],
}


def order(user: str, at: datetime, revenue: float, n: int) -> dict[str, object]:
    """A Segment track message for one order."""
    return {"type": "track", "userId": user, "event": "Order Completed",
            "messageId": f"{user}-order-{n}-{at.isoformat()}", "timestamp": at.isoformat(),
            "properties": {"revenue": revenue, "currency": "EUR"}}


def messages() -> list[dict[str, object]]:
    out: list[dict[str, object]] = [
        {"type": "identify", "userId": u, "messageId": f"{u}-identify",
         "timestamp": (AS_OF - timedelta(days=500)).isoformat(), "traits": {"plan": "free"}}
        for u in TRAITS]
    for user, orders in ORDERS.items():
        out += [order(user, AS_OF - timedelta(days=d), rev, i)
                for i, (d, rev) in enumerate(orders)]
    return out


def write_profiles(dmp: DMP) -> dict[str, str]:
    """Write the hand-made ``profiles`` table; return user id -> profile id."""
    pid = {u: dmp.identity.profile_of("user_id", u) for u in TRAITS}
    cols = ["age", "gender", "country", "purchasing_power", "interest_fashion", "clv_12m",
            "newsletter", "email"]
    data: dict[str, list[object]] = {"profile_id": [pid[u] for u in TRAITS],
                                     "user_id": list(TRAITS)}
    for i, c in enumerate(cols):
        data[c] = [TRAITS[u][i] for u in TRAITS]
    types = {"age": pa.float64(), "interest_fashion": pa.float64(), "clv_12m": pa.float64(),
             "newsletter": pa.bool_()}
    table = pa.table({k: pa.array(v, type=types.get(k, pa.string())) for k, v in data.items()})
    dmp.engine.write_table("profiles", table)
    return pid


def write_consents(dmp: DMP, pid: dict[str, str]) -> None:
    rows = [("u1", "email", True), ("u3", "email", False), ("u4", "email", True),
            ("u4", "advertising", True)]
    schema = dmp.engine.table("consents").schema().to_pyarrow()
    dmp.engine.upsert("consents", pa.Table.from_pylist(
        [{"profile_id": pid[u], "purpose": p, "granted": g, "updated_at": AS_OF, "source": "t"}
         for u, p, g in rows], schema=schema))


def build_world(home: Path) -> tuple[DMP, dict[str, str]]:
    dmp = DMP(home=home)
    report = dmp.events.ingest(messages(), source="shop")
    assert report.stored == len(messages())
    dmp.identity.resolve()
    pid = write_profiles(dmp)
    write_consents(dmp, pid)
    return dmp, pid


@pytest.fixture()
def world(tmp_path: Path) -> Iterator[tuple[DMP, dict[str, str]]]:
    dmp, pid = build_world(tmp_path / "home")
    yield dmp, pid
    dmp.close()
