"""The records probabilistic matching compares: what each profile's events say about the person.

One engine query reads every identify trait worth comparing from ``events.traits`` and
``events.context`` -> ``traits`` (several spellings each: ``postcode``, ``postal_code``,
``address.postal_code``...), keeps the latest non-null value per profile (and side, see
:func:`profile_records`), and Python only cleans the few resulting rows (one per profile).

Example:
    >>> frame = pd.DataFrame({"first_name": [" Ann "], "last_name": ["O'Neil"],
    ...     "email": ["Ann.ONeil@X.com"], "phone": ["020 7946 0958"], "postcode": ["sw1a 1aa"],
    ...     "city": ["London"], "country": ["gb"], "birth_date": ["1980-02-01T00:00:00Z"]})
    >>> row = clean(frame).iloc[0]
    >>> row["first_name"], row["last_name"], row["email_local"], row["email_domain"]
    ('ann', 'oneil', 'ann.oneil', 'x.com')
    >>> row["phone"], row["postcode"], row["birth_date"], row["last_name_key"]
    ('+442079460958', 'SW1A1AA', '1980-02-01', 'one')
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Literal

import ibis
import ibis.expr.types as ir
import pandas as pd
import polars as pl

from aidmp.engine.base import Engine
from aidmp.quality.columns import email_column, phone_column
from aidmp.spec.identity import IdentityRules

# trait -> the JSON paths (inside traits, or context.traits) that may carry it
FIELDS: dict[str, tuple[str, ...]] = {
    "first_name": ("first_name", "firstName", "firstname"),
    "last_name": ("last_name", "lastName", "lastname"),
    "email": ("email",),
    "phone": ("phone",),
    "postcode": ("postcode", "postal_code", "postalCode", "zip", "address.postal_code",
                 "address.postalCode", "address.postcode"),
    "city": ("city", "address.city"),
    "country": ("country", "address.country"),
    "birth_date": ("birth_date", "birthday", "date_of_birth", "dob"),
}
COLUMNS = ("record_id", "profile_id", "side", "sources", "first_name", "last_name",
           "last_name_key", "email", "email_local", "email_domain", "phone", "postcode", "city",
           "country", "birth_date")


def _trait(engine: Engine, events: ir.Table, paths: tuple[str, ...]) -> ir.StringValue:
    values = [engine.json_text(events.traits, f"$.{p}") for p in paths]
    values += [engine.json_text(events.context, f"$.traits.{p}") for p in paths]
    # an empty string says nothing about the person; treat it as missing
    return ibis.coalesce(*[ibis.ifelse(v.strip() == "", ibis.null("string"), v)
                           for v in values])


def raw_records(engine: Engine, left_sources: Sequence[str],
                mode: Literal["link_only", "dedupe_only"]) -> ir.Table:
    """Latest non-null value of every trait per (profile, side), with the side's sources."""
    e = engine.table("events")
    ep = engine.table("event_profiles")
    j = e.join(ep, e.message_id == ep.message_id)
    if mode == "link_only":
        side = ibis.ifelse(j.source.isin(list(left_sources)), ibis.literal("l"),
                           ibis.literal("r"))
    else:
        side = ibis.literal("d")
    rows = j.select(profile_id=j.profile_id, side=side, source=j.source, ts=j.timestamp,
                    **{name: _trait(engine, j, paths) for name, paths in FIELDS.items()})
    rows = rows.filter(ibis.or_(*[rows[name].notnull() for name in FIELDS]))
    aggs = {name: rows[name].argmax(rows.ts, where=rows[name].notnull()) for name in FIELDS}
    return rows.group_by(["profile_id", "side"]).aggregate(
        sources=rows.source.collect(distinct=True).sort().join(","), **aggs)


def _fold(values: pl.Series) -> pl.Series:
    # names compare without case, accents, spaces or punctuation ("O'Neil" == "oneil")
    def one(v: str | None) -> str | None:
        if v is None:
            return None
        plain = unicodedata.normalize("NFKD", v).encode("ascii", "ignore").decode()
        out = "".join(c for c in plain.lower() if c.isalnum())
        return out or None

    return pl.Series(values.name, [one(v) for v in values.to_list()], dtype=pl.String)


def clean(frame: pd.DataFrame, default_region: str = "US") -> pd.DataFrame:
    """Normalise the raw trait values so equal things compare equal."""
    df = pl.from_pandas(frame[list(FIELDS)].astype("object").where(frame.notna(), None),
                        schema_overrides=dict.fromkeys(FIELDS, pl.String))
    email, _ = email_column(df["email"].str.strip_chars())
    country = df["country"].str.strip_chars().str.to_uppercase()
    phones = [None] * df.height
    raw_phone = df["phone"].to_list()
    for region in country.fill_null("").unique().to_list():
        use = region if len(region) == 2 and region.isalpha() else default_region
        idx = [i for i, c in enumerate(country.fill_null("").to_list()) if c == region]
        out, _ = phone_column(pl.Series([raw_phone[i] for i in idx], dtype=pl.String),
                              region=use)
        for i, v in zip(idx, out.to_list(), strict=True):
            phones[i] = v
    first, last = _fold(df["first_name"]), _fold(df["last_name"])
    out_df = pl.DataFrame({
        "first_name": first,
        "last_name": last,
        "last_name_key": last.str.slice(0, 3),
        "email": email,
        "email_local": email.str.split("@").list.first(),
        "email_domain": email.str.split("@").list.last(),
        "phone": pl.Series(phones, dtype=pl.String),
        "postcode": df["postcode"].str.to_uppercase().str.replace_all(r"[^0-9A-Z]", ""),
        "city": _fold(df["city"]),
        "country": country,
        "birth_date": df["birth_date"].str.strip_chars().str.slice(0, 10),
    })
    out_df = out_df.with_columns(
        pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c)
        for c in ("postcode", "birth_date"))
    result = out_df.to_pandas()
    for c in ("record_id", "profile_id", "side", "sources"):
        if c in frame.columns:
            result[c] = frame[c].to_numpy()
    return result


def profile_records(engine: Engine, rules: IdentityRules, left_sources: Sequence[str],
                    mode: Literal["link_only", "dedupe_only"]) -> pd.DataFrame:
    """The cleaned records (pandas, one row per profile and side), ready for Splink.

    Records with neither a name, an e-mail nor a phone can match nothing and are left out.
    """
    if not engine.has_table("event_profiles"):
        return pd.DataFrame(columns=list(COLUMNS))
    raw = engine.execute(raw_records(engine, left_sources, mode)).to_pandas()
    if raw.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    raw["record_id"] = raw["profile_id"] + ":" + raw["side"]
    df = clean(raw, rules.default_region)
    useful = df[["first_name", "last_name", "email", "phone"]].notna().any(axis=1)
    df = df[useful & (df["first_name"].notna() | df["email"].notna() | df["phone"].notna())]
    return df[list(COLUMNS)].sort_values("record_id").reset_index(drop=True)


__all__ = ["COLUMNS", "FIELDS", "clean", "profile_records", "raw_records"]
