"""Input checks, preprocessing and the candidate classifiers of :mod:`aidmp.ml.propensity.model`.

Columns are typed from their dtype: numbers (and booleans) are imputed with the median and
standardised; strings, objects and categoricals are one-hot encoded, a missing value being its
own category. Every candidate is one scikit-learn :class:`~sklearn.pipeline.Pipeline` with the
steps ``prep`` (the column transformer) and ``model`` (the classifier).

Example:
    >>> import pandas as pd
    >>> X = pd.DataFrame({"spend": [10.0, None, 30.0], "channel": ["web", "app", None]})
    >>> spec = FeatureSpec.from_frame(X)
    >>> spec.numeric, spec.categorical
    (['spend'], ['channel'])
    >>> prepare(X, spec)["channel"].tolist()
    ['web', 'app', '(missing)']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC, LinearSVC
from sklearn.tree import DecisionTreeClassifier

from aidmp.errors import ValidationError

Method = Literal["logistic", "svm", "tree", "gbm"]
METHODS: tuple[Method, ...] = ("logistic", "svm", "tree", "gbm")
MISSING = "(missing)"
# An exact RBF SVC costs O(n^2) memory and time: above this many rows the SVM candidate is a
# Nystroem approximation of the same kernel followed by a linear SVM.
SVC_EXACT_LIMIT = 5_000


@dataclass(frozen=True)
class FeatureSpec:
    """The feature columns of a training frame, split by how they are encoded."""

    numeric: list[str]
    categorical: list[str]

    @property
    def columns(self) -> list[str]:
        """All feature columns, numeric first, in training order."""
        return [*self.numeric, *self.categorical]

    @classmethod
    def from_frame(cls, X: pd.DataFrame) -> FeatureSpec:
        """Type every column of ``X`` from its dtype.

        Raises:
            ValidationError: ``X`` has no columns, or a column is neither numeric nor
                categorical (dates and durations must be turned into numbers first).
        """
        if X.shape[1] == 0:
            raise ValidationError("X has no feature columns", field="X")
        numeric: list[str] = []
        categorical: list[str] = []
        for name in X.columns:
            if not isinstance(name, str):
                raise ValidationError(f"column names must be strings, got {name!r}", field="X")
            dtype = X[name].dtype
            if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype) \
                    or pd.api.types.is_object_dtype(dtype):
                categorical.append(name)
            elif pd.api.types.is_numeric_dtype(dtype):
                numeric.append(name)
            else:
                raise ValidationError(
                    f"column has dtype {dtype}; valid feature dtypes are numbers, booleans, "
                    "strings and categoricals (turn dates into e.g. days since an event)",
                    field=name)
        return cls(numeric=numeric, categorical=categorical)


def check_columns(X: object, spec: FeatureSpec) -> pd.DataFrame:
    """``X`` as a DataFrame holding every column of ``spec``.

    Raises:
        ValidationError: ``X`` is not a DataFrame, or a feature column is missing (the field is
            the first missing column).
    """
    if not isinstance(X, pd.DataFrame):
        raise ValidationError(f"X must be a pandas DataFrame, got {type(X).__name__}",
                              field="X")
    missing = [c for c in spec.columns if c not in X.columns]
    if missing:
        raise ValidationError(
            f"column missing from X; the model needs: {', '.join(spec.columns)}",
            field=missing[0])
    return X


def prepare(X: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The feature columns with plain dtypes: float64 numbers, str categories.

    Nullable pandas dtypes become NaN floats; a missing category becomes ``"(missing)"`` so the
    one-hot encoder sees one sortable type.
    """
    out: dict[str, NDArray[np.generic]] = {}
    for name in spec.numeric:
        out[name] = pd.to_numeric(X[name], errors="raise").astype("float64").to_numpy()
    for name in spec.categorical:
        col = X[name]
        values = col.astype(object).where(col.notna(), MISSING).to_numpy()
        out[name] = np.array([str(v) for v in values], dtype=object)
    return pd.DataFrame(out, index=X.index)


def preprocessor(spec: FeatureSpec) -> ColumnTransformer:
    """Median imputation + scaling for numbers, one-hot for categories."""
    blocks: list[tuple[str, Pipeline | OneHotEncoder, list[str]]] = []
    if spec.numeric:
        # keep_empty_features: an all-missing column must keep its slot, the explanation
        # code maps output columns back to source columns by position.
        blocks.append(("num", Pipeline([
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]), spec.numeric))
    if spec.categorical:
        blocks.append(("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                       spec.categorical))
    return ColumnTransformer(blocks, remainder="drop")


def make_estimator(method: Method, spec: FeatureSpec, n_samples: int, random_state: int,
                   params: Mapping[str, object] | None = None) -> Pipeline:
    """One unfitted candidate: ``prep`` then the classifier of ``method``.

    Defaults are deliberately regularised (shallow trees, large minimum leaves, a
    small learning rate with early stopping) because propensity data are noisy; ``params``
    overrides the classifier's.

    Raises:
        ValidationError: a key of ``params`` is not a parameter of the classifier.
    """
    steps: list[tuple[str, object]] = [("prep", preprocessor(spec))]
    if method == "logistic":
        steps.append(("model", LogisticRegression(C=1.0, max_iter=2_000)))
    elif method == "svm":
        if n_samples <= SVC_EXACT_LIMIT:
            steps.append(("model", SVC(kernel="rbf", C=1.0, gamma="scale",
                                       random_state=random_state)))
        else:
            # gamma=None is 1/n_features, i.e. SVC's gamma="scale" on standardised inputs.
            steps.append(("kernel", Nystroem(n_components=100, random_state=random_state)))
            steps.append(("model", LinearSVC(C=1.0, random_state=random_state)))
    elif method == "tree":
        steps.append(("model", DecisionTreeClassifier(
            max_depth=6, min_samples_leaf=max(5, n_samples // 500), random_state=random_state)))
    else:
        steps.append(("model", HistGradientBoostingClassifier(
            learning_rate=0.05, max_iter=300, max_depth=3, l2_regularization=1.0,
            min_samples_leaf=max(20, n_samples // 200), early_stopping="auto",
            random_state=random_state)))
    pipe = Pipeline(steps)
    if params:
        try:
            pipe.named_steps["model"].set_params(**params)
        except ValueError as exc:
            raise ValidationError(f"invalid parameter for {method}: {exc}",
                                  field=f"params.{method}") from None
    return pipe


def source_slices(prep: ColumnTransformer, spec: FeatureSpec) -> list[slice]:
    """For each source column (``spec.columns`` order), its output columns after ``prep``."""
    slices: list[slice] = []
    if spec.numeric:
        start = prep.output_indices_["num"].start
        slices.extend(slice(start + i, start + i + 1) for i in range(len(spec.numeric)))
    if spec.categorical:
        start = prep.output_indices_["cat"].start
        encoder = prep.named_transformers_["cat"]
        for categories in encoder.categories_:
            slices.append(slice(start, start + len(categories)))
            start += len(categories)
    return slices
