"""The engine interface every storage engine implements.

Queries are **ibis expressions** built over unbound tables (:meth:`Engine.table`); each engine
compiles them to its own SQL dialect (see ``docs/adr/0001-query-layer.md``). Writes go through
:meth:`Engine.append` (idempotent on the table key) and :meth:`Engine.upsert`.

Example:
    >>> import ibis
    >>> from aidmp.engine.base import unbound_table
    >>> events = unbound_table("events")
    >>> expr = events.group_by("type").agg(n=events.count())
    >>> "GROUP BY" in ibis.to_sql(expr, dialect="duckdb")
    True
"""

from __future__ import annotations

import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from aidmp.errors import NotFoundError
from aidmp.store.schema import MIGRATIONS, TABLES, Column, Migration, TableSpec

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

    from aidmp.engine.ml import InEngineML

SCHEMA_TABLE = "_aidmp_schema"


# Text at a JSON path of a JSON-text column. Both engines have a native function with the same
# arguments and meaning (NULL when absent, numbers as their text); only the name differs.
@ibis.udf.scalar.builtin(name="json_extract_string")  # type: ignore[untyped-decorator]
def _duckdb_json_text(doc: str, path: str) -> str:  # type: ignore[empty-body,misc]
    """DuckDB's json_extract_string."""


@ibis.udf.scalar.builtin(name="get_json_object")  # type: ignore[untyped-decorator]
def _spark_json_text(doc: str, path: str) -> str:  # type: ignore[empty-body,misc]
    """Spark's get_json_object."""


@ibis.udf.scalar.builtin(name="json_extract_string")  # type: ignore[untyped-decorator]
def _duckdb_json_texts(doc: str, path: str) -> list[str]:  # type: ignore[empty-body,misc]
    """DuckDB's json_extract_string with a ``[*]`` path: a list of texts."""


@ibis.udf.scalar.builtin(name="from_json")  # type: ignore[untyped-decorator]
def _spark_from_json(doc: str, schema: str) -> list[str]:  # type: ignore[empty-body,misc]
    """Spark's from_json with an ``array<string>`` schema."""


@ibis.udf.scalar.builtin(name="json_keys")  # type: ignore[untyped-decorator]
def _duckdb_json_keys(doc: str) -> list[str]:  # type: ignore[empty-body,misc]
    """DuckDB's json_keys."""


@ibis.udf.scalar.builtin(name="json_object_keys")  # type: ignore[untyped-decorator]
def _spark_json_keys(doc: str) -> list[str]:  # type: ignore[empty-body,misc]
    """Spark's json_object_keys."""


_JSON_TEXT = {"duckdb": _duckdb_json_text, "pyspark": _spark_json_text}
_JSON_KEYS = {"duckdb": _duckdb_json_keys, "pyspark": _spark_json_keys}
_ROW = "__aidmp_row"


def unbound_table(name: str) -> ibis.Table:
    """An engine-free ibis table for a declared aidmp table.

    Raises:
        NotFoundError: the name is not a declared table (the message lists the valid ones).
    """
    spec = TABLES.get(name)
    if spec is None:
        raise NotFoundError(f"Unknown table {name!r}. Valid tables: {', '.join(sorted(TABLES))}")
    return ibis.table(spec.schema, name=name)


def one_row_per_key(
    data: pa.Table, key: Sequence[str], keep: Literal["first", "last"]
) -> pa.Table:
    """One row per key: the first (append semantics) or last (upsert semantics) occurrence.

    Example:
        >>> t = pa.table({"k": ["a", "b", "a"], "v": [1, 2, 3]})
        >>> one_row_per_key(t, ["k"], "last").to_pydict()
        {'k': ['b', 'a'], 'v': [2, 3]}
    """
    if data.num_rows < 2:
        return data
    agg = "min" if keep == "first" else "max"
    indexed = data.select(list(key)).append_column(_ROW, pa.array(np.arange(data.num_rows)))
    rows = indexed.group_by(list(key), use_threads=False).aggregate([(_ROW, agg)])
    if rows.num_rows == data.num_rows:
        return data
    return data.take(np.sort(rows.column(f"{_ROW}_{agg}").to_numpy()))


def arrow_schema(spec: TableSpec) -> pa.Schema:
    """The Arrow schema of a declared table (timestamps in microseconds, UTC)."""
    return spec.schema.to_pyarrow()


class Engine(ABC):
    """A place where aidmp's tables live and where its queries run."""

    name: ClassVar[str]
    dialect: ClassVar[str]
    capabilities: ClassVar[frozenset[str]]

    # -- queries -----------------------------------------------------------------------------
    def table(self, name: str) -> ibis.Table:
        """The ibis table to build engine-neutral queries on.

        Declared tables (``aidmp.store.schema``) take their declared schema; derived tables
        (written by :meth:`materialize` or :meth:`write_table`, e.g. ``profiles``) the schema
        they were stored with.
        """
        if name in TABLES:
            return unbound_table(name)
        if name not in self.tables():
            raise NotFoundError(
                f"Unknown table {name!r}. Valid tables: {', '.join(sorted(self.tables()))}"
            )
        return ibis.table(ibis.Schema.from_pyarrow(self._stored_arrow_schema(name)), name=name)

    def json_text(self, column: ibis.Value, path: str) -> ibis.StringValue:
        """The text at ``path`` (``$.traits.email``) of a JSON-text column, NULL if absent."""
        return _JSON_TEXT[self.dialect](column, path)  # type: ignore[no-any-return]

    def json_texts(self, column: ibis.Value, path: str) -> ibis.ArrayValue:
        """The texts of the JSON array of scalars at ``path`` (``$.genres``); NULL if absent."""
        if self.dialect == "duckdb":
            return _duckdb_json_texts(column, path + "[*]")  # type: ignore[no-any-return]
        return _spark_from_json(  # type: ignore[no-any-return]
            _spark_json_text(column, path), "array<string>")

    def json_keys(self, column: ibis.Value) -> ibis.ArrayValue:
        """The keys of the JSON object in a JSON-text column."""
        return _JSON_KEYS[self.dialect](column)  # type: ignore[no-any-return]

    def in_engine_ml(self) -> InEngineML | None:
        """Model fits that run inside this engine on its own distributed frames (Spark:
        MLlib), or ``None`` where models fit on the driver (DuckDB). See
        :mod:`aidmp.engine.ml`."""
        return None

    def has_table(self, name: str) -> bool:
        """Whether ``name`` exists in this engine."""
        return name in self.tables()

    def compile(self, expr: ibis.Expr) -> str:
        """The SQL this engine would run for ``expr``."""
        return str(ibis.to_sql(expr, dialect=self.dialect))

    @abstractmethod
    def execute(self, expr: ibis.Expr) -> pa.Table:
        """Run an ibis expression and return the result as Arrow."""

    def prepared(self, key: str, build: Callable[..., ibis.Expr], params: Sequence[str]
                 ) -> pa.Table:
        """Run a query compiled once per ``key`` with text parameters bound at run time.

        Compiling an ibis expression costs milliseconds; point lookups (a profile by id) run
        thousands of times with only the values changing. ``build`` receives one string
        placeholder per parameter and returns the expression; its SQL is cached with ``?``
        in place of each placeholder, and values are bound by the database, never spliced in.
        """
        cache: dict[str, tuple[str, list[int]]] = self.__dict__.setdefault("_prepared", {})
        if key not in cache:
            marks = [f"__aidmp_param_{i}__" for i in range(len(params))]
            query = self.compile(build(*[ibis.literal(m) for m in marks]))
            order = [int(m.group(1)) for m in re.finditer(r"'__aidmp_param_(\d+)__'", query)]
            cache[key] = (re.sub(r"'__aidmp_param_\d+__'", "?", query), order)
        query, order = cache[key]
        return self._run_prepared(query, [params[i] for i in order])

    def _run_prepared(self, query: str, params: Sequence[object]) -> pa.Table:
        """Run the cached SQL of :meth:`prepared` (engines may take a shorter path than
        :meth:`sql`)."""
        return self.sql(query, params)

    @abstractmethod
    def sql(self, query: str, params: Sequence[object] = ()) -> pa.Table:
        """Run engine-dialect SQL with bound parameters (for engine-internal use and tests)."""

    # -- writes --------------------------------------------------------------------------------
    @abstractmethod
    def append(self, table: str, data: pa.Table) -> int:
        """Insert rows whose key is not yet in ``table``; return how many were inserted.

        Rows repeating a key already stored (or repeated inside ``data``) are skipped, which
        makes every write path idempotent.
        """

    @abstractmethod
    def upsert(self, table: str, data: pa.Table) -> int:
        """Insert rows, replacing stored rows with the same key; return the rows written."""

    # -- derived tables --------------------------------------------------------------------------
    @abstractmethod
    def materialize(self, name: str, expr: ibis.Table) -> None:
        """Create or replace the derived table ``name`` with the result of ``expr``.

        ``expr`` must not read ``name`` itself (write to a new name and swap instead).
        Declared tables cannot be replaced this way.
        """

    def scratch(self, name: str, expr: ibis.Table) -> None:
        """Like :meth:`materialize`, for a work table that only this thread reads before
        dropping it (the stages of a build). Engines that can keep such a table out of the
        database file do (DuckDB: a temporary table); the others store it like any other.
        """
        self.materialize(name, expr)

    def scratch_rows(self, name: str, data: pa.Table) -> None:
        """Like :meth:`write_table`, for a work table as :meth:`scratch` makes one."""
        self.write_table(name, data)

    @abstractmethod
    def write_table(self, name: str, data: pa.Table, *, mode: Literal["replace", "append"]
                    = "replace") -> None:
        """Store an Arrow table as the derived table ``name`` (replacing or appending)."""

    def checkpoint(self) -> None:
        """Make recent bulk writes cheap to read (DuckDB folds its WAL into the file; engines
        whose writes are already files have nothing to fold)."""
        return None

    def index(self, table: str, columns: Sequence[str]) -> None:
        """Ask for an index on ``columns`` for point lookups (profile by id). Engines without
        secondary indexes (Spark) answer such lookups by scanning and ignore this."""
        del table, columns  # nothing to do on engines without indexes

    def data_version(self) -> Hashable | None:
        """A token that changes whenever committed data may have changed, or ``None`` when the
        engine cannot tell (then nothing read earlier may be reused).

        Point lookups use it to reuse what they read last time (the newest build record, "no
        event arrived since the build") while nothing was written in between.
        """
        return None

    @abstractmethod
    def drop(self, name: str) -> None:
        """Drop a derived table if it exists (declared tables cannot be dropped)."""

    @abstractmethod
    def replace_from(self, table: str, expr: ibis.Table) -> None:
        """Replace every row of the declared ``table`` by the rows of ``expr`` (by name)."""

    def keep_only(self, table: str, kept: ibis.Table) -> None:
        """Keep only the rows of the declared ``table`` that ``kept`` (a filter of it) selects.

        ``replace_from`` empties the table before it inserts, so the kept rows are staged in a
        derived table first.
        """
        stage = f"_keep_stage_{uuid.uuid4().hex[:8]}"
        self.materialize(stage, kept)
        try:
            self.replace_from(table, self.table(stage))
        finally:
            self.drop(stage)

    def replace_rows(self, name: str, key: str, keys: ibis.Table, rows: ibis.Table, *,
                     order_by: str | None = None) -> None:
        """In the derived table ``name``, replace the rows whose ``key`` is among ``keys``'s
        by ``rows`` (same columns). Here the table is written again (sorted by ``order_by``),
        which drops its indexes; engines that can delete in place (DuckDB) keep them.
        """
        self._check_derived(name)
        stage = self._stage_replaced(name, key, keys, rows)
        try:
            staged = self.table(stage)
            self.materialize(name, staged.order_by(order_by) if order_by else staged)
        finally:
            self.drop(stage)

    def replace_keyed(self, table: str, key: str, keys: ibis.Table, rows: ibis.Table) -> None:
        """Like :meth:`replace_rows`, in a declared table that builds keep (``traits``), in
        one transaction where the engine has them. The ``events`` are never rewritten.

        Raises:
            NotFoundError: ``events`` or a table that is not declared.
        """
        self._check_rebuilt(table)
        stage = self._stage_replaced(table, key, keys, rows)
        try:
            self.replace_from(table, self.table(stage))
        finally:
            self.drop(stage)

    def delete_rows(self, table: str, doomed: ibis.Table) -> int:
        """Delete the rows of ``table`` (declared or derived, ``events`` included) whose
        values in ``doomed``'s columns match a row of ``doomed``; return how many went.

        This is erasure's write: unlike the build's rewrites it may touch ``events``. Engines
        that delete in place (DuckDB) do; the others rewrite the table without the rows.
        """
        cols = list(doomed.columns)
        current = self.table(table)
        before = self.count(table)
        kept = current.anti_join(doomed.select(*cols).distinct(), cols)
        if table in TABLES:
            self.keep_only(table, kept)
        else:
            stage = f"_keep_stage_{uuid.uuid4().hex[:8]}"
            self.materialize(stage, kept)
            try:
                self.materialize(table, self.table(stage))
            finally:
                self.drop(stage)
        return before - self.count(table)

    def delete_in(self, table: str, column: str, values: Sequence[object]) -> int:
        """Delete the rows of ``table`` whose ``column`` is one of ``values``; return how many
        went.

        For a person's handful of rows among millions (erasure): engines with an index or zone
        maps on the column read just those rows, where :meth:`delete_rows` joins the whole
        table with its ``doomed`` rows.
        """
        if not values:
            return 0
        t = self.table(table)
        return self.delete_rows(table, t.filter(t[column].isin(list(values))).select(column))

    def export_snapshot(self, folder: Path) -> list[str]:
        """Write every table to ``folder`` (Parquet, one file per table) as one consistent
        snapshot where the engine can (DuckDB: ``EXPORT DATABASE`` in one transaction);
        return the tables written."""
        folder.mkdir(parents=True, exist_ok=True)
        names = self.tables()
        for name in names:
            pq.write_table(self.to_arrow(name), folder / f"{name}.parquet")
        return names

    def import_snapshot(self, folder: Path) -> list[str]:
        """Load a snapshot written by :meth:`export_snapshot` into this (empty) store."""
        names = []
        for path in sorted(folder.glob("*.parquet")):
            data = pq.read_table(path)
            if path.stem in TABLES:
                self.append(path.stem, data)
            else:
                self.write_table(path.stem, data)
            names.append(path.stem)
        return names

    def compact(self) -> bool:
        """Rewrite the store so that deleted rows leave no bytes behind (DuckDB keeps them in
        free blocks until they are overwritten); False where writes already produce new files
        and nothing is to be done."""
        return False

    @staticmethod
    def _check_rebuilt(table: str) -> None:
        if table not in TABLES or table == "events":
            kept = sorted(n for n in TABLES if n != "events")
            raise NotFoundError(f"{table!r} is not a table builds rewrite; valid: "
                                f"{', '.join(kept)}")

    def _stage_replaced(self, name: str, key: str, keys: ibis.Table, rows: ibis.Table) -> str:
        """A work table with ``name``'s rows outside ``keys`` and ``rows``; its name."""
        current = self.table(name)
        schema = current.schema()

        def shaped(t: ibis.Table) -> ibis.Table:  # one schema, every column nullable
            return t.select(*[t[c].cast(schema[c].copy(nullable=True)).name(c)
                              for c in schema.names])

        kept = current.anti_join(keys.select(key).distinct(), key)
        stage = f"_replace_stage_{uuid.uuid4().hex[:8]}"
        self.scratch(stage, ibis.union(shaped(kept), shaped(rows), distinct=False))
        return stage

    @abstractmethod
    def _stored_arrow_schema(self, name: str) -> pa.Schema:
        """The Arrow schema of a stored table."""

    @staticmethod
    def _check_derived(name: str) -> None:
        if name in TABLES:
            raise NotFoundError(f"{name!r} is a declared table; only derived tables can be "
                                "replaced or dropped")

    # -- reads & catalog -------------------------------------------------------------------------
    @abstractmethod
    def tables(self) -> list[str]:
        """Names of the tables that exist in this engine."""

    def to_arrow(self, table: str) -> pa.Table:
        """A whole table as Arrow."""
        return self.execute(self.table(table))

    def to_pandas(self, table: str) -> pd.DataFrame:
        """A whole table as pandas."""
        return self.to_arrow(table).to_pandas()

    def to_polars(self, table: str) -> pl.DataFrame:
        """A whole table as polars."""
        import polars as pl

        frame = pl.from_arrow(self.to_arrow(table))
        assert isinstance(frame, pl.DataFrame)
        return frame

    def rows_by_key(self, table: str, keys: Sequence[object], columns: Sequence[str]
                    ) -> pa.Table:
        """``columns`` of the rows of a keyed table whose key is one of ``keys`` (any order).

        For a handful of rows out of millions (a person's events): engines with an index on
        the key read just those rows.
        """
        key = self._single_key(table)
        t = self.table(table)
        return self.execute(t.filter(t[key].isin(list(keys))).select(*columns))

    @staticmethod
    def _single_key(table: str) -> str:
        spec = TABLES.get(table)
        if spec is None or len(spec.key) != 1:
            keyed = sorted(n for n, s in TABLES.items() if len(s.key) == 1)
            raise NotFoundError(f"{table!r} is not a table with a one-column key; "
                                f"valid: {', '.join(keyed)}")
        return spec.key[0]

    def count(self, table: str) -> int:
        """Number of rows in a table."""
        t = self.table(table)
        result = self.execute(t.aggregate(n=t.count()))
        return int(result.column("n")[0].as_py())

    # -- schema ------------------------------------------------------------------------------------
    @abstractmethod
    def _create_table(self, spec: TableSpec) -> None:
        """Create one declared table (with its key where the engine supports keys)."""

    @abstractmethod
    def _schema_versions(self) -> set[int]:
        """Migration versions already applied (creating the version table if needed)."""

    @abstractmethod
    def _record_version(self, migration: Migration, at: datetime) -> None:
        """Remember that a migration was applied."""

    def migrate(self) -> list[int]:
        """Apply every migration not yet applied, in order; return the versions applied."""
        done = self._schema_versions()
        applied = []
        for migration in MIGRATIONS:
            if migration.version in done:
                continue
            for spec in migration.create:
                self._create_table(spec)
            for table, column in migration.add_columns:
                self._add_column(table, column.name, column)
            self._record_version(migration, datetime.now(UTC))
            applied.append(migration.version)
        return applied

    @abstractmethod
    def _add_column(self, table: str, name: str, column: Column) -> None:
        """Add a nullable column to an existing table."""

    def schema_version(self) -> int:
        """The highest migration version applied."""
        return max(self._schema_versions(), default=0)

    @abstractmethod
    def close(self) -> None:
        """Release the engine's resources."""
