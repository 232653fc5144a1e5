"""Recommenders and their evaluation, checked on MovieLens-100K and on hand-made cases."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
import scipy.sparse as sp
from sklearn.metrics import ndcg_score
from sklearn.metrics.pairwise import cosine_similarity

from aidmp.demo.datasets import default_datasets_dir, movielens_frames
from aidmp.errors import ValidationError
from aidmp.ml.recommend import (
    ALS,
    ContentBased,
    Hybrid,
    Interactions,
    ItemKNN,
    Popularity,
    Recommender,
    UserKNN,
    evaluate,
    grid_search,
    leave_last_out,
    random_split,
    ranking_metrics,
    temporal_split,
)
from aidmp.ml.recommend.knn import cosine_neighbours

STAR_WARS, EMPIRE, JEDI = "50", "172", "181"


@pytest.fixture(scope="module")
def movielens() -> tuple[Interactions, dict[str, list[str]]]:
    frames = movielens_frames(default_datasets_dir() / "movielens-100k")
    items = frames["items"]
    data = Interactions.from_frame(frames["ratings"], "user_id", "item_id", "rating",
                                   "timestamp", action="rated")
    data = data.with_labels(dict(zip(items["item_id"], items["title"], strict=True)))
    genres = dict(zip(items["item_id"].to_list(), items["genres"].to_list(), strict=True))
    return data, genres


@pytest.fixture(scope="module")
def split(movielens: tuple[Interactions, Any]) -> tuple[Interactions, Interactions]:
    """Protocol A: per-user random 80/20 (seed 123); relevant = held-out ratings >= 4."""
    train, test = random_split(movielens[0], 0.2, seed=123)
    return train.binarize(), test.at_least(4)


@pytest.fixture(scope="module")
def scores(movielens: tuple[Interactions, Any], split: tuple[Interactions, Interactions]
           ) -> dict[str, dict[str, float]]:
    genres = movielens[1]
    models: dict[str, Recommender] = {
        "popularity": Popularity(), "itemknn": ItemKNN(), "userknn": UserKNN(), "als": ALS(),
        "content": ContentBased(genres),
        "hybrid": Hybrid(ItemKNN(), ContentBased(genres), weight=0.9)}
    return {name: evaluate(model, *split, k=10) for name, model in models.items()}


@pytest.fixture(scope="module")
def fitted(movielens: tuple[Interactions, dict[str, list[str]]]) -> dict[str, Recommender]:
    data, genres = movielens
    train = data.binarize()
    return {"itemknn": ItemKNN().fit(train), "userknn": UserKNN().fit(train),
            "als": ALS().fit(train), "content": ContentBased(genres).fit(train),
            "popularity": Popularity().fit(train),
            "hybrid": Hybrid(ALS(), ContentBased(genres), weight=0.6).fit(train)}


# --- quality on MovieLens-100K ----------------------------------------------------------------

def test_best_method_beats_popularity_by_half_as_much_again(
        scores: dict[str, dict[str, float]]) -> None:
    pop = scores["popularity"]["ndcg"]
    best = max(s["ndcg"] for name, s in scores.items() if name != "popularity")
    assert best >= 1.5 * pop
    # Dacrema et al. 2019 find ItemKNN CF 1.91x TopPop on NDCG@10 (sampled protocol); the same
    # ratio holds here under full ranking, and both kNNs clear 1.5x on their own.
    assert scores["itemknn"]["ndcg"] / pop == pytest.approx(1.91, abs=0.15)
    assert scores["userknn"]["ndcg"] >= 1.5 * pop
    # Genres alone are far weaker than popularity (Dacrema: ItemKNN CBF 0.0109 vs 0.1361).
    assert scores["content"]["ndcg"] < 0.25 * pop


def test_popularity_figures_are_the_known_answer(scores: dict[str, dict[str, float]]) -> None:
    pop = scores["popularity"]
    assert pop["users"] == 935  # 8 users have no rating >= 4 among their held-out fifth
    assert pop["ndcg"] == pytest.approx(0.1738, abs=5e-4)
    assert pop["precision"] == pytest.approx(0.1347, abs=5e-4)
    assert pop["coverage"] == pytest.approx(53 / 1682, abs=1e-9)


def test_metrics_are_consistent_across_methods(scores: dict[str, dict[str, float]]) -> None:
    for s in scores.values():
        assert 0 <= s["map"] <= s["ndcg"] <= s["hit_rate"] <= 1
        assert s["precision"] <= s["hit_rate"]
    # Collaborative lists reach much more of the catalogue than popularity's fixed top list.
    assert scores["itemknn"]["coverage"] > 4 * scores["popularity"]["coverage"]
    # The tuned blend is at least as good as its collaborative half.
    assert scores["hybrid"]["ndcg"] >= scores["itemknn"]["ndcg"] - 0.005


def test_als_matches_implicit_own_recommend(movielens: tuple[Interactions, Any]) -> None:
    train = movielens[0].binarize()
    model = ALS().fit(train)
    ours = model.recommend_all(10).items
    theirs, _ = model.model_.recommend(np.arange(train.shape[0]), train.matrix, N=10)
    assert (ours == theirs).mean() > 0.99  # float ties may order differently


def test_als_reasons_are_implicits_exact_explanation(fitted: dict[str, Recommender]) -> None:
    model = fitted["als"]
    assert isinstance(model, ALS)
    for user in (0, 300, 942):
        top = model.recommend_all(5, users=np.array([user])).items[0]
        for item, (_, seen) in zip(top, model._explain(user, top), strict=True):
            _, contributions, _ = model.model_.explain(user, model.confidence_, int(item), N=1)
            assert seen == contributions[0][0]


# --- recommend(): seen items, reasons, ids ----------------------------------------------------

@pytest.mark.parametrize("name", ["itemknn", "userknn", "als", "content", "popularity",
                                  "hybrid"])
def test_recommendations_are_unseen_and_reasons_name_own_items(
        fitted: dict[str, Recommender], movielens: tuple[Interactions, Any], name: str) -> None:
    data = movielens[0]
    model = fitted[name]
    users = data.user_ids[::19].tolist()
    recs = model.recommend(users, n=10)
    assert recs.height == 10 * len(users)
    history = pl.DataFrame({"user_id": data.user_ids[data.users],
                            "item_id": data.item_ids[data.items]})
    assert recs.join(history, on=["user_id", "item_id"]).height == 0
    steps = recs.group_by("user_id").agg(pl.col("score").diff().max())["score"]
    assert (steps.fill_null(0) <= 0).all()  # best first
    named = recs.filter(pl.col("reason_item_id").is_not_null())
    owned = named.join(history.rename({"item_id": "reason_item_id"}),
                       on=["user_id", "reason_item_id"])
    assert owned.height == named.height
    for row in named.head(20).iter_rows(named=True):
        assert row["reason"] == f"because you rated {data.item_labels[row['reason_item_id']]}"
    expected = {"itemknn": 0.9, "als": 0.9, "hybrid": 0.9, "userknn": 0.0, "content": 0.0,
                "popularity": 0.0}[name]
    assert named.height >= expected * recs.height
    if name == "popularity":
        assert set(recs["reason"]) == {"popular with everyone"}
    if name == "userknn":
        assert set(recs["reason"]) == {"people like you"}


def test_content_reason_names_a_genre_of_the_item_the_user_likes(
        fitted: dict[str, Recommender], movielens: tuple[Interactions, Any]) -> None:
    data, genres = movielens
    recs = fitted["content"].recommend(["1", "500"], n=5)
    for row in recs.iter_rows(named=True):
        genre = row["reason"].removeprefix("because you like ")
        assert genre in genres[row["item_id"]]
        seen = data.item_ids[data.items[data.users == data.user_index([row["user_id"]])[0]]]
        assert any(genre in genres[item] for item in seen.tolist())


def test_recommend_and_recommend_all_agree(fitted: dict[str, Recommender],
                                           movielens: tuple[Interactions, Any]) -> None:
    data = movielens[0]
    model = fitted["itemknn"]
    top = model.recommend_all(10)
    for user in (0, 7, 942):
        listed = model.recommend([data.user_ids[user]], n=10)["item_id"].to_list()
        assert listed == data.item_ids[top.items[user]].tolist()


def test_popularity_lists_the_most_rated_movies(fitted: dict[str, Recommender]) -> None:
    # User 1 rated the four most rated movies (ids <= 272) but not 294: only
    # exclude_seen=False lists the four; the default starts at 294, the most rated unseen.
    recs = fitted["popularity"].recommend(["1"], n=5, exclude_seen=False)
    assert recs.select("item_id", "score").rows() == [
        ("50", 583.0), ("258", 509.0), ("100", 508.0), ("181", 507.0), ("294", 485.0)]
    unseen = fitted["popularity"].recommend(["1"], n=5)
    assert unseen["item_id"].to_list()[0] == "294"
    assert not set(unseen["item_id"]) & {"50", "258", "100", "181"}


def test_similar_items_find_the_star_wars_sequels(fitted: dict[str, Recommender]) -> None:
    for name in ("itemknn", "als", "userknn"):
        similar = fitted[name].similar_items(STAR_WARS, n=10)["item_id"].to_list()
        assert similar[0] == JEDI, name
        assert STAR_WARS not in similar
    assert EMPIRE in fitted["itemknn"].similar_items(STAR_WARS, n=10)["item_id"].to_list()


# --- building blocks against known answers ----------------------------------------------------

def test_cosine_neighbours_match_sklearn_and_keep_k() -> None:
    rng = np.random.default_rng(3)
    vectors = sp.random(40, 25, density=0.3, random_state=4, format="csr", dtype=np.float32)
    dense = cosine_similarity(vectors)
    np.fill_diagonal(dense, 0)
    full = cosine_neighbours(vectors, k=39, shrink=0.0).toarray()
    np.testing.assert_allclose(full, np.where(dense > 0, dense, 0), atol=1e-6)
    dots = (vectors @ vectors.T).toarray()
    norms = np.sqrt(np.diag(dots))
    shrunk = cosine_neighbours(vectors, k=39, shrink=5.0).toarray()
    expect = dots / (np.outer(norms, norms) + 5.0)
    np.fill_diagonal(expect, 0)
    np.testing.assert_allclose(shrunk, expect, atol=1e-6)
    pruned = cosine_neighbours(vectors, k=3, shrink=0.0).toarray()
    assert ((pruned > 0).sum(axis=0) <= 3).all()
    column = int(rng.integers(40))
    assert set(np.flatnonzero(pruned[:, column])) <= set(np.argsort(-full[:, column])[:3])


def test_ranking_metrics_hand_computed() -> None:
    recommended = np.array([[3, 1, 0, 2], [0, 1, 2, 3]])
    relevant = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 0, 1]]))
    m = ranking_metrics(recommended, relevant, k=2)
    assert m["precision"] == pytest.approx((1 / 2 + 0) / 2)
    assert m["recall"] == pytest.approx((1 / 2 + 0) / 2)
    assert m["hit_rate"] == 0.5
    assert m["ndcg"] == pytest.approx((1 / np.log2(3)) / (1 + 1 / np.log2(3)) / 2)
    assert m["map"] == pytest.approx((1 / 2) / 2 / 2)  # hit at rank 2: precision 1/2, over 2
    assert m["coverage"] == 3 / 4  # items 3, 1 and 0 are listed in the top 2


def test_ndcg_matches_sklearn_on_full_rankings() -> None:
    rng = np.random.default_rng(11)
    truth = (rng.random((30, 50)) < 0.1).astype(int)
    truth[truth.sum(axis=1) == 0, 0] = 1
    score = rng.random((30, 50))
    ranked = np.argsort(-score, axis=1)
    ours = ranking_metrics(ranked, sp.csr_matrix(truth), k=10)["ndcg"]
    assert ours == pytest.approx(ndcg_score(truth, score, k=10), abs=1e-9)


def test_interactions_merge_duplicates_and_accept_any_frame() -> None:
    df = pl.DataFrame({"u": ["b", "a", "a", "b"], "i": [2, 1, 1, 3],
                       "w": [1.0, 2.0, 3.0, 4.0], "t": [5, 1, 9, 2]})
    data = Interactions.from_frame(df, "u", "i", "w", "t")
    assert data.user_ids.tolist() == ["a", "b"] and data.item_ids.tolist() == [1, 2, 3]
    assert data.matrix.toarray().tolist() == [[5.0, 0.0, 0.0], [0.0, 1.0, 4.0]]
    assert data.times is not None and sorted(data.times.tolist()) == [2, 5, 9]
    for other in (df.to_pandas(), df.to_arrow()):
        again = Interactions.from_frame(other, "u", "i", "w", "t")
        assert (again.matrix != data.matrix).nnz == 0
    stamps = pd.DataFrame({"u": ["a", "a"], "i": ["x", "y"],
                           "t": [datetime(2024, 1, 1), datetime(2024, 1, 1) + timedelta(1)]})
    timed = Interactions.from_frame(stamps, "u", "i", time_col="t")
    assert timed.times is not None and np.diff(timed.times).tolist() == [86_400_000_000]


def test_bad_input_names_the_field() -> None:
    df = pl.DataFrame({"u": ["a", None], "i": ["x", "y"], "w": ["1", "2"]})
    with pytest.raises(ValidationError, match="not found; valid columns: u, i, w") as err:
        Interactions.from_frame(df, "user", "i")
    assert err.value.field == "user_col"
    with pytest.raises(ValidationError, match="1 null values"):
        Interactions.from_frame(df, "u", "i")
    with pytest.raises(ValidationError, match="must be numeric") as err:
        Interactions.from_frame(df.drop_nulls(), "u", "i", "w")
    assert err.value.field == "weight_col"
    data = Interactions.from_frame(df.drop_nulls(), "u", "i")
    model = ItemKNN().fit(data)
    with pytest.raises(ValidationError, match="unknown id 'zz'; valid ids look like 'a'"):
        model.recommend(["zz"])
    with pytest.raises(ValidationError, match="positive integer") as err:
        ItemKNN(k=0).fit(data)
    assert err.value.field == "k"
    with pytest.raises(ValidationError, match="within"):
        Hybrid(Popularity(), ItemKNN(), weight=1.5).fit(data)
    with pytest.raises(ValidationError, match="not fitted"):
        ALS().recommend(["a"])
    with pytest.raises(ValidationError, match="needs times"):
        leave_last_out(data)


# --- protocols ---------------------------------------------------------------------------------

def test_leave_last_out_holds_out_each_users_latest(movielens: tuple[Interactions, Any]) -> None:
    data = movielens[0]
    train, test = leave_last_out(data)
    assert test.nnz == 943 and train.nnz + test.nnz == data.nnz
    assert np.bincount(test.users, minlength=943).tolist() == [1] * 943
    assert data.times is not None and train.times is not None and test.times is not None
    latest = pl.DataFrame({"u": data.users, "t": data.times}).group_by("u").agg(pl.max("t"))
    held = pl.DataFrame({"u": test.users, "t": test.times}).join(latest, on="u")
    assert (held["t"] == held["t_right"]).all()
    assert (train.matrix.multiply(test.matrix)).nnz == 0


def test_temporal_split_cuts_at_one_time(movielens: tuple[Interactions, Any]) -> None:
    train, test = temporal_split(movielens[0], 0.2)
    assert train.times is not None and test.times is not None
    assert train.times.max() < test.times.min()
    assert test.nnz == pytest.approx(20_000, rel=0.01)


def test_random_split_is_per_user_and_seeded(movielens: tuple[Interactions, Any]) -> None:
    data = movielens[0]
    train, test = random_split(data, 0.2, seed=1)
    per_user = np.bincount(data.users)
    assert np.bincount(test.users, minlength=943).tolist() == np.round(per_user * 0.2).tolist()
    again, _ = random_split(data, 0.2, seed=1)
    other, _ = random_split(data, 0.2, seed=2)
    assert (again.matrix != train.matrix).nnz == 0 and (other.matrix != train.matrix).nnz > 0


def test_grid_search_tunes_on_validation_only(split: tuple[Interactions, Interactions]) -> None:
    inner, validation = random_split(split[0], 0.2, seed=7)
    result = grid_search(ItemKNN(), {"k": [1, 200]}, inner, validation, k=10)
    assert result.best_params == {"k": 200}
    assert result.results.height == 2
    assert result.best_score == result.results["ndcg"].max()
