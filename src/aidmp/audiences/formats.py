"""The rows each destination receives, made from ``profiles`` rows.

:func:`format_rows` turns an Arrow table of profile rows into the destination's columns
(``profile_id`` first) and says which rows carry at least one usable identifier; rows without
one are counted as ``skipped_no_identifier`` and never sent.

Example:
    >>> import pyarrow as pa
    >>> from aidmp.audiences.destinations import MetaCustomAudience
    >>> rows = pa.table({"profile_id": ["p1", "p2"], "email": [" A@x.com", None],
    ...                  "address_country": ["US", None]})
    >>> out, ok = format_rows(MetaCustomAudience(name="m", folder="/tmp"), rows)
    >>> out.column_names[:3], ok
    (['profile_id', 'EMAIL', 'PHONE'], [True, False])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from aidmp.audiences.destinations import (
    Destination,
    EmailPlatform,
    FileDestination,
    GoogleCustomerMatch,
    MetaCustomAudience,
    WebhookDestination,
)
from aidmp.audiences.hashing import (
    country_key,
    email_key,
    hash_field,
    madid_key,
    name_key,
    phone_key,
    state_key,
    zip_key,
)

# Profile columns an identifier may live in, first present wins (traits keep their own names).
SOURCES: Final[dict[str, tuple[str, ...]]] = {
    "email": ("email", "trait_email"),
    "phone": ("phone", "trait_phone", "phone_number"),
    "first_name": ("first_name", "firstName"),
    "last_name": ("last_name", "lastName"),
    "city": ("address_city", "city"),
    "state": ("address_state", "state"),
    "zip": ("address_postal_code", "postal_code", "zip"),
    "country": ("address_country", "country"),
    "madid": ("madid", "advertising_id", "device_advertising_id"),
}
GOOGLE_COLUMNS: Final = ("Email", "Phone", "First Name", "Last Name", "Country", "Zip")
META_COLUMNS: Final = ("EMAIL", "PHONE", "FN", "LN", "CT", "ST", "ZIP", "COUNTRY", "MADID")
EMAIL_COLUMNS: Final = ("email", "first_name", "last_name")


def _plain_columns(dest: Destination) -> list[str]:
    return list(dest.columns) if isinstance(dest, FileDestination | WebhookDestination) else []


def source_columns(dest: Destination, available: Sequence[str]) -> list[str]:
    """The ``profiles`` columns ``dest`` needs that exist (``profile_id`` first)."""
    plain = _plain_columns(dest)
    if plain:
        wanted = plain
    else:
        logical = {"google_customer_match": ("email", "phone", "first_name", "last_name",
                                             "country", "zip"),
                   "email_platform": ("email", "first_name", "last_name")}.get(
            dest.type, tuple(SOURCES))
        wanted = [c for key in logical for c in SOURCES[key]]
    return ["profile_id", *dict.fromkeys(c for c in wanted if c in available)]


def _pick(row: dict[str, Any], key: str) -> Any:
    for col in SOURCES[key]:
        value = row.get(col)
        if value is not None and value != "":
            return value
    return None


def _google(row: dict[str, Any], dest: GoogleCustomerMatch) -> tuple[Any, ...]:
    country = country_key(_pick(row, "country"))
    email, phone = _pick(row, "email"), _pick(row, "phone")
    return (
        hash_field(email, email_key(email, "google")),
        hash_field(phone, phone_key(phone, "google", (country or dest.region).upper())),
        hash_field(_pick(row, "first_name"), name_key(_pick(row, "first_name"))),
        hash_field(_pick(row, "last_name"), name_key(_pick(row, "last_name"))),
        country.upper() if country else None,  # Google: country and zip in clear
        zip_key(_pick(row, "zip"), country),
    )


def _google_ok(v: tuple[Any, ...]) -> bool:
    # Google matches on e-mail, phone, or the full name + country + zip combination.
    return bool(v[0] or v[1] or all(v[2:6]))


def _meta(row: dict[str, Any], dest: MetaCustomAudience) -> tuple[Any, ...]:
    country = country_key(_pick(row, "country"))
    email, phone = _pick(row, "email"), _pick(row, "phone")
    raw = {k: _pick(row, k) for k in ("first_name", "last_name", "city", "state", "zip")}
    return (
        hash_field(email, email_key(email, "meta")),
        hash_field(phone, phone_key(phone, "meta", (country or dest.region).upper())),
        hash_field(raw["first_name"], name_key(raw["first_name"])),
        hash_field(raw["last_name"], name_key(raw["last_name"])),
        hash_field(raw["city"], name_key(raw["city"])),
        hash_field(raw["state"], state_key(raw["state"])),
        hash_field(raw["zip"], zip_key(raw["zip"], country)),
        hash_field(_pick(row, "country"), country),
        madid_key(_pick(row, "madid")),  # Meta: advertising ids are not hashed
    )


def _meta_ok(v: tuple[Any, ...]) -> bool:
    # Names, city, zip alone do not identify anyone; Meta needs one strong key.
    return bool(v[0] or v[1] or v[8])


def _email(row: dict[str, Any], dest: EmailPlatform) -> tuple[Any, ...]:
    del dest
    email = email_key(_pick(row, "email"), "meta")  # plain trim + lower-case, no dot removal
    first, last = _pick(row, "first_name"), _pick(row, "last_name")
    return (email, str(first).strip() if first else None, str(last).strip() if last else None)


_ROW_FORMATS: Final[dict[str, tuple[tuple[str, ...], Callable[..., tuple[Any, ...]],
                                     Callable[[tuple[Any, ...]], bool]]]] = {
    "google_customer_match": (GOOGLE_COLUMNS, _google, _google_ok),
    "meta_custom_audience": (META_COLUMNS, _meta, _meta_ok),
    "email_platform": (EMAIL_COLUMNS, _email, lambda v: bool(v[0])),
}


def format_rows(dest: Destination, rows: pa.Table) -> tuple[pa.Table, list[bool]]:
    """The destination's table for ``rows`` and, per row, whether it has an identifier."""
    plain = _plain_columns(dest)
    if plain:
        # Vectorised: file and webhook rows are the profile columns as they are.
        cols = [c for c in plain if c in rows.column_names]
        out = rows.select(["profile_id", *cols])
        if not cols:
            return out, [False] * rows.num_rows
        ok = pc.is_valid(out.column(cols[0]))
        for c in cols[1:]:
            ok = pc.or_(ok, pc.is_valid(out.column(c)))
        return out, ok.to_pylist()
    names, fmt, has_id = _ROW_FORMATS[dest.type]
    # Row by row: phone parsing and Unicode-aware name cleaning have no vectorised equivalent.
    values = [fmt(r, dest) for r in rows.to_pylist()]
    data: dict[str, Any] = {"profile_id": rows.column("profile_id")}
    for i, name in enumerate(names):
        data[name] = pa.array([v[i] for v in values], type=pa.string())
    return pa.table(data), [has_id(v) for v in values]


__all__ = ["EMAIL_COLUMNS", "GOOGLE_COLUMNS", "META_COLUMNS", "SOURCES", "format_rows",
           "source_columns"]
