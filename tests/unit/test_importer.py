"""File import: every format, mapping errors, quarantine with row numbers, idempotency, replay."""

from __future__ import annotations

import json

import orjson
import polars as pl
import pytest

from aidmp.errors import ValidationError
from aidmp.spec.imports import ImportMapping, load_mapping, mapping_from

ORDERS = pl.DataFrame({
    "order_id": ["o1", "o2", "o3", "o4", "o5"],
    "customer": ["c1", "c2", "", "c1", "c3"],
    "ordered_at": ["2026-10-01T10:00:00Z", "2026-10-02 11:30:00", "2026-10-03",
                   "not a date", "2026-10-05T08:00:00+02:00"],
    "amount": [10.5, 20.0, 30.0, 40.0, 50.25],
    "channel": ["web", "app", "web", "web", "store"],
})
MAPPING = ImportMapping(source="orders", event="Order Completed", user_id_column="customer",
                        timestamp_column="ordered_at", message_id_column="order_id",
                        rename={"amount": "revenue"})


def write(df: pl.DataFrame, path, fmt):
    if fmt == "csv":
        df.write_csv(path)
    elif fmt == "parquet":
        df.write_parquet(path)
    elif fmt == "ndjson":
        df.write_ndjson(path)
    else:
        path.write_text(json.dumps(df.to_dicts()))


@pytest.mark.parametrize("fmt", ["csv", "json", "ndjson", "parquet"])
def test_every_format_gives_the_same_events_and_quarantine(dmp, tmp_path, fmt):
    path = tmp_path / f"orders.{fmt}"
    write(ORDERS, path, fmt)
    report = dmp.imports.file(path, MAPPING)
    assert (report.read, report.stored, report.quarantined, report.duplicates) == (5, 3, 2, 0)
    events = {r["message_id"]: r for r in dmp.events.tail(10)}
    assert set(events) == {"orders:o1", "orders:o2", "orders:o5"}
    o5 = events["orders:o5"]
    assert o5["timestamp"].isoformat() == "2026-10-05T06:00:00+00:00"
    assert o5["event"] == "Order Completed" and o5["user_id"] == "c3"
    assert orjson.loads(o5["properties"]) == {"revenue": 50.25, "channel": "store"}
    q = {r["row_number"]: r for r in dmp.quarantine.list()}
    assert q[3]["field"] == "customer" and q[3]["reason"] == "missing: no user id or anonymous id"
    assert q[4]["field"] == "ordered_at"
    assert q[4]["reason"] == "cannot parse 'not a date' as ISO 8601"
    assert q[4]["file"] == str(path)


def test_reimporting_the_same_file_stores_nothing_twice(dmp, tmp_path):
    path = tmp_path / "orders.csv"
    ORDERS.write_csv(path)
    dmp.imports.file(path, MAPPING)
    again = dmp.imports.file(path, MAPPING)
    assert (again.stored, again.duplicates, again.quarantined) == (0, 3, 2)
    assert dmp.events.count() == 3
    assert dmp.quarantine.count() == 2


def test_without_an_id_column_rows_are_keyed_by_content(dmp, tmp_path):
    crm = pl.DataFrame({"crm_id": ["C1", "C2", "C1"], "email": ["a@x.io", "b@x.io", "a@x.io"]})
    path = tmp_path / "crm.csv"
    crm.write_csv(path)
    m = ImportMapping(source="crm", type="identify", user_id_column="crm_id")
    first = dmp.imports.file(path, m)
    assert (first.read, first.stored, first.duplicates) == (3, 2, 1)  # exact duplicate row
    assert dmp.imports.file(path, m).stored == 0
    traits = sorted(orjson.loads(r["traits"])["email"] for r in dmp.events.tail())
    assert traits == ["a@x.io", "b@x.io"]


def test_a_directory_imports_every_file(dmp, tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    ORDERS.head(2).write_csv(folder / "a.csv")
    ORDERS.tail(1).write_parquet(folder / "b.parquet")
    (folder / "notes.md").write_text("ignored")
    report = dmp.imports.file(folder, MAPPING)
    assert len(report.files) == 2 and report.stored == 3


def test_headerless_custom_delimited_unix_timestamps(dmp, tmp_path):
    path = tmp_path / "ratings.tsv"
    path.write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
    m = ImportMapping(source="ml", event="Item Rated", user_id_column="user",
                      timestamp_column="ts", timestamp_format="unix", delimiter="\t",
                      has_header=False, column_names=["user", "item", "rating", "ts"])
    assert dmp.imports.file(path, m).stored == 2
    rows = sorted(dmp.events.tail(), key=lambda r: r["user_id"])
    assert rows[0]["timestamp"].isoformat() == "1998-04-04T19:22:22+00:00"  # 891717742
    assert orjson.loads(rows[1]["properties"]) == {"item": 242, "rating": 3}


def test_items_go_to_the_catalog(dmp, tmp_path):
    path = tmp_path / "catalog.csv"
    pl.DataFrame({"sku": ["p1", "p2", ""], "title": ["Shoe", "Hat", "?"],
                  "price": ["19.99", "abc", "1"], "brand": ["A", "B", "C"]}).write_csv(path)
    m = ImportMapping(source="catalog", type="item", item_id_column="sku", name_column="title",
                      price_column="price")
    r = dmp.imports.file(path, m)
    assert (r.stored, r.quarantined) == (1, 2)
    item = dmp.engine.to_arrow("items").to_pylist()[0]
    assert (item["item_id"], item["price"], orjson.loads(item["attributes"])) == (
        "p1", 19.99, {"brand": "A"})
    reasons = {q["row_number"]: q["reason"] for q in dmp.quarantine.list()}
    assert reasons == {2: "not a number", 3: "missing item id"}


@pytest.mark.parametrize(
    ("values", "field", "text"),
    [
        ({"source": "s", "event": "E"}, "user_id_column", "give user_id_column"),
        ({"source": "s", "user_id_column": "u"}, "event", "need 'event'"),
        ({"source": "bad name!", "event": "E", "user_id_column": "u"}, "source", "pattern"),
        ({"source": "s", "event": "E", "user_id_column": "u", "timestamp_colum": "t"},
         "timestamp_colum", "unknown mapping key"),
        ({"source": "s", "type": "order", "user_id_column": "u"}, "type", "'track'"),
    ],
)
def test_mapping_errors_name_the_key(values, field, text):
    with pytest.raises(ValidationError) as info:
        mapping_from(values)
    assert info.value.field == field and text in info.value.message


def test_missing_columns_and_unreadable_files_are_clear_errors(dmp, tmp_path):
    path = tmp_path / "orders.csv"
    ORDERS.write_csv(path)
    m = MAPPING.model_copy(update={"user_id_column": "cust_id"})
    with pytest.raises(ValidationError) as info:
        dmp.imports.file(path, m)
    assert info.value.field == "user_id_column"
    assert "'cust_id' is not in the data; columns are: order_id, customer" in info.value.message
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(ValidationError, match=r"cannot read .*broken\.parquet as parquet"):
        dmp.imports.file(bad, MAPPING)
    xlsx = tmp_path / "x.xlsx"
    xlsx.write_text("")
    with pytest.raises(ValidationError, match=r"cannot tell the format of x\.xlsx"):
        dmp.imports.file(xlsx, MAPPING)
    assert dmp.events.count() == 0


def test_yaml_mapping_with_flag_overrides(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text("source: crm\ntype: identify\nuser_id_column: id\n")
    assert load_mapping(f, source="crm2").source == "crm2"


def test_replay_with_a_corrected_mapping_stores_and_marks_rows(dmp, tmp_path):
    path = tmp_path / "signups.csv"
    path.write_text("id,at\n1,31/12/2025\n2,01/01/2026\n3,\n")
    m = ImportMapping(source="crm", event="Signed Up", user_id_column="id",
                      timestamp_column="at", timestamp_format="%Y-%m-%d")
    assert dmp.imports.file(path, m).quarantined == 3
    report = dmp.quarantine.replay(mapping_overrides={"timestamp_format": "%d/%m/%Y"})
    assert report.to_dict() == {"tried": 3, "stored": 2, "duplicates": 0, "still_invalid": 1}
    assert sorted(r["timestamp"].date().isoformat() for r in dmp.events.tail()) == [
        "2025-12-31", "2026-01-01"]
    waiting = dmp.quarantine.list()
    assert [(r["row_number"], r["reason"]) for r in waiting] == [(3, "missing timestamp")]
    assert len(dmp.quarantine.list(include_replayed=True)) == 3
    # a second replay finds only the one still invalid
    assert dmp.quarantine.replay().tried == 1


def test_replay_of_collector_records(dmp):
    dmp.events.ingest([{"type": "track", "userId": "u1", "messageId": "q1"}], source="app")
    [row] = dmp.quarantine.list()
    assert row["kind"] == "collector" and row["field"] == "batch[0].event"
    assert dmp.quarantine.replay(ids=[row["id"]]).still_invalid == 1
    with pytest.raises(ValidationError, match="no waiting quarantine record"):
        dmp.quarantine.replay(ids=["nope"])
