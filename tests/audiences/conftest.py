"""A small real world: identify events -> build -> a rule segment, with consents.

500 users; ``plan = "pro"`` for u0..u399 (the segment ``pros``, 400 members). Every member has
an e-mail except u390..u399 (no e-mail, no phone). Consents: ``advertising`` withdrawn by
u0..u9 and granted by everyone else; u10..u59 granted ``email``; u60..u64 withdrew ``email``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from aidmp import DMP

T0 = datetime(2025, 6, 1, tzinfo=UTC)
USERS = 500
PROS = 400
NO_ID = range(390, 400)
ADS_WITHDRAWN = range(0, 10)
EMAIL_GRANTED = range(10, 60)
EMAIL_WITHDRAWN = range(60, 65)


def identify(i: int, plan: str, at: datetime, n: int = 0) -> dict[str, Any]:
    """One identify call with the traits of user ``i``."""
    traits: dict[str, Any] = {"plan": plan, "first_name": f"Ann-{chr(97 + i % 26)}",
                              "last_name": "O'Neil", "address": {"country": "US",
                                                                 "postal_code": "94103-1234"}}
    if i not in NO_ID:
        traits["email"] = f" User{i}@Example.COM "
        traits["phone"] = f"+1 415 555 {1000 + i:04d}"
    return {"type": "identify", "userId": f"u{i}", "messageId": f"id-{i}-{n}",
            "timestamp": at.isoformat(), "traits": traits}


def build_world(home: Path) -> DMP:
    dmp = DMP(home=home)
    msgs = [identify(i, "pro" if i < PROS else "free", T0) for i in range(USERS)]
    report = dmp.events.ingest(msgs, source="web")
    assert report.stored == USERS
    dmp.build()
    dmp.segments.create("Pros", rule='plan = "pro"')
    pid = profile_ids(dmp)
    # ad platforms send only people who granted advertising: everyone but the withdrawn did
    rows = [(i, "advertising", i not in ADS_WITHDRAWN) for i in range(USERS)]
    rows += [(i, "email", True) for i in EMAIL_GRANTED]
    rows += [(i, "email", False) for i in EMAIL_WITHDRAWN]
    schema = dmp.engine.table("consents").schema().to_pyarrow()
    dmp.engine.upsert("consents", pa.Table.from_pylist(
        [{"profile_id": pid[f"u{i}"], "purpose": p, "granted": g,
          "updated_at": T0, "source": "test"} for i, p, g in rows], schema=schema))
    return dmp


def profile_ids(dmp: DMP) -> dict[str, str]:
    """user id -> profile id."""
    rows = dmp.engine.execute(dmp.engine.table("profiles").select("user_id", "profile_id"))
    return dict(zip(rows.column("user_id").to_pylist(), rows.column("profile_id").to_pylist(),
                    strict=True))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DMP]:
    dmp = build_world(tmp_path_factory.mktemp("activate"))
    yield dmp
    dmp.close()


def churn(dmp: DMP, leave: range, join: range) -> None:
    """Re-identify some users with a new plan and rebuild (members leave / join)."""
    at = T0 + timedelta(days=1)
    msgs = [identify(i, "free", at, 1) for i in leave]
    msgs += [identify(i, "pro", at, 1) for i in join]
    dmp.events.ingest(msgs, source="web")
    dmp.build()
