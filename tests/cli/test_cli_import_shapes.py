"""From a raw invoice-line export to profiles with the CLI alone (issue 17): a YAML mapping with
derived revenue, refund routing and order grouping; the build and the quality report say what
the data lacks and what it holds (negative quantities, outliers, refunds)."""

from __future__ import annotations

import json

from tests.cli.test_cli import aidmp, js
from tests.unit.test_import_mappings import INVOICES

MAPPING = """
source: retail
event: Order Completed
user_id_column: CustomerID
timestamp_column: InvoiceDate
timestamp_format: "%m/%d/%Y %H:%M"
where: CustomerID IS NOT NULL
derive:
  revenue: Quantity * UnitPrice
event_when:
  Order Refunded: "InvoiceNo LIKE 'C%'"
lines:
  order_id_column: InvoiceNo
  products: {StockCode: product_id, Description: name, Quantity: quantity, UnitPrice: price}
"""


def test_invoice_lines_to_profiles_with_the_cli(tmp_path):
    home = tmp_path / "home"
    data = tmp_path / "online_retail.csv"
    data.write_text(INVOICES)
    mapping = tmp_path / "lines.yaml"
    mapping.write_text(MAPPING)
    out = js(home, "import", str(data), "--mapping", str(mapping))
    assert (out["read"], out["dropped"], out["orders"], out["stored"]) == (11, 2, 5, 5)
    build = aidmp(home, "build")
    assert "warning" not in build.stderr
    ann = js(home, "profiles", "get", "user_id:17850")["profile"]
    assert (ann["orders_total"], ann["refunds"]) == (2, 1)
    assert round(ann["revenue_total"], 2) == round(15.3 + 20.34 + 22.0 + 11.1 - 4.65, 2)

    # the same lines one event each, without revenue: the build says what that disables
    plain = tmp_path / "plain.yaml"
    plain.write_text("source: lines\nevent: Order Completed\nuser_id_column: CustomerID\n"
                     "timestamp_column: InvoiceDate\ntimestamp_format: '%m/%d/%Y %H:%M'\n"
                     "row_identity: occurrence\n")
    other = tmp_path / "other"
    imported = js(other, "import", str(data), "--mapping", str(plain))
    assert (imported["stored"], imported["quarantined"]) == (9, 2)  # 2 lines have no customer
    warned = aidmp(other, "build")
    assert "warning: no 'revenue' on any 'Order Completed' event" in warned.stderr
    assert "RFM monetary (rfm_m)" in warned.stderr
    report = json.loads(aidmp(other, "quality", "report", "--json").stdout)
    assert report["missing_inputs"][0].startswith("no 'revenue'")
    props = report["sources"]["lines"]["contents"]["properties"]
    assert props["Quantity"]["negative"] == 2 and props["Quantity"]["values"] == 9
    # quartiles 6 and 6: the cancellations (-1), 8 and 32 lie outside
    assert props["Quantity"]["outliers"] == 4 and props["Quantity"]["fences"] == [6.0, 6.0]
    assert report["sources"]["lines"]["contents"]["refunds"] == 0
    text = aidmp(other, "quality", "report")
    assert "lines: event properties" in text.stdout and "Quantity" in text.stdout
    assert "warning: no 'revenue'" in text.stderr


def test_flags_and_bad_expressions_are_one_line_errors(tmp_path):
    data = tmp_path / "online_retail.csv"
    data.write_text(INVOICES)
    mapping = tmp_path / "bad.yaml"
    mapping.write_text(MAPPING.replace("Quantity * UnitPrice", "Qty * UnitPrice"))
    proc = aidmp(tmp_path / "home", "import", str(data), "--mapping", str(mapping), ok=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: derive.revenue: 'Qty * UnitPrice': unknown column "
                                  "'Qty'; valid columns: InvoiceNo, StockCode, Description")
    assert "Traceback" not in proc.stderr
    # the same keys as flags: the first line's customer becomes a typed CRM id
    out = js(tmp_path / "home", "import", str(data), "--source", "crm", "--type", "identify",
             "--identifier", "CustomerID=crm_id", "--where", "CustomerID IS NOT NULL",
             "--derive", "value=Quantity * UnitPrice", "--column-type", "StockCode=string")
    assert (out["read"], out["dropped"], out["stored"], out["duplicates"]) == (11, 2, 8, 1)
    bad = aidmp(tmp_path / "home", "import", str(data), "--source", "x", "--event", "E",
                "--user-id-column", "CustomerID", "--derive", "revenue", ok=False)
    assert bad.stderr.strip() == "error: --derive: expected NAME=EXPRESSION, got 'revenue'"
