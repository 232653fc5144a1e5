"""Identifier normalisation and SHA-256 hashing as the ad platforms document it.

Google Ads Customer Match and Meta Custom Audiences match on SHA-256 hashes of *normalised*
values: a hash of ``" Jane@X.com"`` never matches one of ``"jane@x.com"``, so the rules below
must be followed exactly. What each platform asks (their "formatting guidelines" pages):

* e-mail: trimmed, lower-cased (both). For Google we also remove the dots before ``@`` of
  ``gmail.com`` / ``googlemail.com`` addresses: Gmail ignores them, Google's enhanced
  conversions "normalize and hash" guide asks for it, and the Customer Match API guide says
  it is not required but accepted (checked Nov 2026). Meta documents no such rule, so Meta
  hashes keep the dots. Plus-tags are kept: neither platform documents removing them.
* phone: E.164. Meta wants digits only including the country code, no ``+``; Google wants
  E.164 with the ``+``. Numbers are parsed with ``phonenumbers`` (through
  :func:`aidmp.quality.normalize.normalize_phone`) in the person's country when known.
* first / last name, city: lower-case letters only; spaces and punctuation removed, UTF-8
  letters (é, ß, ü) kept.
* country: ISO 3166-1 alpha-2, lower-case for Meta. Google hashes only Email, Phone, First
  Name and Last Name; Country (upper-case ISO-2) and Zip go in clear ("don't hash Country and
  Zip data", Google Ads help 7474263).
* zip: lower-case, no spaces; US codes keep the first 5 digits.
* a value that already is a 64-hex SHA-256 passes through (lower-cased), so pre-hashed
  identifiers from a source are not hashed twice.
* mobile advertising ids (Meta ``MADID``) are sent lower-cased and **not** hashed.

Example:
    >>> email_key(" Jane.Doe@GMail.com ", "google")
    'janedoe@gmail.com'
    >>> email_key(" Jane.Doe@GMail.com ", "meta")
    'jane.doe@gmail.com'
    >>> phone_key("(415) 555-2671", "meta"), phone_key("(415) 555-2671", "google")
    ('14155552671', '+14155552671')
    >>> name_key(" O'Brien-Núñez "), zip_key("94103-1234", "US"), country_key("Deutschland")
    ('obriennúñez', '94103', 'de')
    >>> sha256("a@b.co")[:12]
    '80305c9bb1bb'
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Final, Literal

from aidmp.quality.normalize import Invalid, normalize_country, normalize_email, normalize_phone

Platform = Literal["google", "meta"]

_HEX64: Final = re.compile(r"^[0-9a-fA-F]{64}$")
_GMAIL: Final = frozenset({"gmail.com", "googlemail.com"})
_ZIP_CHARS: Final = re.compile(r"[^0-9a-z]")


def sha256(text: str) -> str:
    """Lower-case hex SHA-256 of the UTF-8 bytes of ``text``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_hashed(value: object) -> bool:
    """Whether ``value`` already is a 64-character hex SHA-256 digest."""
    return isinstance(value, str) and bool(_HEX64.match(value.strip()))


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return text or None


def email_key(value: object, platform: Platform) -> str | None:
    """The normalised e-mail the platform hashes, or ``None`` when it is not an address."""
    email = normalize_email(value)
    if isinstance(email, Invalid):
        return None
    if platform == "google":
        local, domain = email.split("@")
        if domain in _GMAIL:
            email = f"{local.replace('.', '')}@{domain}"
    return email


def phone_key(value: object, platform: Platform, region: str | None = "US") -> str | None:
    """E.164 (Google, with ``+``) or its digits (Meta); ``None`` when not a valid number."""
    text = _text(value)
    if text is None:
        return None
    phone = normalize_phone(text, region=region or "US")
    if isinstance(phone, Invalid):
        return None
    return phone if platform == "google" else phone.lstrip("+")


def name_key(value: object) -> str | None:
    """Lower-case letters only (names, cities); ``None`` when no letter is left."""
    text = _text(value)
    if text is None:
        return None
    # NFC first: a decomposed "é" (e + combining accent) would otherwise lose its accent mark.
    letters = "".join(ch for ch in unicodedata.normalize("NFC", text.lower()) if ch.isalpha())
    return letters or None


def country_key(value: object) -> str | None:
    """Lower-case ISO 3166-1 alpha-2 code (from a code, name or alias), or ``None``."""
    code = normalize_country(value)
    return None if isinstance(code, Invalid) else code.lower()


def zip_key(value: object, country: str | None = None) -> str | None:
    """Lower-case, no spaces or dashes; the first 5 digits for US codes."""
    text = _text(value)
    if text is None:
        return None
    if (country or "").upper() == "US" or re.match(r"^\d{5}(-\d{4})?$", text):
        digits = re.sub(r"\D", "", text)
        return digits[:5] if len(digits) >= 5 else None
    cleaned = _ZIP_CHARS.sub("", text.lower())
    return cleaned or None


def state_key(value: object) -> str | None:
    """State / region: lower-case letters only (US: the 2-letter code, as given)."""
    return name_key(value)


def madid_key(value: object) -> str | None:
    """A mobile advertising id (IDFA / GAID), lower-cased and kept in clear."""
    text = _text(value)
    return text.lower() if text else None


def hashed(value: str | None) -> str | None:
    """SHA-256 of a normalised value; an already hashed value passes through lower-cased."""
    if value is None:
        return None
    return value.lower() if is_hashed(value) else sha256(value)


def hash_field(value: object, normalised: str | None) -> str | None:
    """Hash ``normalised``, unless the raw ``value`` is a digest already (then keep it)."""
    if is_hashed(value):
        return str(value).strip().lower()
    return hashed(normalised)


__all__ = [
    "Platform",
    "country_key",
    "email_key",
    "hash_field",
    "hashed",
    "is_hashed",
    "madid_key",
    "name_key",
    "phone_key",
    "sha256",
    "state_key",
    "zip_key",
]
