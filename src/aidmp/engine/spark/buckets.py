"""Hash-bucketed declared tables on Spark: a write rewrites only the buckets it touches.

Every declared table but ``events`` (append-only) is stored in a data table
``_aidmp_parts_<name>`` partitioned by ``_aidmp_bucket = pmod(xxhash64(<bucket columns>), N)``
and read through a view ``<name>`` that lists the declared columns only, so queries never see
the bucket. The bucket columns are the first key column (one person's traits, one segment's
members share a bucket), or the whole key of ``identities`` (whose first column has a handful
of values). ``N`` and the columns are kept in the data table's properties, so a store keeps
its layout when the default changes.

An upsert that replaces stored keys, :meth:`replace_keyed`, :meth:`delete_in` and
:meth:`replace_from` write the new content of the buckets they touch into a fresh folder
inside the table's folder, then swap the partitions in the metastore (drop the touched
buckets' partitions, which deletes their old files, and add them back at the new folder),
with the swap noted in the data table's properties first so that a crash in between is
finished when the engine next opens. A job therefore never overwrites the files it reads,
and the other buckets' files are left as they are. New keys are appended into their buckets.
A query that runs during the swap may miss the touched buckets' rows or fail and can be
retried (as with the whole-table swap of plain tables).

Leftover folders of an interrupted swap are deleted only where the warehouse is a local
folder; elsewhere (HDFS, object stores) they stay until the table is dropped.
"""

from __future__ import annotations

import re
import shutil
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote, urlparse

from pyspark.sql import functions as F

from aidmp.engine.spark.errors import SPARK_ERRORS, wrapped
from aidmp.store.schema import TableSpec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

BUCKET = "_aidmp_bucket"
"""The partition column of a bucketed table's data table (never shown by its view)."""

PARTS_PREFIX = "_aidmp_parts_"
"""Name prefix of the data tables behind the views of bucketed tables."""

UNBUCKETED = frozenset({"events"})
"""Declared tables kept as one plain Parquet table: only ever appended to."""

_GENERATION = "_g"
_PENDING = "aidmp.swap"
_BUCKET_DIR = re.compile(rf"{BUCKET}=(\d+)")


def quoted(name: str) -> str:
    """A Spark SQL identifier.

    Example:
        >>> quoted("a`b")
        '`a``b`'
    """
    return "`" + name.replace("`", "``") + "`"


def _text(value: str) -> str:
    """A Spark SQL string literal of a path or note the engine made."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def bucket_columns(spec: TableSpec) -> tuple[str, ...]:
    """The columns a declared table's rows are hashed on to pick their bucket.

    Example:
        >>> from aidmp.store.schema import TABLES
        >>> bucket_columns(TABLES["traits"]), bucket_columns(TABLES["identities"])
        (('profile_id',), ('id_type', 'id_value'))
    """
    return spec.key if spec.name == "identities" else spec.key[:1]


def bucket_sql(columns: Sequence[str], buckets: int) -> str:
    """The Spark SQL expression of a row's bucket.

    Example:
        >>> bucket_sql(["profile_id"], 16)
        'CAST(pmod(xxhash64(`profile_id`), 16) AS INT)'
    """
    return f"CAST(pmod(xxhash64({', '.join(quoted(c) for c in columns)}), {buckets}) AS INT)"


@dataclass(frozen=True)
class Layout:
    """Where and how one bucketed table is stored."""

    table: str
    parts: str
    """Qualified name of the data table."""
    by: tuple[str, ...]
    buckets: int
    location: str
    """The data table's folder (a URI)."""
    columns: tuple[str, ...]
    """The data columns, in stored order (the bucket comes after them)."""
    pending: str = ""
    """The note of a swap not finished when the layout was read (see ``_finish_swap``)."""

    def with_bucket(self, frame: DataFrame) -> DataFrame:
        """``frame`` with its rows' bucket added as the last column."""
        return frame.withColumn(BUCKET, F.expr(bucket_sql(self.by, self.buckets)))


def _local_folder(location: str) -> Path | None:
    parsed = urlparse(location)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    return None


def _buckets_in(frame: DataFrame) -> list[int]:
    """The distinct buckets of a frame with a bucket column (a small result)."""
    return sorted(int(r[0]) for r in frame.select(BUCKET).distinct().collect())


class _Host(Protocol):
    """What the mixin needs from the engine it is mixed into."""

    _spark: SparkSession
    _lock: threading.RLock
    _layouts: dict[str, Layout | None]

    def _fq(self, table: str) -> str: ...
    def _ddl(self, step: str, query: str) -> None: ...
    def _layout(self, table: str) -> Layout | None: ...
    def _create_view(self, layout: Layout) -> None: ...
    def _swap_buckets(self, layout: Layout, buckets: Iterable[int], content: DataFrame,
                      step: str) -> None: ...
    def _sweep(self, layout: Layout) -> None: ...
    def _finish_swap(self, layout: Layout, note: str) -> None: ...
    def _recover_swaps(self, tables: Iterable[str]) -> None: ...
    def _stored_in_buckets(self, layout: Layout, key: Sequence[str], keys: DataFrame
                           ) -> DataFrame: ...
    def _append_bucketed(self, layout: Layout, rows: DataFrame) -> None: ...


class BucketedTables:
    """Mixin for :class:`~aidmp.engine.spark.engine.SparkEngine`."""

    def _layout(self: _Host, table: str) -> Layout | None:
        """The layout of a bucketed table, None for a plain one (cached per engine)."""
        if table in self._layouts:
            return self._layouts[table]
        parts = self._fq(PARTS_PREFIX + table)
        layout = None
        with wrapped(f"read layout of {table}", f"SHOW TBLPROPERTIES {parts}"):
            if self._spark.catalog.tableExists(parts):
                props = {r["key"]: r["value"]
                         for r in self._spark.sql(f"SHOW TBLPROPERTIES {parts}").collect()}
                details = self._spark.sql(f"DESCRIBE TABLE EXTENDED {parts}").collect()
                location = next(r["data_type"] for r in details if r["col_name"] == "Location")
                columns = tuple(f.name for f in self._spark.table(parts).schema
                                if f.name != BUCKET)
                layout = Layout(table, parts, tuple(props["aidmp.bucket_by"].split(",")),
                                int(props["aidmp.buckets"]), location, columns,
                                props.get(_PENDING, ""))
        self._layouts[table] = layout
        return layout

    def _create_view(self: _Host, layout: Layout) -> None:
        """(Re)create the view that shows a bucketed table's data columns."""
        cols = ", ".join(quoted(c) for c in layout.columns)
        self._ddl(f"create view {layout.table}",
                  f"CREATE OR REPLACE VIEW {self._fq(layout.table)} AS SELECT {cols} "
                  f"FROM {layout.parts}")

    def _create_bucketed(self: _Host, spec: TableSpec, columns_ddl: str, comment: str,
                         buckets: int) -> None:
        """Create a declared table as a bucketed data table and its view."""
        by = bucket_columns(spec)
        parts = self._fq(PARTS_PREFIX + spec.name)
        self._ddl(
            f"create table {spec.name}",
            f"CREATE TABLE IF NOT EXISTS {parts} ({columns_ddl}, {quoted(BUCKET)} INT) "
            f"USING parquet PARTITIONED BY ({quoted(BUCKET)}) COMMENT {comment} "
            f"TBLPROPERTIES ('aidmp.key' = '{','.join(spec.key)}', "
            f"'aidmp.bucket_by' = '{','.join(by)}', 'aidmp.buckets' = '{buckets}')")
        self._layouts.pop(spec.name, None)
        layout = self._layout(spec.name)
        assert layout is not None
        self._create_view(layout)

    def _bucketed_column_added(self: _Host, table: str, column_ddl: str) -> None:
        layout = self._layout(table)
        assert layout is not None
        self._ddl(f"add column to {table}",
                  f"ALTER TABLE {layout.parts} ADD COLUMNS ({column_ddl})")
        self._layouts.pop(table, None)
        fresh = self._layout(table)
        assert fresh is not None
        self._create_view(fresh)

    def _convert_plain(self: _Host, spec: TableSpec, columns_ddl: str, comment: str,
                       buckets: int) -> None:
        """Move a table of the plain layout (before buckets) into the bucketed one.

        The plain table is dropped only once its rows are all in the data table; an
        interrupted conversion is started again (the half-filled data table dropped first).
        """
        name, plain = spec.name, self._fq(spec.name)
        self._ddl(f"convert {name}", f"DROP TABLE IF EXISTS {self._fq(PARTS_PREFIX + name)}")
        self._layouts.pop(name, None)
        by = bucket_columns(spec)
        parts = self._fq(PARTS_PREFIX + name)
        self._ddl(
            f"convert {name}",
            f"CREATE TABLE {parts} ({columns_ddl}, {quoted(BUCKET)} INT) "
            f"USING parquet PARTITIONED BY ({quoted(BUCKET)}) COMMENT {comment} "
            f"TBLPROPERTIES ('aidmp.key' = '{','.join(spec.key)}', "
            f"'aidmp.bucket_by' = '{','.join(by)}', 'aidmp.buckets' = '{buckets}')")
        self._layouts.pop(name, None)
        layout = self._layout(name)
        assert layout is not None
        with wrapped(f"convert {name}", f"INSERT INTO {parts} SELECT *, <bucket> FROM {plain}"):
            rows = layout.with_bucket(self._spark.table(plain).select(*layout.columns))
            rows.repartition(BUCKET).sortWithinPartitions(BUCKET, *by).write.insertInto(parts)
        self._ddl(f"convert {name}", f"DROP TABLE {plain}")
        self._create_view(layout)

    def _append_bucketed(self: _Host, layout: Layout, rows: DataFrame) -> None:
        """Append rows (data columns, with or without their bucket) as new files."""
        if BUCKET not in rows.columns:
            rows = layout.with_bucket(rows)
        with wrapped(f"append to {layout.table}", f"INSERT INTO {layout.parts} <rows>"):
            (rows.select(*layout.columns, BUCKET).repartition(BUCKET)
             .sortWithinPartitions(BUCKET, *layout.by).write.insertInto(layout.parts))

    def _stored_in_buckets(self: _Host, layout: Layout, key: Sequence[str],
                           keys: DataFrame) -> DataFrame:
        """The stored ``key`` columns (and bucket) of the keys in ``keys`` (with bucket),
        reading only the buckets those keys fall in."""
        touched = _buckets_in(keys)
        stored = self._spark.table(layout.parts).where(F.col(BUCKET).isin(touched))
        return stored.select(*key, BUCKET).join(keys.select(*key), on=list(key), how="left_semi")

    def _upsert_bucketed(self: _Host, layout: Layout, key: Sequence[str], rows: DataFrame
                         ) -> None:
        """Replace the stored rows with the keys of ``rows`` and append the new ones.

        Only the buckets holding a stored key are rewritten; the new keys of other buckets
        are appended as new files.
        """
        step = f"upsert into {layout.table}"
        with wrapped(step, f"<rewrite the buckets of {layout.parts} holding stored keys>"):
            rows = layout.with_bucket(rows)  # Arrow rows on the driver: cheap to read again
            hit = _buckets_in(self._stored_in_buckets(layout, key, rows))
            if hit:
                kept = (self._spark.table(layout.parts).where(F.col(BUCKET).isin(hit))
                        .join(rows.select(*key), on=list(key), how="left_anti"))
                content = kept.select(*layout.columns, BUCKET).unionByName(
                    rows.where(F.col(BUCKET).isin(hit)).select(*layout.columns, BUCKET))
                self._swap_buckets(layout, hit, content, step)
            rest = rows.where(~F.col(BUCKET).isin(hit)) if hit else rows
            if not rest.isEmpty():
                self._append_bucketed(layout, rest)

    def _replace_in_buckets(self: _Host, layout: Layout, key: str, keys: DataFrame,
                            rows: DataFrame) -> None:
        """Replace the rows whose ``key`` is among ``keys``'s by ``rows``, bucket by bucket."""
        step = f"replace rows of {layout.table}"
        with wrapped(step, f"<rewrite the buckets of {layout.parts} holding the keys>"):
            # computed once (they are queries, maybe long ones), released at the end
            keys = layout.with_bucket(keys.select(key).distinct()).persist()
            rows = layout.with_bucket(rows.select(*layout.columns)).persist()
            try:
                # the buckets holding a stored key or a new row (a key stored nowhere costs
                # nothing)
                hit = _buckets_in(self._stored_in_buckets(layout, [key], keys))
                touched = sorted(set(hit) | set(_buckets_in(rows)))
                if not touched:
                    return
                kept = (self._spark.table(layout.parts).where(F.col(BUCKET).isin(touched))
                        .join(keys.select(key), on=[key], how="left_anti"))
                content = kept.select(*layout.columns, BUCKET).unionByName(
                    rows.select(*layout.columns, BUCKET))
                self._swap_buckets(layout, touched, content, step)
            finally:
                keys.unpersist()
                rows.unpersist()

    def _delete_in_buckets(self: _Host, layout: Layout, column: str, values: DataFrame) -> int:
        """Delete the rows whose ``column`` is among ``values``'s; return how many went."""
        step = f"delete from {layout.table}"
        with wrapped(step, f"<rewrite the buckets of {layout.parts} holding the values>"):
            values = layout.with_bucket(values)  # a list from the driver
            candidates = self._spark.table(layout.parts).where(
                F.col(BUCKET).isin(_buckets_in(values)))
            per_bucket = (candidates.join(values.select(column), on=[column], how="left_semi")
                          .groupBy(BUCKET).count().collect())
            touched = sorted(int(r[0]) for r in per_bucket)
            doomed = sum(int(r[1]) for r in per_bucket)
            if doomed == 0:
                return 0
            stored = self._spark.table(layout.parts).where(F.col(BUCKET).isin(touched))
            content = stored.join(values.select(column), on=[column], how="left_anti")
            self._swap_buckets(layout, touched, content.select(*layout.columns, BUCKET), step)
            return int(doomed)

    def _replace_all_buckets(self: _Host, layout: Layout, rows: DataFrame) -> None:
        """Replace every row of a bucketed table by ``rows`` (data columns)."""
        content = layout.with_bucket(rows.select(*layout.columns))
        self._swap_buckets(layout, range(layout.buckets), content,
                           f"replace rows of {layout.table}")

    def _swap_buckets(self: _Host, layout: Layout, buckets: Iterable[int], content: DataFrame,
                      step: str) -> None:
        """Make ``content`` (data columns and bucket) the rows of ``buckets``.

        The content is written to a new folder first (it may read the buckets it replaces).
        Then four metastore statements, whatever the number of buckets: note the new folder
        and its buckets in the data table's properties (the journal that
        :meth:`_finish_swap` replays after a crash), drop the buckets' partitions (which
        deletes their old files), add them back at the new folder (a bucket left without rows
        stays dropped), clear the note.
        """
        touched = sorted(set(buckets))
        target = f"{layout.location.rstrip('/')}/{_GENERATION}{uuid.uuid4().hex[:12]}"
        with wrapped(step, f"write new buckets of {layout.parts} to {target}"):
            (content.repartition(BUCKET).sortWithinPartitions(BUCKET, *layout.by)
             .write.partitionBy(BUCKET).parquet(target))
            try:
                files = self._spark.read.parquet(target).inputFiles()
            except SPARK_ERRORS:  # no rows at all: no Parquet file, no schema to infer
                files = []
        written = sorted({int(m.group(1)) for f in files if (m := _BUCKET_DIR.search(f))})
        note = f"{target}|{','.join(map(str, written))}"
        self._ddl(step, f"ALTER TABLE {layout.parts} SET TBLPROPERTIES "
                        f"('{_PENDING}' = {_text(note)})")
        if touched:
            dropped = ", ".join(f"PARTITION ({quoted(BUCKET)} = {b})" for b in touched)
            self._ddl(step, f"ALTER TABLE {layout.parts} DROP IF EXISTS {dropped}")
        self._finish_swap(layout, note)
        self._sweep(layout)

    def _finish_swap(self: _Host, layout: Layout, note: str) -> None:
        """Add the partitions a swap noted at their new folder, then clear the note.

        Replayed on open when a crash stopped a swap: partitions already added are kept, the
        ones a crash left dropped come back with their new rows; a swap stopped before it
        dropped anything leaves the old buckets (each bucket is whole either way).
        """
        target, _, listed = note.partition("|")
        written = [int(b) for b in listed.split(",") if b]
        if written:
            added = " ".join(f"PARTITION ({quoted(BUCKET)} = {b}) "
                             f"LOCATION {_text(f'{target}/{BUCKET}={b}')}" for b in written)
            self._ddl(f"swap buckets of {layout.table}",
                      f"ALTER TABLE {layout.parts} ADD IF NOT EXISTS {added}")
        self._ddl(f"swap buckets of {layout.table}",
                  f"ALTER TABLE {layout.parts} UNSET TBLPROPERTIES IF EXISTS ('{_PENDING}')")

    def _recover_swaps(self: _Host, tables: Iterable[str]) -> None:
        """Finish the bucket swaps that a crash interrupted (their notes are still set)."""
        for table in tables:
            layout = self._layout(table)
            if layout is not None and layout.pending:
                self._finish_swap(layout, layout.pending)
                self._layouts.pop(table, None)
                self._sweep(layout)

    def _sweep(self: _Host, layout: Layout) -> None:
        """Delete the folders of a local table's swaps that no partition uses any more."""
        folder = _local_folder(layout.location)
        if folder is None or not folder.is_dir():
            return
        with wrapped(f"sweep {layout.table}", f"SHOW PARTITIONS {layout.parts}"):
            live = {int(r[0].split("=", 1)[1])
                    for r in self._spark.sql(f"SHOW PARTITIONS {layout.parts}").collect()}
        # dropped partitions lose their files with them; what is left of a bucket that has no
        # partition (a crash between the write and the swap) goes here
        for candidate in [*folder.glob(f"{BUCKET}=*"), *folder.glob(f"{_GENERATION}*/{BUCKET}=*")]:
            match = _BUCKET_DIR.fullmatch(candidate.name)
            if match and int(match.group(1)) not in live:
                shutil.rmtree(candidate, ignore_errors=True)
        for generation in folder.glob(f"{_GENERATION}*"):
            if not any(generation.glob(f"{BUCKET}=*")):
                shutil.rmtree(generation, ignore_errors=True)
