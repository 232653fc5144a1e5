"""DuckDB implementation of :class:`aidmp.engine.base.Engine`.

The only module (with its package) that imports ``duckdb``. One connection is opened on the
database file; every call works on its own cursor so the collector's flusher thread and API
readers can run side by side (a DuckDB connection object is not safe to share across threads).
A write holds the lock of the table it writes (:mod:`aidmp.engine.duckdb.locks`): a build
replacing ``profiles`` does not hold up the collector's appends to ``events`` or real-time
membership writes, which DuckDB commits side by side.

Example:
    >>> import pyarrow as pa
    >>> eng = DuckDBEngine(":memory:")
    >>> from aidmp.store.schema import MIGRATIONS
    >>> eng.migrate() == [m.version for m in MIGRATIONS]
    True
    >>> eng.count("events")
    0
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Hashable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Literal, cast

import duckdb
import ibis
import pyarrow as pa
from ibis.backends.sql.datatypes import DuckDBType

from aidmp.engine.base import SCHEMA_TABLE, Engine, one_row_per_key
from aidmp.engine.duckdb.locks import WriteLocks
from aidmp.errors import EngineError, NotFoundError
from aidmp.store.schema import TABLES, Column, Migration, TableSpec

_ARROW_BATCH = 131072  # rows per Arrow batch, DuckDB's default


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    """A SQL string literal (for statements that take no parameters, such as EXPORT)."""
    return "'" + text.replace("'", "''") + "'"


def _primary_key(spec: TableSpec) -> str:
    return f"PRIMARY KEY ({', '.join(_quote(k) for k in spec.key)})"


def _column_ddl(column: Column) -> str:
    sql_type = DuckDBType.from_ibis(column.dtype).sql("duckdb")
    return f"{_quote(column.name)} {sql_type}{'' if column.nullable else ' NOT NULL'}"


class DuckDBEngine(Engine):
    """Tables in one DuckDB file; keys enforced as primary keys.

    Args:
        path: the database file, or ``":memory:"``.
        read_only: open without write access (several readers may share a file).
        memory_limit: DuckDB's ``memory_limit`` (``"60%"``, ``"4GB"``); None keeps DuckDB's
            default. Queries beyond it spill to the temp directory or fail with an error.
    """

    name: ClassVar[str] = "duckdb"
    dialect: ClassVar[str] = "duckdb"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"primary_keys", "transactions", "upsert", "embedded"}
    )

    def __init__(self, path: str | Path, *, read_only: bool = False,
                 memory_limit: str | None = None) -> None:
        self.path = str(path)
        memory = not self.path or self.path.startswith(":memory:")
        self._file = None if memory else os.path.abspath(self.path)
        try:
            self._con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.IOException as exc:
            raise EngineError(
                "open database",
                f"{self.path} is in use by another process ({exc}). Stop `aidmp serve` or use "
                "its REST API while it runs.",
            ) from None
        # Timestamps are stored and returned in UTC whatever the machine's zone.
        self._con.execute("SET GLOBAL TimeZone = 'UTC'")
        if memory_limit is not None:
            try:
                self._con.execute("SET GLOBAL memory_limit = ?", [memory_limit])
            except duckdb.Error as exc:
                raise EngineError("set memory_limit", str(exc)) from None
        self._memory_limit = memory_limit
        self._local = threading.local()
        self._locks = WriteLocks()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._con.cursor()
            self._local.cursor = cur
        return cur

    # -- queries ---------------------------------------------------------------------------------
    def execute(self, expr: ibis.Expr) -> pa.Table:
        query = self.compile(expr)
        try:
            return self._cursor().sql(query).to_arrow_table()
        except duckdb.Error as exc:
            raise EngineError("query", f"{exc}\n-- query:\n{query}") from exc

    def sql(self, query: str, params: Sequence[object] = ()) -> pa.Table:
        try:
            rel = self._cursor().sql(query, params=list(params) if params else None)
            return rel.to_arrow_table() if rel is not None else pa.table({})
        except duckdb.Error as exc:
            raise EngineError("sql", f"{exc}\n-- query:\n{query}") from exc

    def _run_prepared(self, query: str, params: Sequence[object]) -> pa.Table:
        # ``sql()`` builds a lazy relation: it parses and binds the statement to describe it,
        # then parses, binds and runs it again to fetch. A point lookup's statement is run
        # once, straight to Arrow, through the call that ``to_arrow_table()`` ends in (one
        # parse and bind, ~0.3-2 ms less per statement). Builds without it take ``sql()``.
        cur = self._cursor()
        submit = getattr(cur, "_submit", None)
        if submit is None:
            return self.sql(query, params)
        try:
            result = submit(query, list(params) if params else None, "arrow", _ARROW_BATCH)
            return cast(pa.Table, result.arrow_table())
        except duckdb.Error as exc:
            raise EngineError("sql", f"{exc}\n-- query:\n{query}") from exc

    def rows_by_key(self, table: str, keys: Sequence[object], columns: Sequence[str]
                    ) -> pa.Table:
        # the keys bound as one typed list: DuckDB probes the primary-key index once per value
        # (1.5-2 ms for a person's events among 10M, against ~250 ms for a scan); an IN list
        # of one parameter per value is probed too, but binding many parameters costs more
        key = self._single_key(table)
        kind = DuckDBType.to_string(TABLES[table].schema[key])
        cols = ", ".join(_quote(c) for c in columns)
        return self._run_prepared(
            f"SELECT {cols} FROM {_quote(table)} WHERE {_quote(key)} = ANY(CAST(? AS {kind}[]))",
            [list(keys)])

    # -- writes ----------------------------------------------------------------------------------
    def _write(self, table: str, data: pa.Table, verb: str) -> int:
        if table not in TABLES:
            raise NotFoundError(f"Unknown table {table!r}. Valid tables: {', '.join(TABLES)}")
        if data.num_rows == 0:
            return 0
        cur = self._cursor()
        view = f"_aidmp_batch_{threading.get_ident()}"
        with self._locks.table(table):
            cur.register(view, data)
            try:
                result = self._insert(cur, table, view, verb)
            except duckdb.Error as exc:
                raise EngineError(f"append to {table}", str(exc)) from exc
            finally:
                cur.unregister(view)
        return int(result[0]) if result else 0

    @staticmethod
    def _insert(cur: duckdb.DuckDBPyConnection, table: str, view: str, verb: str
                ) -> tuple[Any, ...] | None:
        query = f"INSERT {{}}INTO {_quote(table)} BY NAME SELECT * FROM {_quote(view)}"
        if verb != "OR IGNORE":
            return cur.execute(query.format(verb + " ")).fetchone()
        # Most appends repeat no key: a plain insert (one statement, rolled back whole on a
        # repeated key) costs a third less than checking every row for a conflict, so the
        # conflict-checking insert runs only when the plain one is refused.
        try:
            return cur.execute(query.format("")).fetchone()
        except duckdb.ConstraintException:
            return cur.execute(query.format("OR IGNORE ")).fetchone()

    def append(self, table: str, data: pa.Table) -> int:
        return self._write(table, data, "OR IGNORE")

    def upsert(self, table: str, data: pa.Table) -> int:
        # INSERT OR REPLACE would keep the first of two rows with one key; an upsert means the
        # last one wins.
        return self._write(table, one_row_per_key(data, TABLES[table].key, "last")
                           if table in TABLES else data, "OR REPLACE")

    # -- derived tables ----------------------------------------------------------------------------
    def materialize(self, name: str, expr: ibis.Table) -> None:
        self._create_as(name, expr, "")

    def scratch(self, name: str, expr: ibis.Table) -> None:
        # A temporary table lives in memory (spilling to the temp directory), not in the
        # database file: a 10M-row work table is built in half the time, with no checkpoint
        # to write it back. It is visible to this thread's connection only.
        self._create_as(name, expr, "TEMP ")

    def _create_as(self, name: str, expr: ibis.Table, kind: str) -> None:
        self._check_derived(name)
        query = self.compile(expr)
        with self._locks.table(name):
            try:
                self._cursor().execute(f"CREATE OR REPLACE {kind}TABLE {_quote(name)} AS {query}")
            except duckdb.Error as exc:
                raise EngineError(f"materialize {name}", f"{exc}\n-- query:\n{query}") from exc

    def write_table(self, name: str, data: pa.Table, *, mode: Literal["replace", "append"]
                    = "replace") -> None:
        self._write_rows(name, data, mode, "")

    def scratch_rows(self, name: str, data: pa.Table) -> None:
        # a temporary table, as scratch(): 2.6M rows in 0.15 s instead of 1.2 s
        self._write_rows(name, data, "replace", "TEMP ")

    def _write_rows(self, name: str, data: pa.Table, mode: str, kind: str) -> None:
        self._check_derived(name)
        cur = self._cursor()
        view = f"_aidmp_frame_{threading.get_ident()}"
        with self._locks.table(name):
            cur.register(view, data)
            try:
                if mode == "append" and name in self.tables():
                    cur.execute(f"INSERT INTO {_quote(name)} BY NAME SELECT * FROM {_quote(view)}")
                else:
                    cur.execute(f"CREATE OR REPLACE {kind}TABLE {_quote(name)} AS "
                                f"SELECT * FROM {_quote(view)}")
            except duckdb.Error as exc:
                raise EngineError(f"write {name}", str(exc)) from exc
            finally:
                cur.unregister(view)

    def replace_from(self, table: str, expr: ibis.Table) -> None:
        if table not in TABLES:
            raise NotFoundError(f"Unknown table {table!r}. Valid tables: {', '.join(TABLES)}")
        query = self.compile(expr)
        spec = TABLES[table]
        with self._transaction(table, f"replace rows of {table}", query) as cur:
            # drop + create + bulk insert: far cheaper than deleting millions of keyed rows
            cur.execute(f"DROP TABLE {_quote(table)}")
            self._create_table(spec, keyed=False)
            cur.execute(f"INSERT INTO {_quote(table)} BY NAME {query}")
            # the key's index built in one pass over the loaded rows: 2.6M identities take
            # 3.3 s in all instead of 5.7 s inserted into a keyed table (it still refuses
            # duplicates, and the transaction then leaves the old rows in place)
            cur.execute(f"ALTER TABLE {_quote(table)} ADD {_primary_key(spec)}")

    def replace_rows(self, name: str, key: str, keys: ibis.Table, rows: ibis.Table, *,
                     order_by: str | None = None) -> None:
        # in place, in one transaction: a few thousand rows of a 10M-row table are deleted and
        # inserted in milliseconds, and its indexes stay (rewriting it took ~5 s)
        self._check_derived(name)
        self._delete_insert(name, key, keys, rows)

    def replace_keyed(self, table: str, key: str, keys: ibis.Table, rows: ibis.Table) -> None:
        # the same in place; the primary key holds (a key deleted and inserted again in one
        # transaction is accepted)
        self._check_rebuilt(table)
        self._delete_insert(table, key, keys, rows)

    def _delete_insert(self, name: str, key: str, keys: ibis.Table, rows: ibis.Table) -> None:
        doomed = self.compile(keys.select(key).distinct())
        fresh = self.compile(rows)
        with self._transaction(name, f"replace rows of {name}", fresh) as cur:
            cur.execute(f"DELETE FROM {_quote(name)} WHERE {_quote(key)} IN "
                        f"(SELECT {_quote(key)} FROM ({doomed}))")
            cur.execute(f"INSERT INTO {_quote(name)} BY NAME {fresh}")

    def delete_rows(self, table: str, doomed: ibis.Table) -> int:
        cols = list(doomed.columns)
        keys = self.compile(doomed.select(*cols).distinct())
        match = " AND ".join(f"t.{_quote(c)} = d.{_quote(c)}" for c in cols)
        with self._transaction(table, f"delete rows of {table}", keys) as cur:
            n = cur.execute(f"DELETE FROM {_quote(table)} AS t USING ({keys}) AS d "
                            f"WHERE {match}").fetchone()
        return int(n[0]) if n else 0

    def delete_in(self, table: str, column: str, values: Sequence[object]) -> int:
        # the values bound as one typed list: DuckDB probes an index on the column (the
        # events' primary key: ~50 ms for a person's events among 10M) or skips row groups by
        # their min/max, where DELETE ... USING joins (a scan of every row: ~3 s at 10M)
        if not values:
            return 0
        schema = TABLES[table].schema if table in TABLES else self.table(table).schema()
        kind = DuckDBType.to_string(schema[column])
        query = (f"DELETE FROM {_quote(table)} WHERE {_quote(column)} = "
                 f"ANY(CAST(? AS {kind}[]))")
        with self._transaction(table, f"delete rows of {table}", query) as cur:
            n = cur.execute(query, [list(values)]).fetchone()
        return int(n[0]) if n else 0

    def export_snapshot(self, folder: Path) -> list[str]:
        """``EXPORT DATABASE`` (Parquet): one transaction, so every table is seen at the same
        moment while the collector and jobs go on writing."""
        folder.mkdir(parents=True, exist_ok=True)
        cur = self._cursor()
        cur.execute(f"EXPORT DATABASE {_literal(str(folder))} (FORMAT parquet)")
        return self.tables()

    def import_snapshot(self, folder: Path) -> list[str]:
        """``IMPORT DATABASE`` into this store (tables, keys and rows)."""
        with self._locks.everything():
            for name in self.tables():  # the snapshot brings its own schema and rows
                self._cursor().execute(f"DROP TABLE IF EXISTS {_quote(name)}")
            self._cursor().execute(f"IMPORT DATABASE {_literal(str(folder))}")
        return self.tables()

    def compact(self) -> bool:
        """Copy every table into a fresh file (``COPY FROM DATABASE``: tables, keys and
        indexes), then put it in place of the old one: the deleted rows' bytes, which
        ``DELETE`` and ``CHECKPOINT`` leave in free blocks, are gone with the old file."""
        if self._file is None:
            return False
        fresh = self._file + ".compact"
        with self._locks.everything():
            for leftover in (fresh, fresh + ".wal"):
                if os.path.exists(leftover):
                    os.remove(leftover)
            name = self._con.execute("SELECT current_database()").fetchone()
            assert name is not None
            self._con.execute("CHECKPOINT")
            self._con.execute("ATTACH ? AS aidmp_compact", [fresh])
            try:
                self._con.execute(f"COPY FROM DATABASE {_quote(name[0])} TO aidmp_compact")
            finally:
                self._con.execute("DETACH aidmp_compact")
            self._con.close()
            os.replace(fresh, self._file)
            if os.path.exists(self._file + ".wal"):
                os.remove(self._file + ".wal")
            self._con = duckdb.connect(self._file)
            self._con.execute("SET GLOBAL TimeZone = 'UTC'")
            if self._memory_limit is not None:
                self._con.execute("SET GLOBAL memory_limit = ?", [self._memory_limit])
            self._local = threading.local()  # every thread's cursor belonged to the old file
        return True

    @contextlib.contextmanager
    def _transaction(self, table: str, what: str, query: str
                     ) -> Iterator[duckdb.DuckDBPyConnection]:
        """Statements changing ``table`` on this thread's cursor in one transaction, under the
        table's write lock; a failure rolls back and is raised as an EngineError naming
        ``what``."""
        cur = self._cursor()
        with self._locks.table(table):
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
                cur.execute("COMMIT")
            except duckdb.Error as exc:
                cur.execute("ROLLBACK")
                raise EngineError(what, f"{exc}\n-- query:\n{query}") from exc

    def index(self, table: str, columns: Sequence[str]) -> None:
        name = f"idx_{table}_{'_'.join(columns)}"
        cols = ", ".join(_quote(c) for c in columns)
        with self._locks.table(table):
            self._cursor().execute(
                f"CREATE INDEX IF NOT EXISTS {_quote(name)} ON {_quote(table)} ({cols})")

    def data_version(self) -> Hashable | None:
        """Size, time and inode of the database file and of its write-ahead log: every commit
        appends to the log, and a checkpoint rewrites the file and removes the log; this holds
        for every connection to the file in this process (they share one database)."""
        if self._file is None:
            return None
        stamps: list[tuple[int, int, int] | None] = []
        for name in (self._file, self._file + ".wal"):
            try:
                st = os.stat(name)
            except FileNotFoundError:
                if name == self._file:
                    return None
                stamps.append(None)
            except OSError:
                return None
            else:
                stamps.append((st.st_ino, st.st_size, st.st_mtime_ns))
        return tuple(stamps)

    def drop(self, name: str) -> None:
        self._check_derived(name)
        with self._locks.table(name):
            self._cursor().execute(f"DROP TABLE IF EXISTS {_quote(name)}")

    def _stored_arrow_schema(self, name: str) -> pa.Schema:
        return self._cursor().sql(f"SELECT * FROM {_quote(name)} LIMIT 0").to_arrow_table().schema

    # -- catalog ---------------------------------------------------------------------------------
    def tables(self) -> list[str]:
        rows = self._cursor().execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "ORDER BY table_name"
        ).fetchall()
        return [r[0] for r in rows]

    def _create_table(self, spec: TableSpec, *, keyed: bool = True) -> None:
        cols = ", ".join(_column_ddl(c) for c in spec.columns)
        primary = f", {_primary_key(spec)}" if keyed else ""
        self._cursor().execute(f"CREATE TABLE IF NOT EXISTS {_quote(spec.name)} ({cols}{primary})")

    def _add_column(self, table: str, name: str, column: Column) -> None:
        self._cursor().execute(
            f"ALTER TABLE {_quote(table)} ADD COLUMN IF NOT EXISTS {_column_ddl(column)}"
        )

    def _schema_versions(self) -> set[int]:
        cur = self._cursor()
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (version INTEGER PRIMARY KEY, "
            "description VARCHAR, applied_at TIMESTAMPTZ)"
        )
        return {r[0] for r in cur.execute(f"SELECT version FROM {SCHEMA_TABLE}").fetchall()}

    def _record_version(self, migration: Migration, at: datetime) -> None:
        self._cursor().execute(
            f"INSERT INTO {SCHEMA_TABLE} VALUES (?, ?, ?)",
            [migration.version, migration.description, at],
        )

    def checkpoint(self) -> None:
        """Fold DuckDB's write-ahead log into the database file."""
        self._cursor().execute("CHECKPOINT")

    def close(self) -> None:
        self._con.close()
