"""Score identity resolution against a ground truth: pairwise precision and recall.

Every pair of identifiers that the truth puts in one person and the resolution puts in one
profile is a true positive. Precision = TP / pairs the resolution made; recall = TP / pairs the
truth has. Truth values are normalised like the events' values first, so a CRM e-mail written
``Ann@X.com `` is the same identifier as ``ann@x.com``.

Example:
    >>> import polars as pl
    >>> truth = pl.DataFrame({"node": ["a", "b", "c"], "person": ["1", "1", "2"]})
    >>> pred = pl.DataFrame({"node": ["a", "b", "c"], "profile": ["x", "y", "y"]})
    >>> pairwise_scores(truth, pred)["precision"], pairwise_scores(truth, pred)["recall"]
    (0.0, 0.0)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from aidmp.errors import ValidationError
from aidmp.identity.extract import normalise_values, normalised_parts, raw_observations

if TYPE_CHECKING:
    from aidmp.identity.service import IdentityGraph


def _pairs(counts: pl.Series) -> int:
    return int((counts.cast(pl.Int64) * (counts.cast(pl.Int64) - 1) // 2).sum())


def data_components(identity: IdentityGraph) -> pl.DataFrame:
    """``node, component``: each stored-value identifier of the events, numbered by the group
    of identifiers that co-occur in some event, transitively (connected components of the
    co-occurrence graph, ignoring every limit and split of the resolution rules)."""
    engine, rules = identity.engine, identity.rules
    raw = raw_observations(engine, rules).select("message_id", "id_type", "raw", "region")
    frame = pl.from_arrow(engine.execute(raw.distinct()))
    assert isinstance(frame, pl.DataFrame)
    parts = normalised_parts(frame.select("id_type", "raw", "region").unique(), rules)
    empty = pl.DataFrame(schema={"node": pl.String, "component": pl.String})
    if not parts:
        return empty
    values = pl.concat(parts).drop_nulls("id_value")
    obs = frame.join(values, on=["id_type", "raw", "region"]).select(
        "message_id", node=pl.col("id_type") + ":" + pl.col("id_value")).unique()
    if obs.is_empty():
        return empty
    nodes = obs.select("node").unique().with_row_index("i")
    obs = obs.join(nodes, on="node")
    # every identifier of an event is joined to the event's first one
    first = obs.group_by("message_id").agg(pl.col("i").min().alias("j"))
    edges = obs.join(first, on="message_id")
    n = nodes.height
    graph = coo_matrix((np.ones(edges.height), (edges["i"].to_numpy(), edges["j"].to_numpy())),
                       shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return nodes.select("node", component=pl.Series(labels).cast(pl.String))


def pairwise_scores(truth: pl.DataFrame, pred: pl.DataFrame) -> dict[str, Any]:
    """Pairwise precision/recall/F1 of ``pred`` (node, profile) against ``truth`` (node, person).

    Only identifiers present in both are scored.
    """
    both = truth.join(pred, on="node", how="inner")
    tp = _pairs(both.group_by(["person", "profile"]).len()["len"])
    made = _pairs(both.group_by("profile").len()["len"])
    real = _pairs(both.group_by("person").len()["len"])
    precision = tp / made if made else 1.0
    recall = tp / real if real else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"identifiers": both.height, "true_pairs": real, "predicted_pairs": made,
            "true_positive_pairs": tp, "precision": round(precision, 6),
            "recall": round(recall, 6), "f1": round(f1, 6),
            "persons": both["person"].n_unique(), "profiles": both["profile"].n_unique()}


def _refuse(truth: pl.DataFrame, stored: pl.DataFrame, why: str) -> None:
    """An evaluation that compares nothing would score 1.0: say what did not meet instead."""
    expected = sorted(truth["id_type"].unique().to_list())
    found = sorted(stored["id_type"].unique().to_list())
    raise ValidationError(
        f"nothing to evaluate: the truth file's identifiers were not found ({why}); truth id "
        f"types: {', '.join(map(str, expected)) or 'none'}; stored id types: "
        f"{', '.join(found) or 'none (run aidmp identity resolve)'}", field="truth")


def evaluate(identity: IdentityGraph, truth: pl.DataFrame) -> dict[str, Any]:
    """Score the stored resolution against ``truth`` (id_type, id_value, person_id).

    Raises:
        ValidationError: no pair of truth identifiers of one person is stored (wrong id
            types, or values that are not in the store): a score over nothing would read 1.0.
    """
    rules = identity.rules
    parts = []
    for kind in rules.ordered_types():
        part = truth.filter(pl.col("id_type") == kind.name)
        if part.is_empty():
            continue
        values, _ = normalise_values(kind, part["id_value"], rules.default_region)
        parts.append(part.select(pl.lit(kind.name).alias("id_type"),
                                 pl.col("person_id").alias("person")).with_columns(
            values.alias("id_value")))
    stored = pl.from_arrow(identity.engine.execute(
        identity.engine.table("identities").select("id_type", "id_value", "profile_id")))
    assert isinstance(stored, pl.DataFrame)
    if not parts:
        _refuse(truth, stored, "none of its identifier types is a configured type")
    norm = pl.concat(parts).drop_nulls("id_value").unique(["id_type", "id_value"])
    key = pl.col("id_type") + ":" + pl.col("id_value")
    scores = pairwise_scores(
        norm.select(key.alias("node"), "person"),
        stored.select(key.alias("node"), pl.col("profile_id").alias("profile")))
    if scores["true_pairs"] == 0:
        _refuse(truth, stored, f"{scores['identifiers']} of its identifiers are stored, "
                               "which makes no pair of one person to score")
    scores["truth_identifiers"] = norm.height
    # Recall among the pairs the data links: identifiers of one person that co-occur in some
    # event or customer row, transitively. Defined from the events alone, never from the
    # resolver's output, so a link the resolver missed counts as a miss here too; a pair that
    # nothing in the data connects (a device that never logged in) is left out of it.
    comps = data_components(identity)
    truth_c = norm.select(key.alias("node"), "person").join(comps, on="node")
    linkable = truth_c.select("node", person=pl.col("person") + "|" + pl.col("component"))
    stored_nodes = stored.select(key.alias("node"), pl.col("profile_id").alias("profile"))
    linked = pairwise_scores(linkable, stored_nodes)
    scores["linkable_pairs"] = linked["true_pairs"]
    scores["recall_linked"] = linked["recall"]
    scores["unlinked_identifiers"] = norm.height - truth_c.height
    return scores
