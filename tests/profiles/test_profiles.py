"""Profiles built from real data match the raw files; merge rules, RFM, interests, real time."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import polars as pl
import pytest

from aidmp import DMP
from aidmp.api.server import ServerThread
from aidmp.demo.datasets import cdnow_frame, load_dataset, movielens_frames
from aidmp.errors import NotFoundError
from aidmp.profiles.scores import RFM_SEGMENTS
from aidmp.spec.profiles import ProfileConfig, TraitRule
from tests.conftest import basic


def profiles_frame(dmp: DMP) -> pl.DataFrame:
    frame = pl.from_arrow(dmp.engine.to_arrow("profiles"))
    assert isinstance(frame, pl.DataFrame)
    return frame


def test_cdnow_orders_and_spend_equal_the_raw_file(dmp, datasets):
    load_dataset(dmp, "cdnow", datasets / "cdnow")
    # the file ends on 1998-06-30: built as of that day's end, windows and RFM recency count
    # back from it
    summary = dmp.build(as_of=datetime(1998, 6, 30, 23, 59, 59, tzinfo=UTC))
    raw = cdnow_frame(datasets / "cdnow").group_by("customer_id").agg(
        orders=pl.len(), spend=pl.col("revenue").sum())
    got = profiles_frame(dmp).select(
        pl.col("user_id").alias("customer_id"), "orders_total", "revenue_total")
    both = raw.join(got, on="customer_id", how="full", coalesce=True)
    assert summary.profiles == raw.height == 23_570
    assert both.filter(pl.col("orders") != pl.col("orders_total")).is_empty()
    assert (both["spend"] - both["revenue_total"]).abs().max() < 1e-6
    p = profiles_frame(dmp)
    # RFM: quantile scores in 1..5, a named segment for every buyer, frequency = orders
    for col in ("rfm_r", "rfm_f", "rfm_m"):
        assert p[col].min() == 1 and p[col].max() == 5
    assert set(p["rfm_segment"].unique()) <= set(RFM_SEGMENTS)
    assert (p["rfm_frequency"] == p["orders_total"]).all()
    # one-order customers share one F score (ties are not split at random)
    assert p.filter(pl.col("rfm_frequency") == 1)["rfm_f"].unique().to_list() == [1]
    champions = p.filter(pl.col("rfm_segment") == "champions")
    assert champions["rfm_frequency"].mean() > 3 * p["rfm_frequency"].mean() / 2
    # the newest orders (1998-06-30) are 0 days back from the data's end
    assert p["rfm_recency_days"].min() == 0
    # without an instant the reference time is the wall clock: the newest order is years back
    wall = dmp.build()
    assert wall.reference_time is not None and wall.as_of is None
    assert abs((datetime.now(UTC) - wall.reference_time).total_seconds()) < 600
    recency = profiles_frame(dmp)["rfm_recency_days"]
    assert recency.min() == (wall.reference_time - datetime(1998, 6, 30, tzinfo=UTC)).days


def test_movielens_users_keep_demographics_and_get_genre_interests(dmp, datasets):
    load_dataset(dmp, "movielens", datasets / "movielens-100k")
    dmp.build()
    p = profiles_frame(dmp).sort("user_id")
    frames = movielens_frames(datasets / "movielens-100k")
    users = frames["users"].sort("user_id")
    assert p.height == 943
    assert p["age"].cast(pl.Int64).to_list() == users["age"].to_list()
    assert p["gender"].to_list() == users["gender"].to_list()
    assert p["occupation"].to_list() == users["occupation"].to_list()
    counts = frames["ratings"].group_by("user_id").len()
    check = p.join(counts, on="user_id").filter(pl.col("events") != pl.col("len") + 1)
    assert check.is_empty()  # every rating plus the identify call
    # interests: the top genre of each user is 1.0; Sci-Fi ranking agrees with a direct count
    genre_cols = [c for c in p.columns if c.startswith("interest_")]
    assert len(genre_cols) >= 18
    assert (p.select(pl.max_horizontal(genre_cols)).to_series() - 1.0).abs().max() < 1e-9
    # the decayed formula computed independently from the raw files, for every user and genre:
    # I = sum over ratings of (rating / 5) * 0.5 ** (age_days / 30), divided by the user's max
    ratings = frames["ratings"]
    ref = ratings["timestamp"].max()
    contrib = ratings.join(frames["items"].select("item_id", "genres"), on="item_id").explode(
        "genres").with_columns(
        w=pl.col("rating") / 5 * (0.5 ** ((ref - pl.col("timestamp")) / 86400 / 30)))
    raw = contrib.group_by("user_id", "genres").agg(pl.col("w").sum())
    expected = raw.with_columns(
        score=pl.col("w") / pl.col("w").max().over("user_id")).filter(
        pl.col("genres") == "Sci-Fi").select("user_id", "score")
    got = p.select("user_id", "interest_sci_fi").join(expected, on="user_id", how="left")
    diff = (got["interest_sci_fi"] - got["score"].fill_null(0.0)).abs().max()
    assert diff < 1e-5


def test_merge_rules_and_provenance(dmp):
    cfg = ProfileConfig(trait_rules=[
        TraitRule(trait="name", rule="source_priority", sources=["store", "web"]),
        TraitRule(trait="plan", rule="first"),
        TraitRule(trait="score", rule="max"),
        TraitRule(trait="tag", rule="union")])
    dmp2 = DMP(home=dmp.home, engine=dmp.engine, profiles=cfg.model_dump())

    def ident(ts: str, source: str, **traits: object) -> None:
        dmp2.events.ingest([{"type": "identify", "userId": "u1", "traits": traits,
                             "timestamp": f"2026-01-{ts}T00:00:00Z"}], source=source)

    ident("01", "store", name="Ann Smith", plan="basic", score=7, tag="a")
    ident("02", "web", name="annie", plan="pro", score=3, tag="b",
          address={"city": "Paris", "country": "FR"})
    ident("03", "web", email="ANN@x.example", tag="a")
    dmp2.build()
    got = dmp2.profiles.get("user_id", "u1")
    traits = {t["key"]: t for t in got["traits"]}
    assert traits["name"]["value"] == "Ann Smith" and traits["name"]["source"] == "store"
    assert traits["plan"]["value"] == "basic"
    assert traits["score"]["value"] == "7"
    assert traits["tag"]["value"] == "a,b"
    assert traits["address_city"]["value"] == "Paris"
    assert str(traits["email"]["updated_at"]).startswith("2026-01-03")
    row = got["profile"]
    assert row["score"] == 7.0 and row["trait_email"] == "ANN@x.example"
    assert row["email"] == "ann@x.example"  # the normalised identifier
    assert dmp2.profiles.get("email", " Ann@X.example")["profile_id"] == got["profile_id"]


def test_unknown_identifier_and_no_build(dmp):
    with pytest.raises(NotFoundError, match="no profile has that email"):
        dmp.profiles.get("email", "nobody@x.example")


def test_an_order_shows_up_in_the_profile_at_once(dmp, write_key):
    dmp.events.ingest([{"type": "track", "userId": "u5", "event": "Order Completed",
                        "properties": {"revenue": 10.0}, "timestamp": "2026-01-01T00:00:00Z"}],
                      source="web")
    dmp.build()
    read = dmp.keys.create("read", source="ops").secret
    with ServerThread(dmp) as srv:
        r = httpx.post(f"{srv.url}/v1/track", headers=basic(write_key), json={
            "userId": "u5", "event": "Order Completed", "properties": {"revenue": 32.5},
            "timestamp": "2026-01-05T00:00:00Z"})
        assert r.status_code == 200
        got = httpx.get(f"{srv.url}/v1/profiles/user_id:u5",
                        headers={"Authorization": f"Bearer {read}"}).json()
        assert got["profile"]["orders_total"] == 2
        assert got["profile"]["revenue_total"] == 42.5
        assert got["since_build"]["orders_total"] == 1
        timeline = httpx.get(f"{srv.url}/v1/profiles/user_id:u5/events?size=1",
                             headers={"Authorization": f"Bearer {read}"}).json()
        assert timeline["total"] == 2 and len(timeline["events"]) == 1
        assert timeline["events"][0]["properties"] == {"revenue": 32.5}
        bad = httpx.get(f"{srv.url}/v1/profiles/nocolon",
                        headers={"Authorization": f"Bearer {read}"})
        assert bad.status_code == 400 and bad.json()["field"] == "id"
        missing = httpx.get(f"{srv.url}/v1/profiles/user_id:nobody",
                            headers={"Authorization": f"Bearer {read}"})
        assert missing.status_code == 404
        quality = httpx.get(f"{srv.url}/v1/quality",
                            headers={"Authorization": f"Bearer {read}"}).json()
        assert quality["sources"]["web"]["rows"] == 2
