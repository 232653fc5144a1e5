"""Money amounts written by people: ``€1.234,50``, ``$1,234.50``, ``1 234,50 EUR``, ``(12.00)``.

Written by hand: babel and price-parser either need the locale up front or return floats and
guess the currency from a symbol alone; here the decimal separator is inferred per value, the
amount stays an exact :class:`~decimal.Decimal` and a conflict (``$12 EUR``) is refused.

Example:
    >>> normalize_currency_amount("€1.234,50")
    Money(amount=Decimal('1234.50'), currency='EUR')
    >>> normalize_currency_amount("(12.00)", default_currency="USD")
    Money(amount=Decimal('-12.00'), currency='USD')
    >>> normalize_currency_amount("12 EUR 13").reason
    'more than one number'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Final, Literal

import pycountry

from aidmp.quality._base import NULL_TOKENS, Invalid

__all__ = ["Money", "normalize_currency_amount"]


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount and its ISO 4217 currency (``None`` when neither written nor given)."""

    amount: Decimal
    currency: str | None


# Symbols are found anywhere in the text, longest first ("US$" before "$"); words only whole.
_SYMBOLS: Final = {
    "US$": "USD", "CA$": "CAD", "C$": "CAD", "AU$": "AUD", "A$": "AUD", "NZ$": "NZD",
    "HK$": "HKD", "S$": "SGD", "R$": "BRL", "MX$": "MXN", "CN¥": "CNY", "€": "EUR",
    "$": "USD", "£": "GBP", "¥": "JPY", "₹": "INR", "₽": "RUB", "₩": "KRW", "₺": "TRY",
    "₪": "ILS", "₫": "VND", "₱": "PHP", "฿": "THB", "₴": "UAH",
}
_SYMBOL_ORDER: Final = sorted(_SYMBOLS, key=len, reverse=True)
_WORDS: Final = {
    "euro": "EUR", "euros": "EUR", "dollar": "USD", "dollars": "USD", "pound": "GBP",
    "pounds": "GBP", "yen": "JPY", "rmb": "CNY", "zł": "PLN", "kč": "CZK", "ft": "HUF",
    "fr": "CHF", "sfr": "CHF",
}
_NUMBER_RE = re.compile(r"(?:[.,](?=\d))?\d(?:[\d.,' \u00a0\u202f\u2009]*\d)?")
_SPACES_RE = re.compile(r"[ \u00a0\u202f\u2009]")
_WORD_RE = re.compile(r"[^\W\d_]+")


@lru_cache(maxsize=1)
def _iso_currencies() -> frozenset[str]:
    return frozenset(c.alpha_3 for c in pycountry.currencies)


def _split_groups(text: str, sep: str) -> str | None:
    """Digits of ``text`` grouped by ``sep`` (3-digit groups, or Indian 2-digit lakh groups)."""
    groups = text.split(sep)
    head, rest = groups[0], groups[1:]
    if not head or len(head) > 3 or not rest or len(rest[-1]) != 3:
        return None
    if any(len(g) not in (2, 3) or not g.isdigit() for g in rest[:-1]):
        return None
    return "".join(groups)


def _parse_number(core: str, decimal: Literal["auto", ".", ","]) -> Decimal | None:
    text = _SPACES_RE.sub(" ", core)
    marks = [ch for ch in text if ch in ".,"]
    if decimal == "auto":
        if not marks:
            point: str | None = None
        elif "." in marks and "," in marks:
            point = marks[-1]
        elif len(marks) > 1:
            point = None  # one mark repeated: "1.234.567" groups thousands
        else:
            whole, _, frac = text.partition(marks[0])
            # A single mark before exactly three digits groups thousands ("1,234"), except
            # after a lone zero ("0.125").
            thousands = len(frac) == 3 and whole.strip(" '") not in ("0", "")
            point = None if thousands else marks[0]
    else:
        point = decimal
    whole, _, frac = text.rpartition(point) if point and point in text else (text, "", "")
    if point and not whole:
        whole = "0"
    if any(ch in ".," for ch in frac) or (frac and not frac.isdigit()):
        return None
    grouping = {ch for ch in whole if not ch.isdigit()}
    if len(grouping) > 1:
        return None
    if grouping:
        digits = _split_groups(whole, grouping.pop())
        if digits is None:
            return None
    else:
        digits = whole
    try:
        return Decimal(f"{digits}.{frac}" if frac else digits)
    except InvalidOperation:
        return None


def _currency(rest: str, original: object) -> tuple[str | None, bool] | Invalid:
    """Currency named in the text around the number, and whether it was negative."""
    text = rest.replace("\u2212", "-").strip()
    negative = False
    if text.count("(") == 1 and text.count(")") == 1 and text.index("(") < text.index(")"):
        negative, text = True, text.replace("(", " ").replace(")", " ")
    if text.count("-") == 1:
        negative, text = not negative, text.replace("-", " ")
    text = text.replace("+", " ")
    found: set[str] = set()
    lowered = text.casefold()
    for symbol in _SYMBOL_ORDER:
        if symbol.casefold() in lowered:
            found.add(_SYMBOLS[symbol])
            lowered = lowered.replace(symbol.casefold(), " ")
    for word in _WORD_RE.findall(lowered):
        code = _WORDS.get(word) or word.upper()
        if code not in _iso_currencies():
            return Invalid(f"unrecognised text {word!r}", original)
        found.add(code)
    leftover = re.sub(r"[\s.:=]", "", _WORD_RE.sub("", lowered))
    if leftover:
        return Invalid(f"unrecognised text {leftover!r}", original)
    if len(found) > 1:
        return Invalid("conflicting currencies", original)
    return (found.pop() if found else None), negative


def normalize_currency_amount(
    value: object, *, default_currency: str | None = None,
    decimal: Literal["auto", ".", ","] = "auto",
) -> Money | Invalid:
    """An exact amount and ISO currency from a written money value.

    Args:
        value: text (``"€1.234,50"``, ``"1 234,50 EUR"``, ``"USD -5"``, ``"(12.00)"``), or a
            number (``int``, ``Decimal``; a ``float`` goes through its shortest repr).
        default_currency: ISO code used when the value names none.
        decimal: the decimal mark; ``"auto"`` takes the last of ``.``/``,`` when both appear
            and reads a single mark before exactly three digits as a thousands separator.

    Example:
        >>> normalize_currency_amount("1 234,50 EUR")
        Money(amount=Decimal('1234.50'), currency='EUR')
        >>> normalize_currency_amount("$12 EUR").reason
        'conflicting currencies'
    """
    if value is None or isinstance(value, bool):
        return Invalid("missing" if value is None else "not an amount", value)
    if isinstance(value, int | float | Decimal):
        try:
            amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        except InvalidOperation:
            return Invalid("not an amount", value)
        if not amount.is_finite():
            return Invalid("missing" if amount.is_nan() else "not an amount", value)
        return Money(amount, default_currency)
    if not isinstance(value, str):
        return Invalid("not text", value)
    if value.strip().casefold() in NULL_TOKENS:
        return Invalid("missing", value)
    numbers = list(_NUMBER_RE.finditer(value))
    if not numbers:
        return Invalid("no digits", value)
    if len(numbers) > 1:
        return Invalid("more than one number", value)
    match = numbers[0]
    amount_or_none = _parse_number(match.group(0), decimal)
    if amount_or_none is None:
        return Invalid("malformed number", value)
    found = _currency(value[:match.start()] + " " + value[match.end():], value)
    if isinstance(found, Invalid):
        return found
    currency, negative = found
    return Money(-amount_or_none if negative else amount_or_none, currency or default_currency)
