"""Clusters and lookalikes saved as segments, on MovieLens-100K users."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from aidmp.demo.datasets import load_dataset
from aidmp.segments.learned import cluster_segments, lookalike_segment

FEATURES = ["age", "events", "interest_drama", "interest_sci_fi", "interest_comedy",
            "interest_action"]


def test_clusters_and_lookalikes_become_segments(dmp, datasets):
    load_dataset(dmp, "movielens", datasets / "movielens-100k")
    dmp.build()
    out = cluster_segments(dmp, "taste", features=FEATURES)
    sizes = [c["size"] for c in out["clusters"]]
    assert sum(sizes) == 943 and len(sizes) >= 2
    for c in out["clusters"]:
        assert dmp.segments.size(c["segment_id"])["size"] == c["size"]
        assert c["description"]  # plain words from the centroid
    assert any("sci fi" in c["description"] for c in out["clusters"])
    png = out["plots"]["png"]
    with open(png, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"

    students = dmp.segments.create("students", 'occupation = "student"')
    seed = set(dmp.segments.members(students["id"], page_size=1000)["profile_ids"])
    assert len(seed) == 196
    # one person withdrew consent for ads: never selected
    p = dmp.engine.to_pandas("profiles")
    young = p[(p.occupation != "student")].sort_values("age").profile_id.iloc[0]
    dmp.engine.upsert("consents", pa.Table.from_pylist([{
        "profile_id": young, "purpose": "advertising", "granted": False,
        "updated_at": datetime.now(UTC), "source": "test"}]))
    look = lookalike_segment(dmp, students["id"], "student lookalikes", top_percent=10,
                             features=[*FEATURES, "gender"])
    members = set(dmp.segments.members(look["segment_id"], page_size=1000)["profile_ids"])
    assert look["excluded_no_consent"] == 1 and young not in members
    assert not members & seed
    assert abs(len(members) - 0.10 * (943 - 196 - 1)) <= 2
    ages = p.set_index("profile_id").age
    assert ages[list(members)].mean() < ages.mean() - 8  # students' lookalikes are young
    assert look["expected"]["recall"] > 0.3 and look["expected"]["lift"] > 3
