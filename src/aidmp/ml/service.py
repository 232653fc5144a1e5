"""The ``dmp.models`` namespace: fit models from the store, register, score, use them.

Every fit reads resolved events (run ``dmp.identity.resolve()`` first), evaluates the model with
a stated protocol, and registers a new version (:class:`~aidmp.ml.registry.ModelRegistry`);
:meth:`Models.score` writes per-profile predictions (``clv_12m``, ``p_alive``,
``expected_orders_12m``, ``p_<name>``) into the ``predictions`` table. Loaded models are kept
in memory per name and version, so ``recommend`` and ``bought_together`` answer fast.

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> _ = dmp.events.ingest([{"type": "track", "event": "Order Completed", "userId": f"u{i}",
    ...     "messageId": f"m{i}", "properties": {"products": ["tea", "milk"]}}
    ...     for i in range(3)], source="shop")
    >>> models = dmp.models
    >>> models.fit_rules(min_support=0.5, min_confidence=0.9)["metrics"]["rules"]
    4
    >>> [r["item"] for r in models.bought_together(["tea"])]
    ['milk']
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import ibis
import pandas as pd

from aidmp.errors import NotFoundError, ValidationError
from aidmp.ml.clv.service import fit_clv, score_clv
from aidmp.ml.clv.summary import Freq
from aidmp.ml.data import item_names, write_predictions
from aidmp.ml.metrics import evaluate as evaluate_scores
from aidmp.ml.propensity.data import churn_label, future_event_label
from aidmp.ml.propensity.frame import attribute_table
from aidmp.ml.propensity.service import (
    Kind,
    features_at,
    fit_propensity,
    latest_event_time,
    prediction_key,
    propensity_events,
    score_in_engine,
    score_propensity,
    scoring_frame,
)
from aidmp.ml.recommend import Recommender
from aidmp.ml.recommend.base import check_n
from aidmp.ml.recommend.service import fit_recommender, popular_items
from aidmp.ml.registry import FIT_KINDS, ModelRegistry, Rows, check_name, json_ready
from aidmp.ml.rules.service import fit_rules

if TYPE_CHECKING:
    from pathlib import Path

    from aidmp.engine.base import Engine

__all__ = ["FIT_KINDS", "Models"]



class Models:
    """Fit, register, score and use models (the ``dmp.models`` namespace).

    Args:
        engine: the store.
        folder: where model artefacts go (``<home>/models`` in a DMP).
    """

    def __init__(self, engine: Engine, folder: Path) -> None:
        self.engine = engine
        self.registry = ModelRegistry(engine, folder)
        self._loaded: dict[str, tuple[int, Any]] = {}

    # -- registry ------------------------------------------------------------------------------
    def list(self, name: str | None = None) -> Rows:
        """Every registered version, without the bulky parameters."""
        return [{k: v for k, v in row.items() if k != "params"}
                for row in self.registry.list(name)]

    def show(self, name: str, version: int | None = None) -> dict[str, Any]:
        """One version (the newest active by default) with params, metrics and data window,
        and ``scored``: how many profiles hold this version's predictions (``None`` before
        it is scored)."""
        row = self.registry.show(name, version)
        p = self.engine.table("predictions")
        p = p.filter(p.model == row["name"], p.version == row["version"])
        n = self.engine.execute(p.aggregate(n=p.profile_id.nunique())).column("n")[0].as_py()
        return {**row, "scored": int(n) if n else None}

    def archive(self, name: str, version: int | None = None) -> dict[str, Any]:
        """Archive a version; the previous active one becomes the one used."""
        self._loaded.pop(name, None)
        return self.registry.archive(name, version)

    def load(self, name: str, version: int | None = None) -> Any:
        """The fitted object of a version (cached per name for the newest active one)."""
        row = self.registry.show(name, version)
        cached = self._loaded.get(name)
        if cached is not None and cached[0] == row["version"]:
            return cached[1]
        obj = self.registry.load(name, row["version"])
        if version is None:
            self._loaded[name] = (row["version"], obj)
        return obj

    def _register(self, name: str, kind: str, fitted: tuple[Any, dict[str, Any],
                  dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
        model, params, metrics, window = fitted
        version = self.registry.register(name, model, kind, params, metrics, window)
        self._loaded[name] = (version, model)
        return self.registry.show(name, version)

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, kind: str, name: str | None = None, **options: Any) -> dict[str, Any]:
        """Fit a model of ``kind`` (``clv``, ``propensity``, ``churn``, ``rules``,
        ``recommend``) with the options of the matching ``fit_*`` method."""
        method, args = self._fit_call(kind, name, options)
        return method(**args)

    def check_fit(self, kind: str, name: str | None = None, **options: Any) -> None:
        """Refuse a fit whose kind, name or option names are wrong, before any work (a job
        is checked so when it is submitted).

        Raises:
            ValidationError: naming the kind, the name or the first unknown option.
        """
        self._fit_call(kind, name, options)

    def _fit_call(self, kind: str, name: str | None, options: dict[str, Any]
                  ) -> tuple[Callable[..., dict[str, Any]], dict[str, Any]]:
        if kind not in FIT_KINDS:
            raise ValidationError(f"unknown model kind {kind!r}; valid: {', '.join(FIT_KINDS)}",
                                  field="kind")
        methods: dict[str, Callable[..., dict[str, Any]]] = {
            "clv": self.fit_clv, "propensity": self.fit_propensity,
            "churn": self.fit_propensity, "rules": self.fit_rules,
            "recommend": self.fit_recommender}
        method = methods[kind]
        args = dict(options)
        if kind in ("propensity", "churn"):
            args["kind"] = kind
            if name is None:
                raise ValidationError("a propensity model needs a name, e.g. 'order_90d'",
                                      field="name")
        if name is not None:
            args["name"] = name
        allowed = set(inspect.signature(method).parameters)
        unknown = sorted(set(args) - allowed)
        if unknown:
            raise ValidationError(f"unknown option(s) {', '.join(unknown)} for {kind}; valid: "
                                  f"{', '.join(sorted(allowed))}", field=unknown[0])
        if "name" in args:
            check_name(args["name"])
        return method, args

    def fit_clv(self, name: str = "clv", order_event: str = "Order Completed",
                value_property: str = "revenue", calibration_end: date | str | None = None,
                holdout_end: date | str | None = None, freq: Freq = "W",
                method: str = "auto") -> dict[str, Any]:
        """BG/NBD + Gamma-Gamma on the ``order_event`` purchases; register a version.

        With ``calibration_end`` the fit sees purchases up to it, and the metrics compare the
        holdout forecast (to ``holdout_end``) with what happened: BG/NBD, the linear and
        tree regressions on customer features and a naive rate model, side by side
        (``metrics.candidates``). ``method`` (``auto``, ``bgnbd``, ``linear``, ``tree``)
        says where ``clv_12m`` comes from; ``auto`` takes the lowest holdout MAE.
        """
        return self._register(check_name(name), "clv", fit_clv(
            self.engine, order_event, value_property, calibration_end, holdout_end, freq,
            method))

    def fit_propensity(self, name: str, target_event: str | None = None,
                       window_days: int | None = None, cutoff: str | None = None,
                       kind: Kind = "propensity", method: str = "auto",
                       value_property: str | None = "revenue",
                       target_column: str | None = None, positive: str | None = None,
                       features: str | Sequence[str] = "auto") -> dict[str, Any]:
        """Classifier of doing (or, ``kind="churn"``, not doing) ``target_event`` within
        ``window_days`` (features before the cutoff, labels after it), or of a yes/no profile
        attribute ``target_column``; over profile attributes and / or event aggregates
        (``features``: ``auto``, ``attributes``, ``events``, ``all`` or a list of columns).
        The chosen model is validated on a held-out fifth, then refitted on every row."""
        return self._register(check_name(name), kind, fit_propensity(
            self.engine, target_event, window_days, cutoff, kind, method, value_property,
            target_column, positive, features))

    def fit_rules(self, name: str = "rules", order_event: str = "Order Completed",
                  items_property: str = "products", basket_property: str = "order_id",
                  item_key: str | None = None, min_support: float | str = "auto",
                  min_confidence: float | None = None, min_len: int = 1, max_len: int = 10,
                  top_items: int = 50) -> dict[str, Any]:
        """Association rules over the baskets of ``order_event``; the default
        ``min_support="auto"`` adapts the support so that the ``top_items`` best sellers get
        rules, a number mines at that fixed share as arules does."""
        return self._register(check_name(name), "rules", fit_rules(
            self.engine, order_event, items_property, basket_property, item_key, min_support,
            min_confidence, min_len, max_len, top_items))

    def fit_recommender(self, name: str = "recommend", method: str = "als",
                        event: str = "Item Rated", item_property: str = "item_id",
                        weight_property: str | None = None, relevant_min: float | None = None,
                        params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A recommender over (profile, item) pairs of ``event``, evaluated then refitted."""
        return self._register(check_name(name), "recommend", fit_recommender(
            self.engine, method, event, item_property, weight_property, relevant_min,
            params=params))

    # -- scoring and evaluation ----------------------------------------------------------------
    def score(self, name: str) -> dict[str, Any]:
        """Write the active version's per-profile predictions; return what was written."""
        row = self.registry.show(name)
        model = self.load(name)
        if row["kind"] == "clv":
            ids, scores = score_clv(self.engine, model)
        elif row["kind"] in ("propensity", "churn") and hasattr(model, "in_engine_"):
            # fitted inside the engine: scored and written there, no rows come back
            n = score_in_engine(self.engine, model, row["params"], name, row["version"])
            return {"model": name, "version": row["version"], "profiles": n,
                    "keys": [prediction_key(name)], "rows": n}
        elif row["kind"] in ("propensity", "churn"):
            ids, raw = score_propensity(self.engine, model, row["params"])
            scores = {prediction_key(name): raw["p"]}
        else:
            raise ValidationError(f"model {name!r} is a {row['kind']} model, which has no "
                                  "per-profile score; score clv, propensity or churn models",
                                  field="name")
        written = write_predictions(self.engine, ids, scores, name, row["version"])
        return {"model": name, "version": row["version"], "profiles": len(ids),
                "keys": sorted(scores), "rows": written}

    def explain(self, name: str, profile_id: str, top: int = 5) -> dict[str, Any]:
        """Why a propensity / churn model scores this person as it does: the features that
        pushed the score up or down against the average person (log-odds contributions),
        plus the model's global importances."""
        row = self.registry.show(name)
        if row["kind"] not in ("propensity", "churn"):
            raise ValidationError(f"model {name!r} is a {row['kind']} model; explanations are "
                                  "given by propensity and churn models", field="name")
        model = self.load(name)
        frame = scoring_frame(self.engine, row["params"])
        person = frame[frame["profile_id"] == profile_id]
        if person.empty:
            raise NotFoundError(f"profile {profile_id!r} has no events to explain")
        X = person.drop(columns=["profile_id"])
        p = float(model.predict_proba(X)[0, 1])
        reasons = [{"feature": f, "value": v, "contribution": round(float(c), 6),
                    "direction": "up" if c > 0 else "down"}
                   for f, v, c in model.explain(X, top=top)[0]]
        return {"model": name, "version": row["version"], "profile_id": profile_id,
                "probability": round(p, 6), "reasons": json_ready(reasons),
                "importances": json_ready(getattr(model, "importances_", None))}

    def evaluate(self, name: str) -> dict[str, Any]:
        """The active version's metrics; propensity models are also re-checked out of time
        on the newest data (cutoff = latest event - window)."""
        row = self.registry.show(name)
        out = {"name": name, "version": row["version"], "kind": row["kind"],
               "metrics": row["metrics"], "data_window": row["data_window"], "current": None}
        # a static outcome has no newer window to re-check on
        if row["kind"] in ("propensity", "churn") and not row["params"].get("target_column"):
            out["current"] = json_ready(self._recheck(self.load(name), row["params"]))
        return out

    def _recheck(self, model: Any, params: dict[str, Any]) -> dict[str, Any]:
        events = propensity_events(self.engine, params.get("value_property"))
        window, target = int(params["window_days"]), params["target_event"]
        cut = latest_event_time(self.engine, events) - pd.Timedelta(days=window)
        if params["kind"] == "churn":
            labels = churn_label(events, "profile_id", "timestamp", cut, window,
                                 event_col="event", event_name=target)
        else:
            labels = future_event_label(events, "profile_id", "timestamp", "event", target,
                                        cut, window)
        assert isinstance(labels, ibis.Table)
        y = self.engine.execute(labels).to_pandas()
        X = features_at(self.engine, events, cut, params.get("value_property"))
        if params.get("attributes"):
            X = X.merge(attribute_table(self.engine, params["attributes"]), on="profile_id",
                        how="left")
        frame = y.merge(X, on="profile_id", how="inner")
        p = model.predict_proba(frame.drop(columns=["profile_id", "label"]))[:, 1]
        m = evaluate_scores(frame["label"].to_numpy(), p)
        return {"cutoff": cut.isoformat(), "n": m.n, "auc": m.auc, "log_loss": m.log_loss,
                "base_rate": m.base_rate, "lift_top10": m.lift[0].lift}

    # -- using ----------------------------------------------------------------------------------
    def bought_together(self, items: Sequence[str] | str, n: int = 10, name: str = "rules"
                        ) -> Rows:
        """Items to suggest beside ``items``, each with its best rule."""
        model = self.load(name)
        frame = model.bought_together(items, n=n)
        names = item_names(self.engine, frame["item"].astype(str).tolist())
        return [json_ready({"item": r["item"], "name": names.get(str(r["item"])),
                            "because": list(r["antecedents"]), "confidence": r["confidence"],
                            "lift": r["lift"], "support": r["support"]})
                for r in frame.to_dict(orient="records")]

    def recommend(self, profile_id: str, n: int = 10, name: str = "recommend") -> Rows:
        """Top ``n`` items the profile has not seen, with a reason; a profile the model never
        saw gets the most popular items."""
        n = check_n(n)
        model: Recommender = self.load(name)
        data = model.interactions_
        try:
            rows = model.recommend([profile_id], n=n).to_dicts()
        except ValidationError as exc:
            if exc.field != "user_ids":
                raise
            rows = [{"rank": i + 1, "item_id": item, "score": None,
                     "reason": "popular with everyone", "reason_item_id": None}
                    for i, item in enumerate(popular_items(data, n))]
        names = dict(data.item_labels)
        return [json_ready({"rank": r["rank"], "item_id": r["item_id"],
                            "name": names.get(r["item_id"]), "score": r["score"],
                            "reason": r["reason"], "reason_item_id": r["reason_item_id"]})
                for r in rows]
