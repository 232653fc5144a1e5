"""Languages of the dashboard: message catalogs (Babel, gettext) and locale-aware formatting.

English is the source language (the msgids); Simplified Chinese comes from
``i18n/zh_Hans/LC_MESSAGES/messages.po``, compiled to ``messages.mo`` beside it.

Example:
    >>> fmt = Formats("zh_Hans")
    >>> fmt.number(1234567)
    '1,234,567'
    >>> Formats("en").percent(0.257)
    '26%'
"""

from __future__ import annotations

import gettext
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_compact_decimal, format_currency, format_decimal, format_percent
from babel.support import Translations

LOCALES = ("en", "zh_Hans")
"""The dashboard's languages; the first is the default and the source of the msgids."""
LANGUAGE_NAMES = {"en": "English", "zh_Hans": "简体中文"}
CATALOGS = Path(__file__).parent / "i18n"
DOMAIN = "messages"
NONE = "\u2013"
"""What an absent value shows (an en dash)."""


@cache
def translations(locale: str) -> gettext.NullTranslations:
    """The catalog of ``locale`` (English: the msgids themselves)."""
    if locale == LOCALES[0]:
        return gettext.NullTranslations()
    return Translations.load(str(CATALOGS), [locale], domain=DOMAIN)


def pick_locale(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's language when it is one of ours, else the best of ``Accept-Language``."""
    if cookie in LOCALES:
        return cookie  # type: ignore[return-value]
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh_Hans"
        if tag.startswith("en"):
            return "en"
    return LOCALES[0]


def html_lang(locale: str) -> str:
    """The BCP 47 tag for ``<html lang>``: ``zh-Hans`` or ``en``."""
    return locale.replace("_", "-")


@dataclass(frozen=True)
class Formats:
    """Numbers, money, percentages and dates written the way ``locale`` writes them."""

    locale: str

    @property
    def babel_locale(self) -> Locale:
        """The Babel locale."""
        return Locale.parse(self.locale)

    def number(self, value: float | int | None, digits: int = 0) -> str:
        """A number with the locale's grouping; ``digits`` decimals at most."""
        if value is None:
            return NONE
        pattern = "#,##0" + ("." + "#" * digits if digits else "")
        return format_decimal(value, format=pattern, locale=self.locale)

    def compact(self, value: float | int | None) -> str:
        """A short number (``12K``, ``1.2万``)."""
        if value is None:
            return NONE
        return format_compact_decimal(value, locale=self.locale, fraction_digits=1)

    def percent(self, value: float | None, digits: int = 0) -> str:
        """A share (0.25 -> ``25%``)."""
        if value is None:
            return NONE
        pattern = "#,##0" + ("." + "0" * digits if digits else "") + "%"
        return format_percent(value, format=pattern, locale=self.locale)

    def money(self, value: float | None, currency: str = "EUR") -> str:
        """An amount of money in ``currency``."""
        if value is None:
            return NONE
        return format_currency(value, currency, locale=self.locale)

    def date(self, value: date | datetime | str | None) -> str:
        """A date (``Dec 7, 2026`` / ``2026年12月7日``)."""
        if value is None or value == "":
            return NONE
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return format_date(value, format="medium", locale=self.locale)

    def datetime(self, value: datetime | str | None) -> str:
        """A date and time in UTC."""
        if value is None or value == "":
            return NONE
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if not isinstance(value, datetime):
            return self.date(value)
        return format_datetime(value, format="medium", tzinfo=None, locale=self.locale)
