"""Propensity and churn classifiers with calibrated probabilities and explanations.

:class:`PropensityModel` turns a feature frame (one row per person) and a 0/1 outcome into
calibrated probabilities. ``method="auto"`` compares logistic regression, an RBF SVM, a decision
tree and gradient boosting by stratified cross-validated AUC on the training part only and keeps
the best; a held-out validation split then gives the metrics, the permutation importances and
the model card. :meth:`PropensityModel.explain` says which columns pushed a person's score up
or down compared with the average person (see :mod:`aidmp.ml.propensity.explain`).

Labels and features as of a cutoff date come from :mod:`aidmp.ml.propensity.data`.

Example:
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"visits": rng.poisson(3, 400).astype(float),
    ...                   "plan": rng.choice(["free", "pro"], 400)})
    >>> y = (X["visits"] + (X["plan"] == "pro") * 2 + rng.normal(0, 1.5, 400) > 4).astype(int)
    >>> model = PropensityModel(method="logistic", cv=3, n_threads=1).fit(X, y)
    >>> model.metrics_.auc > 0.8
    True
    >>> [name for name, _, _ in model.explain(X.head(1), top=2)[0]]
    ['visits', 'plan']
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, Literal, Self, TypedDict

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.inspection import permutation_importance
from sklearn.model_selection import StratifiedKFold, cross_validate, train_test_split
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from aidmp.errors import ValidationError
from aidmp.ml.metrics import Evaluation, evaluate

if TYPE_CHECKING:
    import ibis

    from aidmp.engine.ml import InEngineML
from aidmp.ml.propensity.estimators import (
    METHODS,
    FeatureSpec,
    Method,
    check_columns,
    make_estimator,
    prepare,
    source_slices,
)
from aidmp.ml.propensity.explain import LinearExplainer, ShapleyExplainer, logit, top_contributions

__all__ = ["ModelCard", "PropensityModel"]

Calibration = Literal["isotonic", "sigmoid"] | None
_NAMES = {"logistic": "logistic regression", "svm": "support vector machine",
          "tree": "decision tree", "gbm": "gradient boosting"}


class ModelCard(TypedDict):
    """What :meth:`PropensityModel.model_card` returns (JSON-ready)."""

    method: str
    estimator: str
    parameters: dict[str, object]
    selection: list[dict[str, object]]
    metrics: dict[str, object]
    importances: list[dict[str, object]]
    training_size: int
    validation_size: int
    base_rate: float
    features: list[str]
    categorical_features: list[str]
    summary: str


def _target(y: object, n_rows: int) -> NDArray[np.int64]:
    """``y`` as a 0/1 vector, or a ValidationError naming ``y``."""
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.shape[0] != n_rows:
        raise ValidationError(f"y must be 1-d with one value per row of X ({n_rows}), got "
                              f"shape {arr.shape}", field="y")
    if pd.isna(arr).any():
        raise ValidationError("y has missing values; every row needs a 0/1 outcome", field="y")
    values = set(np.unique(arr).tolist())
    if not values <= {0, 1}:  # True/False and 0.0/1.0 compare equal to 0/1
        shown = ", ".join(repr(v) for v in sorted(values, key=repr)[:5])
        raise ValidationError(f"y must be binary (0/1 or False/True), got values {shown}",
                              field="y")
    if not values:
        raise ValidationError("y is empty: there are no rows to learn from", field="y")
    if len(values) < 2:
        only = sorted(values)[0]
        raise ValidationError(f"y holds a single class ({only!r}); a propensity "
                              "model needs both outcomes", field="y")
    return arr.astype(np.int64)


class PropensityModel(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Calibrated probability that a person does something (buy again, churn, open, ...).

    Args:
        method: ``"auto"`` (best cross-validated AUC), ``"logistic"``, ``"svm"``, ``"tree"``
            or ``"gbm"`` (histogram gradient boosting).
        calibration: how scores become probabilities (``CalibratedClassifierCV``): ``"sigmoid"``
            (Platt), ``"isotonic"`` or ``None`` (the classifier's own; an SVM, which has none,
            then gets sigmoid).
        random_state: seed of the splits and of every randomised step.
        cv: folds of the stratified cross-validation (selection and calibration).
        validation_size: share of rows held out for metrics and importances.
        params: classifier parameters per method, e.g. ``{"gbm": {"max_iter": 100}}``.
        n_background: reference rows of model-agnostic explanations.
        n_repeats: shuffles per column of the permutation importance.
        n_threads: BLAS / OpenMP threads while fitting, predicting and explaining; ``None``
            keeps the process setting. 1 is often fastest on small data or busy machines
            (thread contention made gradient boosting 7x slower on a shared 2-core host).
        refit: after validation, fit the chosen method again on every row (training and
            validation), so the model that scores people has seen all the data; the metrics
            and importances stay those of the held-out split.

    Attributes:
        method_: the method fitted (the winner when ``method="auto"``).
        estimator_: the fitted, calibrated scikit-learn model (input: prepared frame).
        selection_: cross-validated AUC of every candidate, best first (column ``selected``).
        metrics_: :class:`~aidmp.ml.metrics.Evaluation` on the validation split.
        importances_: permutation importance (drop in validation AUC) per source column.
        features_: source columns, in training order; ``categorical_`` those one-hot encoded.
        n_train_, n_validation_: rows used to fit / to validate.
        n_fit_: rows the final estimator was fitted on (all rows when ``refit``).
        validation_index_: the index labels of ``X`` held out for validation.
        base_rate_: share of positives in the training rows.
        expected_logit_: the logit explanations start from (the average person's).
        explainer_: exact linear explainer (logistic, affine calibration) or interventional
            Shapley explainer (anything else), see :mod:`aidmp.ml.propensity.explain`.
    """

    def __init__(
        self,
        method: Literal["auto", "logistic", "svm", "tree", "gbm"] = "auto",
        calibration: Calibration = "sigmoid",
        random_state: int = 0,
        cv: int = 5,
        validation_size: float = 0.2,
        params: Mapping[str, Mapping[str, Any]] | None = None,
        n_background: int = 100,
        n_repeats: int = 5,
        n_threads: int | None = None,
        refit: bool = True,
    ) -> None:
        self.method = method
        self.calibration = calibration
        self.random_state = random_state
        self.cv = cv
        self.validation_size = validation_size
        self.params = params
        self.n_background = n_background
        self.n_repeats = n_repeats
        self.n_threads = n_threads
        self.refit = refit

    # -- fitting -------------------------------------------------------------------------------
    def _check_params(self) -> list[Method]:
        if self.method != "auto" and self.method not in METHODS:
            raise ValidationError(f"unknown method {self.method!r}; valid: auto, "
                                  f"{', '.join(METHODS)}", field="method")
        if self.calibration not in ("isotonic", "sigmoid", None):
            raise ValidationError(f"unknown calibration {self.calibration!r}; valid: "
                                  "isotonic, sigmoid, None", field="calibration")
        if not isinstance(self.cv, int) or self.cv < 2:
            raise ValidationError(f"cv must be an integer >= 2, got {self.cv!r}", field="cv")
        if not 0 < self.validation_size < 1:
            raise ValidationError(f"validation_size must be in (0, 1), got "
                                  f"{self.validation_size!r}", field="validation_size")
        unknown = set(self.params or {}) - set(METHODS)
        if unknown:
            raise ValidationError(f"unknown method(s) {sorted(unknown)} in params; valid: "
                                  f"{', '.join(METHODS)}", field="params")
        return list(METHODS) if self.method == "auto" else [self.method]

    def _threads(self) -> AbstractContextManager[object]:
        if self.n_threads is None:
            return nullcontext()
        return threadpool_limits(self.n_threads)

    def _candidate(self, method: Method, n_rows: int) -> Pipeline:
        return make_estimator(method, self.spec_, n_rows, self.random_state,
                              (self.params or {}).get(method))

    def _folds(self) -> StratifiedKFold:
        return StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)

    def _select(self, methods: list[Method], X: pd.DataFrame,
                y: NDArray[np.int64]) -> pd.DataFrame:
        # Selection compares uncalibrated candidates: calibration is monotone and AUC
        # depends on the ranking only, so calibrating inside every fold would cost cv times
        # more fits for the same comparison.
        rows = []
        for method in methods:
            start = time.perf_counter()
            scores = cross_validate(self._candidate(method, len(X)), X, y, cv=self._folds(),
                                    scoring="roc_auc")["test_score"]
            rows.append({"method": method, "cv_auc": float(np.mean(scores)),
                         "cv_auc_std": float(np.std(scores)),
                         "seconds": round(time.perf_counter() - start, 3)})
        table = pd.DataFrame(rows).sort_values("cv_auc", ascending=False, kind="stable")
        table["selected"] = np.arange(len(table)) == 0
        return table.reset_index(drop=True)

    def _calibrated(self, method: Method, X: pd.DataFrame,
                    y: NDArray[np.int64]) -> Pipeline | CalibratedClassifierCV:
        base = self._candidate(method, len(X))
        how = "sigmoid" if self.calibration is None and method == "svm" else self.calibration
        if how is None:
            return base.fit(X, y)
        # ensemble=False: one model refit on all training rows, calibrated on out-of-fold
        # scores, so the fitted model is a single pipeline that can be explained exactly.
        model = CalibratedClassifierCV(base, method=how, cv=self._folds(), ensemble=False)
        return model.fit(X, y)

    def fit(self, X: pd.DataFrame, y: ArrayLike) -> Self:
        """Select (if ``auto``), fit and calibrate on ``X``/``y``; validate on a held-out split.

        Args:
            X: one row per person; numeric, boolean, string or categorical columns.
            y: the 0/1 outcome per row.

        Raises:
            ValidationError: bad hyper-parameters, X not a DataFrame or with unsupported
                dtypes, y not binary, of a single class or of the wrong length.
        """
        methods = self._check_params()
        with self._threads():
            return self._fit(methods, X, y)

    def _fit(self, methods: list[Method], X: pd.DataFrame, y: ArrayLike) -> Self:
        if not isinstance(X, pd.DataFrame):
            raise ValidationError(f"X must be a pandas DataFrame, got {type(X).__name__}",
                                  field="X")
        target = _target(y, len(X))
        self.spec_ = FeatureSpec.from_frame(X)
        data = prepare(X, self.spec_)
        if min(np.bincount(target)) < 2 * self.cv:
            raise ValidationError(f"too few rows of the rarer class ({min(np.bincount(target))})"
                                  f" for {self.cv}-fold validation", field="y")
        X_tr, X_val, y_tr, y_val = train_test_split(
            data, target, test_size=self.validation_size, stratify=target,
            random_state=self.random_state)
        self.selection_ = self._select(methods, X_tr, y_tr)
        self.method_: Method = self.selection_.loc[0, "method"]
        self.estimator_ = self._calibrated(self.method_, X_tr, y_tr)
        self.classes_ = np.array([0, 1])
        self.features_ = self.spec_.columns
        self.categorical_ = self.spec_.categorical
        self.n_train_, self.n_validation_ = len(X_tr), len(X_val)
        self.base_rate_ = float(y_tr.mean())
        self.metrics_: Evaluation = evaluate(y_val, self.estimator_.predict_proba(X_val)[:, 1])
        # Shuffling a source column before encoding moves all of its one-hot outputs
        # together, so the importances are per source column by construction.
        imp = permutation_importance(self.estimator_, X_val, y_val, scoring="roc_auc",
                                     n_repeats=self.n_repeats, random_state=self.random_state)
        self.importances_ = pd.DataFrame({
            "feature": self.features_, "importance": imp.importances_mean,
            "std": imp.importances_std,
        }).sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)
        self.validation_index_ = X_val.index
        self.n_fit_ = len(X_tr)
        if self.refit:
            # Validation chose and measured the model; the one that scores people is the same
            # method fitted on every row (more data, same hyper-parameters).
            self.estimator_ = self._calibrated(self.method_, data, target)
            self.n_fit_ = len(data)
            X_tr = data
        self.explainer_ = self._explainer(X_tr)
        self.expected_logit_ = self.explainer_.base_logit
        return self

    def fit_in_engine(self, ml: InEngineML, rows: ibis.Table, features: list[str],
                      label: str = "label", folder: str | None = None) -> Self:
        """Fit inside a distributed engine (Spark MLlib logistic regression or
        gradient-boosted trees) on the rows of an engine query; see
        :mod:`aidmp.ml.propensity.in_engine` for what differs from :meth:`fit`."""
        from aidmp.ml.propensity.in_engine import fit_in_engine

        return fit_in_engine(self, ml, rows, features, label, folder)

    def _logit(self, data: pd.DataFrame) -> NDArray[np.float64]:
        return logit(self.estimator_.predict_proba(data)[:, 1])

    def _explainer(self, X_tr: pd.DataFrame) -> LinearExplainer | ShapleyExplainer:
        if self.method_ == "logistic":
            linear = self._linear_explainer(X_tr)
            if linear is not None:
                return linear
        background = X_tr.sample(min(self.n_background, len(X_tr)),
                                 random_state=self.random_state)
        return ShapleyExplainer(self._logit, background, random_state=self.random_state)

    def _linear_explainer(self, X_tr: pd.DataFrame) -> LinearExplainer | None:
        """Exact explainer when the calibrated logit is an affine map of the linear score."""
        fitted = self.estimator_
        pipe = fitted.calibrated_classifiers_[0].estimator \
            if isinstance(fitted, CalibratedClassifierCV) else fitted
        prep, lr = pipe.named_steps["prep"], pipe.named_steps["model"]
        z = np.asarray(prep.transform(X_tr), dtype=np.float64)
        raw = z @ lr.coef_[0] + lr.intercept_[0]
        cal = self._logit(X_tr)
        # Sigmoid calibration is affine in the score; isotonic is not. Recover the map from
        # the data and only claim exactness if it fits to rounding error.
        inner = np.abs(cal) < 15
        if inner.sum() < 2:
            return None
        slope, intercept = np.polyfit(raw[inner], cal[inner], 1)
        if np.max(np.abs(slope * raw[inner] + intercept - cal[inner])) > 1e-6:
            return None
        mean = z.mean(axis=0)
        weights = slope * lr.coef_[0]
        base = float(slope * (mean @ lr.coef_[0] + lr.intercept_[0]) + intercept)
        return LinearExplainer(lambda d: prep.transform(d), weights, mean,
                               source_slices(prep, self.spec_), base)

    # -- using -------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "explainer_") and not hasattr(self, "in_engine_"):
            raise ValidationError("the model is not fitted; call fit(X, y) first", field="model")

    def _rows(self, X: object) -> pd.DataFrame:
        self._check_fitted()
        return prepare(check_columns(X, self.spec_), self.spec_)

    def predict_proba(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """Probabilities of outcome 0 and 1 (columns), one row per row of ``X``.

        Raises:
            ValidationError: a training column is missing from ``X`` (named in ``field``).
        """
        if hasattr(self, "in_engine_"):
            from aidmp.ml.propensity.in_engine import in_engine_proba

            return in_engine_proba(self.in_engine_, X)
        rows = self._rows(X)
        with self._threads():
            return np.asarray(self.estimator_.predict_proba(rows), dtype=np.float64)

    def predict(self, X: pd.DataFrame) -> NDArray[np.int64]:
        """1 where the probability of outcome 1 is at least 0.5."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)

    def explain(self, X_rows: pd.DataFrame,
                top: int | None = 5) -> list[list[tuple[str, object, float]]]:
        """Per row: the columns that moved this person's score most, vs the average person.

        Each item is ``(column, value, contribution)``; contributions are log-odds, positive
        pushing the probability up, sorted by size. Over all columns (``top=None``) they sum
        to ``logit(p) - expected_logit_``.
        """
        if hasattr(self, "in_engine_"):
            raise ValidationError("models fitted inside the engine have no per-person "
                                  "explanations; see importances_", field="model")
        data = self._rows(X_rows)
        if top is not None and top < 1:
            raise ValidationError(f"top must be a positive integer or None, got {top!r}",
                                  field="top")
        with self._threads():
            contrib = self.explainer_.contributions(data)
        return top_contributions(X_rows, self.features_, contrib, top)

    def model_card(self) -> ModelCard:
        """What the model is, how it was chosen, how well it does, in JSON-ready values."""
        self._check_fitted()
        if hasattr(self, "in_engine_"):
            return self._engine_card()
        m = self.metrics_
        top = m.lift[0]
        strongest = ", ".join(self.importances_["feature"].head(3))
        n_fit = getattr(self, "n_fit_", self.n_train_)  # versions saved before refitting
        refitted = f" (then refitted on all {n_fit:,})" if n_fit != self.n_train_ else ""
        summary = (
            f"A {_NAMES[self.method_]} model"
            + (f", chosen among {len(self.selection_)} candidates by {self.cv}-fold "
               "cross-validated AUC" if self.method == "auto" else "")
            + f", trained on {self.n_train_:,} people of whom {self.base_rate_:.1%} were "
            f"positive{refitted}. On {m.n:,} held-out people it ranks a random positive above "
            f"a random negative {m.auc:.0%} of the time (AUC {m.auc:.3f}); the top 10% by "
            f"score are {top.lift:.1f}x as likely as average to be positive and hold "
            f"{top.cumulative_gains_pct:.0f}% of all positives. Mean predicted probability "
            f"{m.mean_predicted:.3f} vs observed {m.base_rate:.3f}. Strongest signals: "
            f"{strongest}."
        )
        model = self.estimator_
        inner = model.estimator if isinstance(model, CalibratedClassifierCV) else model
        classifier = inner.named_steps["model"]
        return {
            "method": self.method_,
            "estimator": type(classifier).__name__,
            "parameters": {
                "method": self.method, "calibration": self.calibration, "cv": self.cv,
                "random_state": self.random_state, "validation_size": self.validation_size,
                "classifier": {k: v for k, v in classifier.get_params().items()
                               if v is None or isinstance(v, bool | int | float | str)},
            },
            "selection": self.selection_.to_dict(orient="records"),
            "metrics": m.to_dict(),
            "importances": self.importances_.to_dict(orient="records"),
            "training_size": self.n_train_,
            "validation_size": self.n_validation_,
            "base_rate": self.base_rate_,
            "features": list(self.features_),
            "categorical_features": list(self.categorical_),
            "summary": summary,
        }

    def _engine_card(self) -> ModelCard:
        fit = self.in_engine_
        summary = (f"A {_NAMES[self.method_]} model fitted inside the engine (Spark MLlib) on "
                   f"{fit.n_train:,} people of whom {fit.base_rate:.1%} were positive, then "
                   f"refitted on all {self.n_fit_:,}. On {fit.n_validation:,} held-out people: "
                   f"AUC {fit.auc:.3f}, mean predicted {fit.mean_predicted:.3f} vs observed "
                   f"{fit.base_rate:.3f}.")
        return {
            "method": self.method_,
            "estimator": "MLlib " + ("LogisticRegression" if fit.method == "logistic"
                                     else "GBTClassifier"),
            "parameters": {"method": self.method, "calibration": None, "cv": self.cv,
                           "random_state": self.random_state,
                           "validation_size": self.validation_size, "classifier": {}},
            "selection": self.selection_.to_dict(orient="records"),
            "metrics": {"auc": fit.auc, "log_loss": fit.log_loss, "base_rate": fit.base_rate,
                        "mean_predicted": fit.mean_predicted, "n": fit.n_validation},
            "importances": self.importances_.to_dict(orient="records"),
            "training_size": self.n_train_,
            "validation_size": self.n_validation_,
            "base_rate": self.base_rate_,
            "features": list(self.features_),
            "categorical_features": [],
            "summary": summary,
        }
