"""Descriptive statistics of traits (everyone, a segment beside everyone), the RFM grid and
recommendations, from Python, the command line and REST (issue 18).

MovieLens-100K users through the real importer: the statistics must equal pandas' over
``u.user`` itself (943 users, mean age 34.05, median 31).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from aidmp import DMP
from aidmp.api.app import create_app
from aidmp.demo.datasets import default_datasets_dir, load_dataset
from aidmp.errors import ValidationError
from tests.cli.test_cli import aidmp, js


@pytest.fixture(scope="module")
def movielens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DMP]:
    dmp = DMP(home=tmp_path_factory.mktemp("ml") / "home")
    load_dataset(dmp, "movielens", default_datasets_dir() / "movielens-100k")
    dmp.build()
    yield dmp
    dmp.close()


@pytest.fixture(scope="module")
def users() -> pd.DataFrame:
    return pd.read_csv(default_datasets_dir() / "movielens-100k" / "u.user", sep="|",
                       names=["user_id", "age", "gender", "occupation", "zip"])


def test_population_and_segment_statistics_equal_pandas(movielens: DMP,
                                                        users: pd.DataFrame) -> None:
    report = movielens.profiles.describe("age,occupation")
    assert report["profiles"] == 943
    age = report["traits"]["age"]["population"]
    assert age["count"] == 943 and age["missing"] == 0
    assert age["mean"] == pytest.approx(users["age"].mean())
    assert age["std"] == pytest.approx(users["age"].std())
    assert age["median"] == users["age"].median() == 31
    assert (age["min"], age["max"]) == (7.0, 73.0)
    assert age["p25"] == pytest.approx(users["age"].quantile(0.25))
    top = report["traits"]["occupation"]["population"]["top"]
    expected = users["occupation"].value_counts().head(5)
    assert [(t["value"], t["count"]) for t in top] == list(expected.items())
    assert top[0]["share"] == pytest.approx(196 / 943)  # students

    movielens.segments.create("seniors", rule="age >= 50")
    seg = movielens.segments.describe("seniors", ["age", "gender"])
    older = users[users["age"] >= 50]
    assert seg["segment"] == len(older) and seg["profiles"] == 943
    assert seg["traits"]["age"]["segment"]["mean"] == pytest.approx(older["age"].mean())
    assert seg["traits"]["age"]["population"]["mean"] == pytest.approx(users["age"].mean())
    men = next(t for t in seg["traits"]["gender"]["segment"]["top"] if t["value"] == "M")
    assert men["count"] == int((older["gender"] == "M").sum())
    with pytest.raises(ValidationError) as err:
        movielens.profiles.describe(["agee"])
    assert err.value.field == "agee" and "valid traits:" in str(err.value)


def test_describe_rfm_and_recommend_from_cli_and_rest(movielens: DMP, tmp_path: Path) -> None:
    # REST over the same store
    with TestClient(create_app(movielens)) as client:
        key = movielens.keys.create("read").secret
        headers = {"Authorization": f"Bearer {key}"}
        got = client.get("/v1/stats/traits", params={"traits": "age"}, headers=headers)
        assert got.status_code == 200, got.text
        assert got.json()["traits"]["age"]["population"]["median"] == 31
        seg = client.get("/v1/segments/seniors/describe", params={"traits": "age"},
                         headers=headers)
        assert seg.status_code == 200 and seg.json()["segment"] == 125  # age >= 50 in u.user
        bad = client.get("/v1/stats/traits", params={"traits": "nope"}, headers=headers)
        assert bad.status_code == 400 and "nope" in bad.text

    # the command line over a small shop: RFM grid and segments, descriptive statistics
    home = tmp_path / "home"
    rows = [{"type": "track", "userId": f"u{i}", "event": "Order Completed",
             "messageId": f"m{i}_{j}",
             "timestamp": f"2026-0{1 + (i * j) % 6}-{1 + j:02d}T00:00:00Z",
             "properties": {"revenue": 10.0 + i}}
            for i in range(40) for j in range(1 + i % 5)]
    with DMP(home=home) as shop:  # stored through Python, read back through the CLI
        shop.events.ingest(rows, source="shop")
        shop.build()
    rfm = js(home, "profiles", "rfm")
    assert rfm["buyers"] == 40 == sum(map(sum, rfm["grid"]["counts"]))
    assert sum(s["people"] for s in rfm["segments"]) == 40
    assert sum(s["share"] for s in rfm["segments"]) == pytest.approx(1.0)
    text = aidmp(home, "profiles", "rfm").stdout
    assert "RFM segments" in text and "R \\ F" in text
    stats = js(home, "profiles", "describe", "--traits", "orders_total,rfm_segment")
    assert stats["traits"]["orders_total"]["population"]["mean"] == pytest.approx(len(rows) / 40)
    bad = aidmp(home, "profiles", "describe", "--traits", "ordrs", ok=False)
    assert bad.stderr.startswith("error: ordrs: unknown trait; valid traits:")


def test_recommend_from_the_command_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    rows = [{"type": "track", "userId": f"u{u}", "event": "Item Rated",
             "messageId": f"r{u}_{k}", "timestamp": "2026-01-01T00:00:00Z",
             "properties": {"item_id": f"i{(u + k) % 12}"}} for u in range(30) for k in range(4)]
    with DMP(home=home) as shop:
        shop.events.ingest(rows, source="web")
        shop.build()
        shop.models.fit_recommender(method="item_knn")
    out = js(home, "profiles", "recommend", "user_id:u3", "--n", "3")
    seen = {f"i{(3 + k) % 12}" for k in range(4)}
    assert len(out["items"]) == 3 and not seen & {i["item_id"] for i in out["items"]}
    assert [i["rank"] for i in out["items"]] == [1, 2, 3]
    missing = aidmp(home, "profiles", "recommend", "user_id:u3", "--model", "nope", ok=False)
    assert missing.returncode == 1 and "no model named 'nope'" in missing.stderr
