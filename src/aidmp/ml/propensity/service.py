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
from aidmp.errors import ValidationError
from aidmp.ml.data import profile_events
from aidmp.ml.propensity.data import churn_label, future_event_label, history_features
from aidmp.ml.propensity.model import PropensityModel

__all__ = ["features_at", "fit_propensity", "latest_event_time", "prediction_key",
           "propensity_events", "score_propensity"]

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


def fit_propensity(engine: Engine, target_event: str, window_days: int,
                   cutoff: str | pd.Timestamp | None = None, kind: Kind = "propensity",
                   method: str = "auto", value_property: str | None = "revenue"
                   ) -> tuple[PropensityModel, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Fit a :class:`PropensityModel` as of ``cutoff``; model, params, metrics, data window.

    Args:
        engine: the store.
        target_event: the event to predict (``kind="propensity"``: doing it in the window;
            ``kind="churn"``: a past doer *not* doing it in the window).
        window_days: length of the outcome window.
        cutoff: end of the observed past; the latest event minus the window by default.
        kind: ``"propensity"`` or ``"churn"``.
        method: passed to :class:`PropensityModel` (``auto``, ``logistic``, ``gbm``...).
        value_property: numeric event property summed / averaged as features, if any.

    Raises:
        ValidationError: bad kind, window or cutoff, or labels of a single class.
    """
    if kind not in ("propensity", "churn"):
        raise ValidationError(f"unknown kind {kind!r}; valid: propensity, churn", field="kind")
    if isinstance(window_days, bool) or not isinstance(window_days, int) or window_days < 1:
        raise ValidationError(f"must be a positive whole number of days, got {window_days!r}",
                              field="window_days")
    events = propensity_events(engine, value_property)
    latest = latest_event_time(engine, events)
    cut = latest - timedelta(days=window_days) if cutoff is None else pd.Timestamp(cutoff)
    if cut.tzinfo is None:
        cut = cut.tz_localize("UTC")
    if cut + timedelta(days=window_days) > latest + timedelta(days=1):
        raise ValidationError(f"the outcome window ends after the latest event ({latest}); use "
                              f"a cutoff on or before {latest - timedelta(days=window_days)}",
                              field="cutoff")
    if kind == "churn":
        labels = churn_label(events, "profile_id", "timestamp", cut, window_days,
                             event_col="event", event_name=target_event)
    else:
        labels = future_event_label(events, "profile_id", "timestamp", "event", target_event,
                                    cut, window_days)
    assert isinstance(labels, ibis.Table)
    y = engine.execute(labels.order_by("profile_id")).to_pandas()
    X = features_at(engine, events, cut, value_property)
    frame = y.merge(X, on="profile_id", how="inner")
    model = PropensityModel(method=method, n_threads=1)  # type: ignore[arg-type]
    model.fit(frame.drop(columns=["profile_id", "label"]), frame["label"].to_numpy())
    card = model.model_card()
    m = model.metrics_
    metrics = {"auc": m.auc, "log_loss": m.log_loss, "brier": m.brier,
               "base_rate": m.base_rate, "mean_predicted": m.mean_predicted,
               "lift_top10": m.lift[0].lift, "validation_size": m.n,
               "lift": [row.__dict__ for row in m.lift]}
    params = {"kind": kind, "target_event": target_event, "window_days": window_days,
              "method": method, "value_property": value_property, "model_card": card}
    window = {"cutoff": cut.isoformat(),
              "label_window_end": (cut + timedelta(days=window_days)).isoformat(),
              "rows": len(frame), "positives": int(frame["label"].sum())}
    return model, params, metrics, window


def score_propensity(engine: Engine, model: PropensityModel, value_property: str | None
                     ) -> tuple[list[str], dict[str, Any]]:
    """Probabilities for everyone with events, from their features up to the latest event."""
    events = propensity_events(engine, value_property)
    X = features_at(engine, events, latest_event_time(engine, events), value_property)
    p = model.predict_proba(X.drop(columns=["profile_id"]))[:, 1]
    return X["profile_id"].tolist(), {"p": p}
