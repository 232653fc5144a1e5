"""Apache Spark implementation of :class:`aidmp.engine.base.Engine`.

The only module (with its package) that imports ``pyspark``. Tables are Parquet-backed managed
tables in one Spark database; the catalog is a Hive metastore (embedded Derby, kept inside the
warehouse folder) so that tables survive a restart of the JVM.

Spark has no primary keys, so the engine keeps every table unique on its key itself:

* :meth:`SparkEngine.append` looks up which keys of the batch are already stored (a semi-join
  of the stored key columns with the batch keys, which Spark broadcasts) and inserts only the
  rest; repeats inside the batch keep their first occurrence.
* :meth:`SparkEngine.upsert` inserts directly when none of the keys is stored; otherwise it
  rewrites only the hash buckets that hold a stored key (:mod:`aidmp.engine.spark.buckets`:
  every declared table but ``events`` is partitioned by a bucket of its key and read through a
  view). A table of the plain layout that stores made before buckets (or an engine made with
  ``buckets=0``) is rewritten whole into a staging table that is swapped in; :meth:`migrate`
  moves such tables into the bucketed layout. Either way a job never overwrites the Parquet
  files it is reading.

Queries are ibis expressions over unbound tables, compiled with the ``pyspark`` dialect; the
compiled SQL names every table with the engine's database, so queries do not depend on the
session's current database and need no lock. Writes are serialised by one lock per engine;
a query that runs while an upsert swaps a table in may fail and can be retried.

Example (starts a JVM, so it is not run as a doctest)::

    eng = SparkEngine(master="local[2]", warehouse="/tmp/aidmp-spark")
    eng.migrate()
    events = eng.table("events")
    eng.execute(events.group_by("type").agg(n=events.count()))
    eng.close()
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Sequence
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

import ibis
import ibis.expr.datatypes as dt
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlglot.expressions as sge
from ibis.backends.sql.compilers import pyspark as pyspark_compiler
from pyspark import SparkContext
from pyspark.logger import PySparkLogger
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import StructType
from splink.backends.spark import similarity_jar_location

from aidmp.engine.base import SCHEMA_TABLE, Engine, one_row_per_key
from aidmp.engine.spark.buckets import PARTS_PREFIX, UNBUCKETED, BucketedTables, Layout
from aidmp.engine.spark.derived import DerivedTables
from aidmp.engine.spark.errors import SPARK_ERRORS, wrapped
from aidmp.errors import ConfigError, EngineError, NotFoundError
from aidmp.store.schema import TABLES, Column, Migration, TableSpec

if TYPE_CHECKING:
    from aidmp.engine.ml import InEngineML

log = logging.getLogger(__name__)

STAGE_PREFIX = "_aidmp_stage_"
"""Name prefix of the staging tables an upsert rewrites a table into."""

DEFAULT_WAREHOUSE = Path("aidmp-home") / "spark-warehouse"

DEFAULT_BUCKETS = 32
"""Hash buckets of a new declared table (see docs/adr/0017-spark-partitioned-writes.md)."""

CatalogKind = Literal["hive", "in-memory"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ROW = "__aidmp_row"
_SIMPLE_TYPES: dict[type[dt.DataType], str] = {
    dt.String: "STRING",
    dt.Int64: "BIGINT",
    dt.Int32: "INT",
    dt.Float64: "DOUBLE",
    dt.Boolean: "BOOLEAN",
    dt.Date: "DATE",
    dt.Binary: "BINARY",
}


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _literal(text: str) -> str:
    """A Spark SQL string literal (for declared docs, never for user values)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def spark_type(dtype: dt.DataType) -> str:
    """The Spark SQL type that stores an ibis type.

    Raises:
        EngineError: the type is not one aidmp's tables use.

    Example:
        >>> spark_type(dt.Timestamp(timezone="UTC"))
        'TIMESTAMP'
        >>> spark_type(dt.int64)
        'BIGINT'
    """
    if isinstance(dtype, dt.Timestamp) and dtype.timezone is not None:
        # Spark's TIMESTAMP is an instant (shown in the session zone, which is UTC here).
        return "TIMESTAMP"
    sql = _SIMPLE_TYPES.get(type(dtype))
    if sql is None:
        valid = ", ".join([*(t.__name__.lower() for t in _SIMPLE_TYPES), "timestamp('UTC')"])
        raise EngineError("map type", f"no Spark type for {dtype}. Supported types: {valid}")
    return sql


def _column_ddl(column: Column) -> str:
    # NOT NULL is enforced by the engine before each write: Spark's Parquet tables in a Hive
    # catalog silently drop the constraint.
    return f"{_quote(column.name)} {spark_type(column.dtype)} COMMENT {_literal(column.doc)}"


def _quiet_pyspark_error_logs() -> None:
    """Stop pyspark logging every failed query with its JVM stack trace.

    The engine reports each failure itself, as an :class:`EngineError` carrying the query;
    pyspark's own record would print a multi-kilobyte JSON object on stderr as well.
    """
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        # Created through PySparkLogger: pyspark calls it with keyword fields a plain
        # logging.Logger would reject.
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)


def _is_local(location: str) -> bool:
    return "://" not in location or location.startswith("file:")


def build_session(
    master: str = "local[2]",
    warehouse: str | Path = DEFAULT_WAREHOUSE,
    *,
    catalog: CatalogKind = "hive",
) -> SparkSession:
    """Start, or join, the process's SparkSession with the settings aidmp relies on.

    Static settings (master, warehouse, catalog) only take effect when no session is running
    yet; a running session is returned as it is, with a warning if its warehouse differs.

    Args:
        master: Spark master URL (``local[2]``, ``spark://host:7077``...).
        warehouse: where managed tables are stored as Parquet. For a local folder with the
            ``hive`` catalog, the metastore (embedded Derby) is kept in
            ``<warehouse>/_metastore`` so the catalog survives a restart.
        catalog: ``hive`` (persistent) or ``in-memory`` (tables are forgotten when the JVM
            stops; quicker to start, for tests).
    """
    location = str(warehouse)
    local = _is_local(location)
    if local:
        path = Path(location.removeprefix("file://").removeprefix("file:")).expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        location = str(path)
    if master.startswith("local"):
        # Spark otherwise binds to the host's first interface, which may not be reachable.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (
        SparkSession.builder.appName("aidmp")
        .master(master)
        .config("spark.sql.warehouse.dir", location)
        .config("spark.sql.catalogImplementation", catalog)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # Splink's string-similarity functions (Jaro-Winkler...) for probabilistic matching
        .config("spark.jars", similarity_jar_location())
    )
    if catalog == "hive" and local:
        metastore = Path(location) / "_metastore"
        metastore.mkdir(parents=True, exist_ok=True)
        builder = builder.config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={metastore / 'metastore_db'};create=true",
        )
        # Let the metastore prune the INT bucket partitions of a filter (it refuses filters on
        # non-string partition columns without this).
        builder = builder.config("spark.hadoop.hive.metastore.integral.jdo.pushdown", "true")
        # Keep Derby's log and the Hive client's per-session folders out of the working
        # directory and /tmp.
        builder = builder.config(
            "spark.driver.extraJavaOptions", f"-Dderby.system.home={metastore}"
        ).config("spark.hadoop.hive.downloaded.resources.dir", str(metastore / "resources"))
    running = SparkContext._active_spark_context is not None
    with wrapped("start Spark", f"master={master} warehouse={location}"):
        session = builder.getOrCreate()
        if not running:
            session.sparkContext.setLogLevel("ERROR")
    if running:
        current = session.conf.get("spark.sql.warehouse.dir", None) or ""
        if current.removeprefix("file:").rstrip("/") != location.removeprefix("file:").rstrip("/"):
            log.warning(
                "joined a running Spark session whose warehouse is %s, not %s", current, location
            )
    return session


def normalise_arrow(table: pa.Table) -> pa.Table:
    """Give a Spark result the types DuckDB returns, so results compare equal.

    Timestamps become ``timestamp[us, tz=UTC]`` (naive ones are taken as UTC), large strings
    and binaries become plain ones, every field is nullable and schema metadata is dropped.

    Example:
        >>> t = pa.table({"ts": pa.array([0], pa.timestamp("ns")),
        ...               "s": pa.array(["a"], pa.large_string())})
        >>> normalise_arrow(t).schema.types
        [TimestampType(timestamp[us, tz=UTC]), DataType(string)]
    """
    fields = []
    for field in table.schema:
        kind = field.type
        if pa.types.is_timestamp(kind):
            kind = pa.timestamp("us", tz="UTC")
        elif pa.types.is_large_string(kind):
            kind = pa.string()
        elif pa.types.is_large_binary(kind):
            kind = pa.binary()
        fields.append(pa.field(field.name, kind, nullable=True))
    schema = pa.schema(fields)
    table = table.replace_schema_metadata(None)
    if table.schema.equals(schema):
        return table
    columns = [
        pc.cast(col, f.type, safe=not pa.types.is_timestamp(f.type))
        for col, f in zip(table.columns, schema, strict=True)
    ]
    return pa.table(columns, schema=schema)


class SparkEngine(BucketedTables, DerivedTables, Engine):
    """Tables in one Spark database, stored as Parquet; keys kept unique by the engine.

    Args:
        master: Spark master URL, used when the engine starts the session.
        warehouse: where tables are stored, used when the engine starts the session.
        database: the Spark database (schema) holding aidmp's tables; created if missing.
        session: an already running session to use (it is left running by :meth:`close`);
            its session time zone is set to UTC.
        catalog: the catalog of a session the engine starts (see :func:`build_session`).
        buckets: hash buckets of the declared tables this engine creates (or converts from the
            plain layout in :meth:`migrate`); 0 keeps every table plain (rewritten whole by an
            upsert), as stores made before buckets are.

    Raises:
        ConfigError: the database name is not a plain identifier, or ``buckets`` is negative.
        EngineError: Spark could not start or create the database.
    """

    name: ClassVar[str] = "spark"
    dialect: ClassVar[str] = "pyspark"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"upsert", "distributed", "parquet", "mllib"})

    def __init__(
        self,
        master: str = "local[2]",
        warehouse: str | Path = DEFAULT_WAREHOUSE,
        database: str = "aidmp",
        session: SparkSession | None = None,
        *,
        catalog: CatalogKind = "hive",
        buckets: int = DEFAULT_BUCKETS,
    ) -> None:
        if buckets < 0:
            raise ConfigError(f"buckets must be 0 or more, not {buckets}", field="buckets")
        if not _IDENTIFIER.match(database):
            raise ConfigError(
                f"{database!r} is not a valid Spark database name: use letters, digits and "
                "underscores, not starting with a digit",
                field="database",
            )
        # Spark's catalog folds names to lower case.
        self.database = database.lower()
        self.master = master
        self.warehouse = warehouse
        self.buckets = buckets
        self._layouts: dict[str, Layout | None] = {}
        self._owns_session = session is None and SparkContext._active_spark_context is None
        self._spark = (
            session if session is not None else build_session(master, warehouse, catalog=catalog)
        )
        _quiet_pyspark_error_logs()
        self._lock = threading.RLock()
        self._schema_table_ready = False
        self._closed = False
        try:
            # Dates derived from timestamps (and naive literals) must not depend on the host zone.
            self._spark.conf.set("spark.sql.session.timeZone", "UTC")
            # A session started elsewhere may lack the metastore setting build_session makes:
            # then the partitions of a bucketed table are listed and filtered by Spark.
            self._spark.conf.set("spark.sql.hive.metastorePartitionPruningFallbackOnException",
                                 "true")
            self._ddl("create database", f"CREATE DATABASE IF NOT EXISTS {_quote(self.database)}")
            self._use_database()
            self._recover_staged()
        except BaseException:
            self.close()
            raise

    # -- helpers ---------------------------------------------------------------------------------
    @property
    def session(self) -> SparkSession:
        """The SparkSession the engine runs on."""
        return self._spark

    def _fq(self, table: str) -> str:
        return f"{_quote(self.database)}.{_quote(table)}"

    def _ddl(self, step: str, query: str) -> None:
        with wrapped(step, query):
            self._spark.sql(query)

    def _use_database(self) -> None:
        with wrapped("use database", f"USE {_quote(self.database)}"):
            if self._spark.catalog.currentDatabase() != self.database:
                self._spark.catalog.setCurrentDatabase(self.database)

    def _table_names(self) -> list[str]:
        query = f"SHOW TABLES IN {_quote(self.database)}"
        with wrapped("list tables", query):
            rows = self._spark.sql(query).collect()
        return sorted(r["tableName"] for r in rows if not r["isTemporary"])

    def _recover_staged(self) -> None:
        """Finish or undo an upsert swap, or a conversion to buckets, that a crash interrupted."""
        names = set(self._table_names())
        bucketed = [n.removeprefix(PARTS_PREFIX) for n in sorted(names)
                    if n.startswith(PARTS_PREFIX)]
        self._recover_swaps(bucketed)
        for table in bucketed:
            layout = self._layout(table)
            if layout is not None and table not in names:
                # A conversion dropped the plain table but had not made the view yet.
                self._create_view(layout)
        for staged in sorted(n for n in names if n.startswith(STAGE_PREFIX)):
            target = staged.removeprefix(STAGE_PREFIX)
            if target in names:
                # The swap had not started: the table is intact, the staging copy is not needed.
                self._ddl("drop staging table", f"DROP TABLE IF EXISTS {self._fq(staged)}")
            else:
                log.warning("completing an interrupted upsert of %s", target)
                self._ddl(
                    "restore table",
                    f"ALTER TABLE {self._fq(staged)} RENAME TO {self._fq(target)}",
                )

    def _stored_schema(self, table: str) -> StructType:
        with wrapped(f"read schema of {table}", f"DESCRIBE TABLE {self._fq(table)}"):
            return self._spark.table(self._fq(table)).schema

    def in_engine_ml(self) -> InEngineML:
        """Spark MLlib fits over this engine's tables (:mod:`aidmp.engine.spark.mllib`)."""
        from aidmp.engine.spark.mllib import SparkML

        return SparkML(self)

    def frame(self, expr: ibis.Table, step: str) -> DataFrame:
        """The Spark DataFrame of an ibis query (lazy: nothing runs until it is used)."""
        query = self.compile(expr)
        with wrapped(step, query):
            return self._spark.sql(query)

    # -- queries ---------------------------------------------------------------------------------
    def compile(self, expr: ibis.Expr) -> str:
        """The Spark SQL for ``expr``, with every table qualified by the engine's database.

        Example:
            >>> from aidmp.engine.base import unbound_table
            >>> eng = SparkEngine.__new__(SparkEngine)
            >>> eng.database = "aidmp"
            >>> "FROM `aidmp`.`events`" in eng.compile(unbound_table("events"))
            True
        """
        # The pyspark compiler reads ibis.options.pyspark (float literals...), which ibis only
        # registers when its pyspark backend is first used; we compile without that backend.
        if ibis.options.pyspark is None:
            from ibis.backends.pyspark import Backend

            Backend.register_options()
        compiler = pyspark_compiler.compiler
        out = compiler.to_sqlglot(expr.unbind())
        queries = out if isinstance(out, list) else [out]
        for query in queries:
            ctes = {cte.alias_or_name for cte in query.find_all(sge.CTE)}
            for table in query.find_all(sge.Table):
                if not table.args.get("db") and table.name not in ctes:
                    table.set("db", sge.to_identifier(self.database, quoted=True))
        return ";\n".join(q.sql(dialect=compiler.dialect, pretty=True) for q in queries)

    def execute(self, expr: ibis.Expr) -> pa.Table:
        query = self.compile(expr)
        with wrapped("query", query):
            result = self._spark.sql(query).toArrow()
        return normalise_arrow(result)

    def sql(self, query: str, params: Sequence[object] = ()) -> pa.Table:
        """Run Spark SQL with positional ``?`` parameters.

        Unqualified table names resolve to the engine's database.
        """
        with self._lock, wrapped("sql", query):
            self._use_database()
            frame = self._spark.sql(query, args=list(params) if params else None)
            result = frame.toArrow()
        return normalise_arrow(result)

    # -- writes ----------------------------------------------------------------------------------
    def _conform(self, table: str, data: pa.Table, step: str) -> tuple[pa.Table, StructType]:
        """``data`` in the stored column order and types, checked for required values."""
        stored = self._stored_schema(table)
        target = to_arrow_schema(stored, timestamp_utc=True)
        unknown = [n for n in data.column_names if n not in target.names]
        if unknown:
            raise EngineError(
                step,
                f"unknown column(s) {', '.join(unknown)}. Valid columns: {', '.join(target.names)}",
            )
        columns = []
        for field in target:
            if field.name not in data.column_names:
                columns.append(pa.nulls(data.num_rows, field.type))
                continue
            column = data.column(field.name)
            if column.type != field.type:
                try:
                    # Finer timestamps are truncated to microseconds, as DuckDB stores them.
                    column = pc.cast(
                        column, field.type, safe=not pa.types.is_timestamp(column.type)
                    )
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise EngineError(
                        step,
                        f"column {field.name!r}: cannot store {column.type} as {field.type}"
                        f" ({exc})",
                    ) from None
            columns.append(column)
        schema = pa.schema([pa.field(f.name, f.type, nullable=True) for f in target])
        conformed = pa.table(columns, schema=schema)
        spec = TABLES[table]
        required = [*spec.key, *(c.name for c in spec.columns if not c.nullable)]
        for name in dict.fromkeys(required):
            missing = conformed.column(name).null_count
            if missing:
                raise EngineError(
                    step, f"column {name!r} is required (NOT NULL): {missing} row(s) lack it"
                )
        return conformed, stored

    def _stored_keys(self, table: str, key: Sequence[str], batch: pa.Table) -> pa.Table:
        """The keys of ``batch`` that are already stored in ``table``."""
        fq = self._fq(table)
        step = f"look up keys in {table}"
        layout = self._layout(table)
        with wrapped(step, f"SELECT {', '.join(key)} FROM {fq} LEFT SEMI JOIN <batch keys>"):
            keys = self._spark.createDataFrame(batch.select(list(key)))
            if layout is not None and set(layout.by) <= set(key):
                return self._stored_in_buckets(layout, key, layout.with_bucket(keys)).select(
                    *key).toArrow()
            stored = self._spark.table(fq).select(*key).join(keys, on=list(key), how="left_semi")
            return stored.toArrow()

    @staticmethod
    def _without(batch: pa.Table, key: Sequence[str], stored: pa.Table) -> pa.Table:
        """Rows of ``batch`` whose key is not in ``stored``, in their original order."""
        if stored.num_rows == 0:
            return batch
        indexed = batch.select(list(key)).append_column(_ROW, pa.array(np.arange(batch.num_rows)))
        kept = indexed.join(
            stored.select(list(key)).cast(batch.select(list(key)).schema),
            keys=list(key),
            join_type="left anti",
        )
        return batch.take(np.sort(kept.column(_ROW).to_numpy()))

    def _insert(self, table: str, batch: pa.Table, schema: StructType) -> None:
        layout = self._layout(table)
        if layout is not None:
            self._append_bucketed(layout, self._spark.createDataFrame(batch, schema=schema))
            return
        fq = self._fq(table)
        with wrapped(f"append to {table}", f"INSERT INTO {fq} <{batch.num_rows} rows>"):
            self._spark.createDataFrame(batch, schema=schema).write.insertInto(fq)

    def _check_table(self, table: str) -> TableSpec:
        spec = TABLES.get(table)
        if spec is None:
            raise NotFoundError(f"Unknown table {table!r}. Valid tables: {', '.join(TABLES)}")
        return spec

    def append(self, table: str, data: pa.Table) -> int:
        spec = self._check_table(table)
        if data.num_rows == 0:
            return 0
        with self._lock:
            batch, schema = self._conform(table, data, f"append to {table}")
            batch = one_row_per_key(batch, spec.key, "first")
            fresh = self._without(batch, spec.key, self._stored_keys(table, spec.key, batch))
            if fresh.num_rows:
                self._insert(table, fresh, schema)
            return int(fresh.num_rows)

    def upsert(self, table: str, data: pa.Table) -> int:
        spec = self._check_table(table)
        if data.num_rows == 0:
            return 0
        with self._lock:
            batch, schema = self._conform(table, data, f"upsert into {table}")
            batch = one_row_per_key(batch, spec.key, "last")
            layout = self._layout(table)
            if layout is not None:
                rows = self._spark.createDataFrame(batch, schema=schema)
                self._upsert_bucketed(layout, spec.key, rows)
            elif self._stored_keys(table, spec.key, batch).num_rows == 0:
                self._insert(table, batch, schema)
            else:
                self._rewrite(table, spec.key, batch, schema)
            return int(batch.num_rows)

    def _rewrite(self, table: str, key: Sequence[str], batch: pa.Table, schema: StructType) -> None:
        """Replace ``table`` by its rows without ``batch``'s keys plus ``batch``."""
        fq, staged = self._fq(table), self._fq(STAGE_PREFIX + table)
        step = f"upsert into {table}"
        self._ddl(step, f"DROP TABLE IF EXISTS {staged}")
        self._ddl(step, f"CREATE TABLE {staged} LIKE {fq} USING parquet")
        query = (
            f"INSERT INTO {staged} SELECT * FROM {fq} LEFT ANTI JOIN <batch keys> "
            f"UNION ALL <batch of {batch.num_rows} rows>"
        )
        with wrapped(step, query):
            keys = self._spark.createDataFrame(batch.select(list(key)))
            rows = self._spark.createDataFrame(batch, schema=schema)
            kept: DataFrame = self._spark.table(fq).join(keys, on=list(key), how="left_anti")
            kept.select(*schema.names).unionByName(rows).write.insertInto(staged)
        # The staging table is complete: swap it in. A crash between the two statements is
        # repaired when the engine next opens (see _recover_staged).
        self._ddl(step, f"DROP TABLE {fq}")
        self._ddl(step, f"ALTER TABLE {staged} RENAME TO {fq}")

    def replace_keyed(self, table: str, key: str, keys: ibis.Table, rows: ibis.Table) -> None:
        """Like :meth:`Engine.replace_keyed`; in a table bucketed on ``key`` only the buckets
        of ``keys`` and ``rows`` are rewritten."""
        self._check_rebuilt(table)
        layout = self._layout(table)
        if layout is None or layout.by != (key,):
            super().replace_keyed(table, key, keys, rows)
            return
        schema = self.table(table).schema()
        shaped = rows.select(*[rows[c].cast(schema[c]).name(c) for c in schema.names])
        with self._lock:
            self._replace_in_buckets(layout, key, self.frame(keys.select(key), "replace keys"),
                                     self.frame(shaped, f"replace rows of {table}"))

    def delete_in(self, table: str, column: str, values: Sequence[object]) -> int:
        """Like :meth:`Engine.delete_in`; in a table bucketed on ``column`` only the buckets
        of ``values`` are rewritten."""
        layout = self._layout(table) if table in TABLES else None
        if not values or layout is None or layout.by != (column,):
            return super().delete_in(table, column, values)
        field = self._stored_schema(table)[column]
        with self._lock, wrapped(f"delete from {table}", f"<{len(values)} values of {column}>"):
            doomed = self._spark.createDataFrame([(v,) for v in values], StructType([field]))
            return self._delete_in_buckets(layout, column, doomed)

    def migrate(self) -> list[int]:
        """Apply the pending migrations, then move plain declared tables into buckets (when
        the engine has buckets): stores made before buckets are converted on open."""
        applied = super().migrate()
        if not self.buckets:
            return applied
        with self._lock:
            names = set(self._table_names())
            for spec in TABLES.values():
                if spec.name in UNBUCKETED or spec.name not in names:
                    continue
                if self._layout(spec.name) is None:
                    log.info("moving %s into %d hash buckets", spec.name, self.buckets)
                    columns = ", ".join(_column_ddl(c) for c in spec.columns)
                    self._convert_plain(spec, columns, _literal(spec.doc), self.buckets)
        return applied

    # -- catalog ---------------------------------------------------------------------------------
    def tables(self) -> list[str]:
        return [n for n in self._table_names() if not n.startswith((STAGE_PREFIX, PARTS_PREFIX))]

    def _create_table(self, spec: TableSpec) -> None:
        columns = ", ".join(_column_ddl(c) for c in spec.columns)
        if self.buckets and spec.name not in UNBUCKETED:
            self._create_bucketed(spec, columns, _literal(spec.doc), self.buckets)
            return
        key = ",".join(spec.key)
        self._ddl(
            f"create table {spec.name}",
            f"CREATE TABLE IF NOT EXISTS {self._fq(spec.name)} ({columns}) USING parquet "
            f"COMMENT {_literal(spec.doc)} TBLPROPERTIES ('aidmp.key' = {_literal(key)})",
        )

    def _add_column(self, table: str, name: str, column: Column) -> None:
        if name in self._stored_schema(table).names:
            return
        if self._layout(table) is not None:
            self._bucketed_column_added(table, _column_ddl(column))
            return
        self._ddl(
            f"add column {name} to {table}",
            f"ALTER TABLE {self._fq(table)} ADD COLUMNS ({_column_ddl(column)})",
        )

    def _schema_versions(self) -> set[int]:
        fq = self._fq(SCHEMA_TABLE)
        if not self._schema_table_ready:
            self._ddl(
                "create schema table",
                f"CREATE TABLE IF NOT EXISTS {fq} (version INT, description STRING, "
                "applied_at TIMESTAMP) USING parquet",
            )
            self._schema_table_ready = True
        query = f"SELECT version FROM {fq}"
        with wrapped("read schema versions", query):
            rows = self._spark.sql(query).toArrow()
        return {int(v) for v in rows.column("version").to_pylist()}

    def _record_version(self, migration: Migration, at: datetime) -> None:
        fq = self._fq(SCHEMA_TABLE)
        row = pa.table(
            {
                "version": pa.array([migration.version], pa.int32()),
                "description": pa.array([migration.description], pa.string()),
                "applied_at": pa.array([at], pa.timestamp("us", tz="UTC")),
            }
        )
        with wrapped("record schema version", f"INSERT INTO {fq} VALUES (...)"):
            schema = self._spark.table(fq).schema
            self._spark.createDataFrame(row, schema=schema).write.insertInto(fq)

    def close(self) -> None:
        """Stop the Spark session if this engine started it (a passed-in one keeps running)."""
        if self._closed:
            return
        self._closed = True
        if self._owns_session:
            with suppress(*SPARK_ERRORS):
                self._spark.stop()
