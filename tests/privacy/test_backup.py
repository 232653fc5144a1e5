"""Backup while the server runs, restore into a new home: every table equal (issue 19)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pyarrow as pa

from aidmp import DMP
from aidmp.api.server import ServerThread
from aidmp.privacy.backup import backup, restore
from tests.conftest import basic


def _sorted(t: pa.Table) -> pa.Table:
    return t.sort_by([(c, "ascending") for c in t.column_names
                      if not pa.types.is_nested(t.schema.field(c).type)])


def test_a_backup_taken_while_serving_restores_every_table(dmp: DMP, tmp_path: Path) -> None:
    key = dmp.keys.create("collect", source="web").secret
    with ServerThread(dmp) as srv:
        batch = [{"type": "identify", "userId": f"u{i}", "messageId": f"m{i}",
                  "traits": {"email": f"p{i}@x.com", "plan": "pro" if i % 2 else "free"}}
                 for i in range(50)]
        assert httpx.post(f"{srv.url}/v1/batch", json={"batch": batch},
                          headers=basic(key)).status_code == 200
        srv.flush()
        dmp.build()
        dmp.segments.create("pro", 'plan = "pro"')
        dmp.segments.refresh()
        snap = backup(dmp, tmp_path / "snap")  # the collector is running meanwhile
    assert snap["rows"]["events"] == 50 and snap["rows"]["segment_members"] == 25
    with DMP(home=tmp_path / "restored") as other:
        out = restore(other, Path(snap["folder"]))
        assert out["rows"] == snap["rows"]
        for table in dmp.engine.tables():
            assert _sorted(other.engine.to_arrow(table)).equals(
                _sorted(dmp.engine.to_arrow(table))), table
        assert other.segments.size("pro")["size"] == 25
