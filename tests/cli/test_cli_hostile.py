"""What a client sent must not break or drive the terminal (issue 16): ``aidmp profiles events``
shows deep stored properties depth-limited and escapes control characters in tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from aidmp import DMP
from aidmp.engine.base import arrow_schema
from aidmp.store.schema import TABLES
from tests.cli.test_cli import aidmp, js


def test_timeline_with_hostile_stored_data(tmp_path):
    home = tmp_path / "home"
    now = datetime.now(UTC)
    deep = '{"a":' * 600 + "1" + "}" * 600  # stored before the depth limit existed
    rows = []
    for mid, event, props in (("m-deep", "Deep", deep),
                              ("m-esc", "Evil\x1b[2J\x07[bold]name", '{"x": 1}')):
        row = {c.name: None for c in TABLES["events"].columns}
        row.update(message_id=mid, type="track", event=event, user_id="victim", timestamp=now,
                   received_at=now, source="web", event_date=now.date(), properties=props)
        rows.append(row)
    with DMP(home=home) as dmp:
        dmp.engine.append("events", pa.Table.from_pylist(rows,
                                                         schema=arrow_schema(TABLES["events"])))
        dmp.build()
    out = js(home, "profiles", "events", "user_id:victim")
    assert out["total"] == 2
    deep_props = next(e["properties"] for e in out["events"] if e["message_id"] == "m-deep")
    for _ in range(32):
        deep_props = deep_props["a"]
    assert deep_props == "<nested deeper than 32 levels>"
    table = aidmp(home, "profiles", "events", "user_id:victim").stdout
    assert "\x1b" not in table and "\x07" not in table
    assert "Evil\\x1b[2J\\x07[bold]name" in table  # shown escaped, markup not applied
