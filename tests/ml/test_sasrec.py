"""SASRec (issue 22): learns a planted order, repeats with a seed, saves and loads exactly,
says why, tells a user without PyTorch what to install, and fits from the store via CLI/REST.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from aidmp.errors import ValidationError
from aidmp.ml.recommend import Hybrid, Interactions, Popularity, leave_last_out
from aidmp.ml.recommend.sasrec import INSTALL_HINT, SASRec
from aidmp.ml.registry import ModelRegistry

N_ITEMS, N_USERS, LENGTH = 24, 80, 9
FAST = {"max_len": 8, "dim": 16, "epochs": 40, "lr": 0.01, "dropout": 0.0, "batch_size": 32}


def planted(seed: int = 0) -> Interactions:
    """Every user walks the catalogue in one fixed cyclic order from a random start."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(N_USERS):
        start = int(rng.integers(N_ITEMS))
        rows += [(f"u{user:03d}", f"i{(start + step) % N_ITEMS:02d}", step)
                 for step in range(LENGTH)]
    frame = pl.DataFrame(rows, schema=["user", "item", "t"], orient="row")
    data = Interactions.from_frame(frame, "user", "item", time_col="t", action="viewed")
    return data.with_labels({f"i{i:02d}": f"Item {i}" for i in range(N_ITEMS)})


@pytest.fixture(scope="module")
def split() -> tuple[Interactions, Interactions]:
    return leave_last_out(planted())


@pytest.fixture(scope="module")
def fitted(split: tuple[Interactions, Interactions]) -> SASRec:
    return SASRec(**FAST, random_state=7).fit(split[0])


def test_planted_order_predicts_the_next_item(split: tuple[Interactions, Interactions],
                                               fitted: SASRec) -> None:
    train, test = split
    top = fitted.recommend_all(1)
    truth = np.empty(train.shape[0], np.int64)
    truth[test.users] = test.items
    accuracy = float(np.mean(top.items[:, 0] == truth))
    # Chance is 1 in the 16 items a user has not seen; popularity cannot know the order.
    assert accuracy > 0.9
    popular = Popularity().fit(train).recommend_all(1)
    assert float(np.mean(popular.items[:, 0] == truth)) < 0.2


def test_the_reason_names_recent_history_items(split: tuple[Interactions, Interactions],
                                               fitted: SASRec) -> None:
    train, _ = split
    recs = fitted.recommend(["u000", "u001"], n=3)
    history = {u: set(train.item_ids[train.items[train.users == pos]].tolist())
               for pos, u in enumerate(train.user_ids.tolist())}
    for row in recs.iter_rows(named=True):
        assert row["reason"].startswith("because you viewed Item ")
        assert row["reason"].endswith(" recently")
        assert row["reason_item_id"] in history[row["user_id"]]
        label = f"Item {int(row['reason_item_id'][1:])}"
        assert label in row["reason"]
    # A recommended item's reason names up to two items of the window the model read.
    window = fitted.history_[train.user_index(["u000"])[0]]
    named = set(recs.filter(pl.col("user_id") == "u000")["reason_item_id"].to_list())
    assert named <= set(train.item_ids[window[window >= 0]].tolist())


def test_same_seed_same_model(split: tuple[Interactions, Interactions],
                              fitted: SASRec) -> None:
    again = SASRec(**FAST, random_state=7).fit(split[0])
    assert np.array_equal(again.weights_["item.weight"], fitted.weights_["item.weight"])
    assert np.array_equal(again.user_states_, fitted.user_states_)
    assert np.array_equal(again.recommend_all(5).scores, fitted.recommend_all(5).scores)


def test_registry_round_trip_scores_identically(tmp_path: Path, fitted: SASRec) -> None:
    from aidmp import DMP

    dmp = DMP(home=tmp_path)
    try:
        registry = ModelRegistry(dmp.engine, tmp_path / "models")
        version = registry.register("next_item", fitted, kind="recommend")
        loaded = registry.load("next_item", version)
    finally:
        dmp.close()
    assert loaded.device_ == "cpu"
    assert np.array_equal(loaded.recommend_all(10).scores, fitted.recommend_all(10).scores)
    assert loaded.recommend(["u003"], n=5).equals(fitted.recommend(["u003"], n=5))
    # The saved state_dict rebuilds the network, which encodes the histories as at fit time.
    import torch

    with torch.no_grad():
        hidden, _ = loaded.network().eval()(torch.as_tensor(loaded.history_ + 1))
    assert np.allclose(hidden[:, -1].numpy(), fitted.user_states_, atol=1e-5)


def test_without_torch_fit_says_what_to_install_and_saved_models_still_serve(
        tmp_path: Path, fitted: SASRec) -> None:
    import joblib

    joblib.dump(fitted, tmp_path / "model.joblib")
    script = textwrap.dedent(f"""
        import importlib.abc, sys
        class NoTorch(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None
        sys.meta_path.insert(0, NoTorch())
        import joblib
        from aidmp.errors import ConfigError
        from aidmp.ml.recommend.sasrec import SASRec
        model = joblib.load({str(tmp_path / "model.joblib")!r})
        print(model.recommend(["u000"], n=1)["item_id"][0])
        try:
            SASRec().fit(model.interactions_)
        except ConfigError as exc:
            print(exc)
        print("torch" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=True)
    served, message, loaded_torch = done.stdout.strip().splitlines()
    assert served == fitted.recommend(["u000"], n=1)["item_id"][0]
    assert message.startswith("torch: the deep-learning recommenders need PyTorch")
    assert INSTALL_HINT in message and INSTALL_HINT == "pip install 'aidmp[deep]'"
    assert loaded_torch == "False"


def test_bad_input_names_the_field(split: tuple[Interactions, Interactions]) -> None:
    train, _ = split
    for params, field in (({"heads": 3}, "heads"), ({"dropout": 1.0}, "dropout"),
                          ({"device": "tpu"}, "device"), ({"max_len": 0}, "max_len")):
        with pytest.raises(ValidationError) as err:
            SASRec(**params).fit(train)
        assert err.value.field == field
    timeless = Interactions.from_frame(pl.DataFrame({"u": ["a", "a"], "i": ["x", "y"]}), "u", "i")
    with pytest.raises(ValidationError) as err:
        SASRec().fit(timeless)
    assert err.value.field == "time_col"


def test_as_a_hybrid_component(split: tuple[Interactions, Interactions],
                               fitted: SASRec) -> None:
    train, test = split
    blend = Hybrid(SASRec(**FAST, random_state=8), Popularity(), weight=0.8).fit(train)
    # Another seed is another model (and the hybrid fitted its own clone).
    assert not np.array_equal(blend.first_.user_states_, fitted.user_states_)
    truth = np.empty(train.shape[0], np.int64)
    truth[test.users] = test.items
    assert float(np.mean(blend.recommend_all(1).items[:, 0] == truth)) > 0.9
    assert blend.recommend(["u000"], n=1)["reason"][0].startswith("because you viewed")


def _store(home: Path) -> None:
    """A shop whose visitors view products in the planted cyclic order, one a minute."""
    from aidmp import DMP

    rng = np.random.default_rng(1)
    events = []
    for user in range(40):
        start = int(rng.integers(N_ITEMS))
        for step in range(LENGTH):
            events.append({
                "type": "track", "event": "Product Viewed", "userId": f"u{user}",
                "messageId": f"v{user}-{step}",
                "timestamp": f"2026-11-01T{user // 6:02d}:{10 * (user % 6) + step:02d}:00Z",
                "properties": {"product_id": f"p{(start + step) % N_ITEMS:02d}"}})
    with DMP(home=home) as dmp:
        dmp.events.ingest(events, source="shop")
        dmp.identity.resolve()


def test_cli_and_rest_fit_sasrec_from_the_store(tmp_path: Path) -> None:
    import json

    import typer
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from aidmp import DMP
    from aidmp.api.app import create_app
    from aidmp.cli import models as models_cli

    home = tmp_path / "home"
    _store(home)
    cli = typer.Typer()
    cli.add_typer(models_cli.app, name="models")
    params = json.dumps({**FAST, "epochs": 60})
    done = CliRunner().invoke(cli, [
        "models", "fit", "recommend", "--name", "next", "--method", "sasrec", "--event",
        "Product Viewed", "--set", "item_property=product_id", "--set", f"params={params}",
        "--home", str(home), "--json"])
    assert done.exit_code == 0, done.output
    row = json.loads(done.output)
    assert row["params"]["method"] == "sasrec"
    assert row["metrics"]["protocol"].startswith("leave-last-out by time")
    # Each held-out view is the planted next product: far above popularity's NDCG@10.
    assert row["metrics"]["hit_rate@10"] > 0.9
    assert row["metrics"]["popularity_ndcg@10"] < 0.3

    with DMP(home=home) as dmp:
        client = TestClient(create_app(dmp))
        admin = {"Authorization": f"Bearer {dmp.keys.create('admin', source='t').secret}"}
        body = {"kind": "recommend", "options": {
            "method": "hybrid", "event": "Product Viewed", "item_property": "product_id",
            "params": {"first": "sasrec", "second": "popularity", "weight": 0.9,
                       "first_params": {**FAST, "epochs": 60}}}}
        fitted = client.post("/v1/models/blend/fit?wait=true", json=body, headers=admin)
        assert fitted.status_code == 200, fitted.text
        assert fitted.json()["metrics"]["hit_rate@10"] > 0.9
        bad = client.post("/v1/models/bad/fit?wait=true", headers=admin, json={
            "kind": "recommend", "options": {"method": "sasrec", "event": "Product Viewed",
                                             "item_property": "product_id",
                                             "params": {"heads": 0}}})
        assert bad.status_code == 400 and bad.json()["field"] == "heads"
        recs = client.get("/v1/profiles/user_id:u0/recommendations?model=next&n=1",
                          headers=admin)
    assert recs.status_code == 200, recs.text
    # u0's latest view is p(start + 8); the planted next product is p(start + 9).
    start = int(np.random.default_rng(1).integers(N_ITEMS))
    top = recs.json()["items"][0]
    assert top["item_id"] == f"p{(start + 9) % N_ITEMS:02d}"
    assert top["reason"].startswith("because you viewed p")
