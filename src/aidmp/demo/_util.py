"""Small vectorised helpers: seeded streams, counter-based ids, message templates.

A message *template* is a nested ``dict`` whose leaves are :class:`Col` (a column of the frame),
:class:`Opt` (a sub-tree present only where a boolean column is true) or plain JSON constants.
The same template becomes a polars struct expression (for NDJSON, encoded in Rust) and a compiled
list comprehension that builds plain ``dict`` objects (for :meth:`DemoGenerator.event_batches`),
so the two outputs cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import polars as pl

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000

# streams of the seed sequence; changing one stream never shifts the others
STREAM_PEOPLE, STREAM_PLAN, STREAM_EVENTS, STREAM_CRM, STREAM_CATALOG, STREAM_IDS = range(6)


def rng_for(seed: int, stream: int, chunk: int = 0) -> np.random.Generator:
    """An independent generator for one (stream, chunk) of ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream, chunk)))


def id_keys(seed: int, kind: int) -> tuple[np.uint64, np.uint64]:
    """Two 64-bit keys that make counter-based ids depend on ``seed`` and the id ``kind``."""
    state = np.random.SeedSequence(seed, spawn_key=(STREAM_IDS, kind)).generate_state(
        2, dtype=np.uint64
    )
    return np.uint64(state[0]), np.uint64(state[1])


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijection on uint64, so distinct counters give distinct ids."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


_HEX = np.frombuffer(b"".join(f"{i:02x}".encode() for i in range(256)), dtype=np.uint8)
_HEX = _HEX.reshape(256, 2)


def _hex_chars(words: np.ndarray) -> np.ndarray:
    """(n, k) uint64 -> (n, 16k) uint8 ASCII lowercase hex, big-endian."""
    width = 8 * words.shape[1]
    raw = np.ascontiguousarray(words.astype(">u8")).view(np.uint8).reshape(len(words), width)
    return _HEX[raw].reshape(len(words), 2 * width)


def _ascii_series(chars: np.ndarray) -> pl.Series:
    if not len(chars):
        return pl.Series([], dtype=pl.String)
    fixed = np.ascontiguousarray(chars).view(f"S{chars.shape[1]}").ravel()
    return pl.Series(fixed).cast(pl.String)


def uuid4_strings(counters: np.ndarray, keys: tuple[np.uint64, np.uint64]) -> pl.Series:
    """Deterministic UUID-v4-formatted strings, one per (distinct) uint64 counter."""
    counters = counters.astype(np.uint64)
    hi = mix64(counters ^ keys[0])
    lo = mix64(counters ^ keys[1])
    hi = (hi & ~np.uint64(0xF000)) | np.uint64(0x4000)
    lo = (lo & np.uint64(0x3FFFFFFFFFFFFFFF)) | np.uint64(0x8000000000000000)
    h = _hex_chars(np.stack([hi, lo], axis=1))
    out = np.full((len(counters), 36), ord("-"), dtype=np.uint8)
    for dst, src in ((0, 0), (9, 8), (14, 12), (19, 16), (24, 20)):
        width = {0: 8, 24: 12}.get(dst, 4)
        out[:, dst : dst + width] = h[:, src : src + width]
    return _ascii_series(out)


def hex_ids(counters: np.ndarray, key: np.uint64) -> pl.Series:
    """Deterministic, distinct 16-character hex ids for distinct uint64 counters."""
    return _ascii_series(_hex_chars(mix64(counters.astype(np.uint64) ^ key)[:, None]))


def pick(rng: np.random.Generator, weights: Sequence[float], n: int) -> np.ndarray:
    """``n`` category indices drawn with the given (unnormalised) weights."""
    cdf = np.cumsum(np.asarray(weights, dtype=np.float64))
    return np.searchsorted(cdf / cdf[-1], rng.random(n), side="right").astype(np.int64)


def pick_rows(rng: np.random.Generator, cdf_rows: np.ndarray) -> np.ndarray:
    """One index per row of a matrix of per-row cumulative weights (last column = total)."""
    u = rng.random(len(cdf_rows)) * cdf_rows[:, -1]
    return (u[:, None] >= cdf_rows).sum(axis=1).astype(np.int64)


def ragged(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For groups of sizes ``counts``: (group index, position in group) of every element."""
    counts = counts.astype(np.int64)
    group = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return group, np.arange(int(counts.sum())) - starts[group]


def zfill(expr: pl.Expr, width: int) -> pl.Expr:
    """Integers as zero-padded strings."""
    return expr.cast(pl.String).str.zfill(width)


def iso_ms(expr: pl.Expr) -> pl.Expr:
    """Epoch milliseconds as ISO-8601 UTC with milliseconds and ``Z``."""
    return pl.from_epoch(expr, time_unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")


# ---------------------------------------------------------------- message templates


@dataclass(frozen=True)
class Col:
    """A template leaf taken from a column."""

    name: str


@dataclass(frozen=True)
class Opt:
    """A template entry present only on rows where the boolean column ``flag`` is true."""

    flag: str
    node: Any


def flags_of(template: dict[str, Any]) -> tuple[str, ...]:
    """The flag columns of a template's optional entries, in a stable order."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Opt):
            found.append(node.flag)
            walk(node.node)
        elif isinstance(node, dict):
            for child in node.values():
                walk(child)

    walk(template)
    return tuple(dict.fromkeys(found))


def resolve(template: dict[str, Any], present: frozenset[str]) -> dict[str, Any]:
    """The template for rows where exactly the flags in ``present`` are true."""
    out: dict[str, Any] = {}
    for key, node in template.items():
        if isinstance(node, Opt):
            if node.flag not in present:
                continue
            node = node.node
        out[key] = resolve(node, present) if isinstance(node, dict) else node
    return out


def _literal(value: Any) -> pl.Expr:
    if value is None:
        return pl.lit(None, dtype=pl.String)
    return pl.lit(value)


def struct_expr(template: dict[str, Any]) -> pl.Expr:
    """A resolved template as a polars struct expression (field order = template order)."""
    fields: list[pl.Expr] = []
    for key, node in template.items():
        if isinstance(node, dict):
            expr = struct_expr(node)
        elif isinstance(node, Col):
            expr = pl.col(node.name)
        else:
            expr = _literal(node)
        fields.append(expr.alias(key))
    return pl.struct(fields)


def template_columns(template: dict[str, Any]) -> list[str]:
    """The columns a resolved template reads, in first-use order."""
    cols: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for child in node.values():
                walk(child)
        elif isinstance(node, Col) and node.name not in cols:
            cols.append(node.name)

    walk(template)
    return cols


def _source(node: Any, names: dict[str, str]) -> str:
    if isinstance(node, dict):
        return "{" + ", ".join(f"{k!r}: {_source(v, names)}" for k, v in node.items()) + "}"
    if isinstance(node, Col):
        return names[node.name]
    if node is None or isinstance(node, bool | int | float | str):
        return repr(node)
    raise TypeError(f"unsupported template leaf {node!r}")


@cache
def _compile(source: str) -> Callable[..., list[dict[str, Any]]]:
    # The source is generated from our own constant templates (keys and constants are emitted
    # with repr), never from data: a literal comprehension builds dicts ~2x faster than any
    # generic dict(zip(...)) walk, which matters at millions of messages.
    fn: Callable[..., list[dict[str, Any]]] = eval(source, {"__builtins__": {"zip": zip}})
    return fn


def dict_builder(template: dict[str, Any]) -> Callable[..., list[dict[str, Any]]]:
    """A function ``f(*columns)`` returning one fresh dict per row for a resolved template.

    The columns are passed as lists in :func:`template_columns` order.
    """
    cols = template_columns(template)
    names = {c: f"v{i}" for i, c in enumerate(cols)}
    args = ", ".join(f"c{i}" for i in range(len(cols)))
    loop = ", ".join(names[c] for c in cols) + ("," if len(cols) == 1 else "")
    body = _source(template, names)
    return _compile(f"lambda {args}: [{body} for {loop} in zip({args})]")
