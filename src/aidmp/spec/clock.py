"""One clock policy: which event times aidmp accepts, and how device clock skew is corrected.

Every door that turns a client's time into an event time (the collector, the Python API,
quarantine replay, and the service's single clock) calls :func:`event_time`, so one message gets
the same time whichever way it came in.

The rule (Segment's, made safe):

1. ``timestamp`` (or ``originalTimestamp``) is the device's time of the event; with ``sentAt``
   (the device's time of sending) the device clock error ``sentAt - received_at`` is removed:
   ``time = received_at - (sentAt - timestamp)``. Without ``sentAt`` the timestamp is taken as
   is; without a timestamp, the receive time is the event time.
2. The result must lie in the window ``[min_timestamp, received_at + max_future_skew]``
   (default: 2000-01-01 to one day after receipt). Outside it (a clock reset to 0001, a year
   9999, a skew correction that would overflow) the message is refused with a reason naming
   ``timestamp`` (``out_of_window="quarantine"``, the default: in a batch it goes to the
   quarantine), or moved to the nearest edge of the window (``out_of_window="clamp"``).

Example:
    >>> from datetime import UTC, datetime
    >>> now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    >>> event_time(datetime(2026, 12, 7, 11, 0, tzinfo=UTC), None, now).hour
    11
    >>> try:
    ...     event_time(datetime(1, 1, 1, tzinfo=UTC), None, now)
    ... except ValueError as exc:
    ...     print(exc.field, exc.message.endswith("(limits.min_timestamp)"))
    timestamp True
    >>> clamp = ClockPolicy(out_of_window="clamp")
    >>> event_time(datetime(9999, 1, 1, tzinfo=UTC), None, now, clamp).isoformat()
    '2026-12-08T12:00:00+00:00'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from aidmp.errors import ValidationError

OutOfWindow = Literal["quarantine", "clamp"]
_ZERO = timedelta(0)


@dataclass(frozen=True)
class ClockPolicy:
    """Which event times are plausible (see the module docstring)."""

    min_timestamp: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    """Earliest accepted event time (UTC)."""
    max_future_skew: timedelta = timedelta(days=1)
    """How far after the receive time an event time may lie, after skew correction."""
    out_of_window: OutOfWindow = "quarantine"
    """Refuse an out-of-window time (``quarantine``) or move it to the window's edge (``clamp``)."""


DEFAULT_CLOCK = ClockPolicy()


def as_utc(ts: datetime | None) -> datetime | None:
    """``ts`` in UTC (a naive time is read as UTC); None stays None.

    Raises:
        ValidationError: the offset moves the time outside what a datetime can hold
            (``9999-12-31T23:00:00-05:00``).
    """
    if ts is None:
        return None
    if ts.tzinfo is None:
        return ts.replace(tzinfo=UTC)
    if ts.utcoffset() == _ZERO:
        return ts
    try:
        return ts.astimezone(UTC)
    except OverflowError:
        raise ValidationError(f"{ts.isoformat()} is outside the representable range",
                              field="timestamp") from None


def event_time(original: datetime | None, sent_at: datetime | None, received_at: datetime,
               policy: ClockPolicy = DEFAULT_CLOCK) -> datetime:
    """The event time of a message under ``policy`` (UTC).

    Args:
        original: the device's ``timestamp`` / ``originalTimestamp``, if sent.
        sent_at: the device's ``sentAt``, if sent.
        received_at: the server's receive time (UTC, aware).
        policy: the accepted window and what to do outside it.

    Raises:
        ValidationError: (field ``timestamp``) the time is outside the window and the policy
            says ``quarantine``.
    """
    original = as_utc(original)
    sent_at = as_utc(sent_at)
    if original is None:
        return received_at
    latest = received_at + policy.max_future_skew
    try:
        # Segment's skew rule: the device clock error is (sentAt - received_at), so the true
        # time is received_at - (sentAt - originalTimestamp).
        ts = received_at - (sent_at - original) if sent_at is not None else original
    except OverflowError:
        # e.g. timestamp 9999 with sentAt 0001: the "corrected" time is beyond year 9999
        assert sent_at is not None  # only the correction can overflow
        if policy.out_of_window == "clamp":
            return latest if sent_at < original else policy.min_timestamp
        raise ValidationError(
            f"{original.isoformat()} corrected by sentAt {sent_at.isoformat()} is outside the "
            "representable range (limits.min_timestamp / limits.max_future_skew)",
            field="timestamp") from None
    if ts < policy.min_timestamp:
        if policy.out_of_window == "clamp":
            return policy.min_timestamp
        raise ValidationError(
            f"{ts.isoformat()} is before {policy.min_timestamp.isoformat()} "
            "(limits.min_timestamp)", field="timestamp")
    if ts > latest:
        if policy.out_of_window == "clamp":
            return latest
        raise ValidationError(
            f"{ts.isoformat()} is more than {policy.max_future_skew} after the receive time "
            f"{received_at.isoformat()} (limits.max_future_skew)", field="timestamp")
    return ts


def point_in_time(value: datetime | str | None, *, field: str = "as_of",
                  now: datetime | None = None) -> datetime | None:
    """A user's ``--as-of``: an ISO-8601 instant (a naive one is UTC) not after the wall clock;
    None (no instant asked for: evaluate at the wall clock) stays None.

    Example:
        >>> point_in_time("2026-03-01T12:00:00Z").isoformat()
        '2026-03-01T12:00:00+00:00'
        >>> point_in_time("2026-03-01").isoformat()
        '2026-03-01T00:00:00+00:00'
        >>> try:
        ...     point_in_time("3000-01-01")
        ... except ValidationError as exc:
        ...     print(exc.field, exc.message)
        as_of must not lie after the current time (3000-01-01T00:00:00+00:00)

    Raises:
        ValidationError: not an ISO-8601 date-time, before 1900, or in the future.
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError(f"{value!r} is not an ISO-8601 date-time, e.g. "
                                  "2026-03-01T12:00:00Z", field=field) from None
    when = as_utc(value)
    assert when is not None
    if when.year < 1900:
        raise ValidationError("must lie after 1900", field=field)
    if when > (now or datetime.now(UTC)):
        raise ValidationError(f"must not lie after the current time ({when.isoformat()})",
                              field=field)
    return when


__all__ = ["DEFAULT_CLOCK", "ClockPolicy", "OutOfWindow", "as_utc", "event_time",
           "point_in_time"]
