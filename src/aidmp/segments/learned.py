"""Audiences found by models: clusters saved as segments, and lookalikes of a seed segment.

Both write their result as a prediction trait (``cluster_<name>`` = the cluster number,
``lookalike_<name>`` = the similarity score) so that the audience is an ordinary rule segment
(``cluster_value_tiers = 2``, ``lookalike_students >= 0.81 and not in_segment("students")``):
it can be sized, exported, combined with other rules and refreshed like any other.

Example:
    >>> segment_slug("High Value!")
    'high_value'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from aidmp.errors import ValidationError
from aidmp.ml.clustering.model import ProfileClusterer
from aidmp.ml.clustering.plot import cluster_projection
from aidmp.ml.clustering.prep import profiles_frame
from aidmp.ml.data import write_predictions
from aidmp.ml.lookalike import LookalikeModel, consent_exclusions
from aidmp.profiles.common import column_name

if TYPE_CHECKING:
    # the installation as the service's jobs see it (not aidmp.DMP: the jobs that run these
    # functions are built by aidmp.dmp, so importing it back would close a cycle)
    from aidmp.service.host import Host


def segment_slug(name: str) -> str:
    """The trait-safe form of a name."""
    return column_name(name)


def _profiles(dmp: Host, features: Sequence[str] | None) -> Any:
    if not dmp.engine.has_table("profiles"):
        raise ValidationError("no profiles yet: run `aidmp build` first", field="profiles")
    cols = ["profile_id", *features] if features else None
    return profiles_frame(dmp.engine, cols)


def cluster_segments(dmp: Host, name: str, *, features: Sequence[str] | None = None,
                     method: Literal["kmeans", "dbscan", "agglomerative"] = "kmeans",
                     k: int | None = None) -> dict[str, Any]:
    """Cluster the profiles, save one segment per cluster, write a PCA plot.

    Returns the cluster descriptions, the K selection table, segment ids and plot paths.
    """
    slug = segment_slug(name)
    frame = _profiles(dmp, features)
    model = ProfileClusterer(method=method, k=k,
                             features=list(features) if features else None).fit(
        frame.drop(columns=["profile_id"]))
    key = f"cluster_{slug}"
    # the 2-D picture and the words per cluster are kept with the version (the dashboard's
    # Analysis page draws them without loading the model)
    version = dmp.models.registry.register(key, model, kind="ProfileClusterer",
                                           params={"method": method, "k": k,
                                                   "projection": cluster_projection(model),
                                                   "clusters": model.card()["clusters"]},
                                           metrics={"clusters": int(model.n_clusters_)})
    write_predictions(dmp.engine, frame["profile_id"].astype(str),
                      {key: model.labels_.astype(np.float64)}, key, version)
    built = dmp.build()
    plots = model.plot(dmp.home / "reports" / f"clusters_{slug}")
    clusters = []
    existing = {s["name"]: s["id"] for s in dmp.segments.list()}
    for info in model.describe():
        cid = int(info["cluster"])
        seg_name = f"{name} {cid}" if cid >= 0 else f"{name} noise"
        if seg_name in existing:
            dmp.segments.delete(existing[seg_name])
        created = dmp.segments.create(seg_name, f"{key} = {cid}",
                                      description=str(info["description"]))
        clusters.append({**info, "segment_id": created["id"]})
    dmp.segments.refresh(build_id=built.build_id)
    return {"name": name, "trait": key, "model_version": version,
            "selection": model.card().get("selection"), "clusters": clusters,
            "plots": {k_: str(v) for k_, v in plots.items()}}


def lookalike_segment(dmp: Host, seed_segment: str, name: str, *,
                      top_percent: float | None = 10.0, top_n: int | None = None,
                      features: Sequence[str] | None = None, purpose: str = "advertising",
                      classifier: Literal["logistic", "gbm"] = "logistic") -> dict[str, Any]:
    """People most like the seed segment's members, saved as a segment.

    Consent withdrawn for ``purpose`` excludes a person from training and from the audience.
    """
    if top_n is not None:
        top_percent = None
    seed_ids = set(dmp.segments.member_ids(seed_segment))
    if not seed_ids:
        raise ValidationError(f"seed segment {seed_segment!r} has no members", field="seed")
    frame = _profiles(dmp, features)
    ids = frame["profile_id"].astype(str).tolist()
    seed_mask = np.array([p in seed_ids for p in ids])
    exclude = consent_exclusions(dmp.engine, ids, purpose=purpose)
    model = LookalikeModel(classifier=classifier, features=list(features) if features else None)
    model.fit(frame.drop(columns=["profile_id"]).set_index(frame["profile_id"]), seed_mask,
              exclude_mask=exclude)
    chosen = model.select(top_n=top_n, top_percent=top_percent)
    expected = model.expected(top_n=top_n, top_percent=top_percent)
    scores = model.score()
    slug = segment_slug(name)
    key = f"lookalike_{slug}"
    version = dmp.models.registry.register(key, model, kind="LookalikeModel",
                                           params={"seed": seed_segment,
                                                   "classifier": classifier},
                                           metrics=model.report())
    values = np.full(len(ids), np.nan)
    position = {p: i for i, p in enumerate(ids)}
    for pid, score in scores.items():
        values[position[str(pid)]] = float(score)
    threshold = float(min(scores[p] for p in chosen)) if chosen else 1.0
    write_predictions(dmp.engine, ids, {key: values}, key, version)
    built = dmp.build()
    existing = {s["name"]: s["id"] for s in dmp.segments.list()}
    if name in existing:
        dmp.segments.delete(existing[name])
    created = dmp.segments.create(
        name, f'{key} >= {threshold!r} and not in_segment("{seed_segment}")',
        description=f"lookalikes of {seed_segment}")
    dmp.segments.refresh(build_id=built.build_id)
    size = dmp.segments.size(created["id"])["size"]
    return {"segment_id": created["id"], "seed": seed_segment, "seed_size": len(seed_ids),
            "selected": len(chosen), "size": size, "threshold": threshold,
            "expected": expected, "excluded_no_consent": int(exclude.sum()),
            "model_version": version}
