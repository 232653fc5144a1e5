"""The collector's request path for batches: decode, validate and build rows in few C calls.

A ``/v1/batch`` body from an SDK is almost always entirely valid. msgspec decodes it straight
from the JSON bytes into typed structs with the rules of :class:`aidmp.spec.events.
SegmentMessage`, and keeps ``properties``, ``traits``, ``context`` and ``integrations`` as the
raw JSON text they arrived as (checked to be objects), so they are neither built as Python
dicts nor serialised again: under load, pydantic's ``model_validate_json`` plus re-encoding
those objects was half of a request's time.

A message the structs cannot take as is (invalid, or valid in a way only pydantic knows: a
Unix-time timestamp, no ``messageId``) is judged by pydantic on its own
(:func:`aidmp.spec.events.normalize_message`), which names the field of every problem. The
choice is per message, so a message is stored the same whatever else its batch holds.

Example:
    >>> from datetime import UTC, datetime
    >>> rows, bad = batch_rows(b'{"batch": [{"type": "track", "event": "A", "userId": 7, '
    ...                        b'"messageId": "m1", "properties": {"x": 1}}, {"type": "track", '
    ...                        b'"userId": "u"}]}', source="web",
    ...                        received_at=datetime(2026, 1, 1, tzinfo=UTC),
    ...                        limits=MessageLimits())
    >>> [(r["user_id"], r["properties"]) for r in rows], [(f, p) for _, f, p in bad]
    ([('7', '{"x": 1}')], [('batch[1].event', 'required for a track call (the event name)')])
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
import orjson

from aidmp.collect.jsonscan import split_batch
from aidmp.errors import ValidationError
from aidmp.spec.events import EVENT_COLUMNS, event_values, id_text, normalize_message
from aidmp.spec.limits import MessageLimits, depth_problem, exceeds_depth

_Text = Annotated[str, msgspec.Meta(max_length=1024)]
# msgspec takes Raw only on its own, not in a union with None: an empty Raw means "absent"
_ABSENT = msgspec.Raw()
# ids may arrive as numbers; bool is not a number to msgspec (pydantic rejects it too)
_Id = str | int | float | None


def _id(value: str | int | float | None) -> str | None:
    """As :func:`aidmp.spec.events._id_or_none`; raises for what pydantic would reject."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if len(value) > 512:
            raise ValueError("id longer than 512 characters")
        return value
    return id_text(value)


def _text(raw: msgspec.Raw) -> str | None:
    """A raw JSON value as text (None when absent or null); only objects are valid here."""
    if not raw:
        return None
    text = bytes(raw).decode()
    if text.startswith("{"):
        return text
    if text == "null":
        return None
    raise ValueError("not a JSON object")


class FastMessage(msgspec.Struct):
    """A Segment message as the fast path keeps it."""

    type: Literal["track", "identify", "page", "screen", "group", "alias"]
    messageId: _Id = None
    userId: _Id = None
    anonymousId: _Id = None
    groupId: _Id = None
    previousId: _Id = None
    event: _Text | None = None
    name: _Text | None = None
    category: _Text | None = None
    timestamp: datetime | None = None
    originalTimestamp: datetime | None = None
    sentAt: datetime | None = None
    properties: msgspec.Raw = _ABSENT
    traits: msgspec.Raw = _ABSENT
    context: msgspec.Raw = _ABSENT
    integrations: msgspec.Raw = _ABSENT

    def __post_init__(self) -> None:
        self.messageId = _id(self.messageId)
        self.userId = _id(self.userId)
        self.anonymousId = _id(self.anonymousId)
        self.groupId = _id(self.groupId)
        self.previousId = _id(self.previousId)
        t = self.type
        # the per-type rules of SegmentMessage; a message without messageId needs the whole
        # message for its deterministic id, which pydantic's path computes
        ok = self.messageId is not None and (
            (t != "track" or bool(self.event))
            and (bool(self.previousId and self.userId) if t == "alias"
                 else bool(self.userId or self.anonymousId))
            and (t != "group" or bool(self.groupId)))
        if not ok:
            raise ValueError("needs the per-message path")


class FastBatch(msgspec.Struct):
    """A ``/v1/batch`` body, every message taken by the fast path."""

    batch: Annotated[list[FastMessage], msgspec.Meta(min_length=1)]
    context: msgspec.Raw = _ABSENT
    integrations: msgspec.Raw = _ABSENT
    sentAt: datetime | None = None


class SplitBatch(msgspec.Struct):
    """A ``/v1/batch`` body cut into its messages, each still raw."""

    batch: list[msgspec.Raw]
    context: msgspec.Raw = _ABSENT
    integrations: msgspec.Raw = _ABSENT
    sentAt: msgspec.Raw = _ABSENT


_WHOLE = msgspec.json.Decoder(FastBatch)
_SPLIT = msgspec.json.Decoder(SplitBatch)
_ONE = msgspec.json.Decoder(FastMessage)
_ANY = msgspec.json.Decoder()
_Shared = tuple[str | None, str | None, datetime | None]
#: what the fast decoders raise for input they refuse (RecursionError: nesting beyond ~1,000)
_DECLINED = (msgspec.ValidationError, msgspec.DecodeError, ValueError, RecursionError)


def decode_json(raw: bytes) -> Any:
    """Decode JSON as the collector does: integers of any size kept exact (orjson would turn
    10^30 into a float), so an id is the same text through every path.

    Raises:
        ValidationError: malformed JSON (field ``body``).
    """
    try:
        return _ANY.decode(raw)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ValidationError(f"malformed JSON: {exc}", field="body") from None


def _deep(text: str | None, limit: int) -> bool:
    return text is not None and exceeds_depth(text, limit)


def _values(m: FastMessage, shared: _Shared, source: str, received_at: datetime,
            limits: MessageLimits) -> tuple[tuple[Any, ...], int]:
    context = _text(m.context)
    if context is None:
        context = shared[0]
    properties, traits, integrations = _text(m.properties), _text(m.traits), _text(m.integrations)
    limit = limits.max_depth - 1  # the message object is the first level
    if _deep(properties, limit) or _deep(traits, limit) or _deep(context, limit) \
            or _deep(integrations, limit):
        raise ValueError("too deep: the per-message path names it")
    if traits is None and m.type == "identify" and context:
        # RudderStack puts identify traits in the context: the one case that needs it decoded
        ctx = orjson.loads(context)
        if isinstance(ctx.get("traits"), dict):
            traits = orjson.dumps(ctx["traits"], option=orjson.OPT_NON_STR_KEYS).decode()
    # ids are text or None after __post_init__
    return event_values(
        m.messageId, m.type, m.event if m.type == "track" else m.name,  # type: ignore[arg-type]
        m.userId, m.anonymousId, m.groupId, m.previousId,  # type: ignore[arg-type]
        m.timestamp or m.originalTimestamp, m.sentAt or shared[2], received_at,
        properties, traits, context, integrations or shared[1], source, clock=limits.clock)


def batch_values(body: bytes, *, source: str, received_at: datetime, limits: MessageLimits
                 ) -> list[tuple[tuple[Any, ...], int]] | None:
    """(values in :data:`~aidmp.spec.events.EVENT_COLUMNS` order, JSON size) of every
    message of a batch the fast path takes whole, else None (then use :func:`batch_rows`)."""
    try:
        whole = _WHOLE.decode(body)
        shared = (_text(whole.context), _text(whole.integrations), whole.sentAt)
        out = [_values(m, shared, source, received_at, limits) for m in whole.batch]
    except _DECLINED:
        return None
    if any(size > limits.max_event_bytes for _, size in out):
        return None
    return out


def batch_rows(body: bytes, *, source: str, received_at: datetime, limits: MessageLimits
               ) -> tuple[list[dict[str, Any]], list[tuple[Any, str, str]]]:
    """Event rows of a batch body and, per rejected message, (message, field, problem).

    Raises:
        ValidationError: the body is not a batch object (malformed JSON, no ``batch`` list,
            an empty one).
    """
    values = batch_values(body, source=source, received_at=received_at, limits=limits)
    if values is not None:
        return [_as_row(v, size) for v, size in values], []
    return rows_one_by_one(body, source=source, received_at=received_at, limits=limits)


def _as_row(values: tuple[Any, ...], size: int) -> dict[str, Any]:
    return {**dict(zip(EVENT_COLUMNS, values, strict=True)), "_size": size}


def _split(body: bytes) -> tuple[list[tuple[bytes, int | None]], dict[str, bytes]]:
    """The raw messages (with their depth when already known) and batch-level fields."""
    try:
        split = _SPLIT.decode(body)
    except msgspec.ValidationError:
        doc = decode_json(body)
        if not isinstance(doc, dict):
            raise ValidationError("must be a JSON object", field="body") from None
        raise ValidationError("required: a list of messages", field="batch") from None
    except (msgspec.DecodeError, RecursionError):
        # one message may hold what the decoder refuses (a lone surrogate, nesting beyond its
        # recursion limit): cut the body by its structure and judge each message alone
        shared_raw, cut = split_batch(body)
        return [(raw, depth) for raw, depth in cut], shared_raw
    shared_raw = {k: bytes(v) for k, v in (
        ("context", split.context), ("integrations", split.integrations),
        ("sentAt", split.sentAt)) if v and bytes(v) != b"null"}
    return [(bytes(raw), None) for raw in split.batch], shared_raw


def _payload(raw: bytes) -> str:
    """A refused message as stored in the quarantine when it cannot be decoded."""
    return raw.decode("utf-8", "replace")


def rows_one_by_one(body: bytes, *, source: str, received_at: datetime, limits: MessageLimits
                    ) -> tuple[list[dict[str, Any]], list[tuple[Any, str, str]]]:
    """:func:`batch_rows` for a body :func:`batch_values` declined: message by message."""
    messages, shared_raw = _split(body)
    if not messages:
        raise ValidationError("must contain at least one message", field="batch")
    # batch-level fields, decoded once, for the messages pydantic judges
    shared_doc: dict[str, Any] = {}
    shared: _Shared | None
    try:
        shared_doc = {k: decode_json(v) for k, v in shared_raw.items()}
        if any(exceeds_depth(v, limits.max_depth - 1) for v in shared_raw.values()):
            raise ValidationError(depth_problem(limits.max_depth), field="context")
        shared = (_text(msgspec.Raw(shared_raw["context"])) if "context" in shared_raw else None,
                  _text(msgspec.Raw(shared_raw["integrations"]))
                  if "integrations" in shared_raw else None,
                  msgspec.json.decode(shared_raw["sentAt"], type=datetime)
                  if "sentAt" in shared_raw else None)
    except (msgspec.ValidationError, msgspec.DecodeError, ValueError):
        shared = None  # a bad batch-level field: pydantic names it for every message
        shared_doc = {k: v for k, v in shared_doc.items()
                      if not exceeds_depth(shared_raw[k], limits.max_depth - 1)}
    rows: list[dict[str, Any]] = []
    rejected: list[tuple[Any, str, str]] = []
    for index, (raw, depth) in enumerate(messages):
        at = f"batch[{index}]."
        if (depth is not None and depth > limits.max_depth) or (
                depth is None and exceeds_depth(raw, limits.max_depth)):
            rejected.append((_payload(raw), at + "message", depth_problem(limits.max_depth)))
            continue
        row = None
        if shared is not None:
            try:
                row = _as_row(*_values(_ONE.decode(raw), shared, source, received_at, limits))
            except _DECLINED:
                row = None
        message = None
        if row is None:
            try:
                message = decode_json(raw)
            except ValidationError as exc:
                rejected.append((_payload(raw), at + "message", exc.message))
                continue
            if isinstance(message, dict) and shared_doc:
                message = {**shared_doc, **message}
            try:
                row = normalize_message(message, source=source, received_at=received_at,
                                        limits=limits, position=index)
            except ValidationError as exc:
                rejected.append((message, at + (exc.field or "message"), exc.message))
                continue
        if row["_size"] > limits.max_event_bytes:
            size = len(raw)
            if size > limits.max_event_bytes:
                rejected.append((decode_json(raw) if message is None else message,
                                 at + "message",
                                 f"message is {size} bytes; the limit is {limits.max_event_bytes}"))
                continue
        rows.append(row)
    return rows, rejected
