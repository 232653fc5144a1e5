"""The demo-data generator: determinism, Segment realism, funnel, identity, CRM dirt, truth."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from aidmp.demo.generator import (
    DemoConfig,
    DemoGenerator,
    estimate_events_per_person,
    people_for_events,
)

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
CONFIG = DemoConfig(people=400, seed=11)


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def gen() -> DemoGenerator:
    return DemoGenerator(CONFIG)


@pytest.fixture(scope="module")
def msgs(gen: DemoGenerator) -> list[dict[str, Any]]:
    return [m for batch in gen.event_batches(3_000) for m in batch]


@pytest.fixture(scope="module")
def truth(gen: DemoGenerator) -> dict[tuple[str, str], str]:
    df = gen.truth()
    assert df.select("id_type", "id_value").is_duplicated().sum() == 0  # one person per id
    return {(t, v): p for t, v, p in df.iter_rows()}


@pytest.fixture(scope="module")
def people(gen: DemoGenerator) -> dict[str, dict[str, Any]]:
    return {row["person_id"]: row for row in gen.people().iter_rows(named=True)}


@pytest.fixture(scope="module")
def big_crm() -> tuple[pl.DataFrame, pl.DataFrame, DemoConfig]:
    """People and CRM of 6000 people (no events: cheap), for rate checks."""
    config = DemoConfig(people=6000, seed=3)
    g = DemoGenerator(config)
    crm = g._crm_full()
    return crm, g.people(), config


def person_of(m: dict[str, Any], truth: dict[tuple[str, str], str]) -> str:
    return truth[("anonymous_id", m["anonymousId"])]


# ------------------------------------------------------------------ determinism and format


def test_same_seed_same_output_and_other_seed_differs() -> None:
    a = DemoGenerator(DemoConfig(people=60, seed=5))
    b = DemoGenerator(DemoConfig(people=60, seed=5))
    c = DemoGenerator(DemoConfig(people=60, seed=6))
    ma = [m for batch in a.event_batches() for m in batch]
    assert ma == [m for batch in b.event_batches() for m in batch]
    assert a.people().equals(b.people())
    assert a.crm().equals(b.crm())
    assert a.truth().equals(b.truth())
    assert a.catalog().equals(b.catalog())
    mc = [m for batch in c.event_batches() for m in batch]
    assert {m["messageId"] for m in ma}.isdisjoint(m["messageId"] for m in mc)
    assert not a.people().equals(c.people())
    assert not a.catalog().equals(c.catalog())


def test_stream_does_not_depend_on_batch_size_or_chunking() -> None:
    gen = DemoGenerator(DemoConfig(people=50, seed=2, chunk_people=20))
    small = list(gen.event_batches(7))
    assert all(len(b) == 7 for b in small[:-1]) and 1 <= len(small[-1]) <= 7
    flat = [m for b in small for m in b]
    assert flat == [m for b in gen.event_batches(100_000) for m in b]
    assert len({m["messageId"] for m in flat}) == len(flat)  # unique across chunks too


def test_write_files_match_the_stream(tmp_path: Path) -> None:
    gen = DemoGenerator(DemoConfig(people=40, seed=9))
    files = gen.write(tmp_path / "out")
    assert sorted(files) == ["catalog.csv", "crm.csv", "events.ndjson", "people.csv", "truth.csv"]
    lines = files["events.ndjson"].read_text().splitlines()
    assert [json.loads(line) for line in lines] == [m for b in gen.event_batches() for m in b]
    crm = pl.read_csv(files["crm.csv"], infer_schema=False)
    assert crm.columns == ["crm_id", "first_name", "last_name", "email", "phone", "birth_date",
                           "postcode", "country", "loyalty_tier", "signup_date"]
    assert len(crm) == len(gen.crm())
    assert len(pl.read_csv(files["truth.csv"])) == len(gen.truth())
    people = pl.read_csv(files["people.csv"], infer_schema=False)
    assert len(people) == 40 and people["interests"].str.contains(r"^[a-z|]+$").all()
    assert len(pl.read_csv(files["catalog.csv"])) == 480


def _json_ready(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_ready(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_json_ready(v) for v in value)
    return value is None or isinstance(value, str | int | float | bool)


def test_messages_look_like_segment_payloads(msgs: list[dict[str, Any]]) -> None:
    assert len({m["messageId"] for m in msgs}) == len(msgs)
    for m in msgs:
        assert _json_ready(m)
        assert UUID.match(m["messageId"]) and UUID.match(m["anonymousId"])
        assert ISO.match(m["timestamp"]) and ISO.match(m["sentAt"])
        assert m["anonymousId"] or m["userId"]
        ctx = m["context"]
        assert ctx["library"] == {"name": "analytics.js", "version": "next-1.72.0"}
        assert re.match(r"^\d+\.\d+\.\d+\.\d+$", ctx["ip"]) and ctx["userAgent"].startswith(
            "Mozilla/5.0")
        assert ctx["locale"] in {"en-US", "en-GB", "de-DE", "fr-FR"}
        assert ctx["page"]["url"].startswith("https://shop.example.com/")
        if m["type"] == "page":
            assert m["name"] and set(m["properties"]) == {"path", "referrer", "search", "title",
                                                           "url"}
            assert m["properties"]["url"] == ctx["page"]["url"]
        elif m["type"] == "track":
            assert m["event"] in {"Product Viewed", "Product Added", "Checkout Started",
                                  "Order Completed"}
        else:
            assert m["type"] == "identify" and re.match(r"^u_\d{6}$", m["userId"])
            assert {"email", "first_name", "last_name", "address", "created_at"} <= set(
                m["traits"])
    types = Counter(m["type"] for m in msgs)
    assert types["page"] > types["track"] > types["identify"] > 0


def test_campaign_context_on_paid_sessions(msgs: list[dict[str, Any]]) -> None:
    pairs = Counter((m["context"]["campaign"]["source"], m["context"]["campaign"]["medium"])
                    for m in msgs if "campaign" in m["context"])
    assert set(pairs) == {("google", "cpc"), ("facebook", "paid_social"),
                          ("newsletter", "email")}
    landings = [m for m in msgs if m["type"] == "page" and "utm_source=" in m["properties"]["url"]]
    assert landings and all("campaign" in m["context"] for m in landings)
    share = sum("campaign" in m["context"] for m in msgs) / len(msgs)
    assert 0.3 < share < 0.7  # paid + email sessions; the rest is organic / direct / referral


# ------------------------------------------------------------------ funnel and orders


def test_funnel_drops_off_realistically(msgs: list[dict[str, Any]]) -> None:
    n = Counter(m.get("event") for m in msgs if m["type"] == "track")
    viewed, added = n["Product Viewed"], n["Product Added"]
    checkout, completed = n["Checkout Started"], n["Order Completed"]
    assert viewed > added > checkout > completed > 0
    assert 0.22 < added / viewed < 0.38
    assert 0.25 < checkout / added < 0.5
    assert 0.6 < completed / checkout < 0.8


def test_order_revenue_is_the_sum_of_its_products(msgs: list[dict[str, Any]],
                                                  gen: DemoGenerator) -> None:
    prices = dict(gen.catalog().select("product_id", "price").iter_rows())
    started = {m["properties"]["order_id"]: m for m in msgs if m.get("event") == "Checkout Started"}
    orders = [m for m in msgs if m.get("event") == "Order Completed"]
    assert len(orders) > 50
    for m in orders:
        p = m["properties"]
        assert re.match(r"^ord_[0-9a-f]{16}$", p["order_id"])
        assert p["products"] and all(x["quantity"] >= 1 for x in p["products"])
        assert all(x["price"] == prices[x["product_id"]] for x in p["products"])
        assert p["revenue"] == pytest.approx(sum(x["price"] * x["quantity"]
                                                 for x in p["products"]), abs=1e-6)
        assert p["total"] == pytest.approx(p["revenue"] + p["shipping"], abs=1e-6)
        assert p["shipping"] == (0.0 if p["revenue"] >= 50 else 4.99)
        co = started[p["order_id"]]  # every order went through checkout, with the same cart
        assert co["properties"]["products"] == p["products"]
        assert ts(co["timestamp"]) < ts(m["timestamp"])
    assert len({m["properties"]["order_id"] for m in orders}) == len(orders)


def test_currency_follows_the_country(msgs: list[dict[str, Any]],
                                      truth: dict[tuple[str, str], str],
                                      people: dict[str, dict[str, Any]]) -> None:
    currency = {"US": "USD", "GB": "GBP", "DE": "EUR", "FR": "EUR"}
    for m in msgs:
        if m.get("event") in {"Order Completed", "Product Viewed"}:
            person = people[person_of(m, truth)]
            assert m["properties"]["currency"] == currency[person["country"]]


def test_products_come_mostly_from_interests(msgs: list[dict[str, Any]],
                                             truth: dict[tuple[str, str], str],
                                             people: dict[str, dict[str, Any]]) -> None:
    views = [m for m in msgs if m.get("event") == "Product Viewed"]
    hits = sum(m["properties"]["category"] in people[person_of(m, truth)]["interests"]
               for m in views)
    assert hits / len(views) > 0.75


# ------------------------------------------------------------------ identity


def test_identify_only_for_people_who_identify(msgs: list[dict[str, Any]],
                                               truth: dict[tuple[str, str], str],
                                               people: dict[str, dict[str, Any]]) -> None:
    identifies = [m for m in msgs if m["type"] == "identify"]
    assert identifies
    for m in identifies:
        person = truth[("user_id", m["userId"])]
        assert person == person_of(m, truth)  # the identify call links anonymousId and userId
        assert people[person]["identifies"] and people[person]["user_id"] == m["userId"]
        assert truth[("email", m["traits"]["email"])] == person
        assert m["traits"]["email"].lower() == people[person]["email"]
        if "phone" in m["traits"]:
            assert m["traits"]["phone"] == people[person]["phone_e164"]
    user_ids = {m["userId"] for m in identifies}
    assert len(user_ids) == len({truth[("user_id", u)] for u in user_ids})
    anonymous_people = {p for p, row in people.items() if row["online"] and not row["identifies"]}
    assert 0.2 < len(anonymous_people) / sum(r["online"] for r in people.values()) < 0.4
    for m in msgs:
        if person_of(m, truth) in anonymous_people:
            assert m["userId"] is None


def test_user_id_only_after_the_identify_call_on_that_device(
        msgs: list[dict[str, Any]], truth: dict[tuple[str, str], str]) -> None:
    by_device: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in msgs:
        by_device[m["anonymousId"]].append(m)
    logged_in = 0
    for device_msgs in by_device.values():
        device_msgs.sort(key=lambda m: (m["timestamp"], m["type"] != "page"))
        seen_identify = False
        for m in device_msgs:
            seen_identify = seen_identify or m["type"] == "identify"
            assert (m["userId"] is not None) == seen_identify
            if m["userId"]:
                assert truth[("user_id", m["userId"])] == person_of(m, truth)
        logged_in += seen_identify
    assert 0 < logged_in < len(by_device)  # some devices never log in
    people_devices = Counter(truth[("anonymous_id", a)] for a in by_device)
    assert set(people_devices.values()) <= {1, 2, 3} and max(people_devices.values()) >= 2


def test_truth_covers_every_emitted_identifier(msgs: list[dict[str, Any]],
                                               truth: dict[tuple[str, str], str],
                                               gen: DemoGenerator) -> None:
    for m in msgs:
        assert ("anonymous_id", m["anonymousId"]) in truth
        if m["userId"]:
            assert ("user_id", m["userId"]) in truth
        if m["type"] == "identify":
            assert ("email", m["traits"]["email"]) in truth
            if "phone" in m["traits"]:
                assert ("phone", m["traits"]["phone"]) in truth
    for row in gen.crm().iter_rows(named=True):
        crm_person = truth[("crm_id", row["crm_id"])]
        for kind in ("email", "phone"):
            if row[kind] is not None:
                assert truth[(kind, row[kind])] == crm_person
    emitted_anonymous = {m["anonymousId"] for m in msgs}
    assert {v for t, v in truth if t == "anonymous_id"} == emitted_anonymous


# ------------------------------------------------------------------ time


def test_timestamps_inside_window_and_sent_after(msgs: list[dict[str, Any]],
                                                 gen: DemoGenerator) -> None:
    skew = dict(gen.devices().select("anonymous_id", "clock_skew_ms").iter_rows())
    end = CONFIG.end
    start = end - timedelta(days=CONFIG.days)
    delays = []
    for m in msgs:
        t, sent = ts(m["timestamp"]), ts(m["sentAt"])
        assert sent >= t  # the same (possibly skewed) device clock stamps both
        delays.append((sent - t).total_seconds())
        if skew[m["anonymousId"]] == 0:
            assert start <= t < end
        else:
            assert start - timedelta(days=2) <= t < end + timedelta(days=2)
    batched = sum(d > 60 for d in delays) / len(delays)
    assert 0.02 < batched < 0.09  # offline queues flushed minutes later
    assert sorted(delays)[len(delays) // 2] < 1.0  # most messages leave within a second
    assert any(v != 0 for v in skew.values())


def test_timestamp_order_within_each_person(msgs: list[dict[str, Any]],
                                            truth: dict[tuple[str, str], str]) -> None:
    last: dict[str, str] = {}
    order: list[str] = []
    for m in msgs:
        person = person_of(m, truth)
        assert m["timestamp"] >= last.get(person, "")
        if person not in last:
            order.append(person)
        last[person] = m["timestamp"]
    assert order == sorted(order)  # persons one after the other


def test_sessions_cluster_in_evenings_and_weekends(msgs: list[dict[str, Any]]) -> None:
    pages = pl.DataFrame({
        "ts": [ts(m["timestamp"]) for m in msgs if m["type"] == "page"],
        "tz": [m["context"]["timezone"] for m in msgs if m["type"] == "page"],
    })
    local = pl.concat(
        part.select(pl.col("ts").dt.convert_time_zone(str(tz)).dt.replace_time_zone(None))
        for (tz,), part in pages.partition_by("tz", as_dict=True).items()
    )["ts"]
    hours = local.dt.hour()
    evening = hours.is_between(18, 22).mean()
    night = hours.is_between(1, 6).mean()
    assert isinstance(evening, float) and isinstance(night, float)
    assert evening > 0.3 and evening > 4 * night
    weekend = (local.dt.weekday() >= 6).mean()
    assert isinstance(weekend, float) and weekend > 2 / 7 + 0.05


def test_lifecycle_shapes_activity(msgs: list[dict[str, Any]], truth: dict[tuple[str, str], str],
                                   people: dict[str, dict[str, Any]], gen: DemoGenerator) -> None:
    skew = dict(gen.devices().select("anonymous_id", "clock_skew_ms").iter_rows())
    first: dict[str, datetime] = {}
    last: dict[str, datetime] = {}
    for m in msgs:
        if skew[m["anonymousId"]]:
            continue
        p, t = person_of(m, truth), ts(m["timestamp"])
        first[p] = min(first.get(p, t), t)
        last[p] = max(last.get(p, t), t)
    end, span = CONFIG.end, timedelta(days=CONFIG.days)
    for p, t in last.items():
        lc = people[p]["lifecycle"]
        if lc == "churned":
            assert t < end - span * 0.33 + timedelta(days=1)
        if lc == "new":
            assert first[p] > end - span * 0.25 - timedelta(days=1)
    per_person = Counter(person_of(m, truth) for m in msgs)
    by_lc: dict[str, list[int]] = defaultdict(list)
    for p, row in people.items():
        if row["online"]:
            by_lc[row["lifecycle"]].append(per_person[p])
    mean = {lc: sum(v) / len(v) for lc, v in by_lc.items()}
    assert mean["active"] > mean["lapsing"] > mean["churned"]


# ------------------------------------------------------------------ people, catalog, CRM


def test_people_have_realistic_attributes(people: dict[str, dict[str, Any]]) -> None:
    phone = {"US": r"^\(\d{3}\) \d{3}-\d{4}$", "GB": r"^(0\d{2,3} \d{3,4} \d{4}|07\d{3} \d{6})$",
             "DE": r"^0\d{2,3} \d{7,8}$", "FR": r"^0\d( \d\d){4}$"}
    emails = set()
    for row in people.values():
        assert re.match(phone[row["country"]], row["phone"]), row["phone"]
        assert re.match(r"^\+\d{10,13}$", row["phone_e164"])
        assert re.match(r"^[a-z0-9._-]+@[a-z-]+\.example$", row["email"]), row["email"]
        emails.add(row["email"])
        assert 1 <= len(row["interests"]) <= 3 and len(set(row["interests"])) == len(
            row["interests"])
        assert row["lifecycle"] in {"new", "active", "lapsing", "churned"}
        assert 0 < row["propensity"] < 1
        assert (row["user_id"] is not None) == row["identifies"]
        assert row["city"] and row["postcode"]
    assert len(emails) == len(people)
    countries = Counter(r["country"] for r in people.values())
    assert set(countries) == {"US", "GB", "DE", "FR"} and countries.most_common(1)[0][0] == "US"


def test_catalog_prices_are_price_points(gen: DemoGenerator) -> None:
    cat = gen.catalog()
    assert cat["product_id"].n_unique() == len(cat) == CONFIG.products
    assert cat["category"].n_unique() == 8
    cents = (cat["price"] * 100).round().cast(pl.Int64) % 100
    assert (cents == 99).all()
    medians = dict(cat.group_by("category").agg(pl.col("price").median()).iter_rows())
    assert medians["electronics"] > medians["fashion"] > medians["grocery"]
    assert cat["popularity"].sum() == pytest.approx(8.0, abs=1e-3)


def _digits(phone: str) -> str:
    return re.sub(r"\D", "", phone)


def test_crm_dirt_rates(big_crm: tuple[pl.DataFrame, pl.DataFrame, DemoConfig]) -> None:
    crm, people, config = big_crm
    rows = crm.unique(maintain_order=True).join(
        people.select(pl.col("person_id").alias("_person_id"),
                      pl.col("email").alias("clean_email"), pl.col("phone").alias("clean_phone"),
                      pl.col("phone_e164").alias("e164"), pl.col("first_name").alias("f"),
                      pl.col("last_name").alias("l")),
        on="_person_id")
    n = len(rows)
    assert n > 2000
    has_email = rows.filter(pl.col("email").is_not_null())
    missing = 1 - len(has_email) / n
    assert abs(missing - config.crm_missing_email_rate) < 0.01
    dirty = has_email.filter(pl.col("email") != pl.col("clean_email"))
    assert (dirty["email"].str.strip_chars().str.to_lowercase() == dirty["clean_email"]).all()
    assert abs(len(dirty) / len(has_email) - config.crm_email_dirt_rate) < 0.03
    phones = rows.filter(pl.col("phone").is_not_null())
    other = phones.filter(pl.col("phone") != pl.col("clean_phone"))
    assert abs(len(other) / len(phones) - config.crm_phone_format_rate) < 0.03
    for got, e164, clean in other.select("phone", "e164", "clean_phone").iter_rows():
        nsn = _digits(clean).lstrip("0") if not clean.startswith("(") else _digits(clean)
        assert _digits(got).endswith(nsn) and _digits(e164).endswith(nsn), (got, clean)
    typos = rows.filter(
        (pl.col("first_name") != pl.col("f")) | (pl.col("last_name") != pl.col("l")))
    assert abs(len(typos) / n - config.crm_typo_rate) < 0.012
    duplicates = len(crm) - crm.n_unique()
    assert duplicates == round(n * config.crm_duplicate_rate) > 0
    in_crm = people.filter("in_crm")
    assert len(in_crm) == n
    registered = people.filter("identifies")
    assert abs(registered["in_crm"].mean() - config.crm_share) < 0.04  # type: ignore[operator]
    assert in_crm.filter(~pl.col("online")).height > 0  # store-only customers


# ------------------------------------------------------------------ sizing


def test_event_count_scales_linearly_with_people(msgs: list[dict[str, Any]],
                                                 gen: DemoGenerator) -> None:
    per_person = len(msgs) / CONFIG.people
    assert 40 <= per_person <= 60
    assert abs(len(msgs) / gen.estimate_events() - 1) < 0.2
    half = DemoGenerator(DemoConfig(people=200, seed=12))
    n_half = sum(len(b) for b in half.event_batches())
    assert 0.8 < 2 * n_half / len(msgs) < 1.25
    target = len(msgs)
    assert abs(people_for_events(target) / CONFIG.people - 1) < 0.2
    assert estimate_events_per_person(DemoConfig(sessions_per_person=11)) > 1.8 * (
        estimate_events_per_person(DemoConfig()))
    assert 180_000 < people_for_events(10_000_000) < 240_000


def test_config_is_validated() -> None:
    with pytest.raises(ValueError):
        DemoConfig(people=0)
    with pytest.raises(ValueError):
        DemoConfig(crm_share=1.5)
    with pytest.raises(ValueError):
        DemoConfig(end=datetime(2026, 11, 1))  # naive
    assert DemoConfig().end == datetime(2026, 11, 1, tzinfo=UTC)
