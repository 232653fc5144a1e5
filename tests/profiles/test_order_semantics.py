"""Orders are distinct order ids, revenue sums the lines, refunds subtract and are reported
(issue 17), on an invoice-line file shaped like the UCI Online Retail export; an incremental
build still gives what a full build gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from aidmp import DMP
from aidmp.spec.imports import ImportMapping
from tests.profiles.test_incremental_build import assert_same, profiles

HEADER = "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID\n"
# customer 17850: invoices 536365 (3 lines), 536366 (1 line), a cancellation C536383;
# customer 13047: one invoice of 2 lines
LINES = """536365,85123A,6,12/1/2010 8:26,2.55,17850
536365,71053,6,12/1/2010 8:26,3.39,17850
536365,84406B,8,12/1/2010 8:26,2.75,17850
536366,22633,6,12/1/2010 8:28,1.85,17850
536367,84879,32,12/1/2010 8:34,1.69,13047
536367,22745,6,12/1/2010 8:34,2.10,13047
C536383,35004C,-1,12/1/2010 9:49,4.65,17850
"""
MORE = """536390,22941,4,12/2/2010 10:19,8.50,13047
C536391,22745,-2,12/2/2010 10:24,2.10,13047
536392,21731,12,12/2/2010 10:25,1.65,99999
"""
COMMON = dict(source="retail", event="Order Completed", user_id_column="CustomerID",
              timestamp_column="InvoiceDate", timestamp_format="%m/%d/%Y %H:%M",
              derive={"revenue": "Quantity * UnitPrice"},
              event_when={"Order Refunded": "starts_with(InvoiceNo, 'C')"})
GROUPED = ImportMapping(**COMMON, lines={"order_id_column": "InvoiceNo",
                                         "products": {"StockCode": "product_id"}})
# the same file, one event per line, with the invoice number as the order id
PER_LINE = ImportMapping(**COMMON, rename={"InvoiceNo": "order_id"}, row_identity="occurrence")


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body)
    return path


def get(dmp: DMP, user: str) -> dict:
    return dmp.profiles.get("user_id", user)["profile"]


@pytest.mark.parametrize("mapping", [GROUPED, PER_LINE], ids=["grouped", "per-line"])
def test_orders_are_distinct_invoices_and_refunds_subtract(dmp: DMP, tmp_path: Path,
                                                           mapping: ImportMapping) -> None:
    dmp.imports.file(write(tmp_path, "a.csv", LINES), mapping)
    dmp.build()
    ann = get(dmp, "17850")
    gross = 6 * 2.55 + 6 * 3.39 + 8 * 2.75 + 6 * 1.85
    assert ann["orders_total"] == 2 and ann["rfm_frequency"] == 2
    assert ann["refunds"] == 1 and ann["refunds_total"] == pytest.approx(4.65)
    assert ann["revenue_total"] == pytest.approx(gross - 4.65)
    assert ann["rfm_monetary"] == pytest.approx(gross - 4.65)
    assert ann["avg_order_value"] == pytest.approx((gross - 4.65) / 2)
    bob = get(dmp, "13047")
    assert (bob["orders_total"], bob["refunds"], bob["refunds_total"]) == (1, 0, 0)
    assert bob["avg_order_value"] == pytest.approx(32 * 1.69 + 6 * 2.10)


def test_incremental_build_with_refunds_equals_a_full_build(dmp: DMP, tmp_path: Path) -> None:
    dmp.imports.file(write(tmp_path, "a.csv", LINES), PER_LINE)
    dmp.build()
    dmp.imports.file(write(tmp_path, "b.csv", MORE), PER_LINE)
    step = dmp.build()
    assert step.profiles_incremental
    incremental = profiles(dmp)
    dmp.build(full=True)
    assert_same(incremental, profiles(dmp))
    bob = get(dmp, "13047")
    assert (bob["orders_total"], bob["refunds"]) == (2, 1)
    assert bob["revenue_total"] == pytest.approx(32 * 1.69 + 6 * 2.10 + 4 * 8.50 - 2 * 2.10)


def test_counters_since_the_build_count_orders_and_refunds_like_the_build(
        dmp: DMP, tmp_path: Path) -> None:
    dmp.imports.file(write(tmp_path, "a.csv", LINES), PER_LINE)
    dmp.build()
    before = get(dmp, "13047")
    at = "2010-12-03T10:00:00Z"
    dmp.events.ingest([
        # two lines of one new order, and a refund
        {"type": "track", "event": "Order Completed", "userId": "13047", "messageId": "l1",
         "timestamp": at, "properties": {"order_id": "536400", "revenue": 10.0}},
        {"type": "track", "event": "Order Completed", "userId": "13047", "messageId": "l2",
         "timestamp": at, "properties": {"order_id": "536400", "revenue": 5.0}},
        {"type": "track", "event": "Order Refunded", "userId": "13047", "messageId": "r1",
         "timestamp": at, "properties": {"order_id": "C536401", "revenue": -4.0}},
    ], source="web")
    live = get(dmp, "13047")
    assert live["orders_total"] == before["orders_total"] + 1
    assert live["revenue_total"] == pytest.approx(before["revenue_total"] + 15.0 - 4.0)
    dmp.build()
    built = get(dmp, "13047")
    assert (built["orders_total"], built["refunds"]) == (live["orders_total"], 1)
    assert built["revenue_total"] == pytest.approx(live["revenue_total"])
