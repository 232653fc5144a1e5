"""Countries to ISO 3166-1 alpha-2 codes, from codes, names in many spellings and aliases.

Official, short and common names come from ``pycountry``; the aliases below are what people
write that ISO does not list.

Example:
    >>> normalize_country("Deutschland"), normalize_country("USA"), normalize_country("gbr")
    ('DE', 'US', 'GB')
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Final

import pycountry

from aidmp.quality._base import Invalid, is_blank

__all__ = ["country_key", "normalize_country"]

# --- countries --------------------------------------------------------------------------------
# Names people write that ISO 3166 does not list (pycountry has the official ones).
_COUNTRY_ALIASES: Final = {
    "uk": "GB", "great britain": "GB", "britain": "GB", "england": "GB", "scotland": "GB",
    "wales": "GB", "northern ireland": "GB", "u k": "GB", "united kingdom of great britain": "GB",
    "usa": "US", "us": "US", "america": "US", "united states of america": "US",
    "u s a": "US", "u s": "US", "deutschland": "DE", "germany": "DE", "bundesrepublik": "DE",
    "holland": "NL", "nederland": "NL", "the netherlands": "NL", "espana": "ES",
    "italia": "IT", "osterreich": "AT", "schweiz": "CH", "suisse": "CH", "svizzera": "CH",
    "brasil": "BR", "mexico": "MX", "russia": "RU", "korea": "KR", "south korea": "KR",
    "north korea": "KP", "iran": "IR", "vietnam": "VN", "czech republic": "CZ", "turkey": "TR",
    "turkiye": "TR", "ivory coast": "CI", "uae": "AE", "emirates": "AE", "taiwan": "TW",
    "syria": "SY", "laos": "LA", "moldova": "MD", "macedonia": "MK", "burma": "MM",
    "cape verde": "CV", "swaziland": "SZ", "vatican": "VA", "holy see": "VA", "eire": "IE",
    "republic of ireland": "IE", "polska": "PL", "sverige": "SE", "norge": "NO",
    "danmark": "DK", "suomi": "FI", "hellas": "GR", "el": "GR", "nippon": "JP", "prc": "CN",
    "china prc": "CN", "mainland china": "CN", "hong kong sar": "HK", "macau": "MO",
    "palestine": "PS", "brunei": "BN", "micronesia": "FM", "tanzania": "TZ",
    "venezuela": "VE", "bolivia": "BO", "ksa": "SA", "saudi": "SA", "drc": "CD",
    "dr congo": "CD", "congo kinshasa": "CD", "congo brazzaville": "CG", "magyarorszag": "HU",
    "ceska republika": "CZ", "belgie": "BE", "belgique": "BE", "hrvatska": "HR",
    "nz": "NZ", "aus": "AU",
}
_NON_ALNUM_RE = re.compile(r"[^a-z0-9]+")
_SAINT_RE = re.compile(r"\bst\b")


def country_key(text: str) -> str:
    """Casefolded, accent-free, punctuation-free text with single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    key = _NON_ALNUM_RE.sub(" ", plain.replace("&", " and ")).strip()
    key = _SAINT_RE.sub("saint", key)
    return key[4:] if key.startswith("the ") else key


@lru_cache(maxsize=1)
def _country_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for country in pycountry.countries:
        code = country.alpha_2
        index[code.casefold()] = code
        index[country.alpha_3.casefold()] = code
        for attr in ("name", "official_name", "common_name"):
            name = getattr(country, attr, None)
            if name:
                index[country_key(name)] = code
                if ", " in name:  # "Korea, Republic of" -> also "Republic of Korea"
                    head, tail = name.split(", ", 1)
                    index[country_key(f"{tail} {head}")] = code
    for alias, code in _COUNTRY_ALIASES.items():
        index[country_key(alias)] = code
    return index


def normalize_country(value: object) -> str | Invalid:
    """An ISO 3166-1 alpha-2 code from a code (``DE``/``DEU``), a name or a common alias.

    Names come from ``pycountry`` (official, common and short names, accents ignored) plus
    aliases people write (``UK``, ``USA``, ``Deutschland``, ``Holland``, ``Ivory Coast``...).

    Example:
        >>> normalize_country("  côte d'ivoire "), normalize_country("Korea, Republic of")
        ('CI', 'KR')
        >>> normalize_country("Atlantis").reason
        'unknown country'
    """
    if is_blank(value):
        return Invalid("missing", value)
    if not isinstance(value, str):
        return Invalid("not text", value)
    code = _country_index().get(country_key(value))
    return code if code else Invalid("unknown country", value)
