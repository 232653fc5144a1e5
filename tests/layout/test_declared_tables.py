"""Every table a working store holds is declared (issue 14): erasure, encryption, access export
and the Spark path find personal data only through ``aidmp.store.schema``."""

from __future__ import annotations

from pathlib import Path

from aidmp import DMP
from aidmp.demo.ingest import run_demo
from aidmp.store.schema import DERIVED, TABLES, declared


def test_every_table_of_a_built_and_synced_store_is_declared(tmp_path: Path) -> None:
    with DMP(home=tmp_path / "home") as dmp:
        run_demo(dmp, people=40, seed=11)
        dmp.build()
        dmp.segments.create("buyers", 'event("Order Completed")')
        dmp.audiences.add_destination({"type": "file", "name": "drop", "min_audience": 1,
                                       "folder": str(tmp_path / "out")})
        dmp.audiences.sync("buyers", "drop")
        tables = dmp.engine.tables()
    undeclared = [t for t in tables if declared(t) is None and t != "_aidmp_schema"]
    assert undeclared == []
    assert {"profiles", "event_profiles", "campaign_costs", "destinations",
            "sync_state_drop"} <= set(tables)


def test_derived_tables_with_personal_data_name_the_person() -> None:
    for spec in DERIVED:
        if spec.pii and spec.key:
            assert spec.person_columns, spec.name
    assert all(declared(name) is spec for name, spec in TABLES.items())


def test_a_name_no_declaration_matches_is_undeclared() -> None:
    assert declared("my_scratch_table") is None
    assert declared("sync_state_x") is not None
