"""Propensity / churn classifiers fitted and scored inside a distributed engine (Spark MLlib).

On a Spark store, :func:`aidmp.ml.propensity.service.fit_propensity` hands the training rows
(labels joined to the behaviour features, both engine queries) to MLlib's logistic regression
or gradient-boosted trees through :class:`~aidmp.engine.ml.InEngineML`; the rows stay in Spark.
The fitted :class:`~aidmp.ml.propensity.model.PropensityModel` keeps the coefficients (or the
saved MLlib trees' folder) and the held-out metrics computed in Spark. Scoring writes the
``predictions`` rows with engine queries, never through this process.

What differs from the single-node path (docs/engines.md): no cross-validated choice among
four model families (``auto`` compares logistic and GBT on the held-out rows), no
probability calibration, no lift / calibration tables (AUC, log-loss, base rate and mean
prediction only), no per-person explanations; event-aggregate features only (profile
attributes keep the driver path).

Example:
    >>> engine_method("gbm"), engine_method("logistic")
    ('gbt', 'logistic')
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import ibis
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from aidmp.engine.base import arrow_schema
from aidmp.engine.ml import ClassifierFit, InEngineML
from aidmp.errors import ValidationError
from aidmp.privacy.consent import SCORING_PURPOSE, refused
from aidmp.store.schema import TABLES

if TYPE_CHECKING:
    from aidmp.engine.base import Engine

__all__ = ["engine_method", "fit_in_engine", "in_engine_proba", "write_engine_predictions"]


def engine_method(method: str) -> Literal["logistic", "gbt"]:
    """The MLlib estimator that stands for a :class:`PropensityModel` method."""
    if method == "logistic":
        return "logistic"
    if method in ("gbm", "tree"):
        return "gbt"
    raise ValidationError(f"method {method!r} has no in-engine version; valid: auto, "
                          "logistic, gbm, tree", field="method")


def fit_in_engine(model: Any, ml: InEngineML, rows: ibis.Table,
                  features: list[str], label: str = "label",
                  folder: str | None = None) -> Any:
    """Fit ``model`` (a :class:`~aidmp.ml.propensity.model.PropensityModel`) on ``rows``
    (features and a 0/1 ``label``) inside the engine; returns ``model``."""
    methods = ["logistic", "gbm"] if model.method == "auto" else [model.method]
    params = dict(model.params or {})
    fits: list[ClassifierFit] = []
    for method in methods:
        kind = engine_method(method)
        fits.append(ml.classifier(rows, features, label, method=kind,
                                  validation_size=float(model.validation_size),
                                  seed=int(model.random_state),
                                  params=dict(params.get(method, {})), folder=folder))
    best = max(fits, key=lambda f: f.auc)
    model.in_engine_ = best
    model.method_ = "logistic" if best.method == "logistic" else "gbm"
    model.selection_ = pd.DataFrame([{"method": f.method, "holdout_auc": f.auc,
                                      "selected": f is best} for f in fits])
    model.features_ = list(features)
    model.categorical_ = []
    model.classes_ = np.array([0, 1])
    model.n_train_, model.n_validation_ = best.n_train, best.n_validation
    model.n_fit_ = best.n_train + best.n_validation
    model.base_rate_ = best.base_rate
    model.importances_ = pd.DataFrame(
        sorted(best.importances.items(), key=lambda kv: -kv[1]),
        columns=["feature", "importance"])
    return model


def in_engine_proba(fit: ClassifierFit, X: pd.DataFrame) -> NDArray[np.float64]:
    """Probabilities of outcome 0 and 1 for a frame on the driver (logistic models only:
    trees fitted in the engine score there, see :func:`write_engine_predictions`)."""
    missing = [c for c in fit.features if c not in X.columns]
    if missing:
        raise ValidationError(f"missing feature column(s) {missing}", field=missing[0])
    if fit.method != "logistic":
        raise ValidationError("a tree model fitted inside the engine scores there; use "
                              "dmp.models.score()", field="model")
    values = X[fit.features].to_numpy(dtype=np.float64)
    values = np.where(np.isnan(values), fit.means, values)
    p = 1.0 / (1.0 + np.exp(-(values @ fit.coefficients + fit.intercept)))
    return np.column_stack([1.0 - p, p])


def write_engine_predictions(engine: Engine, fit: ClassifierFit, rows: ibis.Table, key: str,
                             model: str, version: int) -> int:
    """Score ``rows`` (``profile_id`` and the features) in the engine and upsert the
    ``predictions`` rows of ``key`` there; return how many people were scored.

    As :func:`aidmp.ml.data.write_predictions`: people who withdrew the scoring purpose get
    no score and lose the ones stored.
    """
    ml = engine.in_engine_ml()
    if ml is None:
        raise ValidationError(f"the {engine.name} engine scores on the driver", field="engine")
    stage = f"_mllib_scores_{model}_{version}"
    ml.classifier_scores(fit, rows, "profile_id", stage)
    try:
        schema = arrow_schema(TABLES["predictions"])
        no = refused(engine, SCORING_PURPOSE)
        s = engine.table(stage).anti_join(no, "profile_id")
        now = datetime.now(UTC)
        new = s.select(
            profile_id=s.profile_id.cast("string"), key=ibis.literal(key),
            value=s.p.cast("float64"), model=ibis.literal(model),
            version=ibis.literal(int(version), "int64"),
            scored_at=ibis.literal(now, ibis.dtype("timestamp('UTC')")))
        p = engine.table("predictions")
        kept = p.anti_join(new.select("profile_id", "key"), ["profile_id", "key"])
        kept = kept.anti_join(no, "profile_id")
        names = schema.names
        rows_out = ibis.union(kept.select(*names), new.select(*names), distinct=False)
        engine.replace_from("predictions", rows_out)
        n = engine.execute(new.aggregate(n=new.count())).column("n")[0].as_py()
    finally:
        engine.drop(stage)
    return int(n or 0)


def engine_metrics(fit: ClassifierFit) -> dict[str, Any]:
    """The registered metrics of an in-engine fit."""
    return {"auc": fit.auc, "log_loss": fit.log_loss, "base_rate": fit.base_rate,
            "mean_predicted": fit.mean_predicted, "validation_size": fit.n_validation,
            "fitted_in": "engine (Spark MLlib)"}
