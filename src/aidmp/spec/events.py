"""Segment-Spec messages: validation and normalisation into ``events`` rows.

The collector, the Python API and quarantine replay all pass messages through
:func:`normalize_message`, so one message is judged the same way whichever door it came in by.

Example:
    >>> from datetime import UTC, datetime
    >>> now = datetime(2026, 11, 1, 12, 0, 5, tzinfo=UTC)
    >>> row = normalize_message(
    ...     {"type": "track", "event": "Order Completed", "userId": "u1",
    ...      "messageId": "m1", "timestamp": "2026-11-01T12:00:00Z",
    ...      "sentAt": "2026-11-01T12:00:00Z"},
    ...     source="web", received_at=now)
    >>> row["timestamp"] == now  # clock-skew correction: the client clock lagged by 5 s
    True
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from aidmp.errors import ValidationError
from aidmp.spec.clock import DEFAULT_CLOCK, ClockPolicy, as_utc, event_time
from aidmp.spec.limits import DEFAULT_LIMITS, MessageLimits, depth_problem, object_exceeds_depth

MessageType = Literal["track", "identify", "page", "screen", "group", "alias"]
MESSAGE_TYPES: tuple[str, ...] = ("track", "identify", "page", "screen", "group", "alias")


def id_text(value: int | float) -> str:
    """The canonical text of a numeric id: an integer's digits (however large), an integral
    float as the integer it holds, other floats as Python writes them. The collector's fast
    and per-message paths both use it, so ``userId`` 10^30 is stored as one string."""
    if isinstance(value, int):
        return str(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("must be a finite number or a string")
    return str(int(value)) if value.is_integer() else repr(value)


def _id_or_none(value: Any) -> Any:
    """Ids may arrive as numbers; empty strings and null mean 'absent'."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value  # let pydantic reject it with a clear message
    if isinstance(value, int | float):
        return id_text(value)
    return value


Identifier = Annotated[
    Annotated[str, Field(max_length=512)] | None, BeforeValidator(_id_or_none)
]


class SegmentMessage(BaseModel):
    """One Segment-Spec message (track, identify, page, screen, group, alias).

    Field names follow the Segment HTTP Tracking API so existing SDKs work unchanged.
    Unknown top-level fields (``channel``, ``version``, ``_metadata``...) are accepted and ignored.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True, str_strip_whitespace=False)

    type: MessageType
    messageId: Identifier = None
    userId: Identifier = None
    anonymousId: Identifier = None
    groupId: Identifier = None
    previousId: Identifier = None
    event: str | None = Field(default=None, max_length=1024)
    name: str | None = Field(default=None, max_length=1024)
    category: str | None = Field(default=None, max_length=1024)
    timestamp: datetime | None = None
    originalTimestamp: datetime | None = None
    sentAt: datetime | None = None
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _required_per_type(self) -> SegmentMessage:
        t = self.type
        if t == "track" and not self.event:
            raise ValueError("event: required for a track call (the event name)")
        if t == "alias":
            if not self.previousId:
                raise ValueError("previousId: required for an alias call")
            if not self.userId:
                raise ValueError("userId: required for an alias call")
        elif not (self.userId or self.anonymousId):
            raise ValueError("userId/anonymousId: one of them is required")
        if t == "group" and not self.groupId:
            raise ValueError("groupId: required for a group call")
        return self


def _dumps(obj: dict[str, Any] | None) -> str | None:
    if obj is None:
        return None
    try:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        # integers beyond 64 bits (msgspec decodes them exactly); anything msgspec cannot
        # write either (a lone surrogate) is a ValueError the caller reports
        return msgspec.json.encode(obj).decode()


def describe_validation_error(exc: PydanticValidationError) -> tuple[str, str]:
    """Turn pydantic's error into (field, problem) a user can act on."""
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg.removeprefix("Value error, ")
        if ": " in msg:
            field, _, problem = msg.partition(": ")
            return field, problem
    if err["type"] == "literal_error" and loc == "type":
        return "type", f"must be one of {', '.join(MESSAGE_TYPES)} (got {err.get('input')!r})"
    return loc or "message", msg


def message_id_for(message: dict[str, Any], source: str, received_at: datetime | None = None,
                   position: int = 0) -> str:
    """The id of a message that arrived without ``messageId``.

    Two identical clicks sent without ids are two events (each request has its own receive
    time, each message of a batch its own position), while a replay of the same request from
    the write-ahead log (same receive time and position) gives the same id and is stored once.
    """
    try:
        text = orjson.dumps(message, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        text = msgspec.json.encode(message, order="sorted")
    stamp = f"{received_at.isoformat() if received_at else ''}\x00{position}".encode()
    digest = hashlib.sha256(source.encode() + b"\x00" + stamp + b"\x00" + text).hexdigest()
    return f"aidmp-{digest[:32]}"


def normalize_message(
    message: Any, *, source: str, received_at: datetime, default_type: str | None = None,
    limits: MessageLimits = DEFAULT_LIMITS, position: int = 0,
) -> dict[str, Any]:
    """Validate one Segment message and return its ``events`` row.

    Args:
        message: the decoded JSON object.
        source: the source name the write key belongs to.
        received_at: server receive time (UTC), also the base of clock-skew correction.
        default_type: the type implied by the endpoint (``/v1/track`` -> ``track``).
        limits: nesting depth and event-time window (see :mod:`aidmp.spec.limits`).
        position: the message's place in its request (part of a generated ``messageId``).

    Raises:
        ValidationError: naming the field and the problem.
    """
    if not isinstance(message, dict):
        raise ValidationError(f"must be a JSON object, got {type(message).__name__}", field="event")
    if object_exceeds_depth(message, limits.max_depth):  # before any recursive code sees it
        raise ValidationError(depth_problem(limits.max_depth), field="message")
    if default_type is not None and "type" not in message:
        message = {**message, "type": default_type}
    try:
        msg = SegmentMessage.model_validate(message)
    except PydanticValidationError as exc:
        field, problem = describe_validation_error(exc)
        raise ValidationError(problem, field=field) from None
    try:
        return message_row(msg, source=source, received_at=received_at, raw=message,
                           clock=limits.clock, position=position)
    except (TypeError, ValueError, msgspec.EncodeError) as exc:
        if isinstance(exc, ValidationError):
            raise
        # e.g. a lone UTF-16 surrogate in a string: it cannot be stored as UTF-8 JSON
        raise ValidationError(f"cannot be stored as JSON: {exc}", field="message") from None


def message_row(
    msg: SegmentMessage, *, source: str, received_at: datetime,
    raw: dict[str, Any] | None = None, clock: ClockPolicy = DEFAULT_CLOCK, position: int = 0,
) -> dict[str, Any]:
    """The ``events`` row of a validated message."""
    traits = msg.traits
    if traits is None and msg.type == "identify" and msg.context:
        ctx_traits = msg.context.get("traits")  # RudderStack puts identify traits here
        traits = ctx_traits if isinstance(ctx_traits, dict) else None
    if msg.messageId is None and raw is None:
        raw = msg.model_dump(mode="json", exclude_none=True)
    return event_row(
        message_id=msg.messageId or message_id_for(raw or {}, source, received_at, position),
        type_=msg.type,
        event=msg.event if msg.type == "track" else msg.name, user_id=msg.userId,
        anonymous_id=msg.anonymousId, group_id=msg.groupId, previous_id=msg.previousId,
        original=msg.timestamp or msg.originalTimestamp, sent_at=msg.sentAt,
        received_at=received_at, properties=_dumps(msg.properties), traits=_dumps(traits),
        context=_dumps(msg.context), integrations=_dumps(msg.integrations), source=source,
        clock=clock)


EVENT_COLUMNS: tuple[str, ...] = (
    "message_id", "type", "event", "user_id", "anonymous_id", "group_id", "previous_id",
    "timestamp", "original_timestamp", "sent_at", "received_at", "properties", "traits",
    "context", "integrations", "source", "event_date")


def event_row(
    *, message_id: str, type_: str, event: str | None, user_id: str | None,
    anonymous_id: str | None, group_id: str | None, previous_id: str | None,
    original: datetime | None, sent_at: datetime | None, received_at: datetime,
    properties: str | None, traits: str | None, context: str | None,
    integrations: str | None, source: str, clock: ClockPolicy = DEFAULT_CLOCK,
) -> dict[str, Any]:
    """An ``events`` row from a message's parts (JSON objects already as text).

    The ``_size`` entry approximates the message's JSON size (for the 32 KB rule) from the
    JSON texts, so no second serialisation of the whole message is needed.
    """
    values, size = event_values(message_id, type_, event, user_id, anonymous_id, group_id,
                                previous_id, original, sent_at, received_at, properties,
                                traits, context, integrations, source, clock=clock)
    row = dict(zip(EVENT_COLUMNS, values, strict=True))
    row["_size"] = size
    return row


def event_values(
    message_id: str, type_: str, event: str | None, user_id: str | None,
    anonymous_id: str | None, group_id: str | None, previous_id: str | None,
    original: datetime | None, sent_at: datetime | None, received_at: datetime,
    properties: str | None, traits: str | None, context: str | None,
    integrations: str | None, source: str, *, clock: ClockPolicy = DEFAULT_CLOCK,
) -> tuple[tuple[Any, ...], int]:
    """The values of an ``events`` row in :data:`EVENT_COLUMNS` order, and its JSON size.

    The event time follows :func:`aidmp.spec.clock.event_time` (Segment's clock-skew rule
    and the accepted window). Positional and tuple-valued because the collector calls it for
    every message it receives.

    Raises:
        ValidationError: the event time is outside the window (field ``timestamp``).
    """
    timestamp = event_time(original, sent_at, received_at, clock)
    original = as_utc(original)
    sent_at = as_utc(sent_at)
    size = 200 + len(properties or "") + len(traits or "") + len(context or "") \
        + len(integrations or "")
    return (message_id, type_, event, user_id, anonymous_id, group_id, previous_id, timestamp,
            original, sent_at, received_at, properties, traits, context, integrations, source,
            timestamp.date()), size
