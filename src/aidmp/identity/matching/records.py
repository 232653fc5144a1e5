"""The records matching compares: what each profile's identify events say about the person.

One engine query reads every identify trait (``profiles.traits.trait_values``: top-level and
nested keys, from ``traits`` or ``context.traits``), keeps the latest value of each compared
field per profile and *side* (a group of sources), and Python cleans the resulting rows (one
per profile and side) and pivots them into the frame Splink reads.

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> _ = dmp.events.ingest([{"type": "identify", "userId": "u1", "traits": {
    ...     "given_name": "Ann", "surname": "Lee", "zip": "0812"}}], source="shop")
    >>> _ = dmp.identity.resolve()
    >>> available(dmp.engine)
    {'shop': ['given_name', 'surname', 'zip']}
    >>> fields = {"given_name": "first_name", "surname": "last_name", "zip": "postcode"}
    >>> row = read_records(dmp.engine, {"shop": "shop"}, fields).iloc[0]
    >>> row["first_name"], row["last_name"], row["postcode"], row["side"]
    ('ann', 'lee', '0812', 'shop')
"""

from __future__ import annotations

from collections.abc import Mapping

import ibis
import pandas as pd
import polars as pl

from aidmp.engine.base import Engine
from aidmp.identity.matching.fields import clean_values, kind_of
from aidmp.identity.service import EVENT_PROFILES
from aidmp.profiles.traits import trait_values

BASE = ("record_id", "profile_id", "side")


def available(engine: Engine) -> dict[str, list[str]]:
    """source -> the trait keys its identify events carry (for defaults and error messages);
    empty before the first ``identity resolve``."""
    if not engine.has_table(EVENT_PROFILES):
        return {}
    values = trait_values(engine)
    rows = engine.execute(values.select("source", "key").distinct()).to_pylist()
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(str(r["source"]), []).append(str(r["key"]))
    return {s: sorted(keys) for s, keys in sorted(out.items())}


def read_records(engine: Engine, sides: Mapping[str, str], keys: Mapping[str, str],
                 region: str = "US") -> pd.DataFrame:
    """One cleaned row per (profile, side): the latest value of each field.

    Args:
        engine: the store (after ``identity resolve``).
        sides: source -> side name; only these sources are read.
        keys: trait key -> the field it fills (several keys may fill one field).
        region: country for phone numbers without a country code.
    """
    fields = sorted(set(keys.values()))
    empty = pd.DataFrame(columns=[*BASE, *fields])
    if not sides or not keys or not engine.has_table(EVENT_PROFILES):
        return empty
    v = trait_values(engine)
    v = v.filter([v.source.isin(list(sides)), v.key.isin(list(keys))])
    side = v.source.cases(*[(s, name) for s, name in sides.items()], else_=ibis.null("string"))
    field = v.key.cases(*[(k, f) for k, f in keys.items()], else_=ibis.null("string"))
    v = v.mutate(side=side, field=field)
    latest = v.group_by(["profile_id", "side", "field"]).aggregate(
        value=v.value.argmax(v.ts))
    long = pl.from_arrow(engine.execute(latest))
    assert isinstance(long, pl.DataFrame)
    if long.is_empty():
        return empty
    wide = long.pivot(on="field", index=["profile_id", "side"], values="value")
    for f in fields:
        if f not in wide.columns:
            wide = wide.with_columns(pl.lit(None, pl.String).alias(f))
    wide = wide.sort(["profile_id", "side"])
    out = pd.DataFrame({
        "record_id": (wide["profile_id"] + ":" + wide["side"]).to_list(),
        "profile_id": wide["profile_id"].to_list(), "side": wide["side"].to_list()})
    for f in fields:
        raw = [None if x is None or str(x).startswith("{") else str(x)
               for x in wide[f].to_list()]
        out[f] = pd.Series(clean_values(kind_of(f), raw, region), dtype="object")
    return out


def eligible(records: pd.DataFrame, compared: list[str]) -> pd.Series:
    """Records with at least two compared fields: a surname, a birth date and a postcode is a
    record worth matching; a lone first name is not."""
    if not compared:
        return pd.Series(False, index=records.index)
    return records[compared].notna().sum(axis=1) >= 2


__all__ = ["available", "eligible", "read_records"]
