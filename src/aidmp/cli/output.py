"""Printing results: Rich tables for people, ``--json`` for programs.

Example:
    >>> to_json({"n": 1})
    '{\\n  "n": 1\\n}'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


def to_json(value: Any) -> str:
    """Indented JSON (datetimes as ISO 8601)."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS,
                        default=str).decode()


def emit_json(value: Any) -> None:
    """Print JSON on stdout, unstyled."""
    print(to_json(value))


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print a Rich table."""
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    console.print(t)


def summary(title: str, values: dict[str, Any]) -> None:
    """Print a two-column key/value table."""
    table(title, ["", "value"], values.items())
