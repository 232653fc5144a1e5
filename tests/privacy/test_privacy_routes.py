"""Bad input on the privacy routes: a 400 naming the field, never a 5xx, no identifier echoed."""

from __future__ import annotations

import httpx
import pyarrow as pa

from aidmp import DMP
from aidmp.api.server import ServerThread


def test_privacy_routes_refuse_bad_input_naming_the_field(dmp: DMP) -> None:
    dmp.engine.write_table("profiles", pa.table({"profile_id": ["p1", "p2"], "age": [30.0, 60.0]}))
    dmp.segments.create("old", "age >= 50")
    admin = dmp.keys.create("admin", source="ops").secret
    h = {"Authorization": f"Bearer {admin}"}
    cases = [
        ("/v1/privacy/dp/segment-sizes", {"segment_ids": ["old"], "epsilon": -1}, "epsilon"),
        ("/v1/privacy/dp/segment-sizes", {"segment_ids": ["old"], "epsilon": 50.0}, "epsilon"),
        ("/v1/privacy/dp/overlaps", {"segment_ids": ["old"], "epsilon": 1.0}, "segment_ids"),
        ("/v1/privacy/erasure", {"id_type": "email"}, "id_value"),
        ("/v1/privacy/erasure", {"id_type": "shoe_size", "id_value": "a@b.c"}, "id_type"),
        ("/v1/privacy/access", {"id_type": "email", "id_value": ""}, "id_value"),
    ]
    with ServerThread(dmp) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
        for path, body, field in cases:
            r = c.post(path, json=body, headers=h)
            assert r.status_code == 400, (path, body, r.status_code, r.text)
            assert r.json()["field"] == field, (path, r.json())
            assert "a@b.c" not in r.text
