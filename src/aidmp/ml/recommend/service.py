"""Recommenders fitted from the store.

Recommenders learn from (profile, item) pairs of one event (``Item Rated``, ``Product Viewed``,
``Order Completed``...). The stated evaluation protocol: a per-profile random 80/20 split
(seed 123), the model fitted on the binarised 80 %, every unseen item ranked, and the held-out
items (with a weight of at least ``relevant_min`` when given) counted as relevant; the same
split scores a popularity baseline. A sequential model (``sasrec``, or a ``hybrid`` with one)
predicts the next item, so it is scored on each profile's latest pair instead (leave-last-out
by time). The registered model is then refitted on all pairs.

``hybrid`` blends two of the other methods: its params are ``first`` and ``second`` (method
names), ``weight`` (share of the first) and ``first_params`` / ``second_params``.

Example:
    >>> sorted(METHODS)
    ['als', 'item_knn', 'popularity', 'sasrec', 'user_knn']
    >>> build("hybrid", {"first": "sasrec", "second": "item_knn", "weight": 0.7})
    Hybrid(first=SASRec(), second=ItemKNN(), weight=0.7)
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from aidmp.engine.base import Engine
from aidmp.engine.ml import InEngineML
from aidmp.errors import ValidationError
from aidmp.ml.data import item_names, profile_events
from aidmp.ml.recommend import (
    ALS,
    Hybrid,
    Interactions,
    ItemKNN,
    Popularity,
    Recommender,
    UserKNN,
    evaluate,
    leave_last_out,
    random_split,
)
from aidmp.ml.recommend.sasrec import SASRec, load_torch_net

__all__ = ["METHODS", "build", "fit_recommender", "popular_items"]

METHODS: dict[str, type[Recommender]] = {
    "als": ALS, "item_knn": ItemKNN, "user_knn": UserKNN, "popularity": Popularity,
    "sasrec": SASRec}
_HYBRID = {"first": "sasrec", "second": "item_knn", "weight": 0.5, "first_params": {},
           "second_params": {}}
SPLIT_SEED, TEST_FRACTION, K = 123, 0.2, 10


def _interactions(engine: Engine, event: str, item_property: str,
                  weight_property: str | None, action: str) -> Interactions:
    numbers = [("weight", weight_property)] if weight_property else []
    pairs = profile_events(engine, event, numbers=numbers, texts=[("item_id", item_property)])
    pairs = pairs.filter(pairs.item_id.notnull())
    if weight_property:
        pairs = pairs.filter(pairs.weight.notnull())
    frame = pl.from_arrow(engine.execute(pairs.drop("message_id", "event")))
    assert isinstance(frame, pl.DataFrame)
    if frame.height == 0:
        raise ValidationError(f"no {event!r} events of resolved profiles with an "
                              f"{item_property!r} property", field="event")
    data = Interactions.from_frame(frame, "profile_id", "item_id",
                                   "weight" if weight_property else None, "timestamp",
                                   action=action)
    return data.with_labels(item_names(engine, data.item_ids.tolist()))


def popular_items(data: Interactions, n: int = 100) -> list[str]:
    """The ``n`` items with the most profiles (the cold-start fallback)."""
    counts = np.bincount(data.items, minlength=len(data.item_ids))
    order = np.argsort(-counts, kind="stable")[:n]
    return [str(v) for v in data.item_ids[order].tolist()]


def build(method: str, params: dict[str, Any] | None = None) -> Recommender:
    """An unfitted recommender of ``method`` (a key of :data:`METHODS` or ``hybrid``).

    Raises:
        ValidationError: an unknown method or parameter.
    """
    hyper = dict(params or {})
    if method == "hybrid":
        unknown = sorted(set(hyper) - set(_HYBRID))
        if unknown:
            raise ValidationError(f"unknown parameter(s) {', '.join(unknown)} for hybrid; "
                                  f"valid: {', '.join(sorted(_HYBRID))}", field="params")
        spec = {**_HYBRID, **hyper}
        parts = []
        for part in ("first", "second"):
            if spec[part] not in METHODS:
                raise ValidationError(f"unknown method {spec[part]!r} for the hybrid's {part} "
                                      f"part; valid: {', '.join(sorted(METHODS))}",
                                      field=f"params.{part}")
            if not isinstance(spec[f"{part}_params"], dict):
                raise ValidationError("must be an object of the part's parameters",
                                      field=f"params.{part}_params")
            parts.append(build(spec[part], spec[f"{part}_params"]))
        return Hybrid(parts[0], parts[1], weight=spec["weight"])
    if method not in METHODS:
        raise ValidationError(f"unknown method {method!r}; valid: "
                              f"{', '.join([*sorted(METHODS), 'hybrid'])}", field="method")
    valid = METHODS[method]().get_params()
    unknown = sorted(set(hyper) - set(valid))
    if unknown:
        raise ValidationError(f"unknown parameter(s) {', '.join(unknown)} for {method}; valid: "
                              f"{', '.join(sorted(valid))}", field="params")
    if method == "sasrec":
        load_torch_net()  # says what to install before any data is read
    return METHODS[method](**hyper)


def _evaluate_in_engine(engine: Engine, ml: InEngineML, model: ALS, train: Interactions,
                        relevant: Interactions) -> dict[str, float]:
    """:func:`evaluate` of an ALS factorised inside the engine on the training pairs."""
    stage = f"_mllib_als_train_{uuid.uuid4().hex[:8]}"
    m = train.matrix.tocoo()
    engine.scratch_rows(stage, pa.table({"profile_id": train.user_ids[m.row].astype(str),
                                         "item_id": train.item_ids[m.col].astype(str)}))
    try:
        model.fit_in_engine(ml, engine.table(stage), train)
    finally:
        engine.drop(stage)
    return evaluate(model, train, relevant, K, fit=False)


def _sequential(model: Recommender) -> bool:
    if isinstance(model, Hybrid):
        return _sequential(model.first) or _sequential(model.second)
    return isinstance(model, SASRec)


def fit_recommender(engine: Engine, method: str = "als", event: str = "Item Rated",
                    item_property: str = "item_id", weight_property: str | None = None,
                    relevant_min: float | None = None, action: str | None = None,
                    params: dict[str, Any] | None = None
                    ) -> tuple[Recommender, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Evaluate then fit a recommender; return it with its params, metrics and data window.

    Args:
        engine: the store.
        method: ``als``, ``item_knn``, ``user_knn``, ``popularity``, ``sasrec`` or
            ``hybrid``.
        event: the interaction event.
        item_property: the property holding the item id.
        weight_property: numeric property (e.g. ``rating``) used to pick relevant test items.
        relevant_min: held-out pairs with a weight below it are not relevant (needs
            ``weight_property``).
        action: verb of the reasons ("rated"); derived from the event name by default.
        params: hyper-parameters of the recommender.

    Raises:
        ValidationError: unknown method, no interactions, bad hyper-parameters.
        ConfigError: ``sasrec`` without PyTorch installed.
    """
    hyper = dict(params or {})
    candidate = build(method, hyper)
    if relevant_min is not None and weight_property is None:
        raise ValidationError("relevant_min needs a weight_property to compare with",
                              field="relevant_min")
    verb = action or (event.split()[-1].lower() if event.split() else "interacted with")
    data = _interactions(engine, event, item_property, weight_property, verb)
    sequential = _sequential(candidate)
    if sequential:
        train, test = leave_last_out(data)
        split = "leave-last-out by time (each profile's latest pair held out)"
    else:
        train, test = random_split(data, TEST_FRACTION, seed=SPLIT_SEED)
        split = (f"per-profile random {1 - TEST_FRACTION:.0%}/{TEST_FRACTION:.0%} split "
                 f"(seed {SPLIT_SEED})")
    relevant = test if relevant_min is None else test.at_least(relevant_min)
    ml = engine.in_engine_ml()
    model: Recommender
    if ml is not None and isinstance(candidate, ALS):
        # ALS factorises inside a distributed engine (MLlib); the split stays as it is
        scores = _evaluate_in_engine(engine, ml, candidate, train.binarize(), relevant)
        pairs = profile_events(engine, event, texts=[("item_id", item_property)])
        pairs = pairs.filter(pairs.item_id.notnull())
        final = build(method, hyper)
        assert isinstance(final, ALS)
        model = final.fit_in_engine(ml, pairs, data.binarize())
    else:
        scores = evaluate(candidate, train.binarize(), relevant, K)
        model = build(method, hyper).fit(data.binarize())
    baseline = evaluate(Popularity(), train.binarize(), relevant, K)
    metrics: dict[str, Any] = {f"{k}@{K}": v for k, v in scores.items() if k != "users"}
    metrics.update({"users_evaluated": scores["users"],
                    f"popularity_ndcg@{K}": baseline["ndcg"],
                    "protocol": f"{split}, full ranking of unseen items, "
                                "relevant = held-out pairs"
                                + (f" with {weight_property} >= {relevant_min}"
                                   if relevant_min is not None else "")})
    out_params = {"method": method, "event": event, "item_property": item_property,
                  "weight_property": weight_property, "hyper_parameters": hyper}
    window = {"profiles": int(data.shape[0]), "items": int(data.shape[1]),
              "interactions": int(data.nnz)}
    return model, out_params, metrics, window
