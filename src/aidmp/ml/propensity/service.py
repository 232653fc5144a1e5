"""Propensity and churn models fitted from the store, without leakage.

Training rows are the people active at or before a cutoff: features come only from their
events up to the cutoff (:func:`~aidmp.ml.propensity.data.history_features`), labels only from
the ``window_days`` after it. Scoring recomputes the same features up to the latest event, so
a score reads "probability of the outcome in the next ``window_days``".

Example:
    >>> prediction_key("order_90d")
    'p_order_90d'
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

import ibis
import pandas as pd

from aidmp.engine.base import Engine
from aidmp.engine.ml import InEngineML
from aidmp.errors import ValidationError
from aidmp.ml.data import profile_events
from aidmp.ml.propensity.data import churn_label, future_event_label, history_features
from aidmp.ml.propensity.frame import (
    EVENT_FEATURES,
    attribute_table,
    binary_target,
    parse_features,
    usable_attributes,
)
from aidmp.ml.propensity.in_engine import engine_metrics, write_engine_predictions
from aidmp.ml.propensity.model import PropensityModel

__all__ = ["features_at", "fit_propensity", "history_rows", "latest_event_time",
           "prediction_key", "propensity_events", "score_in_engine", "score_propensity",
           "scoring_frame"]

Kind = Literal["propensity", "churn"]


def prediction_key(name: str) -> str:
    """The ``predictions`` key a propensity model writes."""
    return name if name.startswith("p_") else f"p_{name}"


def propensity_events(engine: Engine, value_property: str | None) -> ibis.Table:
    """Every event of a resolved profile, with the value property as ``value``."""
    numbers = [("value", value_property)] if value_property else []
    return profile_events(engine, None, numbers=numbers)


def latest_event_time(engine: Engine, events: ibis.Table) -> pd.Timestamp:
    """The time of the newest event."""
    value = engine.execute(events.aggregate(t=events.timestamp.max())).column("t")[0].as_py()
    if value is None:
        raise ValidationError("there are no events of resolved profiles", field="events")
    return pd.Timestamp(value)


def features_at(engine: Engine, events: ibis.Table, cutoff: pd.Timestamp,
              value_property: str | None) -> pd.DataFrame:
    """One row of behaviour features per profile, from its events up to ``cutoff``."""
    expr = history_features(events, "profile_id", "timestamp", cutoff,
                            ["value"] if value_property else [])
    assert isinstance(expr, ibis.Table)
    frame = engine.execute(expr.order_by("profile_id")).to_pandas()
    # A person without the value property spent nothing measurable.
    for col in ("value_sum", "value_mean"):
        if col in frame:
            frame[col] = frame[col].fillna(0.0)
    return frame


def _check_labels(frame: pd.DataFrame, what: str) -> None:
    """A clear one-line error when the labels cannot train a classifier."""
    n, pos = len(frame), int(frame["label"].sum()) if len(frame) else 0
    if n == 0:
        raise ValidationError(f"no one to learn from: {what} has no people", field="target")
    if pos in (0, n):
        raise ValidationError(f"every one of the {n} people has outcome {int(pos == n)} "
                              f"({what}); a model needs both outcomes: choose another target, "
                              "window or cutoff", field="target")


def _event_frame(engine: Engine, events: ibis.Table, cut: pd.Timestamp,
                 value_property: str | None, attributes: list[str]) -> pd.DataFrame:
    """Event aggregates up to ``cut`` for people with events, plus their attributes."""
    X = features_at(engine, events, cut, value_property)
    if attributes:
        X = X.merge(attribute_table(engine, attributes), on="profile_id", how="left")
    return X


def _resolve_features(engine: Engine, features: object, exclude: list[str],
                      value_property: str | None) -> tuple[str, list[str], bool]:
    """``(mode, attribute keys, use event aggregates)`` of a feature choice."""
    mode, names = parse_features(features)
    if mode == "events":
        return mode, [], True
    if mode == "list":
        assert names is not None
        aggregates = {c for c in EVENT_FEATURES
                      if value_property or not c.startswith("value_")}
        bad = [c for c in names if c in exclude]
        if bad:
            raise ValidationError("the outcome column cannot also be a feature", field=bad[0])
        attrs = [c for c in names if c not in aggregates]
        if attrs:
            attribute_table(engine, attrs).head(0)  # names an unknown attribute
        return mode, attrs, any(c in aggregates for c in names)
    table = attribute_table(engine)
    attrs = usable_attributes(table, exclude)
    if mode == "attributes" and not attrs:
        raise ValidationError("there are no usable profile attributes (import a customer "
                              "table with --type identify and run `aidmp build`)",
                              field="features")
    return mode, attrs, mode != "attributes"


def fit_propensity(engine: Engine, target_event: str | None = None,
                   window_days: int | None = None, cutoff: str | pd.Timestamp | None = None,
                   kind: Kind = "propensity", method: str = "auto",
                   value_property: str | None = "revenue", target_column: str | None = None,
                   positive: str | None = None, features: object = "auto"
                   ) -> tuple[PropensityModel, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Fit a :class:`PropensityModel`; model, params, metrics, data window.

    The outcome is either ``target_event`` in ``window_days`` after ``cutoff`` (features from
    the past only), or the yes/no attribute ``target_column`` (a static outcome: people
    without a value are not trained on, and are scored).

    Args:
        engine: the store.
        target_event: the event to predict (``kind="propensity"``: doing it in the window;
            ``kind="churn"``: a past doer *not* doing it in the window).
        window_days: length of the outcome window (with ``target_event``).
        cutoff: end of the observed past; the latest event minus the window by default.
        kind: ``"propensity"`` or ``"churn"``.
        method: passed to :class:`PropensityModel` (``auto``, ``logistic``, ``gbm``...).
        value_property: numeric event property summed / averaged as features, if any.
        target_column: a profile attribute holding the outcome (yes/no, true/false, 0/1).
        positive: the value of ``target_column`` that is the positive outcome.
        features: ``auto``, ``attributes``, ``events``, ``all`` or a list of columns
            (see :mod:`aidmp.ml.propensity.frame`).

    Raises:
        ValidationError: bad kind, window, cutoff, target or features, or labels of a single
            class (a one-line message saying why).
    """
    if kind not in ("propensity", "churn"):
        raise ValidationError(f"unknown kind {kind!r}; valid: propensity, churn", field="kind")
    if (target_event is None) == (target_column is None):
        raise ValidationError("give either target_event (with window_days) or target_column",
                              field="target_event" if target_event is None else "target_column")
    exclude = [target_column] if target_column else []
    mode, attrs, use_events = _resolve_features(engine, features, exclude, value_property)
    plan = {"features": mode, "attributes": attrs, "events": use_events}
    common = {"kind": kind, "method": method, "value_property": value_property, **plan}
    ml = engine.in_engine_ml()
    if ml is not None and target_event is not None and not attrs and use_events:
        # A distributed engine fits on its own rows (MLlib); profile attributes, which are
        # joined in pandas, keep the driver path.
        return _fit_in_engine(engine, ml, target_event, window_days, cutoff, kind, method,
                              value_property, common)
    if target_column is not None:
        frame, window = _static_frame(engine, target_column, positive, value_property, attrs,
                                      use_events)
        params: dict[str, Any] = {**common, "target_column": target_column,
                                  "positive": positive}
    else:
        assert target_event is not None
        frame, cut = _window_frame(engine, target_event, window_days, cutoff, kind,
                                   value_property, attrs)
        if not use_events:
            frame = frame[["profile_id", "label", *attrs]]
        params = {**common, "target_event": target_event, "window_days": window_days}
        window = {"cutoff": cut.isoformat(),
                  "label_window_end": (cut + timedelta(days=int(window_days or 0))).isoformat()}
    X = frame.drop(columns=["profile_id", "label"])
    constant = [c for c in X.columns if X[c].nunique(dropna=False) <= 1]
    X = X.drop(columns=constant)
    if X.shape[1] == 0:
        raise ValidationError("every chosen feature is constant; nothing to learn from",
                              field="features")
    # indexed by profile: ``model.validation_index_`` then names the held-out people
    X.index = pd.Index(frame["profile_id"], name="profile_id")
    model = PropensityModel(method=method, n_threads=1)  # type: ignore[arg-type]
    model.fit(X, frame["label"].to_numpy())
    card = model.model_card()
    m = model.metrics_
    metrics = {"auc": m.auc, "log_loss": m.log_loss, "brier": m.brier,
               "base_rate": m.base_rate, "mean_predicted": m.mean_predicted,
               "lift_top10": m.lift[0].lift, "validation_size": m.n,
               "lift": [row.__dict__ for row in m.lift],
               # the model card's charts: predicted against observed rate per decile, and the
               # permutation importance (drop in validation AUC) per column
               "calibration": [row.__dict__ for row in m.calibration],
               "importances": card["importances"]}
    params.update({"model_card": card, "columns": list(X.columns), "dropped_constant": constant})
    window.update({"rows": len(frame), "positives": int(frame["label"].sum())})
    return model, params, metrics, window


def _check_window(window_days: int | None) -> int:
    if isinstance(window_days, bool) or not isinstance(window_days, int) or window_days < 1:
        raise ValidationError(f"must be a positive whole number of days, got {window_days!r}",
                              field="window_days")
    return window_days


def _cutoff(engine: Engine, events: ibis.Table, window_days: int | None,
            cutoff: str | pd.Timestamp | None) -> pd.Timestamp:
    window_days = _check_window(window_days)
    latest = latest_event_time(engine, events)
    cut = latest - timedelta(days=window_days) if cutoff is None else pd.Timestamp(cutoff)
    if cut.tzinfo is None:
        cut = cut.tz_localize("UTC")
    if cut + timedelta(days=window_days) > latest + timedelta(days=1):
        raise ValidationError(f"the outcome window ends after the latest event ({latest}); use "
                              f"a cutoff on or before {latest - timedelta(days=window_days)}",
                              field="cutoff")
    return cut


def _labels(events: ibis.Table, target_event: str, cut: pd.Timestamp, window_days: int,
            kind: Kind) -> ibis.Table:
    if kind == "churn":
        labels = churn_label(events, "profile_id", "timestamp", cut, window_days,
                             event_col="event", event_name=target_event)
    else:
        labels = future_event_label(events, "profile_id", "timestamp", "event", target_event,
                                    cut, window_days)
    assert isinstance(labels, ibis.Table)
    return labels


def history_rows(events: ibis.Table, cut: pd.Timestamp, value_property: str | None
                 ) -> ibis.Table:
    """:func:`features_at` as an engine query (value aggregates of non-buyers are 0)."""
    expr = history_features(events, "profile_id", "timestamp", cut,
                            ["value"] if value_property else [])
    assert isinstance(expr, ibis.Table)
    fills = {c: expr[c].fill_null(0.0) for c in ("value_sum", "value_mean") if c in expr.columns}
    return expr.mutate(**fills) if fills else expr


def _fit_in_engine(engine: Engine, ml: InEngineML, target_event: str,
                   window_days: int | None, cutoff: str | pd.Timestamp | None, kind: Kind,
                   method: str, value_property: str | None, common: dict[str, Any]
                   ) -> tuple[PropensityModel, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """:func:`fit_propensity` with the rows kept in the engine (event features only)."""
    events = propensity_events(engine, value_property)
    cut = _cutoff(engine, events, window_days, cutoff)
    assert window_days is not None
    labels = _labels(events, target_event, cut, window_days, kind)
    feats = history_rows(events, cut, value_property)
    rows = labels.inner_join(feats, "profile_id")
    counts = engine.execute(rows.aggregate(n=rows.count(), pos=rows.label.sum())).to_pylist()[0]
    n, pos = int(counts["n"] or 0), int(counts["pos"] or 0)
    end = cut + timedelta(days=window_days)
    what = (f"{target_event!r} {'not ' if kind == 'churn' else ''}done between "
            f"{cut.date()} and {end.date()}")
    _check_labels(pd.DataFrame({"label": [1] * pos + [0] * (n - pos)}), what)
    columns = [c for c in feats.columns if c != "profile_id"]
    model = PropensityModel(method=method)  # type: ignore[arg-type]
    model.fit_in_engine(ml, rows, columns)
    params = {**common, "target_event": target_event, "window_days": window_days,
              "model_card": model.model_card(), "columns": columns, "dropped_constant": [],
              "in_engine": True}
    window = {"cutoff": cut.isoformat(), "label_window_end": end.isoformat(), "rows": n,
              "positives": pos}
    return model, params, engine_metrics(model.in_engine_), window


def score_in_engine(engine: Engine, model: PropensityModel, params: dict[str, Any],
                    name: str, version: int) -> int:
    """Score everyone with events in the engine and write their ``predictions`` there."""
    events = propensity_events(engine, params.get("value_property"))
    rows = history_rows(events, latest_event_time(engine, events),
                        params.get("value_property"))
    return write_engine_predictions(engine, model.in_engine_, rows, prediction_key(name),
                                    name, version)


def _window_frame(engine: Engine, target_event: str, window_days: int | None,
                  cutoff: str | pd.Timestamp | None, kind: Kind, value_property: str | None,
                  attrs: list[str]) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Labels of doing (not doing) the event in the window, with features up to the cutoff."""
    window_days = _check_window(window_days)
    events = propensity_events(engine, value_property)
    cut = _cutoff(engine, events, window_days, cutoff)
    labels = _labels(events, target_event, cut, window_days, kind)
    y = engine.execute(labels.order_by("profile_id")).to_pandas()
    end = cut + timedelta(days=window_days)
    if kind == "churn" and y.empty:
        raise ValidationError(f"no one did {target_event!r} on or before the cutoff "
                              f"{cut.date()}: a churn model needs past doers of the event",
                              field="target_event")
    what = (f"{target_event!r} {'not ' if kind == 'churn' else ''}done between "
            f"{cut.date()} and {end.date()}")
    _check_labels(y, what)
    X = _event_frame(engine, events, cut, value_property, attrs)
    return y.merge(X, on="profile_id", how="inner"), cut


def _static_frame(engine: Engine, target_column: str, positive: str | None,
                  value_property: str | None, attrs: list[str], use_events: bool
                  ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Labels from a yes/no attribute, with the chosen attributes and event aggregates."""
    target = attribute_table(engine, [target_column])
    target["label"] = binary_target(target[target_column], positive, target_column)
    target = target.dropna(subset=["label"])[["profile_id", "label"]]
    target["label"] = target["label"].astype("int64")
    _check_labels(target, f"attribute {target_column!r}")
    frame = target.merge(attribute_table(engine, attrs), on="profile_id", how="left") \
        if attrs else target
    window: dict[str, Any] = {"target_column": target_column}
    if use_events:
        events = propensity_events(engine, value_property)
        latest = latest_event_time(engine, events)
        frame = frame.merge(features_at(engine, events, latest, value_property),
                            on="profile_id", how="left")
        window["features_until"] = latest.isoformat()
    return frame.sort_values("profile_id", kind="stable").reset_index(drop=True), window


def scoring_frame(engine: Engine, params: dict[str, Any]) -> pd.DataFrame:
    """The features of everyone a model scores, built as at training time but up to now:
    people with events (event-window models) or with traits (attribute models)."""
    value_property = params.get("value_property")
    attrs = list(params.get("attributes") or [])
    use_events = params.get("events", True)
    if params.get("target_column") is None:
        events = propensity_events(engine, value_property)
        return _event_frame(engine, events, latest_event_time(engine, events),
                            value_property, attrs)
    frame = attribute_table(engine, attrs) if attrs else attribute_table(engine).iloc[:, :1]
    if use_events:
        events = propensity_events(engine, value_property)
        X = features_at(engine, events, latest_event_time(engine, events), value_property)
        frame = frame.merge(X, on="profile_id", how="outer")
    for col in ("n_events", "n_days"):  # a person without events did nothing
        if col in frame:
            frame[col] = frame[col].fillna(0)
    return frame.sort_values("profile_id", kind="stable").reset_index(drop=True)


def score_propensity(engine: Engine, model: PropensityModel, params: dict[str, Any]
                     ) -> tuple[list[str], dict[str, Any]]:
    """Probabilities for everyone the model can score, from their features up to now."""
    X = scoring_frame(engine, params)
    p = model.predict_proba(X.drop(columns=["profile_id"]))[:, 1]
    return X["profile_id"].tolist(), {"p": p}
