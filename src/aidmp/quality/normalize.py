"""Value normalisers, one value at a time: e-mail, phone, timestamp (country: `.countries`).

Each normaliser is a pure function that returns the normalised value or an :class:`Invalid`
carrying the reason; none raises on bad data, so a cleaning job can count and quarantine the
bad values instead of stopping. Column-wise versions live in :mod:`aidmp.quality.columns`;
money amounts in :mod:`aidmp.quality.money`.

Example:
    >>> normalize_email("  MailTo:Jane.Doe+News@Example.COM ")
    'jane.doe+news@example.com'
    >>> normalize_email("jane..doe@example.com")
    Invalid(reason='consecutive dots', value='jane..doe@example.com')
    >>> normalize_phone("(415) 555-2671", region="US")
    '+14155552671'
    >>> normalize_timestamp("05/03/2024 14:30", dayfirst=True)
    '2024-03-05T14:30:00Z'
    >>> normalize_country("Deutschland"), normalize_country("USA"), normalize_country("gbr")
    ('DE', 'US', 'GB')
"""

from __future__ import annotations

import math
import re
import warnings
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from dateutil import parser as dateparser

from aidmp.errors import ValidationError
from aidmp.quality._base import NULL_TOKENS, Invalid, is_blank
from aidmp.quality.countries import normalize_country

__all__ = [
    "NULL_TOKENS",
    "Invalid",
    "normalize_country",
    "normalize_email",
    "normalize_phone",
    "normalize_timestamp",
    "zone",
]


# --- e-mail -----------------------------------------------------------------------------------
# Written by hand rather than with email-validator: the rules below are a deliberate, documented
# subset (RFC 5321 dot-atom addresses, the only kind mail providers hand out) and the same
# patterns drive the vectorised polars version in aidmp.quality.columns, so both agree exactly.
EMAIL_LOCAL_CHARS: Final = r"[a-z0-9!#$%&'*+/=?^_`{|}~.-]+"
EMAIL_DOMAIN_LABEL: Final = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
EMAIL_TLD: Final = r"(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})"
_LOCAL_RE = re.compile(rf"^{EMAIL_LOCAL_CHARS}$")
_DOMAIN_RE = re.compile(rf"^(?:{EMAIL_DOMAIN_LABEL}\.)+{EMAIL_TLD}$")
_SPACE_RE = re.compile(r"\s")
_DISPLAY_NAME_RE = re.compile(r"^[^<>]*<([^<>]*)>\s*$")


def email_precheck(text: str) -> str | Invalid:
    """Strip a display name, ``mailto:`` and query, lowercase; or say why it cannot be one."""
    text = text.strip()
    match = _DISPLAY_NAME_RE.match(text)
    if match:  # "Jane Doe <jane@example.com>"
        text = match.group(1).strip()
    text = text.casefold()
    if text.startswith("mailto:"):
        text = text[len("mailto:"):].split("?", 1)[0].strip()
    if text in NULL_TOKENS:
        return Invalid("missing", text)
    return text


def email_reason(text: str) -> str | None:
    """Why a trimmed, lowercased address is not valid, or ``None`` when it is."""
    if _SPACE_RE.search(text):
        return "contains whitespace"
    ats = text.count("@")
    if ats == 0:
        return "missing @"
    if ats > 1:
        return "more than one @"
    local, domain = text.split("@")
    if not local:
        return "empty local part"
    if not domain:
        return "empty domain"
    if ".." in text:
        return "consecutive dots"
    if local.startswith(".") or local.endswith("."):
        return "local part starts or ends with a dot"
    if domain.startswith(".") or domain.endswith("."):
        return "domain starts or ends with a dot"
    if "." not in domain:
        return "domain has no dot"
    if len(local) > 64 or len(text) > 254:
        return "too long"
    if not _LOCAL_RE.match(local):
        return "invalid character in local part"
    if not _DOMAIN_RE.match(domain):
        return "invalid domain"
    return None


def normalize_email(value: object) -> str | Invalid:
    """Trim, lowercase and check an e-mail address; plus-tags are kept.

    Accepts ``Name <addr>`` and ``mailto:addr?subject=..``; an internationalised domain is
    converted to its ASCII (punycode) form. Refused: placeholders (``n/a``, ``null``...),
    missing or repeated ``@``, dot problems, characters outside RFC 5321 dot-atoms.

    Example:
        >>> normalize_email("Jane Doe <Jane@Bücher.de>")
        'jane@xn--bcher-kva.de'
        >>> normalize_email("n/a").reason
        'missing'
    """
    if is_blank(value):
        return Invalid("missing", value)
    if not isinstance(value, str):
        return Invalid("not text", value)
    text = email_precheck(value)
    if isinstance(text, Invalid):
        return Invalid(text.reason, value)
    if not text.isascii() and text.count("@") == 1:
        local, domain = text.split("@")
        if not local.isascii():
            return Invalid("non-ASCII local part", value)
        try:
            text = f"{local}@{domain.encode('idna').decode('ascii')}"
        except UnicodeError:
            return Invalid("invalid domain", value)
    reason = email_reason(text)
    return Invalid(reason, value) if reason else text


# --- phone ------------------------------------------------------------------------------------
_PHONE_PARSE_REASONS: Final = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "invalid country code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}
_POSSIBLE_REASONS: Final = {
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "invalid country code",
    phonenumbers.ValidationResult.TOO_SHORT: "too short",
    phonenumbers.ValidationResult.TOO_LONG: "too long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "invalid length",
}


def normalize_phone(value: object, region: str = "US") -> str | Invalid:
    """A phone number in E.164 (``+14155552671``), parsed with ``phonenumbers``.

    Args:
        value: text or an integer / integral float (spreadsheet exports turn numbers into
            ``4155552671.0``).
        region: ISO-2 region assumed for numbers written without a country code.

    Example:
        >>> normalize_phone("+44 20 7946 0958 ext. 12")
        '+442079460958'
        >>> normalize_phone("555-0100").reason
        'too short'
    """
    if is_blank(value):
        return Invalid("missing", value)
    if isinstance(value, bool):
        return Invalid("not a phone number", value)
    if isinstance(value, float):
        if not value.is_integer():
            return Invalid("not a phone number", value)
        text = str(int(value))
    elif isinstance(value, int | str):
        text = str(value).strip()
        if text.endswith(".0") and text[:-2].isdigit():
            text = text[:-2]
    else:
        return Invalid("not text", value)
    try:
        number = phonenumbers.parse(text, region.upper())
    except phonenumbers.NumberParseException as exc:
        return Invalid(_PHONE_PARSE_REASONS.get(exc.error_type, "not a phone number"), value)
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible != phonenumbers.ValidationResult.IS_POSSIBLE:
        # IS_POSSIBLE_LOCAL_ONLY (a number without its area code) is too short to dial.
        return Invalid(_POSSIBLE_REASONS.get(possible, "too short"), value)
    if not phonenumbers.is_valid_number(number):
        return Invalid("invalid number", value)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --- timestamps -------------------------------------------------------------------------------
# Fixed offsets for the zone abbreviations seen in exports; dateutil would otherwise ignore an
# unknown abbreviation and silently return local time.
_TZ_ABBREVIATIONS: Final[dict[str, tzinfo]] = {
    name: timezone(timedelta(hours=hours)) for name, hours in {
        "UTC": 0, "GMT": 0, "Z": 0, "UT": 0, "WET": 0, "BST": 1, "CET": 1, "CEST": 2,
        "EET": 2, "EEST": 3, "MSK": 3, "IST": 5.5, "JST": 9, "AEST": 10, "AEDT": 11,
        "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8,
        "PDT": -7,
    }.items()
}
_DIGITS_RE = re.compile(r"^-?\d+(?:\.\d+)?$")
_ZERO_DATE_RE = re.compile(r"^0{2,4}-0{1,2}-0{1,2}")
# Two different defaults reveal which fields the text did not give (dateutil fills them in).
_DEFAULT_A = datetime(2000, 1, 1)
_DEFAULT_B = datetime(2001, 2, 2)


def epoch_unit(magnitude: float) -> str:
    """The unit of an epoch number, guessed from its size (valid for years 1973-5138)."""
    if magnitude < 1e11:
        return "s"
    if magnitude < 1e14:
        return "ms"
    if magnitude < 1e17:
        return "us"
    return "ns"


_EPOCH_DIVISOR: Final = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def to_iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``; microseconds only when present."""
    text = moment.astimezone(UTC).replace(tzinfo=None).isoformat()
    return f"{text}Z"


def _from_epoch(number: float, original: object, years: tuple[int, int]) -> str | Invalid:
    if not math.isfinite(number):
        return Invalid("not a timestamp", original)
    unit = epoch_unit(abs(number))
    seconds = number / _EPOCH_DIVISOR[unit]
    try:
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    except OverflowError:
        return Invalid("out of range", original)
    return _checked(moment, original, years)


def _checked(moment: datetime, original: object, years: tuple[int, int]) -> str | Invalid:
    if not years[0] <= moment.astimezone(UTC).year <= years[1]:
        return Invalid("out of range", original)
    return to_iso_utc(moment)


def zone(name: str) -> tzinfo:
    """The IANA zone called ``name`` (``"UTC"``, ``"Europe/Berlin"``).

    Raises:
        ValidationError: the name is not a known zone.
    """
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"unknown time zone {name!r}; use an IANA name such as "
                              "'UTC' or 'Europe/Berlin'", field="assume_tz") from exc


def normalize_timestamp(
    value: object, *, dayfirst: bool = False, assume_tz: str = "UTC",
    years: tuple[int, int] = (1900, 2100),
) -> str | Invalid:
    """A point in time as ISO 8601 UTC text (``2024-03-05T14:30:00Z``).

    Reads ISO 8601, RFC 2822, US and European numeric dates, month names, compact
    ``YYYYMMDD[HHMMSS]``, zone offsets and common zone abbreviations, epoch numbers in
    seconds, milliseconds, microseconds or nanoseconds (told apart by size), and
    ``datetime`` / ``date`` objects.

    Args:
        value: the value to read.
        dayfirst: read ``05/03/2024`` as 5 March (Europe) instead of May 3 (US).
        assume_tz: IANA zone of values that carry none.
        years: plausible range of years; anything outside is refused.

    Raises:
        ValidationError: ``assume_tz`` is not a known zone (a setting, not data).

    Example:
        >>> normalize_timestamp(1709649000123)
        '2024-03-05T14:30:00.123000Z'
        >>> normalize_timestamp("Tue, 05 Mar 2024 15:30:00 +0100")
        '2024-03-05T14:30:00Z'
        >>> normalize_timestamp("14:30").reason
        'incomplete date'
    """
    tz = zone(assume_tz)
    if is_blank(value):
        return Invalid("missing", value)
    if isinstance(value, bool):
        return Invalid("not a timestamp", value)
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=tz)
        return _checked(moment, value, years)
    if isinstance(value, date):
        return _checked(datetime(value.year, value.month, value.day, tzinfo=tz),
                        value, years)
    if isinstance(value, int | float):
        return _from_epoch(float(value), value, years)
    if not isinstance(value, str):
        return Invalid("not text", value)
    text = " ".join(value.split())
    if _ZERO_DATE_RE.match(text):
        return Invalid("missing", value)
    if _DIGITS_RE.match(text):
        compact = {8: "%Y%m%d", 14: "%Y%m%d%H%M%S"}.get(len(text))
        if compact:
            try:
                moment = datetime.strptime(text, compact).replace(tzinfo=tz)
            except ValueError:
                return Invalid("not a timestamp", value)
            return _checked(moment, value, years)
        return _from_epoch(float(text), value, years)
    return _parse_text(text, value, dayfirst, tz, years)


# Exact formats tried before dateutil: a strptime is ~10x cheaper than dateutil's two parses,
# and these cover most exports. Each reads the same as dateutil would.
_MONTH_FIRST: Final = ("%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y")
_DAY_FIRST: Final = ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y", "%d.%m.%Y %H:%M",
                     "%d.%m.%Y")
_NAMED_MONTH: Final = ("%d %b %Y %H:%M", "%d %b %Y", "%b %d %Y %H:%M:%S", "%b %d, %Y")


def _fast(text: str, dayfirst: bool) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00", 1))
    except ValueError:
        pass
    for fmt in (*(_DAY_FIRST if dayfirst else _MONTH_FIRST), *_NAMED_MONTH):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _parse_text(
    text: str, original: object, dayfirst: bool, assume_tz: tzinfo, years: tuple[int, int]
) -> str | Invalid:
    quick = _fast(text, dayfirst) if len(text) >= 10 else None
    if quick is not None:
        return _checked(quick if quick.tzinfo else quick.replace(tzinfo=assume_tz),
                        original, years)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # dateutil warns on zone names it drops
            first = dateparser.parse(text, dayfirst=dayfirst, default=_DEFAULT_A,
                                     tzinfos=_TZ_ABBREVIATIONS)
            second = dateparser.parse(text, dayfirst=dayfirst, default=_DEFAULT_B,
                                      tzinfos=_TZ_ABBREVIATIONS)
    except (ValueError, OverflowError):
        return Invalid("not a timestamp", original)
    if (first.year, first.month, first.day) != (second.year, second.month, second.day):
        return Invalid("incomplete date", original)
    if first.tzinfo is None and _has_unknown_zone(text):
        return Invalid("unknown time zone", original)
    moment = first if first.tzinfo else first.replace(tzinfo=assume_tz)
    return _checked(moment, original, years)


_ZONE_WORD_RE = re.compile(r"\b[A-Z]{3,5}\b")
_NOT_ZONES: Final = frozenset({
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "SEPT", "OCT", "NOV", "DEC",
    "MON", "TUE", "TUES", "WED", "THU", "THUR", "THURS", "FRI", "SAT", "SUN",
})


def _has_unknown_zone(text: str) -> bool:
    words = set(_ZONE_WORD_RE.findall(text)) - _NOT_ZONES
    return any(word not in _TZ_ABBREVIATIONS for word in words)
