"""Spark MLlib behind :class:`aidmp.engine.ml.InEngineML`: model fits on the engine's frames.

The training rows never leave Spark: each method compiles an ibis query to a Spark DataFrame,
fits an MLlib estimator on it and returns only what a model keeps (centres, coefficients,
factors, itemset counts) and aggregate metrics. Per-row results (cluster labels, scores) are
written as derived tables of the store.

Where MLlib and the single-node libraries define a model differently, the adapter translates so
that the same hyper-parameters mean the same thing (the conformance suite checks the answers):

* FP-growth: MLlib keeps an itemset when its count is at least ``ceil(min_support * n)``, the
  same integer threshold as arules / :mod:`aidmp.ml.rules.mining`; itemsets longer than
  ``max_len`` are dropped (MLlib has no length limit). Rules are then generated on the driver
  from the (small) itemset table by the same code as the single-node path.
* ALS: MLlib scales the L2 penalty of each user's (item's) solve by that user's (item's) number
  of pairs (ALS-WR, Zhou et al. 2008); ``implicit`` does not. The penalty is divided by the mean
  number of pairs per user so that the single-node default (10) lands in MLlib's range.
* logistic regression: MLlib minimises the *mean* log-loss plus ``reg/2 * |w|^2`` on
  standardised features; ``C`` of scikit-learn becomes ``reg = 1 / (C * n)``.

Example (starts a JVM, so it is not run as a doctest)::

    ml = engine.in_engine_ml()
    fit = ml.kmeans(engine.table("features"), ["x", "y"], 3, seed=0, n_init=2,
                    max_iter=50, tol=1e-6)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import ibis
import numpy as np
from pyspark.ml.classification import (
    GBTClassificationModel,
    GBTClassifier,
    LogisticRegression,
)
from pyspark.ml.clustering import KMeans
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.feature import StringIndexer, VectorAssembler
from pyspark.ml.fpm import FPGrowth
from pyspark.ml.functions import vector_to_array
from pyspark.ml.recommendation import ALS
from pyspark.sql import Column
from pyspark.sql import functions as F

from aidmp.engine.ml import ALSFit, ClassifierFit, ItemsetsFit, KMeansFit, Matrix
from aidmp.engine.spark.errors import wrapped
from aidmp.errors import ValidationError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


class _Host(Protocol):
    """What the adapter needs from :class:`~aidmp.engine.spark.engine.SparkEngine` (a
    protocol, so that the engine module and this one do not import each other)."""

    @property
    def session(self) -> SparkSession: ...
    def frame(self, expr: ibis.Table, step: str) -> DataFrame: ...
    def _check_derived(self, name: str) -> None: ...
    def _save(self, name: str, frame: DataFrame, mode: str) -> None: ...

__all__ = ["SparkML"]

_EPS = 1e-15


def _nearest(columns: Sequence[str], centers: Matrix) -> Column:
    """The index of the nearest centre (squared Euclidean), as a Spark column."""
    candidates = []
    for c, center in enumerate(np.asarray(centers, dtype=np.float64)):
        dist = sum(((F.col(col) - F.lit(float(v))) ** 2 for col, v in zip(
            columns, center, strict=True)), F.lit(0.0))
        candidates.append(F.struct(dist.alias("d"), F.lit(c).alias("c")))
    # struct comparison orders by distance, then by centre index (ties go to the first)
    return F.least(*candidates).getField("c") if len(candidates) > 1 \
        else candidates[0].getField("c")


class SparkML:
    """MLlib fits over the tables of one :class:`~aidmp.engine.spark.engine.SparkEngine`."""

    def __init__(self, engine: _Host) -> None:
        self.engine = engine

    # -- helpers ---------------------------------------------------------------------------------
    def _numbers(self, rows: ibis.Table, columns: Sequence[str], step: str,
                 extra: Sequence[str] = ()) -> DataFrame:
        missing = [c for c in [*columns, *extra] if c not in rows.columns]
        if missing:
            raise ValidationError(f"unknown column(s) {', '.join(missing)}; valid: "
                                  f"{', '.join(rows.columns)}", field="features")
        expr = rows.select(*extra, *[rows[c].cast("float64").name(c) for c in columns])
        return self.engine.frame(expr, step)

    def _write(self, table: str, frame: DataFrame) -> None:
        self.engine._check_derived(table)
        self.engine._save(table, frame, "overwrite")

    # -- association rules -----------------------------------------------------------------------
    def frequent_itemsets(self, pairs: ibis.Table, basket: str, item: str,
                          min_support: float, max_len: int) -> ItemsetsFit:
        expr = pairs.select(basket=pairs[basket].cast("string"), item=pairs[item].cast("string"))
        expr = expr.filter(expr.basket.notnull(), expr.item.notnull())
        step = "FP-growth"
        frame = self.engine.frame(expr, step)
        with wrapped(step, "FPGrowth(minSupport=...) over collect_set(item) per basket"):
            baskets = frame.groupBy("basket").agg(F.array_sort(F.collect_set("item"))
                                                  .alias("items")).select("items").cache()
            try:
                n = baskets.count()
                if n == 0:
                    return ItemsetsFit(0, [], [])
                labels = frame.select("item").distinct().toArrow().column("item").to_pylist()
                model = FPGrowth(itemsCol="items", minSupport=float(min_support),
                                 minConfidence=1.0).fit(baskets)
                sets = model.freqItemsets.where(F.size("items") <= int(max_len))
                rows = sets.select(F.array_sort("items").alias("items"), "freq").toArrow()
            finally:
                baskets.unpersist()
        found = [(tuple(str(i) for i in items), int(freq)) for items, freq in zip(
            rows.column("items").to_pylist(), rows.column("freq").to_pylist(), strict=True)]
        return ItemsetsFit(int(n), sorted(str(i) for i in labels), found)

    # -- clustering ------------------------------------------------------------------------------
    def kmeans(self, rows: ibis.Table, columns: Sequence[str], k: int, *, seed: int,
               n_init: int, max_iter: int, tol: float) -> KMeansFit:
        step = "K-Means"
        frame = self._numbers(rows, columns, step)
        with wrapped(step, f"KMeans(k={k}) over {', '.join(columns)}"):
            data = VectorAssembler(inputCols=list(columns), outputCol="features",
                                   handleInvalid="error").transform(frame).select(
                "features").cache()
            try:
                best = None
                for run in range(max(1, int(n_init))):
                    model = KMeans(k=int(k), seed=int(seed) + run, maxIter=int(max_iter),
                                   tol=float(tol), initMode="k-means||").fit(data)
                    cost = float(model.summary.trainingCost)
                    if best is None or cost < best[0]:
                        best = (cost, model)
            finally:
                data.unpersist()
        assert best is not None
        cost, model = best
        centers = np.vstack([np.asarray(c, dtype=np.float64) for c in model.clusterCenters()])
        return KMeansFit(centers, cost, [int(s) for s in model.summary.clusterSizes],
                         int(model.summary.numIter))

    def kmeans_assign(self, rows: ibis.Table, id_column: str, columns: Sequence[str],
                      centers: Matrix, table: str) -> None:
        frame = self._numbers(rows, columns, "assign clusters", extra=[id_column])
        self._write(table, frame.select(id_column, _nearest(columns, centers).cast("bigint")
                                        .alias("cluster")))

    # -- recommendations -------------------------------------------------------------------------
    def als(self, pairs: ibis.Table, user: str, item: str, weight: str | None, *, rank: int,
            regularization: float, alpha: float, iterations: int, seed: int) -> ALSFit:
        cols = {"u": pairs[user].cast("string"), "i": pairs[item].cast("string")}
        cols["w"] = pairs[weight].cast("float64") if weight else ibis.literal(1.0)
        expr = pairs.select(**cols)
        expr = expr.filter(expr.u.notnull(), expr.i.notnull(), expr.w.notnull())
        # one pair per (user, item): weights add up as in the single-node matrix; without
        # a weight every pair counts once, as binarised interactions do
        expr = expr.group_by("u", "i").agg(w=expr.w.sum() if weight else expr.w.max())
        step = "ALS"
        frame = self.engine.frame(expr, step)
        with wrapped(step, f"ALS(rank={rank}, implicitPrefs=True)"):
            users = StringIndexer(inputCol="u", outputCol="ui", stringOrderType="alphabetAsc"
                                  ).fit(frame)
            items = StringIndexer(inputCol="i", outputCol="ii", stringOrderType="alphabetAsc"
                                  ).fit(frame)
            data = items.transform(users.transform(frame)).cache()
            try:
                n_pairs = data.count()
                if n_pairs == 0:
                    raise ValidationError("no (user, item) pairs to factorise", field="pairs")
                per_user = n_pairs / max(1, len(users.labelsArray[0]))
                model = ALS(rank=int(rank), maxIter=int(iterations),
                            regParam=float(regularization) / per_user, alpha=float(alpha),
                            implicitPrefs=True, userCol="ui", itemCol="ii", ratingCol="w",
                            seed=int(seed), coldStartStrategy="drop").fit(data)
                uf = model.userFactors.orderBy("id").toArrow()
                vf = model.itemFactors.orderBy("id").toArrow()
            finally:
                data.unpersist()
        user_labels, item_labels = users.labelsArray[0], items.labelsArray[0]

        def matrix(rows: Any, n: int) -> np.ndarray[Any, np.dtype[np.float32]]:
            out = np.zeros((n, int(rank)), dtype=np.float32)
            ids = np.asarray(rows.column("id").to_pylist(), dtype=np.int64)
            if len(ids):
                out[ids] = np.asarray(rows.column("features").to_pylist(), dtype=np.float32)
            return out

        return ALSFit([str(u) for u in user_labels], [str(i) for i in item_labels],
                      matrix(uf, len(user_labels)), matrix(vf, len(item_labels)))

    # -- classifiers -----------------------------------------------------------------------------
    def _assembled(self, frame: DataFrame, features: Sequence[str], means: Sequence[float],
                   keep: Sequence[str]) -> DataFrame:
        filled = frame.fillna({c: float(m) for c, m in zip(features, means, strict=True)})
        return VectorAssembler(inputCols=list(features), outputCol="features").transform(
            filled).select(*keep, "features")

    @staticmethod
    def _metrics(scored: DataFrame) -> tuple[float, float, float, float, int]:
        auc = float(BinaryClassificationEvaluator(
            rawPredictionCol="rawPrediction", labelCol="label",
            metricName="areaUnderROC").evaluate(scored))
        p1 = vector_to_array(F.col("probability"))[1]
        p = F.least(F.greatest(p1, F.lit(_EPS)), F.lit(1 - _EPS))
        row = scored.select(
            F.avg(-(F.col("label") * F.log(p) + (1 - F.col("label")) * F.log(1 - p))).alias(
                "ll"),
            F.avg("label").alias("base"), F.avg(p).alias("mean"), F.count("*").alias("n"),
        ).first()
        assert row is not None
        return auc, float(row["ll"]), float(row["base"]), float(row["mean"]), int(row["n"])

    def classifier(self, rows: ibis.Table, features: Sequence[str], label: str, *,
                   method: Literal["logistic", "gbt"], validation_size: float, seed: int,
                   params: dict[str, Any], folder: str | None) -> ClassifierFit:
        if method not in ("logistic", "gbt"):
            raise ValidationError(f"unknown method {method!r}; valid: logistic, gbt",
                                  field="method")
        step = f"fit {method}"
        frame = self._numbers(rows, features, step, extra=[label])
        frame = frame.withColumn("label", F.col(label).cast("double"))
        with wrapped(step, f"{method} over {', '.join(features)}"):
            stats = frame.agg(*[F.avg(c).alias(c) for c in features],
                              *[F.stddev_pop(c).alias(f"sd_{c}") for c in features]).first()
            assert stats is not None
            means = np.array([float(stats[c] or 0.0) for c in features])
            sds = np.array([float(stats[f"sd_{c}"] or 0.0) for c in features])
            data = self._assembled(frame, features, means.tolist(), ["label"]).cache()
            try:
                train, held = data.randomSplit([1.0 - validation_size, validation_size],
                                               seed=int(seed))
                n_train = train.count()

                def estimator(n: int) -> Any:
                    if method == "logistic":
                        c = float(params.get("C", 1.0))
                        return LogisticRegression(featuresCol="features", labelCol="label",
                                                  regParam=1.0 / (c * max(n, 1)),
                                                  elasticNetParam=0.0, standardization=True,
                                                  maxIter=int(params.get("max_iter", 200)),
                                                  tol=1e-8)
                    return GBTClassifier(featuresCol="features", labelCol="label",
                                         maxIter=int(params.get("max_iter", 50)),
                                         maxDepth=int(params.get("max_depth", 3)),
                                         stepSize=float(params.get("learning_rate", 0.1)),
                                         seed=int(seed))

                auc, ll, base, mean, n_val = self._metrics(
                    estimator(n_train).fit(train).transform(held))
                final = estimator(n_train + n_val).fit(data)
            finally:
                data.unpersist()
        coef = np.zeros(0)
        intercept = 0.0
        path = None
        if method == "logistic":
            coef = np.asarray(final.coefficients.toArray(), dtype=np.float64)
            intercept = float(final.intercept)
            importance = np.abs(coef) * sds
        else:
            warehouse = self.engine.session.conf.get("spark.sql.warehouse.dir", None)
            base_dir = Path(folder) if folder else Path(
                (warehouse or "spark-warehouse").removeprefix("file:"))
            path = str(base_dir / "_mllib" / f"gbt-{uuid.uuid4().hex[:12]}")
            with wrapped(step, f"save GBT model to {path}"):
                final.write().overwrite().save(path)
            importance = np.asarray(final.featureImportances.toArray(), dtype=np.float64)
        return ClassifierFit(method, list(features), coef, intercept, means, auc, ll, base,
                             mean, n_train, n_val, path,
                             {f: round(float(v), 6) for f, v in zip(features, importance,
                                                                     strict=True)})

    def classifier_scores(self, fit: ClassifierFit, rows: ibis.Table, id_column: str,
                          table: str) -> None:
        step = f"score {fit.method}"
        frame = self._numbers(rows, fit.features, step, extra=[id_column])
        with wrapped(step, f"score into {table}"):
            if fit.method == "logistic":
                filled = frame.fillna({c: float(m) for c, m in zip(fit.features, fit.means,
                                                                   strict=True)})
                z = sum((F.col(c) * F.lit(float(w)) for c, w in zip(
                    fit.features, fit.coefficients, strict=True)), F.lit(fit.intercept))
                scored = filled.select(id_column, (1.0 / (1.0 + F.exp(-z))).alias("p"))
            else:
                if fit.model_path is None:
                    raise ValidationError("the tree model has no saved MLlib folder",
                                          field="model")
                model = GBTClassificationModel.load(fit.model_path)
                data = self._assembled(frame, fit.features, fit.means.tolist(), [id_column])
                scored = model.transform(data).select(
                    id_column, vector_to_array(F.col("probability"))[1].alias("p"))
        self._write(table, scored)

    # -- probabilistic matching ------------------------------------------------------------------
    def splink_api(self) -> Any:
        """Splink's Spark backend on the engine's session (its string-similarity UDFs come
        from the jar :func:`~aidmp.engine.spark.engine.build_session` puts on the class
        path). Intermediate tables are persisted in Spark's memory, not written as Parquet
        next to the working directory."""
        from splink.backends.spark import SparkAPI

        partitions = int(self.engine.session.conf.get("spark.sql.shuffle.partitions", "4")
                         or 4)
        return SparkAPI(  # type: ignore[no-untyped-call]
            spark_session=self.engine.session, break_lineage_method="persist",
            num_partitions_on_repartition=partitions)
