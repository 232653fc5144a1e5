"""Identifier observations: one row per (event, identifier) found in the events table.

Built as one engine-neutral query (a UNION over the configured identifier paths), then
normalised: e-mails and phones through :mod:`aidmp.quality` over the *distinct* raw values only
(a dictionary table joined back in the engine), blocked values and patterns removed.

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> _ = dmp.events.ingest([{"type": "identify", "userId": "u1", "anonymousId": "a1",
    ...     "traits": {"email": " Ann@X.com "}, "timestamp": "2026-01-01T00:00:00Z"}], source="web")
    >>> obs = observations(dmp.engine, IdentityRules())
    >>> named = obs.join(identifiers(dmp.engine), "nid").order_by("nid")
    >>> [(r["nid"], r["node"]) for r in dmp.engine.execute(named).to_pylist()]
    [(0, 'user_id:u1'), (1, 'email:ann@x.com'), (2, 'anonymous_id:a1')]
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import polars as pl

from aidmp.engine.base import Engine
from aidmp.quality.columns import email_column, phone_column
from aidmp.spec.identity import IdentifierType, IdentityRules

NORM_TABLE = "_identity_dictionary"
# how many raw identifiers the last extraction refused, per type and reason
REFUSED_TABLE = "_identity_refused"
# nid -> (id_type, id_value) of the identifiers of the last extraction (see
# build_dictionary)
IDS_TABLE = "_identity_ids"
# (previous id of an alias call, type holding that value) of the last extraction
ALIAS_TYPES = "_identity_alias_types"
_COUNTRY_PATHS = (("traits", "$.country"), ("traits", "$.address.country"),
                  ("context", "$.traits.country"), ("context", "$.traits.address.country"))


def _raw(engine: Engine, t: ir.Table, kind: IdentifierType) -> ir.Table:
    parts = []
    for path in kind.paths:
        if "." in path:
            column, rest = path.split(".", 1)
            value = engine.json_text(t[column], "$." + rest)
        else:
            value = t[path]
        if kind.normalize == "phone":
            # the person's country reads national numbers ("020 7946 0958" is British)
            region = ibis.coalesce(
                *[engine.json_text(t[col], path) for col, path in _COUNTRY_PATHS],
                ibis.literal("")).upper()
        else:
            region = ibis.literal("")
        parts.append(t.select(
            message_id=t.message_id, ts=t.timestamp, source=t.source,
            id_type=ibis.literal(kind.name), raw=value.cast("string"), region=region))
    rows = _sourced(parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False), kind)
    return rows.filter(rows.raw.notnull())


def raw_observations(engine: Engine, rules: IdentityRules, events: ir.Table | None = None
                     ) -> ir.Table:
    """(message_id, ts, source, id_type, raw) for every configured identifier path, and the
    previous ids of ``alias`` calls (:func:`alias_observations`)."""
    t = events if events is not None else engine.table("events")
    parts = [_raw(engine, t, kind) for kind in rules.ordered_types()]
    if rules.alias and has_alias_calls(engine, t):
        parts += alias_observations(engine, rules, t)
    return parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)


# the event columns a previous id may name a value of (Segment: an anonymous or a user id)
ALIAS_COLUMNS = ("user_id", "anonymous_id")


def alias_calls(t: ir.Table) -> ir.Table:
    """The ``alias`` calls of ``t`` that name a previous id."""
    return t.filter((t.type == "alias") & t.previous_id.notnull()
                    & (t.previous_id.strip() != ""))


def has_alias_calls(engine: Engine, t: ir.Table) -> bool:
    """Whether ``t`` holds an alias call (most stores never see one: their runs skip the
    lookups below)."""
    return bool(engine.execute(alias_calls(t).select("message_id").limit(1)).num_rows)


def alias_kinds(rules: IdentityRules) -> list[IdentifierType]:
    """The types a previous id may be: those read from an alias column, strongest first."""
    return [k for k in rules.ordered_types() if any(p in ALIAS_COLUMNS for p in k.paths)]


def kind_values(kind: IdentifierType, t: ir.Table, among: ir.Table) -> ir.Table:
    """``raw``: the values of ``among.value`` that events of ``t`` carry as ``kind`` (one of
    :func:`alias_kinds`) in an alias column, the type's sources respected."""
    parts = []
    for col in (p for p in kind.paths if p in ALIAS_COLUMNS):
        rows = t.filter(t[col].isin(among.value))
        parts.append(_sourced(rows, kind).select(raw=rows[col].cast("string")))
    return ibis.union(*parts, distinct=True)


def _sourced(rows: ir.Table, kind: IdentifierType) -> ir.Table:
    """The rows of the sources that carry ``kind``."""
    if kind.sources is not None:
        rows = rows.filter(rows.source.isin(kind.sources))
    if kind.exclude_sources:
        rows = rows.filter(~rows.source.isin(kind.exclude_sources))
    return rows


def alias_observations(engine: Engine, rules: IdentityRules, t: ir.Table) -> list[ir.Table]:
    """Observations of the previous ids of ``t``'s alias calls, one part per type.

    A previous id is read as each type that already holds its value in a ``user_id`` or
    ``anonymous_id`` column of any stored event (the type's sources respected), else as the
    anonymous-id type, so an alias merges what the earlier identifier named. The types are
    looked up once, among the previous ids only (a handful), into the work table
    :data:`ALIAS_TYPES` that every read of the observations then joins.
    """
    kinds = alias_kinds(rules)
    if not kinds:
        return []
    calls = alias_calls(t)
    calls = calls.mutate(value=calls.previous_id.strip())
    wanted = calls.select("value").distinct()
    every = engine.table("events")
    engine.scratch(ALIAS_TYPES, ibis.union(
        *[kind_values(k, every, wanted).mutate(id_type=ibis.literal(k.name)) for k in kinds],
        distinct=False))
    typed = engine.table(ALIAS_TYPES)
    parts = []
    for kind in kinds:
        of_kind = typed.filter(typed.id_type == kind.name)
        parts.append(_alias_rows(calls.filter(calls.value.isin(of_kind.raw)), kind))
    fallback = next((k for k in kinds if "anonymous_id" in k.paths), None)
    if fallback is not None:
        parts.append(_alias_rows(calls.filter(~calls.value.isin(typed.raw)), fallback))
    return parts


def _alias_rows(calls: ir.Table, kind: IdentifierType) -> ir.Table:
    return _sourced(calls, kind).select(
        message_id=calls.message_id, ts=calls.timestamp, source=calls.source,
        id_type=ibis.literal(kind.name), raw=calls.value, region=ibis.literal(""))


def _blocked(values: pl.Series, rules: IdentityRules) -> pl.Series:
    blocked = {v.casefold() for v in rules.blocked_values}
    mask = values.str.to_lowercase().is_in(list(blocked))
    for pattern in rules.blocked_patterns:
        mask = mask | values.str.contains(f"(?i){pattern}")
    return mask.fill_null(True)


def _phones(raw: pl.Series, regions: pl.Series | None, default_region: str
            ) -> tuple[pl.Series, pl.Series]:
    """E.164 phones, each read with its own region (ISO-2 country) or the default."""
    if regions is None:
        return phone_column(raw, region=default_region)
    values = pl.Series("v", [None] * len(raw), dtype=pl.String)
    reasons = pl.Series("r", [None] * len(raw), dtype=pl.String)
    regions = regions.fill_null("")
    for region in regions.unique().to_list():
        mask = regions == region
        use = region if len(region) == 2 and region.isalpha() else default_region
        out, why = phone_column(raw.filter(mask), region=use)
        idx = mask.arg_true()
        values, reasons = values.scatter(idx, out), reasons.scatter(idx, why)
    return values, reasons


def normalise_values(kind: IdentifierType, raw: pl.Series, default_region: str,
                     regions: pl.Series | None = None) -> tuple[pl.Series, pl.Series]:
    """Identifier values as stored: (values, reasons), NULL value + reason when refused.

    The one normaliser of identifiers: the graph build, lookups by identifier and the ground
    truth of an evaluation all go through it, so they agree on every value.

    Example:
        >>> rules = IdentityRules()
        >>> values, _ = normalise_values(rules.type("email"), pl.Series([" Ann@X.com "]), "US")
        >>> values.to_list()
        ['ann@x.com']
    """
    values = raw.cast(pl.String).str.strip_chars()
    reasons = pl.Series("r", [None] * len(values), dtype=pl.String)
    if kind.normalize == "email":
        values, reasons = email_column(values)
    elif kind.normalize == "phone":
        values, reasons = _phones(raw.cast(pl.String), regions, default_region)
    elif kind.normalize == "lower":
        values = values.str.to_lowercase()
    return values, reasons


def normalised_parts(frame: pl.DataFrame, rules: IdentityRules) -> list[pl.DataFrame]:
    """The distinct raw identifiers of ``frame`` (id_type, raw, region) as stored, one frame
    per type from the strongest: id_type, raw, region, id_value (NULL when invalid or
    blocked), reason."""
    out = []
    for kind in rules.ordered_types():
        part = frame.filter(pl.col("id_type") == kind.name)
        if part.is_empty():
            continue
        values, reasons = normalise_values(kind, part["raw"], rules.default_region,
                                           part["region"])
        blocked = _blocked(values.fill_null(""), rules) & values.is_not_null()
        out.append(pl.DataFrame({
            "id_type": part["id_type"], "raw": part["raw"], "region": part["region"],
            "value": values, "why": reasons, "blocked": blocked,
        }).select(
            "id_type", "raw", "region",
            pl.when(pl.col("blocked")).then(None).otherwise(pl.col("value")).alias("id_value"),
            pl.when(pl.col("blocked")).then(pl.lit("blocked value")).otherwise(pl.col("why"))
            .alias("reason"),
        ))
    return out


def build_dictionary(engine: Engine, rules: IdentityRules, raw: ir.Table) -> None:
    """Normalise every distinct raw identifier once and number the identifiers; store the
    dictionary (``NORM_TABLE``) and the numbers (``IDS_TABLE``) as work tables.

    Columns: id_type, raw, region, id_value (NULL when invalid or blocked), reason, nid.

    The numbers ``nid`` follow (type priority, value): the smallest number of a group is its
    strongest identifier, the earliest value among those of the strongest type, the same
    order as the ``type:value`` text within a type. The graph joins and groups these integers
    instead of that text (half the time at 10M events), and since the order depends only on
    the values, any two runs agree on which of two identifiers comes first.
    """
    distinct = engine.execute(raw.select("id_type", "raw", "region").distinct())
    frame = pl.from_arrow(distinct)
    assert isinstance(frame, pl.DataFrame)
    out = []
    numbered = 0
    for part in normalised_parts(frame, rules):
        # a dense rank per type, after the numbers of the stronger types (no global sort)
        part = part.with_columns(
            nid=pl.col("id_value").rank("dense").cast(pl.Int64) + (numbered - 1))
        out.append(part)
        numbered += part["id_value"].drop_nulls().n_unique()
    schema = {"id_type": pl.String, "raw": pl.String, "region": pl.String, "id_value": pl.String,
              "reason": pl.String, "nid": pl.Int64}
    frame = pl.concat(out) if out else pl.DataFrame(schema=schema)
    ids = frame.filter(pl.col("nid").is_not_null()).unique("nid").select(
        "nid", "id_type", "id_value")
    # work tables, out of the database file (writing them there took 1.2 of 1.3 s at 10M
    # events); only the refusals' counts are kept
    engine.scratch_rows(IDS_TABLE, ids.to_arrow())
    engine.scratch_rows(NORM_TABLE, frame.to_arrow())
    bad = frame.filter(pl.col("reason").is_not_null()).group_by(["id_type", "reason"]).len("n")
    engine.write_table(REFUSED_TABLE, bad.select(
        "id_type", "reason", pl.col("n").cast(pl.Int64)).to_arrow())


def observations(engine: Engine, rules: IdentityRules, events: ir.Table | None = None
                 ) -> ir.Table:
    """Normalised, unblocked observations: message_id, ts, source, nid.

    ``nid`` numbers the identifier (``IDS_TABLE`` names it); the numbers hold until the next
    extraction.
    """
    raw = raw_observations(engine, rules, events)
    build_dictionary(engine, rules, raw)
    norm = engine.table(NORM_TABLE)
    joined = raw.join(norm, [raw.id_type == norm.id_type, raw.raw == norm.raw,
                             raw.region == norm.region])
    kept = joined.filter(joined.nid.notnull())
    out = kept.select(message_id=kept.message_id, ts=kept.ts, source=kept.source, nid=kept.nid)
    # One event repeats an identifier only through a type read from several paths (an e-mail
    # in traits and in context.traits); de-duplicating just those rows halves the cost.
    several = [k.name for k in rules.ordered_types() if len(k.paths) > 1]
    if not several:
        return out
    multi = kept.id_type.isin(several)
    repeated = kept.filter(multi).select(*out.columns).distinct()
    return ibis.union(kept.filter(~multi).select(*out.columns), repeated, distinct=False)


def node_text(id_type: ir.StringValue, id_value: ir.StringValue) -> ir.StringValue:
    """An identifier as one ``type:value`` text (how identities, links and merges name it)."""
    return id_type + ibis.literal(":") + id_value


def identifiers(engine: Engine) -> ir.Table:
    """``nid, id_type, id_value, node`` of the last extraction's identifiers."""
    ids = engine.table(IDS_TABLE)
    return ids.mutate(node=node_text(ids.id_type, ids.id_value))


def refused(engine: Engine) -> dict[str, int]:
    """``"<id_type>: <reason>" -> count`` of raw identifiers the last extraction refused (no
    values, only counts); empty before the first resolution."""
    if not engine.has_table(REFUSED_TABLE):
        return {}
    rows = engine.to_arrow(REFUSED_TABLE).to_pylist()
    return {f"{r['id_type']}: {r['reason']}": int(r["n"])
            for r in sorted(rows, key=lambda r: (r["id_type"], r["reason"]))}


__all__ = ["IDS_TABLE", "build_dictionary", "identifiers", "node_text", "normalise_values",
           "normalised_parts", "observations", "raw_observations", "refused"]
