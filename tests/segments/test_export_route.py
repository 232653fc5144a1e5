"""``POST /v1/segments/{id}/export`` refuses bad input before any work: 400 naming the field."""

from __future__ import annotations

from pathlib import Path

import httpx

from aidmp import DMP
from aidmp.api.server import ServerThread


def test_export_route_refuses_an_unknown_format_and_segment(tmp_path: Path) -> None:
    dmp = DMP(home=tmp_path / "home")
    key = dmp.keys.create("admin", source="tests").secret
    auth = {"Authorization": f"Bearer {key}"}
    try:
        with ServerThread(dmp) as server:
            bad = httpx.post(f"{server.url}/v1/segments/buyers/export",
                             params={"format": "../../x"}, headers=auth)
            assert bad.status_code == 400 and bad.json()["field"] == "format"
            assert "../../x" not in bad.text  # the value is not echoed
            missing = httpx.post(f"{server.url}/v1/segments/buyers/export", headers=auth)
            assert missing.status_code == 404
            spec = httpx.get(f"{server.url}/openapi.json").json()
            params = spec["paths"]["/v1/segments/{segment_id}/export"]["post"]["parameters"]
            fmt = next(p for p in params if p["name"] == "format")
            assert set(fmt["schema"]["enum"]) == {"csv", "parquet"}
    finally:
        dmp.close()
