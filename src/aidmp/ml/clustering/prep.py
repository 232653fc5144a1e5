"""Feature preparation shared by the clustering and lookalike models.

Profiles arrive as a wide frame (one row per person) whose columns vary with the data: numbers
(``age``, ``rfm_monetary``, ``interest_*``), text (``gender``, ``occupation``) and columns that
are no features at all (ids, e-mail addresses, timestamps). :func:`choose_features` picks the
usable ones, :func:`make_preprocessor` imputes, standardises numbers and one-hot encodes text so
that distances between people mean something.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"profile_id": ["a", "b", "c"], "age": [20.0, None, 40.0],
    ...                       "gender": ["F", "M", None]})
    >>> numeric, categorical = choose_features(frame, None, "profile_id")
    >>> numeric, categorical
    (['age'], ['gender'])
    >>> make_preprocessor(numeric, categorical).fit_transform(
    ...     as_model_frame(frame, numeric, categorical)).shape
    (3, 4)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from aidmp.errors import ValidationError

if TYPE_CHECKING:
    from aidmp.engine.base import Engine

__all__ = ["MISSING", "as_model_frame", "choose_features", "make_preprocessor", "profiles_frame",
           "require_frame"]

MISSING = "(missing)"
#: Text columns with more distinct values than this are identifiers or free text, not categories.
MAX_CATEGORIES = 50
#: Profile columns that identify people; never features unless named explicitly.
IDENTITY_COLUMNS = frozenset({"profile_id", "user_id", "anonymous_id", "email", "phone"})
#: Earlier model outputs and labels (a previous clustering's ``cluster_*``, scores, ids): never
#: features unless named, or a new clustering would partly re-learn the old one.
_LABEL_COLUMN = re.compile(
    r"^(cluster|segment|lookalike|p|clv|pred|prediction|score)(_|$)|(_id|_label|_cluster)$")


def is_label_column(name: str) -> bool:
    """Whether a column is an identifier or an earlier model's label / score by its name."""
    return name.lower() in IDENTITY_COLUMNS or bool(_LABEL_COLUMN.search(name.lower()))


def count_columns(frame: pd.DataFrame, numeric: Sequence[str]) -> list[str]:
    """Numeric columns that read as counts: whole numbers, never negative, right-skewed (a few
    people with many). Scaled with log1p before standardising, so that a handful of heavy
    users does not stretch the axis and squeeze everyone else into one cluster."""
    out = []
    for col in numeric:
        values = pd.to_numeric(frame[col], errors="coerce").dropna().to_numpy(dtype=float)
        if (len(values) > 2 and values.min() >= 0 and np.all(values == np.round(values))
                and values.max() > 1 and float(pd.Series(values).skew()) > 1.0):
            out.append(str(col))
    return out


def require_frame(frame: object, name: str = "X") -> pd.DataFrame:
    """``frame`` as a non-empty DataFrame, or a ValidationError naming ``name``."""
    if isinstance(frame, pd.DataFrame):
        out = frame
    elif hasattr(frame, "to_pandas"):
        out = frame.to_pandas()
    else:
        raise ValidationError("must be a pandas DataFrame (or an Arrow/Polars table) with one row "
                              f"per profile, got {type(frame).__name__}", field=name)
    if len(out) == 0:
        raise ValidationError("has no rows; give at least one profile", field=name)
    return out


def _is_numeric(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


def _is_text(series: pd.Series) -> bool:
    return bool(pd.api.types.is_string_dtype(series) or pd.api.types.is_object_dtype(series)
                or isinstance(series.dtype, pd.CategoricalDtype))


def _category_like(name: str, series: pd.Series) -> bool:
    """Whether an unnamed text column looks like a category rather than an id or free text."""
    if name in IDENTITY_COLUMNS:
        return False
    distinct = series.nunique(dropna=True)
    # A value per row (beyond tiny tables) is an identifier even below MAX_CATEGORIES.
    return bool(distinct <= MAX_CATEGORIES and not (distinct == series.count() > 10))


def choose_features(
    frame: pd.DataFrame, features: Sequence[str] | None, id_column: str | None,
) -> tuple[list[str], list[str]]:
    """Split the feature columns into numeric and categorical ones.

    Args:
        frame: One row per profile.
        features: Columns to use; ``None`` takes every numeric column and every text column with
            at most :data:`MAX_CATEGORIES` distinct values, except ``id_column``, identity
            columns (:data:`IDENTITY_COLUMNS`), text with a distinct value per row, timestamps
            and columns that are entirely empty.
        id_column: The profile id column, never a feature.

    Returns:
        ``(numeric, categorical)`` column names, in frame order.

    Raises:
        ValidationError: A named feature is missing or has an unusable type, or nothing is left.
    """
    if features is not None:
        unknown = [c for c in features if c not in frame.columns]
        if unknown:
            raise ValidationError(f"unknown column(s) {unknown}; valid columns: "
                                  f"{', '.join(map(str, frame.columns))}", field="features")
        columns = list(features)
    else:
        columns = [c for c in frame.columns if c != id_column and frame[c].notna().any()
                   and not is_label_column(str(c))]
    numeric: list[str] = []
    categorical: list[str] = []
    for col in columns:
        series = frame[col]
        if pd.api.types.is_datetime64_any_dtype(series) or pd.api.types.is_timedelta64_dtype(
                series):
            if features is not None:
                raise ValidationError(f"column {col!r} holds timestamps; derive a number from it "
                                      "(e.g. days since) first", field="features")
        elif _is_numeric(series):
            numeric.append(str(col))
        elif _is_text(series):
            if features is not None or _category_like(str(col), series):
                categorical.append(str(col))
        elif features is not None:
            raise ValidationError(f"column {col!r} has type {series.dtype}; features must be "
                                  "numbers or text", field="features")
    if not numeric and not categorical:
        raise ValidationError("no usable feature column: give numeric or categorical columns",
                              field="features")
    return numeric, categorical


def as_model_frame(
    frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str],
) -> pd.DataFrame:
    """The feature columns with plain dtypes: float64 numbers and object text, gaps marked.

    A missing category becomes its own level (:data:`MISSING`): "unknown gender" often behaves
    differently from any one gender, and a mode imputation would hide that.
    """
    missing = [c for c in [*numeric, *categorical] if c not in frame.columns]
    if missing:
        raise ValidationError(f"missing feature column(s) {missing}", field="X")
    out = pd.DataFrame(index=frame.index)
    for col in numeric:
        out[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    for col in categorical:
        values = frame[col].astype(object)
        out[col] = values.where(values.notna(), MISSING).astype(str).astype(object)
    return out


def _dense(matrix: object) -> NDArray[np.float64]:
    """A sparse matrix as a dense array (TF-IDF returns sparse; the other blocks are dense)."""
    to_array = getattr(matrix, "toarray", None)
    return np.asarray(to_array() if to_array is not None else matrix, dtype=np.float64)


def make_preprocessor(numeric: Sequence[str], categorical: Sequence[str],
                      log_columns: Sequence[str] = ()) -> ColumnTransformer:
    """Median-impute + standardise numbers, one-hot encode categories (unknown levels ignored);
    ``log_columns`` (counts) go through log1p before they are standardised, or, three or more
    of them, through TF-IDF (sublinear term frequency) as one block."""
    parts: list[tuple[str, object, list[str]]] = []
    logs = [c for c in numeric if c in set(log_columns)]
    numeric = [c for c in numeric if c not in set(log_columns)]
    if len(logs) >= 3:
        # Several counts (interests, genres, categories) read as a document of terms: TF-IDF
        # keeps what a person is into relative to everyone else and drops how much they do
        # overall, which otherwise is the one axis K-Means splits on (heavy vs light, K = 2).
        parts.append(("count", Pipeline([
            ("impute", SimpleImputer(strategy="constant", fill_value=0.0)),
            ("tfidf", TfidfTransformer(sublinear_tf=True)),
            ("dense", FunctionTransformer(_dense, accept_sparse=True)),
            ("scale", StandardScaler())]), logs))
    elif logs:
        parts.append(("count", Pipeline([("impute", SimpleImputer(strategy="median")),
                                         ("log", FunctionTransformer(np.log1p)),
                                         ("scale", StandardScaler())]), logs))
    if numeric:
        parts.append(("num", Pipeline([("impute", SimpleImputer(strategy="median")),
                                       ("scale", StandardScaler())]), list(numeric)))
    if categorical:
        parts.append(("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False,
                                           dtype=np.float64), list(categorical)))
    return ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0)


def profiles_frame(
    engine: Engine, columns: Sequence[str] | None = None, *, table: str = "profiles",
) -> pd.DataFrame:
    """Read the profile table (``profile_id`` plus ``columns``, or every column) as pandas.

    The columns of ``profiles`` vary with the data, so they are checked against the stored
    schema and only the needed ones leave the engine.

    Raises:
        ValidationError: A requested column is not in the table (the valid ones are listed).
    """
    expr = engine.table(table)
    available = list(expr.schema().names)
    if columns is not None:
        unknown = [c for c in columns if c not in available]
        if unknown:
            raise ValidationError(f"unknown profile column(s) {unknown}; valid columns: "
                                  f"{', '.join(available)}", field="features")
        wanted = ["profile_id", *[c for c in columns if c != "profile_id"]]
        expr = expr.select(*[c for c in wanted if c in available])
    return engine.execute(expr).to_pandas()
