"""Derived tables on Spark: query results and Arrow frames stored as Parquet tables.

Kept apart from the declared-table code in ``engine.py``: derived tables (``profiles``, identity
work tables...) have no declared key, are replaced whole, and take the schema of what is
written into them.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Literal, Protocol

import ibis
import pyarrow as pa
from pyspark.sql.pandas.types import to_arrow_schema

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from aidmp.engine.spark.buckets import Layout


class _Host(Protocol):
    """What the mixin needs from the engine it is mixed into."""

    _spark: SparkSession
    _lock: threading.RLock

    def _fq(self, table: str) -> str: ...
    def compile(self, expr: ibis.Expr) -> str: ...
    def _check_derived(self, name: str) -> None: ...
    def _save(self, name: str, frame: DataFrame, mode: str) -> None: ...
    def _layout(self, table: str) -> Layout | None: ...
    def _replace_all_buckets(self, layout: Layout, rows: DataFrame) -> None: ...


class DerivedTables:
    """Mixin for :class:`~aidmp.engine.spark.engine.SparkEngine`."""

    def _save(self: _Host, name: str, frame: DataFrame, mode: str) -> None:
        from aidmp.engine.spark.errors import wrapped

        fq = self._fq(name)
        with self._lock, wrapped(f"write {name}", f"saveAsTable {fq} mode={mode}"):
            # Spark cannot overwrite a table a plan still reads: cut the lineage first.
            frame = frame.localCheckpoint(eager=True) if mode == "overwrite" else frame
            frame.write.mode(mode).format("parquet").saveAsTable(fq)

    def materialize(self: _Host, name: str, expr: ibis.Table) -> None:
        self._check_derived(name)
        query = self.compile(expr)
        from aidmp.engine.spark.errors import wrapped

        with wrapped(f"materialize {name}", query):
            frame = self._spark.sql(query)
        self._save(name, frame, "overwrite")

    def write_table(self: _Host, name: str, data: pa.Table, *, mode: Literal["replace", "append"]
                    = "replace") -> None:
        self._check_derived(name)
        frame = self._spark.createDataFrame(data)
        self._save(name, frame, "overwrite" if mode == "replace" else "append")

    def replace_from(self: _Host, table: str, expr: ibis.Table) -> None:
        from aidmp.engine.spark.errors import wrapped
        from aidmp.store.schema import TABLES

        spec = TABLES[table]
        query = self.compile(expr)
        cols = ", ".join(f"`{c}`" for c in spec.column_names)
        fq = self._fq(table)
        layout = self._layout(table)
        if layout is not None:
            with self._lock, wrapped(f"replace rows of {table}", query):
                self._replace_all_buckets(layout, self._spark.sql(query))
            return
        with self._lock, wrapped(f"replace rows of {table}", query):
            frame = self._spark.sql(query).localCheckpoint(eager=True)
            frame.createOrReplaceTempView("_aidmp_replace")
            self._spark.sql(f"INSERT OVERWRITE TABLE {fq} SELECT {cols} FROM _aidmp_replace")

    def drop(self: _Host, name: str) -> None:
        self._check_derived(name)
        from aidmp.engine.spark.errors import wrapped

        query = f"DROP TABLE IF EXISTS {self._fq(name)}"
        with self._lock, wrapped(f"drop {name}", query):
            self._spark.sql(query)

    def _stored_arrow_schema(self: _Host, name: str) -> pa.Schema:
        from aidmp.engine.spark.errors import wrapped

        with wrapped(f"read schema of {name}", f"DESCRIBE TABLE {self._fq(name)}"):
            schema = self._spark.table(self._fq(name)).schema
        return to_arrow_schema(schema, timestamp_utc=True)
