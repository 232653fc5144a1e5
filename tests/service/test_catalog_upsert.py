"""Importing the catalog again updates changed items (one row per item, the newest values)."""

from __future__ import annotations

from pathlib import Path

from aidmp import DMP
from aidmp.spec.imports import ImportMapping


def test_reimported_catalog_updates_changed_items(tmp_path: Path) -> None:
    mapping = ImportMapping(source="shop", type="item", item_id_column="sku",
                            name_column="title", category_column="cat", price_column="price")
    first = tmp_path / "catalog.csv"
    first.write_text("sku,title,cat,price\nA1,Blue mug,Kitchen,9.5\nB2,Red pen,Office,1.2\n")
    second = tmp_path / "catalog2.csv"
    second.write_text("sku,title,cat,price\nA1,Blue mug,Kitchen,11.0\nC3,Lamp,Home,30\n")
    with DMP(home=tmp_path / "home") as dmp:
        assert dmp.imports.file(first, mapping).stored == 2
        dmp.imports.file(second, mapping)
        items = dmp.engine.execute(dmp.engine.table("items").order_by("item_id")).to_pylist()
    assert [(i["item_id"], i["price"]) for i in items] == [("A1", 11.0), ("B2", 1.2),
                                                          ("C3", 30.0)]
