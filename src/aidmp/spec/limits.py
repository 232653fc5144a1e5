"""Limits on what a client sends, checked before the expensive work: size, nesting, clock.

Nesting is checked without recursion: :func:`exceeds_depth` scans JSON text (a C-speed count
of brackets first, a regular-expression scan that skips strings only when the count could be
over the limit), :func:`object_exceeds_depth` walks a decoded object with an explicit stack.
Recursive parsers and encoders (msgspec, orjson, pydantic) only ever see what passed.

Example:
    >>> exceeds_depth(b'{"a": {"b": [1, "[[[["]}}', 3)
    False
    >>> exceeds_depth(b'{"a": {"b": [[1]]}}', 3)
    True
    >>> object_exceeds_depth({"a": [{"b": 1}]}, 3), object_exceeds_depth({"a": [{"b": {}}]}, 3)
    (False, True)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from aidmp.spec.clock import DEFAULT_CLOCK, ClockPolicy

#: a JSON string (escapes included) or a bracket; strings are matched so brackets in them skip
_BRACKETS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def json_depth(raw: bytes) -> int:
    """The deepest nesting of objects/arrays in a JSON text (0 for a scalar)."""
    depth = deepest = 0
    for m in _BRACKETS.finditer(raw):
        c = m.group()[0]
        if c in (0x7B, 0x5B):  # { [
            depth += 1
            deepest = max(deepest, depth)
        elif c in (0x7D, 0x5D):  # } ]
            depth -= 1
    return deepest


def exceeds_depth(raw: bytes | str, limit: int) -> bool:
    """Whether a JSON text nests objects/arrays more than ``limit`` levels deep."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if data.count(b"{") + data.count(b"[") <= limit:  # cannot be deeper than its brackets
        return False
    return json_depth(data) > limit


def object_exceeds_depth(obj: Any, limit: int) -> bool:
    """Whether a decoded value nests dicts/lists more than ``limit`` levels deep (no recursion)."""
    if not isinstance(obj, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


_BRACKETS_TEXT = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def clip_json(text: str, limit: int) -> str:
    """A JSON text with every object/array deeper than ``limit`` replaced by a string saying
    so; what any reader, recursive or not, can decode and write back (no recursion here).

    Example:
        >>> clip_json('{"a": {"b": {"c": 1}}, "d": "{[{"}', 2)
        '{"a": {"b": "<nested deeper than 2 levels>"}, "d": "{[{"}'
    """
    if not exceeds_depth(text, limit):
        return text
    marker = f'"<nested deeper than {limit} levels>"'
    out: list[str] = []
    depth = pos = 0
    for m in _BRACKETS_TEXT.finditer(text):
        c = m.group()[0]
        if c in "{[":
            depth += 1
            if depth == limit + 1:
                out.append(text[pos:m.start()])
                out.append(marker)
        elif c in "}]":
            if depth == limit + 1:
                pos = m.end()
            depth -= 1
    out.append(text[pos:] if depth <= limit else "")
    return "".join(out)


@dataclass(frozen=True)
class MessageLimits:
    """What one request and one message may be (``collector`` and ``limits`` settings)."""

    max_event_bytes: int = 32 * 1024
    """Largest single message (Segment: 32 KB)."""
    max_batch_bytes: int = 500 * 1024
    """Largest request body, after decompression (Segment: 500 KB)."""
    max_depth: int = 32
    """Deepest nesting of objects/arrays in one message (the message itself is level 1)."""
    clock: ClockPolicy = field(default=DEFAULT_CLOCK)
    """Accepted event-time window."""


DEFAULT_LIMITS = MessageLimits()


def depth_problem(limit: int) -> str:
    """The reason given for a message nested too deep."""
    return f"nested more than {limit} levels deep (limits.max_depth)"


__all__ = ["DEFAULT_LIMITS", "MessageLimits", "clip_json", "depth_problem", "exceeds_depth",
           "json_depth",
           "object_exceeds_depth"]
