"""Expressive import mappings on real-shaped files (issue 17): derived columns, filters, event
routing, row identity, splits, line-item orders, column types, safe names, typed identifiers."""

from __future__ import annotations

from pathlib import Path

import orjson
import polars as pl
import pytest

from aidmp.errors import ValidationError
from aidmp.spec.imports import ImportMapping, load_mapping

# The shape of the UCI "Online Retail" export: one row per invoice line, cancellations are
# invoices prefixed 'C' with negative quantities, some lines have no customer, one line repeats.
INVOICES = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom
536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850,United Kingdom
536365,84406B,CREAM CUPID HEARTS COAT HANGER,8,12/1/2010 8:26,2.75,17850,United Kingdom
536366,22633,HAND WARMER UNION JACK,6,12/1/2010 8:28,1.85,17850,United Kingdom
536367,84879,ASSORTED COLOUR BIRD ORNAMENT,32,12/1/2010 8:34,1.69,13047,United Kingdom
536367,22745,POPPY'S PLAYHOUSE BEDROOM,6,12/1/2010 8:34,2.10,13047,United Kingdom
536367,22745,POPPY'S PLAYHOUSE BEDROOM,6,12/1/2010 8:34,2.10,13047,United Kingdom
C536379,D,Discount,-1,12/1/2010 9:41,27.50,14527,United Kingdom
C536383,35004C,SET OF 3 COLOURED  FLYING DUCKS,-1,12/1/2010 9:49,4.65,17850,United Kingdom
536414,22139,,56,12/1/2010 11:52,0.00,,United Kingdom
536544,21773,DECORATIVE ROSE BATHROOM BOTTLE,1,12/1/2010 14:32,2.51,,United Kingdom
"""


def invoices(tmp_path: Path) -> Path:
    path = tmp_path / "online_retail.csv"
    path.write_text(INVOICES)
    return path


LINES = dict(
    source="retail", event="Order Completed", user_id_column="CustomerID",
    timestamp_column="InvoiceDate", timestamp_format="%m/%d/%Y %H:%M",
    derive={"revenue": "Quantity * UnitPrice"},
    event_when={"Order Refunded": "InvoiceNo LIKE 'C%'"},
    where="CustomerID IS NOT NULL",
    lines={"order_id_column": "InvoiceNo",
           "products": {"StockCode": "product_id", "Description": "name",
                        "Quantity": "quantity", "UnitPrice": "price"}},
)


def stored(dmp) -> dict[str, dict]:
    return {r["message_id"]: r for r in dmp.events.tail(100)}


def test_line_items_become_one_order_per_invoice_with_products_and_summed_revenue(dmp, tmp_path):
    report = dmp.imports.file(invoices(tmp_path), ImportMapping(**LINES))
    assert (report.read, report.dropped, report.quarantined) == (11, 2, 0)
    assert (report.orders, report.stored, report.duplicates) == (5, 5, 0)
    events = stored(dmp)
    first = events["retail:536365:Order Completed"]
    props = orjson.loads(first["properties"])
    assert first["user_id"] == "17850" and first["event"] == "Order Completed"
    assert props["order_id"] == "536365"
    assert props["revenue"] == pytest.approx(6 * 2.55 + 6 * 3.39 + 8 * 2.75)
    assert [p["product_id"] for p in props["products"]] == ["85123A", "71053", "84406B"]
    assert props["products"][0] == {"product_id": "85123A", "quantity": 6, "price": 2.55,
                                    "name": "WHITE HANGING HEART T-LIGHT HOLDER"}
    assert props["Country"] == "United Kingdom"
    assert first["timestamp"].isoformat() == "2010-12-01T08:26:00+00:00"
    # the repeated line is two lines of one invoice (content identity within a group is moot)
    assert orjson.loads(events["retail:536367:Order Completed"]["properties"])[
        "revenue"] == pytest.approx(32 * 1.69 + 2 * 6 * 2.10)
    refund = events["retail:C536379:Order Refunded"]
    assert refund["event"] == "Order Refunded"
    assert orjson.loads(refund["properties"])["revenue"] == pytest.approx(-27.5)
    again = dmp.imports.file(invoices(tmp_path), ImportMapping(**LINES))
    assert (again.stored, again.duplicates) == (0, 5)


def test_derived_columns_routing_and_where_on_plain_lines(dmp, tmp_path):
    m = ImportMapping(**{**LINES, "lines": None, "row_identity": "occurrence"})
    report = dmp.imports.file(invoices(tmp_path), m)
    assert (report.read, report.dropped, report.stored, report.duplicates) == (11, 2, 9, 0)
    rows = [r for r in dmp.events.tail(100)]
    refunds = [r for r in rows if r["event"] == "Order Refunded"]
    assert len(refunds) == 2
    assert sorted(orjson.loads(r["properties"])["revenue"] for r in refunds) == [-27.5, -4.65]
    # 'occurrence' keeps the repeated line and still stores nothing twice
    assert dmp.imports.file(invoices(tmp_path), m).stored == 0
    content = ImportMapping(**{**LINES, "lines": None, "source": "retail2"})
    assert dmp.imports.file(invoices(tmp_path), content).stored == 8  # the repeat is one


def test_position_identity_is_stable_for_the_same_file(dmp, tmp_path):
    m = ImportMapping(**{**LINES, "lines": None, "row_identity": "position"})
    assert dmp.imports.file(invoices(tmp_path), m).stored == 9
    assert dmp.imports.file(invoices(tmp_path), m).stored == 0


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        ({"derive": {"revenue": "Qty * UnitPrice"}}, "derive.revenue",
         "'Qty * UnitPrice': unknown column 'Qty'; valid columns: InvoiceNo, StockCode"),
        ({"derive": {"revenue": "sum(Quantity)"}}, "derive.revenue",
         "function 'sum' is not allowed; functions: abs"),
        ({"derive": {"x": "(SELECT 1)"}}, "derive.x", "subquery is not allowed"),
        ({"where": "Quantity"}, "where", "not a condition"),
        ({"event_when": {"Order Refunded": "Invoice LIKE 'C%'"}}, "event_when.Order Refunded",
         "unknown column 'Invoice'"),
        ({"derive": {"revenue": "Quantity *"}}, "derive.revenue", "is not a SQL expression"),
    ],
)
def test_bad_expressions_name_the_key_the_expression_and_the_columns(dmp, tmp_path, change,
                                                                      field, text):
    with pytest.raises(ValidationError) as err:
        dmp.imports.file(invoices(tmp_path), ImportMapping(**{**LINES, **change}))
    assert err.value.field == field and text in err.value.message
    assert dmp.events.count() == 0  # nothing stored before the mapping was checked


def test_leading_zeros_kept_and_declared_types_applied(dmp, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("id,postcode,age,score,vip,joined,phone_ext\n"
                    "p1,0812,31,1.5,yes,2024-01-02,007\n"
                    "p2,2000,45,2,no,2024-02-03,12\n"
                    "p3,0200,x,3,maybe,2024-02-30,5\n")
    m = ImportMapping(source="people", type="identify", user_id_column="id",
                      types={"age": "int", "vip": "bool", "joined": "date"})
    report = dmp.imports.file(path, m)
    assert (report.stored, report.quarantined) == (2, 1)
    traits = {r["user_id"]: orjson.loads(r["traits"]) for r in dmp.events.tail()}
    assert traits["p1"] == {"postcode": "0812", "age": 31, "score": 1.5, "vip": True,
                            "joined": "2024-01-02", "phone_ext": "007"}
    assert traits["p2"]["postcode"] == "2000" and traits["p2"]["vip"] is False
    (q,) = dmp.quarantine.list()
    assert (q["row_number"], q["field"], q["reason"]) == (3, "age", "not a int: 'x'")
    assert orjson.loads(q["payload"])["postcode"] == "0200"  # the row as read


def test_unsafe_attribute_names_are_kept_under_safe_names_and_reported(dmp, tmp_path):
    path = tmp_path / "mall.csv"
    path.write_text("CustomerID,Gender,Age,Annual Income (k$),Spending Score (1-100),rate.var\n"
                    "0001,Male,19,15,39,0.5\n0002,Male,21,15,81,0.25\n")
    m = ImportMapping(source="mall", type="identify", user_id_column="CustomerID")
    report = dmp.imports.file(path, m)
    assert report.renamed == {"Annual Income (k$)": "annual_income_k",
                              "Spending Score (1-100)": "spending_score_1_100",
                              "rate.var": "rate_var"}
    dmp.build()
    row = dmp.profiles.get("user_id", "0001")["profile"]  # the id keeps its leading zeros
    assert (row["annual_income_k"], row["spending_score_1_100"], row["rate_var"]) == (
        15.0, 39.0, 0.5)


def test_split_genres_become_catalog_lists_and_interests_count_each(dmp, tmp_path):
    movies = tmp_path / "movies.csv"
    movies.write_text("movieId,title,genres\n1,Toy Story (1995),Adventure|Animation|Children\n"
                      "2,Heat (1995),Action|Crime|Thriller\n")
    ratings = tmp_path / "ratings.csv"
    ratings.write_text("userId,movieId,rating,timestamp\n1,1,5,964982703\n1,2,5,964982224\n"
                       "1,1,5,964982800\n")
    items = ImportMapping(source="movies", type="item", item_id_column="movieId",
                          name_column="title", split={"genres": "|"})
    assert dmp.imports.file(movies, items).stored == 2
    item = {r["item_id"]: r for r in dmp.engine.to_arrow("items").to_pylist()}["1"]
    assert orjson.loads(item["attributes"]) == {"genres": ["Adventure", "Animation", "Children"]}
    dmp.imports.file(ratings, ImportMapping(
        source="ratings", event="Item Rated", user_id_column="userId",
        timestamp_column="timestamp", timestamp_format="unix",
        rename={"movieId": "item_id"}))
    dmp.build()
    interests = dmp.profiles.get("user_id", "1")["interests"]
    assert set(interests) == {"adventure", "animation", "children", "action", "crime",
                              "thriller"}
    assert interests["animation"] == 1.0 and 0 < interests["crime"] < 1.0


def test_a_yaml_mapping_file_with_every_shape_key(dmp, tmp_path):
    path = tmp_path / "lines.yaml"
    path.write_text("""
source: retail
event: Order Completed
user_id_column: CustomerID
timestamp_column: InvoiceDate
timestamp_format: "%m/%d/%Y %H:%M"
where: CustomerID IS NOT NULL AND Quantity <> 0
event_when:
  Order Refunded: "starts_with(InvoiceNo, 'C')"
lines:
  order_id_column: InvoiceNo
  revenue: Quantity * UnitPrice
  products: {StockCode: product_id, Quantity: quantity, UnitPrice: price}
""")
    m = load_mapping(path)
    report = dmp.imports.file(invoices(tmp_path), m)
    assert (report.orders, report.stored) == (5, 5)
    bad = tmp_path / "bad.yaml"
    bad.write_text("source: x\nuser_id_column: c\nevent: E\nlines: {order_id_column: n, sku: s}\n")
    with pytest.raises(ValidationError) as err:
        load_mapping(bad)
    assert err.value.field == "lines.sku" and "valid keys: order_id_column" in err.value.message


def test_identifier_types_come_from_the_mapping_never_from_the_source_name(dmp, tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text("CustomerID,email\n17850,ann@x.io\n13047,bob@x.io\n")
    dmp.imports.file(path, ImportMapping(source="crm", type="identify",
                                         user_id_column="CustomerID"))
    dmp.build()
    # a source called crm no longer turns user ids into crm_id
    assert dmp.profiles.get("user_id", "17850")["profile"]["email"] == "ann@x.io"
    dmp.imports.file(path, ImportMapping(source="shop-crm", type="identify",
                                         identifiers={"CustomerID": "crm_id"}))
    typed = sorted(orjson.loads(r["context"])["identifiers"]["crm_id"]
                   for r in dmp.events.tail(10) if r["source"] == "shop-crm" and not r["user_id"])
    assert typed == ["13047", "17850"]
    dmp.build()
    got = dmp.profiles.get("crm_id", "13047")
    assert {(i["id_type"], i["id_value"]) for i in got["identities"]} >= {
        ("crm_id", "13047"), ("email", "bob@x.io")}
    with pytest.raises(ValidationError) as err:
        dmp.imports.file(path, ImportMapping(source="x", type="identify",
                                             identifiers={"CustomerID": "loyalty_id"}))
    assert err.value.field == "identifiers.CustomerID"
    assert "unknown identifier type 'loyalty_id'; valid types: user_id, crm_id" in \
        err.value.message and "context.identifiers.loyalty_id" in err.value.message


def test_quarantined_line_replays_through_the_mapping(dmp, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("InvoiceNo,Quantity,UnitPrice,InvoiceDate,CustomerID\n"
                    "1,2,3.5,12/01/2010 08:00,c1\n2,1,4,13/01/2010 08:00,c2\n")
    m = ImportMapping(source="o", event="Order Completed", user_id_column="CustomerID",
                      timestamp_column="InvoiceDate", timestamp_format="%m/%d/%Y %H:%M",
                      derive={"revenue": "Quantity * UnitPrice"}, message_id_column="InvoiceNo")
    assert dmp.imports.file(path, m).quarantined == 1
    replay = dmp.quarantine.replay(mapping_overrides={"timestamp_format": "%d/%m/%Y %H:%M"})
    assert replay.stored == 1
    ev = stored(dmp)["o:2"]
    assert orjson.loads(ev["properties"])["revenue"] == 4.0
    assert ev["timestamp"].isoformat() == "2010-01-13T08:00:00+00:00"


def test_frames_with_unsafe_names_from_parquet(dmp, tmp_path):
    path = tmp_path / "x.parquet"
    pl.DataFrame({"user": ["u1"], "a b": [1]}).write_parquet(path)
    r = dmp.imports.file(path, ImportMapping(source="p", event="E", user_id_column="user"))
    assert r.renamed == {"a b": "a_b"}
    assert orjson.loads(dmp.events.tail(1)[0]["properties"]) == {"a_b": 1}


def test_campaign_exposures_become_touchpoints(dmp, tmp_path):
    sends = tmp_path / "email_sends.csv"
    sends.write_text("customer,sent_at,campaign,variant\nc1,2026-03-01,spring,A\n"
                     "c2,2026-03-01,spring,B\n")
    report = dmp.imports.file(sends, ImportMapping(
        source="esp", event="Email Delivered", user_id_column="customer",
        timestamp_column="sent_at", derive={"medium": "'email'"},
        context={"campaign.name": "campaign", "campaign.medium": "medium"}))
    assert report.stored == 2
    dmp.build()
    touches = dmp.engine.execute(dmp.campaigns.touchpoints()).to_pylist()
    assert sorted((t["channel"], t["campaign"]) for t in touches) == [("email", "spring")] * 2
    # the campaign columns went to the context only
    assert {orjson.loads(e["properties"])["variant"] for e in dmp.events.tail(2)} == {"A", "B"}
    assert all(set(orjson.loads(e["properties"])) == {"variant"} for e in dmp.events.tail(2))
