"""Printing results: Rich tables for people, ``--json`` for programs.

Example:
    >>> to_json({"n": 1})
    '{\\n  "n": 1\\n}'
    >>> cell(121.62333333333333), cell(42.0), cell(None)
    ('121.6233', '42', '')
    >>> print(cell("bell\x07 [b]"))
    bell\\x07 \\[b]
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
#: C0 and C1 control characters and DEL: event data must not drive the terminal
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
err_console = Console(stderr=True)


def to_json(value: Any) -> str:
    """Indented JSON (datetimes as ISO 8601)."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS,
                        default=str).decode()


def emit_json(value: Any) -> None:
    """Print JSON on stdout, unstyled."""
    print(to_json(value))


def cell(value: Any) -> str:
    """A value as a person reads it in a table: floats to at most four decimals, times to the
    second in UTC (``--json`` keeps every digit)."""
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:.4f}".rstrip("0").rstrip(".")
        return "0" if text == "-0" else text
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return safe_text(str(value))


def safe_text(text: str) -> str:
    """Text from data as a table shows it: control characters as ``\\xNN`` escapes, Rich
    markup escaped (an event named ``[bold]`` is printed as is)."""
    return escape(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text))


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print a Rich table."""
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*(cell(v) for v in r))
    console.print(t)


def summary(title: str, values: dict[str, Any]) -> None:
    """Print a two-column key/value table."""
    table(title, ["", "value"], values.items())
