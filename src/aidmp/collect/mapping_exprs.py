"""SQL expressions in import mappings: derived columns, row filters and event routing.

An expression is one SQL scalar expression over the columns of a row (``Quantity * UnitPrice``,
``CASE WHEN InvoiceNo LIKE 'C%' THEN 'Order Refunded' END``). It is parsed and checked with
sqlglot (the project's SQL tooling): only column references, literals, arithmetic,
comparisons, boolean logic, ``CASE`` / ``IF``, ``CAST`` and the functions of
:data:`FUNCTIONS` are accepted, so no sub-query, aggregate, window or table reference can run.
The checked expression is then written back as SQL with every identifier quoted and compiled
by polars' SQL front end into a column expression, which the importer evaluates over the whole
file at once (no per-row Python).

Example:
    >>> import polars as pl
    >>> df = pl.DataFrame({"Quantity": [6, -1], "UnitPrice": [2.55, 27.5]})
    >>> e = compile_expression("Quantity * UnitPrice", df.columns, where="derive.revenue")
    >>> df.select(e).to_series().round(2).to_list()
    [15.3, -27.5]
    >>> try:
    ...     compile_expression("Qty * UnitPrice", df.columns, where="derive.revenue")
    ... except ValidationError as exc:
    ...     print(exc.field, "|", exc.message)
    derive.revenue | 'Qty * UnitPrice': unknown column 'Qty'; valid columns: Quantity, UnitPrice
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from aidmp.errors import ValidationError

# Scalar functions an expression may call (sqlglot's class for each). Each was checked to
# compile with polars' SQL front end; anything else (aggregates, windows, sub-queries, table
# functions) is refused before it reaches it.
FUNCTIONS: dict[str, type[exp.Expression]] = {
    "abs": exp.Abs, "ceil": exp.Ceil, "coalesce": exp.Coalesce, "concat": exp.Concat,
    "ends_with": exp.EndsWith, "floor": exp.Floor, "greatest": exp.Greatest,
    "least": exp.Least, "length": exp.Length, "ln": exp.Ln, "lower": exp.Lower,
    "nullif": exp.Nullif, "pow": exp.Pow, "regexp_like": exp.RegexpLike,
    "regexp_replace": exp.RegexpReplace, "replace": exp.Replace, "round": exp.Round,
    "split_part": exp.SplitPart, "sqrt": exp.Sqrt, "starts_with": exp.StartsWith,
    "substr": exp.Substring, "trim": exp.Trim, "upper": exp.Upper,
}
# The structure an expression may have besides function calls.
_NODES: tuple[type[exp.Expression], ...] = (
    exp.Column, exp.Identifier, exp.Literal, exp.Null, exp.Boolean, exp.Paren, exp.Neg,
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.DPipe,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Is, exp.Like, exp.ILike,
    exp.In, exp.Between, exp.And, exp.Or, exp.Not, exp.Case, exp.If, exp.Cast, exp.TryCast,
    exp.DataType, exp.DataTypeParam, exp.Var, exp.Tuple,
)
_ALLOWED = _NODES + tuple(FUNCTIONS.values())
_NAMES = {cls: name for name, cls in FUNCTIONS.items()}


def check_expression(text: str, columns: Sequence[str], *, where: str) -> exp.Expr:
    """Parse ``text`` and check it is a plain scalar expression over ``columns``.

    Args:
        text: the SQL expression.
        columns: the columns it may read.
        where: the mapping key it came from (``derive.revenue``), named in errors.

    Raises:
        ValidationError: a syntax error, a construct or function that is not allowed, or an
            unknown column; the message names the expression and lists what would be valid.
    """
    try:
        tree = sqlglot.parse_one(text)
    except ParseError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ValidationError(f"{text!r} is not a SQL expression: {first}", field=where) from None
    if tree is None:
        raise ValidationError("empty expression", field=where)
    for node in tree.walk():
        if isinstance(node, exp.Column) and node.table:
            raise ValidationError(f"{text!r}: {node.sql()!r} names a table; use a column name",
                                  field=where)
        if not isinstance(node, _ALLOWED):
            if isinstance(node, exp.Func):
                name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
                raise ValidationError(
                    f"{text!r}: function {name.lower()!r} is not allowed; functions: "
                    f"{', '.join(sorted(FUNCTIONS))}", field=where)
            raise ValidationError(
                f"{text!r}: {node.key} is not allowed in a mapping expression (only columns, "
                "literals, arithmetic, comparisons, AND/OR/NOT, CASE, CAST and functions)",
                field=where)
    known = set(columns)
    for col in tree.find_all(exp.Column):
        if col.name not in known:
            raise ValidationError(
                f"{text!r}: unknown column {col.name!r}; valid columns: {', '.join(columns)}",
                field=where)
    return tree


def compile_expression(text: str, columns: Sequence[str], *, where: str) -> pl.Expr:
    """A checked expression (:func:`check_expression`) as a polars column expression.

    Raises:
        ValidationError: as :func:`check_expression`, or when polars cannot compile it.
    """
    tree = check_expression(text, columns, where=where)
    sql = tree.sql(identify=True)
    try:
        compiled: pl.Expr = pl.sql_expr(sql)
        return compiled
    except (pl.exceptions.PolarsError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValidationError(f"{text!r} cannot be evaluated: {first}", field=where) from None


def evaluate(df: pl.DataFrame, expr: pl.Expr, text: str, *, where: str) -> pl.Series:
    """Evaluate a compiled expression over ``df``.

    Raises:
        ValidationError: a type error at run time (``'a' * 2``), naming the expression.
    """
    try:
        out = df.select(expr.alias("__value")).to_series()
    except pl.exceptions.PolarsError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValidationError(f"{text!r} failed: {first}", field=where) from None
    # a constant (``'email'``) comes back as one value: one per row
    return out.new_from_index(0, df.height) if out.len() == 1 and df.height != 1 else out


__all__ = ["FUNCTIONS", "check_expression", "compile_expression", "evaluate"]
