"""ProfileClusterer on planted clusters and on MovieLens-100K users."""

from __future__ import annotations

import struct
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.metrics import adjusted_rand_score

from aidmp import DMP
from aidmp.errors import ValidationError
from aidmp.ml.clustering.model import ProfileClusterer, knee_index
from aidmp.ml.clustering.prep import profiles_frame


def movielens_profiles(folder: Path) -> pd.DataFrame:
    """One row per user: age, gender, occupation, rating count, mean rating, share per genre."""
    users = pd.read_csv(folder / "u.user", sep="|",
                        names=["profile_id", "age", "gender", "occupation", "zip"])
    ratings = pd.read_csv(folder / "u.data", sep="\t",
                          names=["profile_id", "item_id", "rating", "ts"])
    genres = [line.split("|")[0] for line in
              (folder / "u.genre").read_text(encoding="latin-1").splitlines() if line.strip()]
    items = pd.read_csv(folder / "u.item", sep="|", encoding="latin-1",
                        names=["item_id", "title", "released", "video", "url", *genres])
    rated = ratings.merge(items[["item_id", *genres]], on="item_id")
    by_user = rated.groupby("profile_id")
    shares = by_user[genres].sum().div(by_user.size(), axis=0)
    shares.columns = ["share_" + g.lower().replace("'", "").replace("-", "_") for g in genres]
    out = users.set_index("profile_id").join(pd.DataFrame({
        "rating_count": by_user.size().astype("float64"),
        "mean_rating": by_user["rating"].mean()})).join(shares)
    return out.drop(columns=["zip", "share_unknown"]).reset_index()


@pytest.fixture(scope="module")
def movielens(datasets: Path) -> pd.DataFrame:
    return movielens_profiles(datasets / "movielens-100k")


def planted(n_per: int = 200, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    """Three obvious groups: young students, middle-aged high earners, retirees."""
    rng = np.random.default_rng(seed)
    parts, truth = [], []
    for g, (age, income, job) in enumerate([(22, 15_000, "student"), (45, 120_000, "manager"),
                                            (72, 30_000, "retired")]):
        parts.append(pd.DataFrame({
            "profile_id": [f"p{g}_{i}" for i in range(n_per)],
            "age": rng.normal(age, 2.5, n_per),
            "income": rng.normal(income, 4_000, n_per),
            "orders": rng.poisson(5, n_per).astype("float64"),
            "occupation": np.where(rng.random(n_per) < 0.95, job, "other")}))
        truth += [g] * n_per
    return pd.concat(parts, ignore_index=True), np.array(truth)


def test_planted_clusters_recovered_exactly_with_words() -> None:
    frame, truth = planted()
    model = ProfileClusterer(feature_labels={"income": "income"}).fit(frame)
    assert model.selection_["k"] == 3 == model.n_clusters_
    assert adjusted_rand_score(truth, model.labels_) == 1.0
    by_group = {int(np.bincount(model.labels_[truth == g]).argmax()): g for g in range(3)}
    words = {by_group[c["cluster"]]: c["description"] for c in model.describe()}
    assert "younger" in words[0] and "mostly student (occupation)" in words[0]
    assert "higher income" in words[1] and "mostly manager (occupation)" in words[1]
    assert "older" in words[2] and "mostly retired (occupation)" in words[2]
    # "orders" is the same in every group, so it is never worded as distinctive.
    assert not any("orders" in w for w in words.values())
    info = model.describe()
    assert sum(c["size"] for c in info) == len(frame)
    assert sum(c["share"] for c in info) == pytest.approx(1.0, abs=1e-3)
    old = next(c for c in info if by_group[c["cluster"]] == 2)
    assert old["means"]["age"] == pytest.approx(72, abs=0.5)
    assert old["top_categories"]["occupation"][0][0] == "retired"


def test_predict_and_members_match_labels() -> None:
    frame, _ = planted()
    model = ProfileClusterer(k=3).fit(frame)
    assert (model.predict(frame) == model.labels_).all()
    members = model.cluster_members()
    assert sorted(members) == [0, 1, 2]
    everyone = sorted(str(pid) for ids in members.values() for pid in ids)
    assert everyone == sorted(frame["profile_id"])
    assert {c: len(ids) for c, ids in members.items()} == {
        c["cluster"]: c["size"] for c in model.describe()}
    new = pd.DataFrame({"age": [71.0], "income": [29_000.0], "orders": [5.0],
                        "occupation": ["pilot"]})  # unseen category is ignored, not an error
    assert model.predict(new)[0] == model.labels_[-1]


def test_movielens_k_is_silhouette_argmax_and_stable(movielens: pd.DataFrame) -> None:
    features = [c for c in movielens.columns if c != "profile_id"]
    model = ProfileClusterer(features=features, k_range=(2, 8),
                             selection="silhouette").fit(movielens)
    table = model.selection_["table"]
    assert [row["k"] for row in table] == list(range(2, 9))
    best = max(table, key=lambda row: row["silhouette"])["k"]
    assert model.selection_["k"] == best == model.n_clusters_
    inertias = [row["inertia"] for row in table]
    assert inertias == sorted(inertias, reverse=True)  # more clusters, less inertia
    assert model.selection_["elbow_k"] in range(2, 9)
    assert model.selection_["silhouette_sample"] == 943
    again = ProfileClusterer(features=features, k_range=(2, 8),
                             selection="silhouette").fit(movielens)
    assert (again.labels_ == model.labels_).all()
    assert model.card()["rows"] == 943 and "every row" in model.card()["assignment"]


def test_movielens_demographic_clusters_are_worded(movielens: pd.DataFrame) -> None:
    model = ProfileClusterer(features=["age", "rating_count", "mean_rating"]).fit(movielens)
    info = {c["cluster"]: c for c in model.describe()}
    # The cluster with the oldest mean age is worded "older", the youngest "younger".
    oldest = max(info.values(), key=lambda c: c["means"]["age"] or 0.0)
    youngest = min(info.values(), key=lambda c: c["means"]["age"] or 0.0)
    assert "older" in oldest["description"] and "younger" in youngest["description"]
    assert oldest["means"]["age"] > movielens["age"].mean() + 5


def test_dbscan_marks_outliers_as_noise() -> None:
    rng = np.random.default_rng(3)
    blobs = np.vstack([rng.normal(c, 0.3, (150, 2)) for c in ([0, 0], [6, 0], [0, 6])])
    outliers = np.array([[12.0, 12.0], [-8.0, 9.0], [14.0, -7.0], [-9.0, -9.0]])
    X = pd.DataFrame(np.vstack([blobs, outliers]), columns=["x", "y"])
    model = ProfileClusterer(method="dbscan").fit(X)
    assert model.selection_["eps_source"] == "k-distance knee"
    assert model.n_clusters_ == 3
    assert (model.labels_[-4:] == -1).all()
    # A blob's sparse rim may fall below min_samples (DBSCAN's own rule); the rest is exact.
    inside = model.labels_[:450] != -1
    assert inside.mean() >= 0.98
    truth = np.repeat([0, 1, 2], 150)
    assert adjusted_rand_score(truth[inside], model.labels_[:450][inside]) == 1.0
    assert model.selection_["noise_share"] == pytest.approx(
        float((model.labels_ == -1).mean()), abs=1e-4)
    assert model.predict(pd.DataFrame({"x": [30.0, 6.0], "y": [30.0, 0.1]})).tolist()[0] == -1
    assert -1 in model.cluster_members()
    noise = next(c for c in model.describe() if c["cluster"] == -1)
    assert noise["size"] == (model.labels_ == -1).sum() >= 4


def test_large_data_paths_use_samples_and_say_so() -> None:
    frame, truth = planted(n_per=400)
    km = ProfileClusterer(k_range=(2, 4), large_threshold=500, sample_size=300).fit(frame)
    assert km.card()["estimator"] == "MiniBatchKMeans"
    assert km.selection_["silhouette_sample"] == 300
    assert adjusted_rand_score(truth, km.labels_) == 1.0
    agg = ProfileClusterer(method="agglomerative", k_range=(2, 5), fit_sample=300).fit(frame)
    card = agg.card()
    assert card["fitted_on"] == 300 and "sample of 300" in card["assignment"]
    assert agg.n_clusters_ == 3 and adjusted_rand_score(truth, agg.labels_) == 1.0
    db = ProfileClusterer(method="dbscan", features=["age", "income"], large_threshold=500,
                          sample_size=600).fit(frame)
    assert "sample of 600" in db.card()["assignment"] and db.n_clusters_ == 3
    clustered = db.labels_ != -1
    assert clustered.mean() > 0.85  # measured 0.90: the knee eps leaves the sparse rims out
    assert adjusted_rand_score(truth[clustered], db.labels_[clustered]) == 1.0


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_plot_writes_valid_png_and_self_contained_html(tmp_path: Path) -> None:
    frame, _ = planted()
    model = ProfileClusterer(k=3).fit(frame)
    out = model.plot(tmp_path / "plots" / "clusters.png")
    png = out["png"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    assert struct.unpack(">II", png[16:24]) == (700, 550)
    page = out["html"].read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(page)
    imgs = [attrs for tag, attrs in parser.tags if tag == "img"]
    assert len(imgs) == 1 and (imgs[0]["src"] or "").startswith("data:image/png;base64,")
    assert not any(tag in {"script", "link"} for tag, _ in parser.tags)  # no CDN, no script
    for c in model.describe():
        assert c["description"] in page


def test_profiles_from_the_store(dmp: DMP, movielens: pd.DataFrame) -> None:
    table = movielens.assign(profile_id=movielens["profile_id"].astype(str))
    dmp.engine.write_table("profiles", pa.Table.from_pandas(table, preserve_index=False))
    frame = profiles_frame(dmp.engine, ["age", "gender", "mean_rating"])
    assert list(frame.columns) == ["profile_id", "age", "gender", "mean_rating"]
    model = ProfileClusterer(k=4).fit(frame)
    assert model.numeric_ == ["age", "mean_rating"] and model.categorical_ == ["gender"]
    members = model.cluster_members()
    assert sum(len(v) for v in members.values()) == 943 and "1" in members[model.labels_[0]]
    with pytest.raises(ValidationError, match="unknown profile column"):
        profiles_frame(dmp.engine, ["agee"])


def test_bad_input_is_named() -> None:
    frame, _ = planted(n_per=20)
    with pytest.raises(ValidationError, match="method"):
        ProfileClusterer(method="spectral").fit(frame)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="unknown column"):
        ProfileClusterer(features=["age", "wealth"]).fit(frame)
    with pytest.raises(ValidationError, match="k_range"):
        ProfileClusterer(k_range=(5, 3)).fit(frame)
    with pytest.raises(ValidationError, match="not fitted"):
        ProfileClusterer().describe()


def test_knee_of_a_convex_curve() -> None:
    assert knee_index([10.0, 9.0, 8.0, 7.0, 6.0]) in range(5)
    assert knee_index([1.0, 1.1, 1.2, 1.3, 5.0, 9.0]) == 3


def test_identity_and_time_columns_are_not_features() -> None:
    frame, _ = planted(n_per=20)
    frame["email"] = [f"p{i}@example.com" for i in range(len(frame))]
    frame["note"] = [f"free text {i}" for i in range(len(frame))]
    frame["last_seen"] = pd.Timestamp("2026-01-01", tz="UTC")
    model = ProfileClusterer(k=3).fit(frame)
    assert model.numeric_ == ["age", "income", "orders"]
    assert model.categorical_ == ["occupation"]
