"""The public datasets load through the importer with figures equal to the raw files."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import orjson
import pytest

from aidmp.demo.datasets import load_dataset


def test_cdnow_orders_match_the_raw_file(dmp, datasets):
    lines = (datasets / "cdnow" / "CDNOW_master.txt").read_text().splitlines()[1:]
    parsed = [line.split() for line in lines]
    report = load_dataset(dmp, "cdnow")["orders"]
    assert (report.read, report.stored, report.quarantined) == (69_659, 69_659, 0)
    assert len(parsed) == 69_659
    per_customer = Counter(str(int(p[0])) for p in parsed)
    spend = sum(Decimal(p[3]) for p in parsed)
    rows = dmp.engine.sql(
        "SELECT user_id, count(*) AS n FROM events WHERE source = 'cdnow' GROUP BY user_id"
    ).to_pylist()
    assert len(rows) == 23_570
    assert {r["user_id"]: r["n"] for r in rows} == dict(per_customer)
    total = dmp.engine.sql(
        "SELECT sum(CAST(json_extract(properties, '$.revenue') AS DECIMAL(18, 2))) AS s, "
        "min(timestamp) AS lo, max(timestamp) AS hi FROM events").to_pylist()[0]
    assert total["s"] == spend
    assert (total["lo"].date().isoformat(), total["hi"].date().isoformat()) == (
        "1997-01-01", "1998-06-30")
    # idempotent: the 215 exact duplicate lines are kept (keyed by line), a reload adds nothing
    assert load_dataset(dmp, "cdnow")["orders"].stored == 0


def test_movielens_users_ratings_and_items(dmp, datasets):
    reports = load_dataset(dmp, "movielens")
    assert {k: r.stored for k, r in reports.items()} == {
        "users": 943, "ratings": 100_000, "items": 1682}
    t = dmp.engine.sql(
        "SELECT traits FROM events WHERE type = 'identify' AND user_id = '1'").to_pylist()
    assert orjson.loads(t[0]["traits"]) == {"age": 24, "gender": "M", "occupation": "technician",
                                            "zip_code": "85711"}
    raw = [line.split("\t") for line in (datasets / "movielens-100k" / "u.data").read_text()
           .splitlines()]
    students = dmp.engine.sql(
        "SELECT count(*) AS n FROM events WHERE type = 'identify' "
        "AND json_extract_string(traits, '$.occupation') = 'student'").to_pylist()[0]["n"]
    assert students == sum(1 for line in (datasets / "movielens-100k" / "u.user").read_text()
                           .splitlines() if line.split("|")[3] == "student")
    mean = dmp.engine.sql(
        "SELECT avg(CAST(json_extract(properties, '$.rating') AS DOUBLE)) AS m FROM events "
        "WHERE event = 'Item Rated'").to_pylist()[0]["m"]
    assert mean == pytest.approx(sum(int(r[2]) for r in raw) / len(raw))
    toy = dmp.engine.sql("SELECT * FROM items WHERE item_id = '1'").to_pylist()[0]
    assert toy["name"] == "Toy Story (1995)"
    assert orjson.loads(toy["attributes"])["genres"] == ["Animation", "Children's", "Comedy"]


def test_groceries_baskets(dmp, datasets):
    assert load_dataset(dmp, "groceries")["baskets"].stored == 9835
    row = dmp.engine.sql(
        "SELECT count(DISTINCT p.product_id) AS items, sum(1) AS lines FROM ("
        "  SELECT unnest(from_json(json_extract(properties, '$.products'),"
        "                          '[{\"product_id\": \"VARCHAR\"}]')) AS p FROM events)"
    ).to_pylist()[0]
    raw_lines = (datasets / "groceries" / "groceries.csv").read_text().splitlines()
    assert row["items"] == 169
    assert row["lines"] == sum(len(line.split(",")) for line in raw_lines)
