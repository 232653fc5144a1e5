"""Person fields that matching recognises, whatever a source calls them, and how each is cleaned.

A trait is recognised by its name with case, spaces and punctuation ignored: ``given_name``,
``firstName`` and ``fname`` are all the ``first_name`` field; ``suburb`` and ``town`` are
``city``; ``dob`` is ``birth_date``. Each field has a *kind* that decides how its values are
cleaned (so equal things compare equal) and, by default, how they are compared.

Example:
    >>> canonical("Given Name"), canonical("surname"), canonical("address_1"), canonical("zip")
    ('first_name', 'last_name', 'address', 'postcode')
    >>> canonical("favourite_colour") is None
    True
    >>> clean_values("date", ["1980-02-01T00:00:00Z", "19151111", "3/4/1990", None])
    ['19800201', '19151111', '341990', None]
    >>> clean_values("name", [" O'Neil ", "Zoë"]), clean_values("postcode", ["sw1a 1aa", "0812"])
    (['oneil', 'zoe'], ['SW1A1AA', '0812'])
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Literal

import polars as pl

from aidmp.quality.columns import email_column, phone_column

Kind = Literal["name", "text", "code", "postcode", "date", "email", "phone", "number"]

# field -> (kind, the names sources use for it, compared without case or punctuation)
KNOWN: dict[str, tuple[Kind, tuple[str, ...]]] = {
    "first_name": ("name", ("first_name", "firstname", "given_name", "givenname", "fname",
                            "forename", "christian_name")),
    "middle_name": ("name", ("middle_name", "middlename", "middle_names")),
    "last_name": ("name", ("last_name", "lastname", "surname", "family_name", "familyname",
                           "lname")),
    "birth_date": ("date", ("birth_date", "birthdate", "date_of_birth", "dob", "birthday",
                            "dateofbirth", "born")),
    "gender": ("code", ("gender", "sex")),
    "email": ("email", ("email", "e_mail", "email_address", "mail")),
    "phone": ("phone", ("phone", "phone_number", "telephone", "tel", "mobile", "mobile_phone",
                        "cell", "phonenumber")),
    "street_number": ("code", ("street_number", "streetnumber", "house_number", "housenumber",
                               "street_no", "house_no")),
    "address": ("text", ("address", "address_1", "address1", "address_line_1",
                         "addressline1", "street", "street_address", "streetaddress",
                         "address.street", "address.line1", "address.address_1")),
    "address_2": ("text", ("address_2", "address2", "address_line_2", "addressline2",
                           "address.line2", "address.address_2")),
    "city": ("text", ("city", "suburb", "town", "locality", "address.city",
                      "address.suburb", "address.town")),
    "postcode": ("postcode", ("postcode", "postal_code", "postalcode", "zip", "zipcode",
                              "zip_code", "post_code", "address.postal_code",
                              "address.postalcode", "address.postcode", "address.zip")),
    "state": ("code", ("state", "province", "region", "county", "address.state",
                       "address.region")),
    "country": ("code", ("country", "country_code", "address.country")),
}
_ALIASES = {re.sub(r"[^a-z0-9]", "", alias): name for name, (_, aliases) in KNOWN.items()
            for alias in (name, *aliases)}


def _key(name: str) -> str:
    # "address.city" (a nested object) reads as "address_city", so both forms are one key
    return re.sub(r"[^a-z0-9]", "", name.lower())


def canonical(name: str) -> str | None:
    """The recognised field a trait name stands for (None: not a person field we know)."""
    return _ALIASES.get(_key(name))


def kind_of(field: str) -> Kind:
    """How a field's values are cleaned: its recognised kind, ``code`` for any other."""
    return KNOWN[field][0] if field in KNOWN else "code"


def _ascii(v: str) -> str:
    return unicodedata.normalize("NFKD", v).encode("ascii", "ignore").decode()


_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})")


def _date(v: str) -> str:
    # Dates are compared as YYYYMMDD text: an ISO date (or timestamp) is rewritten so, and
    # anything else keeps its digits, so that a typo in an invalid date still has its
    # edit-distance level ("19151311" is one edit from "19151111").
    m = _ISO.match(v.strip())
    if m:
        return f"{m[1]}{int(m[2]):02d}{int(m[3]):02d}"
    return re.sub(r"\D", "", v)


def _one(kind: Kind, v: str) -> str:
    if kind == "name":  # "O'Neil" == "oneil": no case, accents, spaces or punctuation
        return "".join(c for c in _ascii(v).lower() if c.isalnum())
    if kind == "text":
        words = re.sub(r"[^a-z0-9]+", " ", _ascii(v).lower())
        return " ".join(words.split())
    if kind == "postcode":  # a string, so "0812" keeps its leading zero
        return re.sub(r"[^0-9A-Z]", "", v.upper())
    if kind == "date":
        return _date(v)
    if kind == "number":
        return v.strip()
    return _ascii(v).strip().lower()


def clean_values(kind: Kind, values: Sequence[str | None], region: str = "US"
                 ) -> list[str | None]:
    """Cleaned values of one field (None where nothing is left)."""
    if kind == "email":
        out, _ = email_column(pl.Series(values, dtype=pl.String).str.strip_chars())
        return [v or None for v in out.to_list()]
    if kind == "phone":
        out, _ = phone_column(pl.Series(values, dtype=pl.String), region=region)
        return [v or None for v in out.to_list()]
    cleaned = [None if v is None else _one(kind, str(v)) for v in values]
    return [v or None for v in cleaned]


__all__ = ["KNOWN", "Kind", "canonical", "clean_values", "kind_of"]
