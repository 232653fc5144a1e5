"""Cut a ``/v1/batch`` body into its messages without decoding them, for bodies a decoder refuses.

msgspec and orjson refuse a whole body for a problem inside one message: a lone UTF-16
surrogate escape (``"\\ud800"``), or nesting deeper than their recursion limit (about 1,000
levels). Segment's rule is per message, so this scanner finds each message's bytes and its
nesting depth from the structure alone (strings skipped by one regular expression, brackets
counted with a stack-free counter) and the collector judges each message on its own.

Hand-written because no JSON library here splits an array into raw elements while tolerating
an element it cannot decode; it is only used when the fast decoders already failed.

Example:
    >>> shared, messages = split_batch(b'{"sentAt": "x", "batch": [{"a": 1}, {"b": {"c": []}}]}')
    >>> shared, [(bytes(raw), depth) for raw, depth in messages]
    ({'sentAt': b'"x"'}, [(b'{"a": 1}', 1), (b'{"b": {"c": []}}', 3)])
"""

from __future__ import annotations

import re

from aidmp.errors import ValidationError

_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},:]')
_SHARED = (b'"context"', b'"integrations"', b'"sentAt"')


def split_batch(body: bytes) -> tuple[dict[str, bytes], list[tuple[bytes, int]]]:
    """(batch-level ``context`` / ``integrations`` / ``sentAt`` raw values, [(message bytes,
    nesting depth of the message)]).

    Raises:
        ValidationError: the body's structure is not an object with a ``batch`` array
            (unbalanced brackets, not an object, no ``batch`` list).
    """
    start = len(body) - len(body.lstrip())
    if not body[start:start + 1] == b"{":
        raise ValidationError("must be a JSON object", field="body")
    depth = 0
    key: bytes | None = None
    expect_key = False
    value_start = -1
    in_batch = False
    found_batch = False
    element_start = -1
    element_deepest = 0
    shared: dict[str, bytes] = {}
    messages: list[tuple[bytes, int]] = []
    for m in _TOKENS.finditer(body, start):
        tok = m.group()
        c = tok[0]
        if c == 0x22:  # a string
            if depth == 1 and expect_key:
                key, expect_key = tok, False
            continue
        if c == 0x3A:  # ':'
            if depth == 1:
                value_start = m.end()
            continue
        if c == 0x2C:  # ','
            if depth == 1:
                _end_value(body, key, value_start, m.start(), shared)
                expect_key, key = True, None
            elif depth == 2 and in_batch:
                _end_element(body, element_start, m.start(), element_deepest, messages)
                element_start, element_deepest = m.end(), 0
            continue
        if c in (0x7B, 0x5B):  # '{' '['
            depth += 1
            if depth == 1:
                expect_key = True
            elif depth == 2 and key == b'"batch"':
                if c != 0x5B:
                    raise ValidationError("required: a list of messages", field="batch")
                in_batch = found_batch = True
                element_start, element_deepest = m.end(), 0
            elif in_batch:
                element_deepest = max(element_deepest, depth - 2)
            continue
        # '}' ']'
        if depth == 2 and in_batch:
            _end_element(body, element_start, m.start(), element_deepest, messages)
            in_batch = False
        elif depth == 1:
            _end_value(body, key, value_start, m.start(), shared)
        depth -= 1
        if depth < 0:
            break
        if depth == 0:
            if body[m.end():].strip():
                break
            if not found_batch:
                raise ValidationError("required: a list of messages", field="batch")
            return shared, messages
    raise ValidationError("malformed JSON: unbalanced brackets or trailing data", field="body")


def _end_value(body: bytes, key: bytes | None, start: int, end: int,
               shared: dict[str, bytes]) -> None:
    if key in _SHARED and start >= 0:
        value = body[start:end].strip()
        if value and value != b"null":
            shared[key.decode()[1:-1]] = value  # type: ignore[union-attr]


def _end_element(body: bytes, start: int, end: int, deepest: int,
                 messages: list[tuple[bytes, int]]) -> None:
    raw = body[start:end].strip()
    if raw:  # an empty array has no element
        messages.append((raw, deepest))


__all__ = ["split_batch"]
