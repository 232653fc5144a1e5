"""K-Means of :class:`~aidmp.ml.clustering.model.ProfileClusterer` inside a distributed engine.

The single-node path prepares features with scikit-learn (median imputation, ``log1p`` of
count-like columns, z-scores, one-hot text) and fits ``KMeans`` on the driver. Here the same
preparation is an engine query (the statistics are aggregates: a few numbers per column) and
the fit is Spark MLlib's K-Means over the prepared rows; only centres, cost and sizes return.
Labels are written by the engine into a derived table (``labels_table_``).

What differs (docs/engines.md): numeric features only (text columns are refused, naming
them); three or more count columns are each ``log1p``-scaled instead of TF-IDF-weighted; the
median is the engine's (Spark: approximate percentile); without ``k``, K is the elbow of the
inertia curve (no silhouette, which needs pairwise distances on the driver).

Example:
    >>> stats = ColumnStats("age", median=30.0, log=False, mean=31.0, scale=2.0)
    >>> float(stats.apply(np.array([35.0]))[0])
    2.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ibis
import numpy as np
from numpy.typing import NDArray

from aidmp.errors import ValidationError
from aidmp.ml.clustering.prep import is_label_column
from aidmp.ml.clustering.select import knee_index

if TYPE_CHECKING:
    from aidmp.engine.base import Engine

__all__ = ["ColumnStats", "fit_kmeans_in_engine", "prepared_rows"]


@dataclass(frozen=True)
class ColumnStats:
    """How one numeric column is prepared: impute, maybe ``log1p``, then standardise."""

    name: str
    median: float
    log: bool
    mean: float
    scale: float

    def apply(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """The prepared values of a numpy column (used to score on the driver)."""
        x = np.where(np.isnan(values), self.median, values)
        x = np.log1p(x) if self.log else x
        return np.asarray((x - self.mean) / self.scale, dtype=np.float64)

    def expr(self, column: ibis.NumericValue) -> ibis.NumericValue:
        """The same preparation as an engine expression."""
        x = column.cast("float64").fill_null(self.median)
        x = (x + 1.0).ln() if self.log else x
        return (x - self.mean) / self.scale  # type: ignore[no-any-return]


def _numeric_features(rows: ibis.Table, features: list[str] | None, id_column: str
                      ) -> list[str]:
    schema = rows.schema()
    if features is None:
        chosen = [c for c in rows.columns if c != id_column and schema[c].is_numeric()
                  and not is_label_column(c)]
    else:
        unknown = [c for c in features if c not in rows.columns]
        if unknown:
            raise ValidationError(f"unknown column(s) {unknown}; valid columns: "
                                  f"{', '.join(rows.columns)}", field="features")
        text = [c for c in features if not schema[c].is_numeric()]
        if text:
            raise ValidationError(f"column(s) {text} are not numeric; clustering inside a "
                                  "distributed engine takes numeric features only",
                                  field="features")
        chosen = list(features)
    if not chosen:
        raise ValidationError("no numeric feature column to cluster on", field="features")
    return chosen


def _column_stats(engine: Engine, rows: ibis.Table, columns: list[str]) -> list[ColumnStats]:
    """Medians and the count test (as :func:`~aidmp.ml.clustering.prep.count_columns`), then
    mean and population standard deviation of the imputed (and logged) values."""
    first: dict[str, Any] = {}
    for c in columns:
        x = rows[c].cast("float64")
        first.update({f"{c}__med": x.approx_median(), f"{c}__n": x.count(),
                      f"{c}__min": x.min(), f"{c}__max": x.max(),
                      f"{c}__frac": (x - x.floor()).abs().max(),
                      f"{c}__s1": x.sum(), f"{c}__s2": (x * x).sum(),
                      f"{c}__s3": (x * x * x).sum()})
    one = engine.execute(rows.aggregate(**first)).to_pylist()[0]
    plan: list[tuple[str, float, bool]] = []
    for c in columns:
        n = int(one[f"{c}__n"] or 0)
        if n == 0:
            raise ValidationError(f"column {c!r} has no values", field="features")
        median = float(one[f"{c}__med"])
        mean = float(one[f"{c}__s1"]) / n
        m2 = float(one[f"{c}__s2"]) / n - mean**2
        m3 = float(one[f"{c}__s3"]) / n - 3 * mean * float(one[f"{c}__s2"]) / n + 2 * mean**3
        # pandas' bias-corrected sample skewness (the test count_columns applies)
        skew = (m3 / m2**1.5 * np.sqrt(n * (n - 1)) / (n - 2)) if n > 2 and m2 > 0 else 0.0
        is_count = (n > 2 and float(one[f"{c}__min"]) >= 0 and float(one[f"{c}__frac"]) == 0
                    and float(one[f"{c}__max"]) > 1 and skew > 1.0)
        plan.append((c, median, bool(is_count)))
    second: dict[str, Any] = {}
    for c, median, log in plan:
        x = rows[c].cast("float64").fill_null(median)
        x = (x + 1.0).ln() if log else x
        second.update({f"{c}__mean": x.mean(), f"{c}__sd": x.std(how="pop")})
    two = engine.execute(rows.aggregate(**second)).to_pylist()[0]
    out = []
    for c, median, log in plan:
        sd = float(two[f"{c}__sd"] or 0.0)
        out.append(ColumnStats(c, median, log, float(two[f"{c}__mean"]), sd if sd > 0 else 1.0))
    return out


def prepared_rows(rows: ibis.Table, id_column: str, stats: list[ColumnStats]) -> ibis.Table:
    """``id_column`` and the prepared features (same names) as an engine query."""
    return rows.select(rows[id_column], *[s.expr(rows[s.name]).name(s.name) for s in stats])


def fit_kmeans_in_engine(model: Any, engine: Engine, rows: ibis.Table,
                         labels_table: str) -> Any:
    """Fit ``model`` (a :class:`~aidmp.ml.clustering.model.ProfileClusterer` with method
    ``kmeans``) on ``rows`` inside ``engine``; see the module doc. Returns ``model``."""
    ml = engine.in_engine_ml()
    if ml is None:
        raise ValidationError(f"the {engine.name} engine fits models on the driver; call "
                              "fit() with the rows as a frame", field="engine")
    if model.method != "kmeans":
        raise ValidationError(f"only kmeans runs inside a distributed engine, got "
                              f"{model.method!r}", field="method")
    if model.id_column not in rows.columns:
        raise ValidationError(f"no id column {model.id_column!r}; valid columns: "
                              f"{', '.join(rows.columns)}", field="id_column")
    n_rows = int(engine.execute(rows.aggregate(n=rows.count())).column("n")[0].as_py())
    ks = model._check(n_rows)
    columns = _numeric_features(rows, list(model.features) if model.features else None,
                                model.id_column)
    stats = _column_stats(engine, rows, columns)
    prepared = prepared_rows(rows, model.id_column, stats)
    fits = {k: ml.kmeans(prepared, columns, k, seed=model.random_state, n_init=model.n_init,
                         max_iter=300, tol=1e-6) for k in ks}
    table = [{"k": k, "inertia": round(f.inertia, 3)} for k, f in fits.items()]
    best = ks[0] if len(ks) == 1 else ks[knee_index([f.inertia for f in fits.values()])]
    fit = fits[best]
    ml.kmeans_assign(prepared, model.id_column, columns, fit.centers, labels_table)
    model.numeric_, model.categorical_ = columns, []
    model.log_columns_ = [s.name for s in stats if s.log]
    model.column_stats_ = stats
    model.centers_ = fit.centers
    model.inertia_ = fit.inertia
    model.sizes_ = fit.sizes
    model.n_clusters_ = best
    model.n_rows_ = model.fitted_on_ = n_rows
    model.labels_table_ = labels_table
    model.estimator_ = None
    model.assignment_ = (f"Spark MLlib K-Means on every row inside the {engine.name} engine; "
                         f"labels in table {labels_table!r}")
    model.selection_ = {"criterion": "given" if len(ks) == 1 else "elbow", "k": best,
                        "table": table, "iterations": fit.iterations}
    return model
