"""Import from PostgreSQL and MySQL / MariaDB tables or queries, in full or incrementally.

Rows are read in chunks through SQLAlchemy Core and go through the file importer
(:meth:`aidmp.collect.importer.Importer.frame`), so a database row is mapped, validated,
quarantined and de-duplicated exactly as a CSV row would be: importing the same rows twice
stores nothing the second time.

Why SQLAlchemy Core (with psycopg 3 and PyMySQL) rather than connectorx or ADBC: it is the
one well-kept library that speaks both PostgreSQL and MySQL/MariaDB with *bound parameters*
(the cursor value never enters the SQL text), quotes identifiers per dialect, reflects a
table's primary key for a stable order, and streams with server-side cursors so a large
table is never held in memory. connectorx is faster at bulk reads but takes only SQL text
(the cursor value would have to be spliced in) and repeats the connection string in some
errors; ADBC has no MySQL driver on PyPI. The import is bounded by the importer's own work
(validation, hashing, the store write) more than by the read.

Incremental imports keep a *cursor*: the largest value of a column that only grows
(``updated_at``, an increasing id) among the rows imported, stored per source in
``<home>/sources/<name>.json`` after each chunk is stored, so the next run reads only rows
with a larger value (and a run that dies half-way continues after the last stored chunk).
Rows whose cursor is NULL are read by the first (or a ``full``) run only.

Credentials: the DSN may hold ``${VAR}`` placeholders filled from the environment; what is
shown or stored (reports, errors, the state file) is the DSN without its password.

Example:
    >>> redact_dsn("postgresql://shop:${PGPASSWORD}@127.0.0.1:5432/shop")
    'postgresql://shop:***@127.0.0.1:5432/shop'
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import orjson
import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchTableError, SQLAlchemyError

from aidmp.collect.dsn import expand_env, redact, scrub
from aidmp.collect.importer import Importer, ImportReport
from aidmp.errors import BrokerError, ValidationError
from aidmp.spec.imports import ImportMapping

CHUNK_ROWS = 50_000
_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg",
            "mysql": "mysql+pymysql", "mariadb": "mysql+pymysql"}
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
CursorValue = int | float | str | datetime | date
Progress = Callable[[int, int], None]


def redact_dsn(dsn: str) -> str:
    """The DSN as it may be shown: no password (placeholders are shown as written)."""
    return redact(dsn)


@dataclass
class DatabaseImportReport:
    """What a database import did (the file importer's counts, plus the cursor)."""

    source: str
    dsn: str
    """The DSN without its password."""
    what: str
    """``table <name>`` or ``query``."""
    mode: Literal["full", "incremental"]
    cursor: str | None = None
    cursor_from: str | None = None
    cursor_to: str | None = None
    counts: ImportReport = field(default_factory=ImportReport)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        counts = self.counts.to_dict()
        counts.pop("files", None)
        return {"source": self.source, "dsn": self.dsn, "what": self.what, "mode": self.mode,
                "cursor": self.cursor, "cursor_from": self.cursor_from,
                "cursor_to": self.cursor_to, **counts}


def _driver_url(dsn: str) -> sa.URL:
    """A SQLAlchemy URL for the DSN with its password filled in; only PostgreSQL and MySQL /
    MariaDB are accepted."""
    try:
        url = make_url(expand_env(dsn, field="dsn"))
    except ArgumentError:
        raise ValidationError("not a database URL; expected e.g. postgresql://user:${PGPASSWORD}"
                              "@host:5432/db or mysql://user:${MYSQL_PWD}@host:3306/db",
                              field="dsn") from None
    backend = url.drivername.split("+")[0]
    if backend not in _DRIVERS:
        raise ValidationError(f"unsupported database {backend!r}; use one of: postgresql, "
                              "mysql, mariadb", field="dsn")
    return url.set(drivername=_DRIVERS[backend])


def _plain(value: Any) -> Any:
    """A database value as polars takes it (the mapping turns it into text / JSON)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (dict, list)):
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    return value


_CONVERT = (dict, list, bytes, memoryview, uuid.UUID)


def _frame(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> pl.DataFrame:
    """Rows as a frame: polars builds it from the row tuples in one call; only columns that
    hold JSON, bytes or UUIDs are converted value by value first, and decimals become
    floats after (a per-value Python pass over every column cost as much as the read)."""
    convert = {i for i in range(len(columns))
               if any(isinstance(r[i], _CONVERT) for r in rows[:100])}
    if convert:
        rows = [tuple(_plain(v) if i in convert else v for i, v in enumerate(r)) for r in rows]
    df = pl.DataFrame([tuple(r) for r in rows], schema=list(columns), orient="row",
                      infer_schema_length=None)
    decimals = [c for c, t in df.schema.items() if isinstance(t, pl.Decimal)]
    return df.with_columns(pl.col(decimals).cast(pl.Float64)) if decimals else df


def _encode(value: CursorValue) -> dict[str, Any]:
    if isinstance(value, datetime):
        return {"type": "datetime", "value": value.isoformat()}
    if isinstance(value, date):
        return {"type": "date", "value": value.isoformat()}
    if isinstance(value, bool | int):
        return {"type": "int", "value": int(value)}
    if isinstance(value, float | Decimal):
        return {"type": "float", "value": float(value)}
    return {"type": "str", "value": str(value)}


def _decode(doc: dict[str, Any]) -> CursorValue:
    kind, value = doc["type"], doc["value"]
    if kind == "datetime":
        return datetime.fromisoformat(value)
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    return str(value)


class DatabaseImporter:
    """Reads a table or query and imports it through the file importer.

    Args:
        importer: the file importer (mapping, validation, quarantine, de-duplication).
        state_dir: where the cursor of each source is kept.
        chunk_rows: rows read, imported and checkpointed together.
    """

    def __init__(self, importer: Importer, state_dir: str | Path, *,
                 chunk_rows: int = CHUNK_ROWS) -> None:
        self.importer = importer
        self.state_dir = Path(state_dir)
        self.chunk_rows = chunk_rows

    # -- state ------------------------------------------------------------------------------------
    def _state_path(self, name: str) -> Path:
        return self.state_dir / f"{name}.json"

    def state(self, name: str) -> dict[str, Any] | None:
        """The stored state of a source (its cursor and what it reads), or None."""
        path = self._state_path(name)
        return orjson.loads(path.read_bytes()) if path.exists() else None

    def sources(self) -> list[dict[str, Any]]:
        """The state of every source imported so far, by name."""
        if not self.state_dir.is_dir():
            return []
        return [orjson.loads(p.read_bytes()) for p in sorted(self.state_dir.glob("*.json"))]

    def _save(self, name: str, doc: dict[str, Any]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self._state_path(name)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        os.replace(tmp, path)

    # -- import -----------------------------------------------------------------------------------
    def run(
        self, dsn: str, mapping: ImportMapping, *, table: str | None = None,
        query: str | None = None, cursor: str | None = None, name: str | None = None,
        full: bool = False, progress: Progress | None = None,
    ) -> DatabaseImportReport:
        """Import a table or a query; incrementally when ``cursor`` names a column.

        Args:
            dsn: ``postgresql://`` or ``mysql://`` / ``mariadb://`` URL; ``${VAR}`` is read
                from the environment.
            mapping: how columns become events (as for files).
            table: a table (``schema.table`` allowed) to read whole; or
            query: a SELECT whose rows are imported.
            cursor: a column whose value only grows (``updated_at``, an increasing id).
            name: the source's name for its stored cursor (default: the mapping's source).
            full: read everything, ignoring the stored cursor (the cursor is then updated).
            progress: called with (rows read, 0) after each chunk.

        Raises:
            ValidationError: a bad option, an unknown table or column, a query that fails.
            BrokerError: the database cannot be reached (the message has no password).
        """
        if (table is None) == (query is None):
            raise ValidationError("give either a table or a query", field="table")
        if cursor is not None and not _IDENT.match(cursor):
            raise ValidationError("must be a plain column name (letters, digits, _)",
                                  field="cursor")
        name = name or mapping.source
        if not _NAME.match(name):
            raise ValidationError("letters, digits, '.', '_' or '-' only (at most 64)",
                                  field="name")
        url = _driver_url(dsn)
        shown = redact_dsn(dsn)
        what = f"table {table}" if table else "query"
        state = self.state(name)
        after: CursorValue | None = None
        if state is not None and not full:
            if state.get("cursor") != cursor or state.get("what") != what:
                raise ValidationError(
                    f"source {name!r} was imported before with cursor {state.get('cursor')!r} "
                    f"from {state.get('what')}; use --full to start over or another --name",
                    field="cursor")
            if state.get("value") is not None:
                after = _decode(state["value"])
        report = DatabaseImportReport(
            source=name, dsn=shown, what=what, mode="incremental" if after is not None else "full",
            cursor=cursor, cursor_from=_shown(after), cursor_to=_shown(after))
        secrets = (url.password, url.render_as_string(hide_password=False))
        engine = sa.create_engine(url, hide_parameters=True, pool_pre_ping=False)
        started = time.perf_counter()
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")  # an import never writes
                stmt = self._statement(conn, table, query, cursor, after)
                result = conn.execution_options(stream_results=True,
                                                yield_per=self.chunk_rows).execute(stmt)
                columns = list(result.keys())
                if cursor is not None and cursor not in columns:
                    raise ValidationError(f"column {cursor!r} is not in the rows; columns are: "
                                          f"{', '.join(columns)}", field="cursor")
                for rows in result.partitions(self.chunk_rows):
                    self._chunk(name, columns, rows, mapping, cursor, report, shown, what)
                    if progress is not None:
                        progress(report.counts.read, 0)
        except NoSuchTableError:
            raise ValidationError(f"no table {table!r} in {shown}", field="table") from None
        except SQLAlchemyError as exc:
            raise _wrapped(exc, shown, secrets, query is not None) from None
        finally:
            engine.dispose()
        if report.cursor_to == report.cursor_from:  # nothing newer: (re)write the state as is
            self._save(name, {"source": name, "dsn": shown, "what": what, "cursor": cursor,
                              "value": _encode(after) if after is not None else None,
                              "imported_at": _now()})
        report.counts.seconds = time.perf_counter() - started
        return report

    def _statement(self, conn: sa.Connection, table: str | None, query: str | None,
                   cursor: str | None, after: CursorValue | None) -> sa.Select[Any]:
        order: list[sa.ColumnElement[Any]]
        if table is not None:
            schema, _, bare = table.rpartition(".")
            t = sa.Table(bare, sa.MetaData(), schema=schema or None, autoload_with=conn)
            order = [t.c[c] for c in ([cursor] if cursor else []) if c in t.c]
            order += [c for c in t.primary_key.columns if c.name != cursor] or \
                [c for c in t.c if c.name != cursor]
            stmt = sa.select(t)
            col: sa.ColumnElement[Any] | None = t.c[cursor] if cursor and cursor in t.c else None
            if cursor and col is None:
                raise ValidationError(f"column {cursor!r} is not in table {table!r}; columns "
                                      f"are: {', '.join(t.c.keys())}", field="cursor")
        else:
            assert query is not None
            text = query.strip().rstrip(";")
            if not re.match(r"(?is)^\s*(select|with)\b", text):
                raise ValidationError("must be a SELECT (or WITH ... SELECT) query",
                                      field="query")
            sub = sa.select(sa.text("*")).select_from(sa.text(f"({text}) AS aidmp_src"))
            stmt = sub
            col = sa.column(cursor) if cursor else None
            # the result's own columns give a stable order for ties (and re-runs)
            probe = conn.execute(sa.select(sa.text("*")).select_from(
                sa.text(f"({text}) AS aidmp_probe")).limit(0))
            names = list(probe.keys())
            order = [sa.column(c) for c in ([cursor] if cursor else [])]
            order += [sa.column(c) for c in names if c != cursor]
        if col is not None and after is not None:
            stmt = stmt.where(col > sa.bindparam("after", after))
        return stmt.order_by(*order)

    def _chunk(self, name: str, columns: list[str], rows: Sequence[Sequence[Any]],
               mapping: ImportMapping, cursor: str | None, report: DatabaseImportReport,
               shown: str, what: str) -> None:
        df = _frame(columns, rows)
        label = f"{name}: {what}"
        # A quarantine record of a file is keyed by its line number; a database row has none
        # that lasts (an update or a delete moves it), so rows the importer will refuse are
        # imported one by one: their number is always 1 and the record's key is its content,
        # and a re-run quarantines nothing twice. The rest go in one frame.
        bad = self.importer.rows(df.with_row_index("__row", offset=1), mapping,
                                 datetime.now(UTC)).bad
        refused = set(bad["__row"].to_list()) if bad.height else set()
        parts = [df.filter(~pl.int_range(1, pl.len() + 1).is_in(list(refused)))] \
            if refused else [df]
        parts += [df.slice(i - 1, 1) for i in sorted(refused)]
        for part in parts:
            if part.height == 0:
                continue
            counts = self.importer.frame(part, mapping, file=label)
            report.counts.read += counts.read
            report.counts.stored += counts.stored
            report.counts.quarantined += counts.quarantined
            report.counts.duplicates += counts.duplicates
        if cursor is None:
            return
        values = [r[columns.index(cursor)] for r in rows]
        top = max((v for v in values if v is not None), default=None)
        if top is None:
            return
        report.cursor_to = _shown(top)
        # Checkpoint after the chunk is stored: a run that dies later resumes from here.
        self._save(name, {"source": name, "dsn": shown, "what": what, "cursor": cursor,
                          "value": _encode(top), "imported_at": _now()})


def _shown(value: CursorValue | None) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, date) else str(value)


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _wrapped(exc: SQLAlchemyError, shown: str, secrets: Sequence[str | None],
             user_query: bool) -> ValidationError | BrokerError:
    """A driver error as an aidmp error, without the password, the full DSN or parameters."""
    detail = scrub(str(getattr(exc, "orig", None) or exc), *secrets).strip().splitlines()
    first = detail[0] if detail else type(exc).__name__
    if isinstance(exc, sa.exc.OperationalError) and not user_query:
        return BrokerError(f"cannot read from {shown}: {first}", field="dsn")
    if isinstance(exc, sa.exc.OperationalError) and "connect" in first.lower():
        return BrokerError(f"cannot connect to {shown}: {first}", field="dsn")
    return ValidationError(f"the database refused the import: {first}",
                           field="query" if user_query else "table")
