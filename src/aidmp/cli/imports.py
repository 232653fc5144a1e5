"""``aidmp import FILE``: CSV / JSON / NDJSON / Parquet files or a folder of them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from aidmp.cli.client import run_job, server
from aidmp.cli.common import HomeOption, JsonOption, open_dmp
from aidmp.cli.output import emit_json, summary
from aidmp.cli.progress import bar
from aidmp.errors import ValidationError
from aidmp.spec.imports import load_mapping, mapping_from

Opt = typer.Option


def _pairs(values: list[str] | None, flag: str, shape: str) -> dict[str, str] | None:
    """``["a=b", ...]`` -> ``{"a": "b"}`` (None when the flag was not given)."""
    if not values:
        return None
    out: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip() or not rest.strip():
            raise ValidationError(f"expected {shape}, got {value!r}", field=flag)
        out[key.strip()] = rest.strip()
    return out


def import_command(
    path: Annotated[Path, typer.Argument(help="A file, or a folder of files.")],
    home: HomeOption = None, json: JsonOption = False,
    mapping: Annotated[Path | None, Opt(help="YAML mapping file (flags override it).")] = None,
    source: Annotated[str | None, Opt(help="Source name the rows are tagged with.")] = None,
    type_: Annotated[str | None, Opt("--type", help="track | identify | page | item")] = None,
    event: Annotated[str | None, Opt(help="Event name for every row (track).")] = None,
    event_column: Annotated[str | None, Opt(help="Column with the event name.")] = None,
    user_id_column: Annotated[str | None, Opt(help="Column with the user id.")] = None,
    anonymous_id_column: Annotated[str | None, Opt(help="Column with an anonymous id.")] = None,
    timestamp_column: Annotated[str | None, Opt(help="Column with the time.")] = None,
    timestamp_format: Annotated[str | None, Opt(
        help="strftime format (e.g. %Y%m%d), unix, unix_ms; default ISO 8601.")] = None,
    message_id_column: Annotated[str | None, Opt(help="Column with a unique row id.")] = None,
    item_id_column: Annotated[str | None, Opt(help="Item imports: id column.")] = None,
    name_column: Annotated[str | None, Opt(help="Item imports: name column.")] = None,
    category_column: Annotated[str | None, Opt(help="Item imports: category column.")] = None,
    price_column: Annotated[str | None, Opt(help="Item imports: price column.")] = None,
    delimiter: Annotated[str | None, Opt(help="CSV separator.")] = None,
    fmt: Annotated[str | None, Opt("--format", help="csv | json | ndjson | parquet")] = None,
    where: Annotated[str | None, Opt(
        help="SQL condition rows must meet, e.g. \"CustomerID IS NOT NULL\".")] = None,
    derive: Annotated[list[str] | None, Opt(
        help="NAME=SQL expression, e.g. revenue=Quantity*UnitPrice (repeatable).")] = None,
    identifier: Annotated[list[str] | None, Opt(
        help="COLUMN=TYPE, e.g. CustomerID=crm_id (repeatable).")] = None,
    column_type: Annotated[list[str] | None, Opt(
        help="COLUMN=string|int|float|bool|timestamp|date, e.g. postcode=string "
             "(repeatable).")] = None,
) -> None:
    """Import events, traits or catalog items; bad rows go to the quarantine with the reason."""
    flags: dict[str, Any] = {
        "source": source, "type": type_, "event": event, "event_column": event_column,
        "user_id_column": user_id_column, "anonymous_id_column": anonymous_id_column,
        "timestamp_column": timestamp_column, "timestamp_format": timestamp_format,
        "message_id_column": message_id_column, "item_id_column": item_id_column,
        "name_column": name_column, "category_column": category_column,
        "price_column": price_column, "delimiter": delimiter, "where": where,
        "derive": _pairs(derive, "--derive", "NAME=EXPRESSION"),
        "identifiers": _pairs(identifier, "--identifier", "COLUMN=TYPE"),
        "types": _pairs(column_type, "--column-type", "COLUMN=TYPE"),
    }
    if mapping is not None:
        m = load_mapping(mapping, **flags)
    else:
        if source is None:
            raise ValidationError("required (or give --mapping FILE)", field="--source")
        m = mapping_from({k: v for k, v in flags.items() if v is not None})
    if fmt is not None and fmt not in ("csv", "json", "ndjson", "parquet"):
        raise ValidationError(f"unknown format {fmt!r}; use csv, json, ndjson or parquet",
                              field="--format")
    params = {"path": str(path.resolve()), "format": fmt,
              "mapping": m.model_dump(mode="json", exclude_unset=True)}
    if server(home) is None:  # the same work as the import job, under the CLI's name
        with open_dmp(home) as dmp, bar(f"importing {path.name}", enabled=not json) as progress:
            report = dmp.imports.file(path, m, fmt=fmt, progress=progress)  # type: ignore[arg-type]
            dmp.audit.record("cli", "import", m.source,
                             {"read": report.read, "stored": report.stored})
        out = report.to_dict()
    else:  # the server reads the file (same machine) in an import job
        out = run_job(home, "import", params, label=f"importing {path.name}",
                      show_progress=not json)
    if json:
        emit_json(out)
        return
    read, seconds = out["read"], out["seconds"]
    quarantined, files = out["quarantined"], out["files"]
    out["rows/s"] = f"{read / seconds:,.0f}" if seconds else "-"
    out["seconds"] = f"{seconds:.2f}"
    out["files"] = len(files)
    summary(f"import of {path}", out)
    if quarantined:
        typer.echo(f"{quarantined} rows quarantined: see `aidmp quarantine list "
                   f"--source {m.source}`", err=True)
