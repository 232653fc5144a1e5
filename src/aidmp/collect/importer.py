"""Bulk import of CSV / JSON / NDJSON / Parquet files (or data frames) through a mapping.

Rows are transformed column-wise with polars (no per-row Python except hashing ids and building
the few quarantine rows), validated, and written with the engine's idempotent append, so
importing the same file twice stores nothing the second time.

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

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from aidmp.collect.rows import ColumnBuffer, quarantine_row
from aidmp.engine.base import Engine, arrow_schema
from aidmp.errors import ValidationError
from aidmp.spec.imports import FORMATS_BY_SUFFIX, FileFormat, ImportMapping
from aidmp.store.schema import TABLES

CHUNK_ROWS = 250_000
_ISO_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f",
                "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d")
Progress = Callable[[int, int], None]


@dataclass
class ImportReport:
    """What an import did."""

    files: list[str] = field(default_factory=list)
    read: int = 0
    stored: int = 0
    quarantined: int = 0
    duplicates: int = 0
    seconds: float = 0.0

    def add(self, other: ImportReport) -> None:
        """Fold another report into this one."""
        self.files += other.files
        self.read += other.read
        self.stored += other.stored
        self.quarantined += other.quarantined
        self.duplicates += other.duplicates
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


def read_file(path: Path, fmt: FileFormat, mapping: ImportMapping) -> pl.DataFrame:
    """Read a whole file into polars; id and timestamp columns are kept as text."""
    as_text = {c: pl.String for c in mapping.id_columns() if c != mapping.price_column}
    try:
        if fmt == "csv":
            return pl.read_csv(
                path, separator=mapping.delimiter, has_header=mapping.has_header,
                new_columns=mapping.column_names, schema_overrides=as_text,
                infer_schema_length=10_000, truncate_ragged_lines=False,
            )
        if fmt == "parquet":
            return pl.read_parquet(path)
        if fmt == "ndjson":
            return pl.read_ndjson(path, infer_schema_length=10_000)
        return pl.read_json(path, infer_schema_length=10_000)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValidationError(f"cannot read {path} as {fmt}: {first}", field="file") from None


def _text(col: str) -> pl.Expr:
    e = pl.col(col).cast(pl.String).str.strip_chars()
    return pl.when(e == "").then(None).otherwise(e)


def _timestamp(df: pl.DataFrame, mapping: ImportMapping) -> pl.Expr:
    col = mapping.timestamp_column
    assert col is not None
    dtype = df.schema[col]
    fmt = mapping.timestamp_format
    if isinstance(dtype, pl.Datetime):
        e = pl.col(col)
        return (e.dt.replace_time_zone("UTC") if dtype.time_zone is None
                else e.dt.convert_time_zone("UTC")).dt.cast_time_unit("us")
    if dtype == pl.Date:
        return pl.col(col).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if fmt in ("unix", "unix_ms"):
        unit = "s" if fmt == "unix" else "ms"
        num = pl.col(col).cast(pl.Float64, strict=False)
        scaled = (num * (1_000_000 if unit == "s" else 1_000)).cast(pl.Int64, strict=False)
        return pl.from_epoch(scaled, time_unit="us").dt.replace_time_zone("UTC")
    text = _text(col)
    formats = (fmt,) if fmt else _ISO_FORMATS
    return pl.coalesce([
        text.str.to_datetime(f, strict=False, time_zone="UTC", time_unit="us") for f in formats
    ])


def _json_of(columns: list[str], rename: dict[str, str]) -> pl.Expr:
    if not columns:
        return pl.lit(None, dtype=pl.String)
    return pl.struct([pl.col(c).alias(rename.get(c, c)) for c in columns]).struct.json_encode()


def _kept(df: pl.DataFrame, mapping: ImportMapping, which: list[str] | str) -> list[str]:
    if which == "*":
        used = set(mapping.id_columns())
        return [c for c in df.columns if c not in used and not c.startswith("__")]
    return list(which)


def _row_ids(texts: Iterable[str], source: str) -> list[str]:
    # A content hash makes re-imports idempotent without an id column. hashlib is used rather
    # than polars' hash because that one is not stable across polars versions.
    prefix = source.encode() + b"\x00"
    return [f"{source}:" + hashlib.blake2b(prefix + t.encode(), digest_size=16).hexdigest()
            for t in texts]


class Importer:
    """Turns files and frames into rows of ``events`` (or ``items``) and ``quarantine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def check_columns(self, df: pl.DataFrame, mapping: ImportMapping) -> None:
        """Fail fast, naming the mapping key, when a mapped column is not in the data."""
        keys = ("user_id_column", "anonymous_id_column", "timestamp_column", "event_column",
                "message_id_column", "item_id_column", "name_column", "category_column",
                "price_column")
        for key in keys:
            col = getattr(mapping, key)
            if col and col not in df.columns:
                raise ValidationError(
                    f"column {col!r} is not in the data; columns are: {', '.join(df.columns)}",
                    field=key)
        for key in ("properties", "traits"):
            wanted = getattr(mapping, key)
            if wanted != "*":
                missing = [c for c in wanted if c not in df.columns]
                if missing:
                    raise ValidationError(
                        f"columns {missing} are not in the data; columns are: "
                        f"{', '.join(df.columns)}", field=key)

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
        report = self.frame(df, mapping, file=str(p), progress=progress)
        report.seconds = time.perf_counter() - started
        return report

    def frame(
        self, df: pl.DataFrame, mapping: ImportMapping, *, file: str | None = None,
        progress: Progress | None = None, received_at: datetime | None = None,
    ) -> ImportReport:
        """Import a polars frame (what the dataset loaders and ``file`` use)."""
        started = time.perf_counter()
        self.check_columns(df, mapping)
        received = received_at or datetime.now(UTC)
        report = ImportReport(files=[file] if file else [])
        df = df.with_row_index("__row", offset=1)
        for start in range(0, max(df.height, 1), CHUNK_ROWS):
            chunk = df.slice(start, CHUNK_ROWS)
            if chunk.height == 0:
                break
            good, bad = self.validate(chunk, mapping)
            table = (self._items(good, mapping, received) if mapping.type == "item"
                     else self.to_events(good, mapping, received))
            stored = self.engine.append("items" if mapping.type == "item" else "events", table)
            self._quarantine(bad, mapping, received, file)
            report.read += chunk.height
            report.stored += stored
            report.duplicates += good.height - stored
            report.quarantined += bad.height
            if progress:
                progress(report.read, df.height)
        report.seconds = time.perf_counter() - started
        return report

    # -- steps ------------------------------------------------------------------------------------
    def validate(
        self, df: pl.DataFrame, m: ImportMapping
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        checks: list[tuple[pl.Expr, str, pl.Expr]] = []  # (is_bad, field, reason)
        if m.type == "item":
            assert m.item_id_column
            checks.append((_text(m.item_id_column).is_null(), m.item_id_column,
                           pl.lit("missing item id")))
            if m.price_column:
                price = pl.col(m.price_column).cast(pl.Float64, strict=False)
                checks.append((pl.col(m.price_column).is_not_null() & price.is_null(),
                               m.price_column, pl.lit("not a number")))
        else:
            ids = [c for c in (m.user_id_column, m.anonymous_id_column) if c]
            no_id = pl.all_horizontal([_text(c).is_null() for c in ids])
            checks.append((no_id, ids[0], pl.lit("missing: no user id or anonymous id")))
            if m.event_column:
                checks.append((_text(m.event_column).is_null(), m.event_column,
                               pl.lit("missing event name")))
        if m.timestamp_column and m.type != "item":
            raw = pl.col(m.timestamp_column)
            fmt = m.timestamp_format or "ISO 8601"
            df = df.with_columns(_timestamp(df, m).alias("__ts"))
            checks.append((raw.is_null(), m.timestamp_column, pl.lit("missing timestamp")))
            checks.append((pl.col("__ts").is_null(), m.timestamp_column,
                           pl.format("cannot parse '{}' as {}", raw.cast(pl.String), pl.lit(fmt))))
        field_expr: pl.Expr = pl.lit(None, dtype=pl.String)
        reason_expr: pl.Expr = pl.lit(None, dtype=pl.String)
        for is_bad, col, reason in reversed(checks):  # first failing check wins
            field_expr = pl.when(is_bad).then(pl.lit(col)).otherwise(field_expr)
            reason_expr = pl.when(is_bad).then(reason).otherwise(reason_expr)
        df = df.with_columns(field_expr.alias("__field"), reason_expr.alias("__reason"))
        bad = df.filter(pl.col("__reason").is_not_null())
        good = df.filter(pl.col("__reason").is_null())
        return good, bad

    def _message_ids(self, df: pl.DataFrame, m: ImportMapping) -> list[str] | pl.Series:
        if m.message_id_column:
            return df.select(pl.lit(m.source + ":") + _text(m.message_id_column)).to_series()
        originals = [c for c in df.columns if not c.startswith("__")]
        texts = df.select(pl.struct(originals).struct.json_encode()).to_series().to_list()
        return _row_ids(texts, m.source)

    def to_events(self, df: pl.DataFrame, m: ImportMapping, received: datetime) -> pa.Table:
        n = df.height
        kept = _kept(df, m, m.traits if m.type == "identify" else m.properties)
        payload = _json_of(kept, m.rename)
        ts = pl.col("__ts") if m.timestamp_column else pl.lit(received).dt.cast_time_unit("us")
        event = (_text(m.event_column) if m.event_column else pl.lit(m.event, dtype=pl.String))
        out = df.select(
            (_text(m.user_id_column) if m.user_id_column else pl.lit(None, pl.String))
            .alias("user_id"),
            (_text(m.anonymous_id_column) if m.anonymous_id_column else pl.lit(None, pl.String))
            .alias("anonymous_id"),
            ts.dt.convert_time_zone("UTC").alias("timestamp"),
            (pl.lit(None, pl.String) if m.type == "identify" else event).alias("event"),
            (payload if m.type != "identify" else pl.lit(None, pl.String)).alias("properties"),
            (payload if m.type == "identify" else pl.lit(None, pl.String)).alias("traits"),
        ).with_columns(
            pl.Series("message_id", self._message_ids(df, m), dtype=pl.String),
            pl.lit(m.type).alias("type"),
            pl.col("timestamp").alias("original_timestamp"),
            pl.lit(received).dt.cast_time_unit("us").dt.convert_time_zone("UTC")
            .alias("received_at"),
            pl.lit(m.source).alias("source"),
            pl.col("timestamp").dt.date().alias("event_date"),
        )
        assert out.height == n
        return conform(out, "events")

    def _items(self, df: pl.DataFrame, m: ImportMapping, received: datetime) -> pa.Table:
        assert m.item_id_column
        kept = _kept(df, m, m.properties)
        out = df.select(
            _text(m.item_id_column).alias("item_id"),
            (_text(m.name_column) if m.name_column else pl.lit(None, pl.String)).alias("name"),
            (_text(m.category_column) if m.category_column else pl.lit(None, pl.String))
            .alias("category"),
            (pl.col(m.price_column).cast(pl.Float64, strict=False) if m.price_column
             else pl.lit(None, pl.Float64)).alias("price"),
            _json_of(kept, m.rename).alias("attributes"),
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
        originals = [c for c in bad.columns if not c.startswith("__")]
        payloads = bad.select(pl.struct(originals).struct.json_encode()).to_series().to_list()
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
