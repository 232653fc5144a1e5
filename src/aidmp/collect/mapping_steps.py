"""The column steps of an import mapping, each over a whole polars frame: column types, derived
columns, the row filter, event routing, multi-valued splits, safe property names, where
explicitly typed identifiers go, and the grouping of order lines into orders.

Example:
    >>> df = read_typed_csv_text("postcode,qty,price\\n0812,2,1.5\\n1000,3,2\\n")
    >>> df.schema["postcode"], df.schema["qty"], df.schema["price"]
    (String, Int64, Float64)
    >>> safe_names(["Annual income (k)", "rate.var", "age"], {})
    {'Annual income (k)': 'annual_income_k', 'rate.var': 'rate_var', 'age': 'age'}
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from aidmp.collect.mapping_exprs import compile_expression, evaluate
from aidmp.errors import ValidationError
from aidmp.spec.identity import IdentityRules
from aidmp.spec.imports import ColumnType, ImportMapping

ISO_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f",
               "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d")
_INT = r"^[+-]?\d+$"
_FLOAT = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_LEADING_ZERO = r"^[+-]?0\d"  # a code such as 0812 or 007, not 0 or 0.5
_TRUE, _FALSE = ["true", "yes", "y", "1", "t"], ["false", "no", "n", "0", "f"]
_SAFE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")
# the event fields an identifier type's path may name that an import can fill
_COLUMNS = ("user_id", "anonymous_id")


def text(col: str) -> pl.Expr:
    """A column as trimmed text, blank as NULL."""
    e = pl.col(col).cast(pl.String).str.strip_chars()
    return pl.when(e == "").then(None).otherwise(e)


def auto_types(df: pl.DataFrame, keep_text: Sequence[str] = ()) -> pl.DataFrame:
    """Type the text columns of a CSV read as text: a column becomes Int64 or Float64 when
    every value is a number and none has a leading zero (``0812`` is a code and stays text),
    Boolean when every value is true or false; the rest, and ``keep_text``, stay text."""
    checks = []
    cols = [c for c, d in df.schema.items() if d == pl.String and c not in keep_text]
    for c in cols:
        v = pl.col(c).str.strip_chars()
        v = pl.when(v == "").then(None).otherwise(v)
        checks += [
            (v.is_null() | v.str.contains(_INT)).all().alias(f"i{c}"),
            (v.is_null() | v.str.contains(_FLOAT)).all().alias(f"f{c}"),
            (v.str.contains(_LEADING_ZERO)).any().alias(f"z{c}"),
            (v.is_null() | v.str.to_lowercase().is_in(["true", "false"])).all().alias(f"b{c}"),
            v.is_not_null().any().alias(f"n{c}"),
        ]
    if not checks:
        return df
    row = df.select(checks).row(0, named=True)
    casts = []
    for c in cols:
        if not row[f"n{c}"]:
            continue  # an empty column says nothing about its type
        v = pl.col(c).str.strip_chars()
        if row[f"i{c}"] and not row[f"z{c}"]:
            casts.append(v.cast(pl.Int64, strict=False).alias(c))
        elif row[f"f{c}"] and not row[f"z{c}"]:
            casts.append(v.cast(pl.Float64, strict=False).alias(c))
        elif row[f"b{c}"]:
            casts.append((v.str.to_lowercase() == "true").alias(c))
    return df.with_columns(casts) if casts else df


def read_typed_csv_text(data: str) -> pl.DataFrame:
    """A CSV text read as the importer reads CSV files (for examples and tests)."""
    return auto_types(pl.read_csv(io.StringIO(data), infer_schema=False))


def _cast(col: str, kind: ColumnType) -> pl.Expr:
    if kind == "string":
        return pl.col(col).cast(pl.String)
    if kind in ("int", "float"):
        v = pl.col(col)
        dtype = pl.Int64 if kind == "int" else pl.Float64
        return v.cast(pl.String).str.strip_chars().cast(dtype, strict=False)
    v = text(col)
    if kind == "bool":
        low = v.str.to_lowercase()
        return (pl.when(low.is_in(_TRUE)).then(True)
                .when(low.is_in(_FALSE)).then(False).otherwise(None))
    if kind == "date":
        return pl.coalesce([v.str.to_date(f, strict=False) for f in ("%Y-%m-%d", "%Y%m%d")])
    return pl.coalesce([v.str.to_datetime(f, strict=False, time_zone="UTC", time_unit="us")
                        for f in ISO_FORMATS])


def apply_types(df: pl.DataFrame, types: Mapping[str, ColumnType], skip: Sequence[str] = ()
                ) -> pl.DataFrame:
    """Cast the typed columns; a value that does not read as its type marks its row with
    ``__tfield`` / ``__treason`` (the first such column), for the quarantine."""
    field_e: pl.Expr = pl.lit(None, dtype=pl.String)
    reason_e: pl.Expr = pl.lit(None, dtype=pl.String)
    casts = []
    for col, kind in reversed(list(types.items())):
        if col in skip or df.schema[col] == _DTYPES[kind]:
            continue
        cast = _cast(col, kind)
        raw = pl.col(col)
        present = raw.is_not_null()
        if df.schema[col] == pl.String:
            present = present & (raw.str.strip_chars() != "")
        bad = present & cast.is_null()
        field_e = pl.when(bad).then(pl.lit(col)).otherwise(field_e)
        reason_e = pl.when(bad).then(
            pl.format("not a {}: '{}'", pl.lit(kind), raw.cast(pl.String))).otherwise(reason_e)
        casts.append(cast.alias(col))
    return df.with_columns(field_e.alias("__tfield"), reason_e.alias("__treason")
                           ).with_columns(casts)


_DTYPES: dict[str, pl.DataType] = {
    "string": pl.String(), "int": pl.Int64(), "float": pl.Float64(), "bool": pl.Boolean(),
    "timestamp": pl.Datetime("us", "UTC"), "date": pl.Date()}


@dataclass
class Prepared:
    """A frame after the mapping's column steps, and what they did."""

    frame: pl.DataFrame
    dropped: int = 0
    """Rows the ``where`` condition left out."""
    renamed: dict[str, str] = field(default_factory=dict)


def prepare(df: pl.DataFrame, m: ImportMapping) -> Prepared:
    """Types, derived columns, the row filter, event routing and splits, in that order.

    Raises:
        ValidationError: an unknown column or a bad expression, naming the mapping key.
    """
    for key, cols in (("types", list(m.types)), ("split", list(m.split))):
        unknown = [c for c in cols if c not in df.columns and c not in m.derive]
        if unknown:
            raise ValidationError(f"columns {unknown} are not in the data; columns are: "
                                  f"{', '.join(c for c in df.columns if not c.startswith('__'))}",
                                  field=key)
    skip = [m.timestamp_column] if m.timestamp_column else []
    df = apply_types(df, {c: t for c, t in m.types.items() if c in df.columns}, skip)
    for name, expr_text in m.derive.items():
        where = f"derive.{name}"
        visible = [c for c in df.columns if not c.startswith("__")]
        expr = compile_expression(expr_text, visible, where=where)
        df = df.with_columns(evaluate(df, expr, expr_text, where=where).alias(name))
        if name in m.types:
            df = apply_types(df.drop("__tfield", "__treason"), {name: m.types[name]})
    visible = [c for c in df.columns if not c.startswith("__")]
    dropped = 0
    if m.where:
        keep = evaluate(df, compile_expression(m.where, visible, where="where"), m.where,
                        where="where")
        if keep.dtype != pl.Boolean:
            raise ValidationError(f"{m.where!r} is {keep.dtype}, not a condition (true/false)",
                                  field="where")
        before = df.height
        df = df.filter(keep.fill_null(False))
        dropped = before - df.height
    if m.type != "identify" and m.type != "item":
        df = df.with_columns(_route(df, m, visible).alias("__event"))
    for col, sep in m.split.items():
        parts = pl.col(col).cast(pl.String).str.split(sep).list.eval(
            pl.element().str.strip_chars().filter(pl.element().str.len_chars() > 0))
        df = df.with_columns(parts.alias(col))
    return Prepared(df, dropped=dropped)


def _route(df: pl.DataFrame, m: ImportMapping, visible: list[str]) -> pl.Expr:
    default = (text(m.event_column) if m.event_column
               else pl.lit(m.event, dtype=pl.String))
    out: pl.Expr = default
    for name, cond in reversed(list(m.event_when.items())):
        where = f"event_when.{name}"
        hit = evaluate(df, compile_expression(cond, visible, where=where), cond, where=where)
        if hit.dtype != pl.Boolean:
            raise ValidationError(f"{cond!r} is {hit.dtype}, not a condition", field=where)
        out = pl.when(pl.lit(hit.fill_null(False))).then(pl.lit(name)).otherwise(out)
    return out


def safe_name(name: str) -> str:
    """A property / trait name every engine's JSON path reads: letters, digits, underscores."""
    if _SAFE.match(name):
        return name
    out = _UNSAFE.sub("_", name.strip()).strip("_").lower()
    return out if out and not out[0].isdigit() else f"x_{out}"


def safe_names(columns: Sequence[str], rename: Mapping[str, str]) -> dict[str, str]:
    """Column -> property name: ``rename`` first, else the column made safe (a clash gets a
    numbered suffix)."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for col in columns:
        name = rename.get(col) or safe_name(col)
        base, i = name, 2
        while name in taken:
            name, i = f"{base}_{i}", i + 1
        taken.add(name)
        out[col] = name
    return out


@dataclass
class IdentifierTargets:
    """Where explicitly typed identifier columns go on an event."""

    user_id: str | None = None
    anonymous_id: str | None = None
    context: dict[str, str] = field(default_factory=dict)
    """JSON path under ``context`` (``identifiers.crm_id``) -> column."""
    traits: dict[str, str] = field(default_factory=dict)
    """Trait key -> column."""


def identifier_targets(m: ImportMapping, rules: IdentityRules) -> IdentifierTargets:
    """For each column of ``m.identifiers``, the first event field its type's rules read that
    an import can fill (``user_id`` / ``anonymous_id``, a ``context.`` path, or for identify
    rows a ``traits.`` key).

    Raises:
        ValidationError: a type the identity rules do not know, or one read only from fields
            an import cannot fill (the message says what would be valid).
    """
    out = IdentifierTargets(user_id=m.user_id_column, anonymous_id=m.anonymous_id_column)
    for col, kind_name in m.identifiers.items():
        if kind_name in _COLUMNS and getattr(out, kind_name) in (None, col):
            setattr(out, kind_name, col)
            continue
        try:
            kind = rules.type(kind_name)
        except ValidationError as exc:
            raise ValidationError(f"{exc.message}; a new type needs an entry in the identity "
                                  f"rules with the path context.identifiers.{kind_name}",
                                  field=f"identifiers.{col}") from None
        for path in kind.paths:
            if path in _COLUMNS and getattr(out, path) is None and not kind.sources:
                setattr(out, path, col)
                break
            if path.startswith("context."):
                out.context[path.removeprefix("context.")] = col
                break
            if path.startswith("traits.") and m.type == "identify" and path.count(".") == 1:
                out.traits[path.removeprefix("traits.")] = col
                break
        else:
            raise ValidationError(
                f"identifier type {kind_name!r} is read from {', '.join(kind.paths)}, which an "
                "import cannot fill; give it a path such as context.identifiers."
                f"{kind_name} in the identity rules", field=f"identifiers.{col}")
    return out


def nested_json(paths: Mapping[str, str]) -> pl.Expr:
    """A JSON object with each column at its dotted path (``identifiers.crm_id``); NULL when
    every value is NULL."""
    tree: dict[str, object] = {}
    for path, col in paths.items():
        node = tree
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})  # type: ignore[assignment]
        node[parts[-1]] = col

    def build(node: Mapping[str, object]) -> pl.Expr:
        return pl.struct([build(v).alias(k) if isinstance(v, dict)  # type: ignore[arg-type]
                          else text(str(v)).alias(k) for k, v in node.items()])

    any_value = pl.any_horizontal([text(c).is_not_null() for c in paths.values()])
    return pl.when(any_value).then(build(tree).struct.json_encode()).otherwise(None)


def timestamp_expr(df: pl.DataFrame, mapping: ImportMapping) -> pl.Expr:
    """The mapping's timestamp column as a UTC datetime (NULL where it does not parse)."""
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
    formats = (fmt,) if fmt else ISO_FORMATS
    return pl.coalesce([
        text(col).str.to_datetime(f, strict=False, time_zone="UTC", time_unit="us")
        for f in formats
    ])


def _row_ids(texts: Iterable[str], source: str) -> list[str]:
    # A content hash makes re-imports idempotent without an id column. hashlib is used rather
    # than polars' hash because that one is not stable across polars versions.
    prefix = source.encode() + b"\x00"
    return [f"{source}:" + hashlib.blake2b(prefix + t.encode(), digest_size=16).hexdigest()
            for t in texts]


def row_keys(df: pl.DataFrame, m: ImportMapping) -> pl.Series:
    """The message id of each row (``__payload`` holds its content as read): the id column,
    else per ``m.row_identity`` a hash of the row's content, of the content and its
    occurrence number among identical rows, or of the whole frame's content (its
    fingerprint) and the row's position."""
    if m.message_id_column:
        return df.select(pl.lit(m.source + ":") + text(m.message_id_column)).to_series()
    content = df["__payload"]
    if m.row_identity == "content":
        return pl.Series(_row_ids(content.to_list(), m.source), dtype=pl.String)
    if m.row_identity == "occurrence":
        nth = content.to_frame("c").select(pl.col("c").cum_count().over("c"))["c"]
        keyed = [f"{c}\x00{n}" for c, n in zip(content.to_list(), nth.to_list(), strict=True)]
        return pl.Series(_row_ids(keyed, m.source), dtype=pl.String)
    digest = hashlib.blake2b(digest_size=16)
    for chunk in content.to_list():
        digest.update(chunk.encode() + b"\n")
    fingerprint = digest.hexdigest()
    rows = df["__row"].to_list()
    return pl.Series(_row_ids((f"{fingerprint}:{r}" for r in rows), m.source), dtype=pl.String)


LINE_COLUMNS = ("order_id", "revenue", "products")


def group_lines(df: pl.DataFrame, m: ImportMapping, kept: Sequence[str],
                id_columns: Sequence[str]) -> pl.DataFrame:
    """One row per (order, event name) from line rows: the first line's ids and time,
    ``order_id``, ``revenue`` (the sum of the lines), ``products`` (one object per line) and
    the first value of each other kept column; ``__mid`` keys the order.

    Raises:
        ValidationError: a bad revenue expression.
    """
    lines = m.lines
    assert lines is not None
    visible = [c for c in df.columns if not c.startswith("__")]
    if lines.revenue:
        rev = evaluate(df, compile_expression(lines.revenue, visible, where="lines.revenue"),
                       lines.revenue, where="lines.revenue").cast(pl.Float64, strict=False)
        df = df.with_columns(rev.alias("__line_revenue"))
    elif "revenue" in df.columns:
        df = df.with_columns(pl.col("revenue").cast(pl.Float64, strict=False)
                             .alias("__line_revenue"))
    else:
        df = df.with_columns(pl.lit(None, dtype=pl.Float64).alias("__line_revenue"))
    order = text(lines.order_id_column)
    products = pl.struct([pl.col(c).alias(name) for c, name in lines.products.items()])
    firsts = [pl.col(c).drop_nulls().first() for c in (*id_columns, *kept)
              if c in df.columns and c not in LINE_COLUMNS]
    aggs = [*firsts, pl.col("__ts").min(), pl.col("__line_revenue").sum().alias("revenue"),
            pl.col("__row").min()]
    if lines.products:
        aggs.append(products.alias("products"))
    grouped = df.with_columns(order.alias("order_id")).group_by(
        ["order_id", "__event"], maintain_order=True).agg(aggs)
    return grouped.with_columns(
        (pl.lit(m.source + ":") + pl.col("order_id") + pl.lit(":") + pl.col("__event"))
        .alias("__mid"))


__all__ = ["ISO_FORMATS", "LINE_COLUMNS", "IdentifierTargets", "Prepared", "apply_types",
           "auto_types", "group_lines", "identifier_targets", "nested_json", "prepare",
           "row_keys", "safe_name", "safe_names", "text", "timestamp_expr"]
