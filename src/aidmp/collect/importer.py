"""Bulk import of CSV / JSON / NDJSON / Parquet files (or data frames) through a mapping.

Rows are transformed column-wise with polars (no per-row Python except hashing ids and building
the few quarantine rows): typed, derived, filtered and routed by the mapping's steps
(:mod:`aidmp.collect.mapping_steps`), validated, grouped into orders for line-item files, and
written with the engine's idempotent append, so importing the same file twice stores nothing
the second time.

Example:
    >>> import polars as pl
    >>> from aidmp.engine.duckdb import DuckDBEngine
    >>> from aidmp.spec.imports import ImportMapping
    >>> eng = DuckDBEngine(":memory:"); _ = eng.migrate()
    >>> df = pl.DataFrame({"cust": ["1", "2", ""], "day": ["19970101", "1997-13-01", "19970102"],
    ...                    "amount": [11.77, 5.0, 3.0]})
    >>> m = ImportMapping(source="orders", event="Order Completed", user_id_column="cust",
    ...                   timestamp_column="day", timestamp_format="%Y%m%d")
    >>> r = Importer(eng).frame(df, m)
    >>> (r.read, r.stored, r.quarantined)
    (3, 1, 2)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from aidmp.collect.mapping_steps import (
    LINE_COLUMNS,
    IdentifierTargets,
    auto_types,
    group_lines,
    identifier_targets,
    nested_json,
    prepare,
    row_keys,
    safe_names,
    text,
    timestamp_expr,
)
from aidmp.collect.rows import ColumnBuffer, RowFilter, keep_all, quarantine_row
from aidmp.engine.base import Engine, arrow_schema
from aidmp.errors import ValidationError
from aidmp.spec.identity import IdentityRules
from aidmp.spec.imports import FORMATS_BY_SUFFIX, FileFormat, ImportMapping
from aidmp.store.schema import TABLES

CHUNK_ROWS = 250_000
Progress = Callable[[int, int], None]


@dataclass
class ImportReport:
    """What an import did."""

    files: list[str] = field(default_factory=list)
    read: int = 0
    stored: int = 0
    quarantined: int = 0
    duplicates: int = 0
    dropped: int = 0
    """Rows left out by the mapping's ``where`` condition."""
    orders: int = 0
    """Line-item imports: the order events the lines made (stored ones and duplicates)."""
    renamed: dict[str, str] = field(default_factory=dict)
    """Columns stored under another property / trait name (spaces, brackets, dots)."""
    seconds: float = 0.0

    def add(self, other: ImportReport) -> None:
        """Fold another report into this one."""
        self.files += other.files
        self.read += other.read
        self.stored += other.stored
        self.quarantined += other.quarantined
        self.duplicates += other.duplicates
        self.dropped += other.dropped
        self.orders += other.orders
        self.renamed.update(other.renamed)
        self.seconds += other.seconds

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def detect_format(path: Path) -> FileFormat:
    """The file format from the file name.

    Raises:
        ValidationError: an extension that is not supported (the message lists the valid ones).
    """
    fmt = FORMATS_BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        raise ValidationError(
            f"cannot tell the format of {path.name}; use one of "
            f"{', '.join(sorted(FORMATS_BY_SUFFIX))} or pass --format", field="file")
    return fmt


def _text_columns(m: ImportMapping) -> list[str]:
    """Columns read as text whatever they hold: ids and the timestamp."""
    cols = [m.user_id_column, m.anonymous_id_column, m.message_id_column, m.item_id_column,
            m.timestamp_column, *m.identifiers,
            m.lines.order_id_column if m.lines is not None else None]
    return [c for c in cols if c]


def read_file(path: Path, fmt: FileFormat, mapping: ImportMapping) -> pl.DataFrame:
    """Read a whole file into polars. CSV columns are read as text and typed afterwards
    (:func:`~aidmp.collect.mapping_steps.auto_types`): codes such as ``0812`` keep their
    leading zeros; id, timestamp and explicitly typed columns stay text here."""
    try:
        if fmt == "csv":
            df = pl.read_csv(
                path, separator=mapping.delimiter, has_header=mapping.has_header,
                new_columns=mapping.column_names, infer_schema=False,
                truncate_ragged_lines=False,
            )
            # an empty field is a missing value (``where: CustomerID IS NOT NULL`` drops it)
            df = df.with_columns(pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c))
                                 .alias(c) for c in df.columns)
            return auto_types(df, keep_text=[*_text_columns(mapping), *mapping.types])
        if fmt == "parquet":
            return pl.read_parquet(path)
        if fmt == "ndjson":
            return pl.read_ndjson(path, infer_schema_length=10_000)
        return pl.read_json(path, infer_schema_length=10_000)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValidationError(f"cannot read {path} as {fmt}: {first}", field="file") from None


def _json_of(columns: list[str], names: dict[str, str]) -> pl.Expr:
    if not columns:
        return pl.lit(None, dtype=pl.String)
    return pl.struct([pl.col(c).alias(names.get(c, c)) for c in columns]).struct.json_encode()


def _kept(df: pl.DataFrame, mapping: ImportMapping, which: list[str] | str) -> list[str]:
    if which == "*":
        used = set(mapping.id_columns())
        return [c for c in df.columns if c not in used and not c.startswith("__")]
    return list(which)


@dataclass
class Rows:
    """What :meth:`Importer.rows` makes of a frame."""

    good: pl.DataFrame
    bad: pl.DataFrame
    kept: list[str]
    """Columns stored as properties / traits / item attributes."""
    names: dict[str, str]
    """Their stored names."""
    targets: IdentifierTargets
    dropped: int


class Importer:
    """Turns files and frames into rows of ``events`` (or ``items``) and ``quarantine``.

    ``rules`` are the identity rules a mapping's ``identifiers`` are checked against (the
    defaults when not given)."""

    def __init__(self, engine: Engine, rules: IdentityRules | None = None) -> None:
        self.engine = engine
        self.rules = rules or IdentityRules()
        self.row_filter: RowFilter = keep_all
        # where database sources keep their cursors (the DMP sets <home>/sources)

    def check_columns(self, df: pl.DataFrame, mapping: ImportMapping) -> None:
        """Fail fast, naming the mapping key, when a mapped column is not in the data."""
        keys = ("user_id_column", "anonymous_id_column", "timestamp_column", "event_column",
                "message_id_column", "item_id_column", "name_column", "category_column",
                "price_column")
        columns = [c for c in df.columns if not c.startswith("__")]
        for key in keys:
            col = getattr(mapping, key)
            if col and col not in df.columns:
                raise ValidationError(
                    f"column {col!r} is not in the data; columns are: {', '.join(columns)}",
                    field=key)
        wanted: list[tuple[str, list[str]]] = [
            ("identifiers", list(mapping.identifiers)),
            ("context", list(mapping.context.values()))]
        if mapping.lines is not None:
            wanted += [("lines.order_id_column", [mapping.lines.order_id_column]),
                       ("lines.products", list(mapping.lines.products))]
        for key in ("properties", "traits"):
            if getattr(mapping, key) != "*":
                wanted.append((key, list(getattr(mapping, key))))
        for key, cols in wanted:
            missing = [c for c in cols if c not in df.columns]
            if missing:
                raise ValidationError(
                    f"columns {missing} are not in the data; columns are: "
                    f"{', '.join(columns)}", field=key)

    def file(
        self, path: str | Path, mapping: ImportMapping, *, fmt: FileFormat | None = None,
        progress: Progress | None = None,
    ) -> ImportReport:
        """Import one file, or every supported file of a directory (sorted by name)."""
        p = Path(path)
        if not p.exists():
            raise ValidationError(f"{p} does not exist", field="file")
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.suffix.lower() in FORMATS_BY_SUFFIX)
            if not files:
                raise ValidationError(f"{p} holds no {', '.join(FORMATS_BY_SUFFIX)} files",
                                      field="file")
            total = ImportReport()
            for f in files:
                total.add(self.file(f, mapping, fmt=fmt, progress=progress))
            return total
        started = time.perf_counter()
        df = read_file(p, fmt or detect_format(p), mapping)
        if df.width == 0:  # an empty NDJSON/JSON file: nothing to map
            raise ValidationError(f"{p} holds no rows or columns", field="file")
        report = self.frame(df, mapping, file=str(p), progress=progress)
        report.seconds = time.perf_counter() - started
        return report

    def frame(
        self, df: pl.DataFrame, mapping: ImportMapping, *, file: str | None = None,
        progress: Progress | None = None, received_at: datetime | None = None,
    ) -> ImportReport:
        """Import a polars frame (what the dataset loaders and ``file`` use).

        Every mapping step runs over the whole frame before anything is written, so a bad
        expression or column fails the import with nothing stored."""
        started = time.perf_counter()
        m = mapping
        received = received_at or datetime.now(UTC)
        report = ImportReport(files=[file] if file else [], read=df.height)
        rows = self.rows(df.with_row_index("__row", offset=1), m, received)
        report.dropped = rows.dropped
        self._quarantine(rows.bad, m, received, file)
        report.quarantined = rows.bad.height
        good, kept, names, targets = rows.good, rows.kept, rows.names, rows.targets
        if m.lines is not None:
            report.orders = good.height
        report.renamed = {c: n for c, n in names.items() if c != n and c not in m.rename}
        done = 0
        for start in range(0, good.height, CHUNK_ROWS):
            chunk = good.slice(start, CHUNK_ROWS)
            table = (self._items(chunk, m, received, kept, names) if m.type == "item"
                     else self.to_events(chunk, m, received, kept, names, targets))
            # a catalog item is state, not an event: importing it again updates it (upsert)
            stored = self.engine.upsert("items", table) if m.type == "item" else \
                self.engine.append("events", self.row_filter(table))
            report.stored += stored
            report.duplicates += chunk.height - stored
            done += chunk.height
            if progress:
                progress(done, good.height)
        report.seconds = time.perf_counter() - started
        return report

    def rows(self, df: pl.DataFrame, m: ImportMapping, received: datetime) -> Rows:
        """Every step before writing, over a frame with a ``__row`` number column: the
        mapping's column steps, validation, and for line-item files the grouping into orders.

        Raises:
            ValidationError: an unknown column, a bad expression or identifier type.
        """
        originals = [c for c in df.columns if not c.startswith("__")]
        df = df.with_columns(pl.struct(originals).struct.json_encode().alias("__payload"))
        # order lines are keyed by their order (group_lines): no row hash to compute
        mids = (row_keys(df, m) if m.lines is None
                else pl.Series("__mid", [None] * df.height, dtype=pl.String))
        df = df.with_columns(mids.alias("__mid"))
        prepared = prepare(df, m)
        df = prepared.frame
        self.check_columns(df, m)
        targets = (identifier_targets(m, self.rules) if m.type != "item"
                   else IdentifierTargets())
        good, bad = self.validate(df, m, targets, received)
        kept = self._kept_columns(good, m, targets)
        if m.lines is not None:
            good = group_lines(good, m, kept, self._id_columns(targets))
            kept = [c for c in LINE_COLUMNS if c in good.columns] + [
                c for c in kept if c not in LINE_COLUMNS]
        return Rows(good, bad, kept, safe_names(kept, m.rename), targets, prepared.dropped)

    def replay(self, payload: dict[str, Any], m: ImportMapping, row_number: int,
               received: datetime) -> dict[str, Any]:
        """The event row of one quarantined record (its original columns), through every
        step of ``m`` again.

        Raises:
            ValidationError: the record is still refused (or the ``where`` condition drops it).
        """
        df = pl.DataFrame([payload]).with_row_index("__row", offset=row_number)
        rows = self.rows(df, m, received)
        if rows.bad.height:
            raise ValidationError(rows.bad["__reason"][0], field=rows.bad["__field"][0])
        if rows.dropped:
            raise ValidationError(f"{m.where!r} does not hold for it", field="where")
        if m.type == "item":
            table = self._items(rows.good, m, received, rows.kept, rows.names)
        else:
            table = self.to_events(rows.good, m, received, rows.kept, rows.names, rows.targets)
        out: dict[str, Any] = table.to_pylist()[0]
        return out

    # -- steps ------------------------------------------------------------------------------------
    @staticmethod
    def _id_columns(t: IdentifierTargets) -> list[str]:
        cols = [t.user_id, t.anonymous_id, *t.context.values(), *t.traits.values()]
        return list(dict.fromkeys(c for c in cols if c))

    def _kept_columns(self, df: pl.DataFrame, m: ImportMapping, t: IdentifierTargets
                      ) -> list[str]:
        kept = _kept(df, m, m.traits if m.type == "identify" else m.properties)
        # explicitly typed identifiers written as traits are kept once, under their key
        return [c for c in kept if c not in t.traits.values()]

    def validate(
        self, df: pl.DataFrame, m: ImportMapping, targets: IdentifierTargets | None = None,
        received: datetime | None = None,
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(good, bad) rows; bad ones carry ``__field`` and ``__reason``, good ones ``__ts``."""
        targets = targets or IdentifierTargets(m.user_id_column, m.anonymous_id_column)
        checks: list[tuple[pl.Expr, str, pl.Expr]] = []  # (is_bad, field, reason)
        if "__treason" in df.columns:
            checks.append((pl.col("__treason").is_not_null(), "", pl.col("__treason")))
        if m.type == "item":
            assert m.item_id_column
            checks.append((text(m.item_id_column).is_null(), m.item_id_column,
                           pl.lit("missing item id")))
            if m.price_column:
                price = pl.col(m.price_column).cast(pl.Float64, strict=False)
                checks.append((pl.col(m.price_column).is_not_null() & price.is_null(),
                               m.price_column, pl.lit("not a number")))
        else:
            ids = self._id_columns(targets)
            no_id = pl.all_horizontal([text(c).is_null() for c in ids])
            checks.append((no_id, ids[0], pl.lit(
                "missing: no user id or anonymous id" if len(ids) <= 2 and not m.identifiers
                else f"missing: none of {', '.join(ids)}")))
            if m.type != "identify":
                name = m.event_column or "event"
                checks.append((pl.col("__event").is_null(), name, pl.lit("missing event name")))
            if m.lines is not None:
                checks.append((text(m.lines.order_id_column).is_null(),
                               m.lines.order_id_column, pl.lit("missing order id")))
        if m.timestamp_column and m.type != "item":
            raw = pl.col(m.timestamp_column)
            fmt = m.timestamp_format or "ISO 8601"
            df = df.with_columns(timestamp_expr(df, m).alias("__ts"))
            checks.append((raw.is_null(), m.timestamp_column, pl.lit("missing timestamp")))
            checks.append((pl.col("__ts").is_null(), m.timestamp_column,
                           pl.format("cannot parse '{}' as {}", raw.cast(pl.String), pl.lit(fmt))))
        else:
            at = received or datetime.now(UTC)
            df = df.with_columns(pl.lit(at).dt.cast_time_unit("us")
                                 .dt.convert_time_zone("UTC").alias("__ts"))
        field_expr: pl.Expr = pl.lit(None, dtype=pl.String)
        reason_expr: pl.Expr = pl.lit(None, dtype=pl.String)
        for is_bad, col, reason in reversed(checks):  # first failing check wins
            fld = pl.col("__tfield") if col == "" else pl.lit(col)
            field_expr = pl.when(is_bad).then(fld).otherwise(field_expr)
            reason_expr = pl.when(is_bad).then(reason).otherwise(reason_expr)
        df = df.with_columns(field_expr.alias("__field"), reason_expr.alias("__reason"))
        bad = df.filter(pl.col("__reason").is_not_null())
        good = df.filter(pl.col("__reason").is_null())
        return good, bad

    def to_events(self, df: pl.DataFrame, m: ImportMapping, received: datetime,
                  kept: list[str], names: dict[str, str], t: IdentifierTargets) -> pa.Table:
        """Event rows (conformed to the ``events`` table) of validated rows."""
        n = df.height
        payload = _json_of(kept, names)
        traits = payload if m.type == "identify" else pl.lit(None, pl.String)
        if t.traits:
            cols = [*kept, *t.traits.values()]
            traits = _json_of(cols, {**names, **{c: k for k, c in t.traits.items()}})
        null = pl.lit(None, pl.String)
        context = {**m.context, **t.context}
        out = df.select(
            (text(t.user_id) if t.user_id else null).alias("user_id"),
            (text(t.anonymous_id) if t.anonymous_id else null).alias("anonymous_id"),
            pl.col("__ts").dt.convert_time_zone("UTC").alias("timestamp"),
            (null if m.type == "identify" else pl.col("__event")).alias("event"),
            (payload if m.type != "identify" else null).alias("properties"),
            traits.alias("traits"),
            (nested_json(context) if context else null).alias("context"),
            pl.col("__mid").alias("message_id"),
        ).with_columns(
            pl.lit(m.type).alias("type"),
            pl.col("timestamp").alias("original_timestamp"),
            pl.lit(received).dt.cast_time_unit("us").dt.convert_time_zone("UTC")
            .alias("received_at"),
            pl.lit(m.source).alias("source"),
            pl.col("timestamp").dt.date().alias("event_date"),
        )
        assert out.height == n
        return conform(out, "events")

    def _items(self, df: pl.DataFrame, m: ImportMapping, received: datetime, kept: list[str],
               names: dict[str, str]) -> pa.Table:
        assert m.item_id_column
        out = df.select(
            text(m.item_id_column).alias("item_id"),
            (text(m.name_column) if m.name_column else pl.lit(None, pl.String)).alias("name"),
            (text(m.category_column) if m.category_column else pl.lit(None, pl.String))
            .alias("category"),
            (pl.col(m.price_column).cast(pl.Float64, strict=False) if m.price_column
             else pl.lit(None, pl.Float64)).alias("price"),
            _json_of(kept, names).alias("attributes"),
            pl.lit(m.source).alias("source"),
            pl.lit(received).dt.cast_time_unit("us").dt.convert_time_zone("UTC")
            .alias("updated_at"),
        )
        return conform(out, "items")

    def _quarantine(
        self, bad: pl.DataFrame, m: ImportMapping, received: datetime, file: str | None
    ) -> None:
        if bad.height == 0:
            return
        payloads = bad["__payload"].to_list()  # the row as read, before any step
        options = {"mapping": m.model_dump(mode="json")}
        buf = ColumnBuffer("quarantine")
        for payload, row, fld, reason in zip(
            payloads, bad["__row"].to_list(), bad["__field"].to_list(), bad["__reason"].to_list(),
            strict=True,
        ):
            buf.add(quarantine_row(
                source=m.source, kind="import", payload=payload, reason=reason, field=fld,
                received_at=received, options=options, row_number=int(row), file=file,
            ))
        self.engine.append("quarantine", buf.to_arrow())


def conform(df: pl.DataFrame, table: str) -> pa.Table:
    """Order and type the columns as the declared table."""
    schema = arrow_schema(TABLES[table])
    present = df.to_arrow()
    cols = []
    for f in schema:
        if f.name in present.column_names:
            cols.append(present.column(f.name).cast(f.type))
        else:
            cols.append(pa.nulls(present.num_rows, type=f.type))
    return pa.table(cols, schema=schema)
