"""The same work as ``dmp.build()`` on the generated events, written in pandas (with scipy).

What a data scientist would otherwise use; ``--check-pandas`` in ``build_scale_bench.py`` proves
it gives the same profiles.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
import pandas as pd
import scipy.sparse
import scipy.sparse.csgraph

from benchmarks.step_clock import StepClock

# -- the same work as dmp.build(), written by hand in pandas ---------------------------------------
# What a data scientist would write on the events frame without aidmp: JSON parsed with orjson,
# identity resolution as connected components (scipy) of a sparse graph over pd.factorize'd
# identifiers, groupby aggregations, rank(method="min") percent ranks. The same specialisation to
# the generated data as the hand-written SQL above (the same identifiers, the same strongest-
# identifier rule, the same formulas); checked against dmp.build() by ``--check-pandas``.

PANDAS_INTEREST_WEIGHTS = {"Product Viewed": 1.0, "Product Added": 3.0, "Checkout Started": 3.0,
                           "Order Completed": 5.0, "Item Rated": 1.0}
PANDAS_JSON_CHUNK = 1_000_000  # documents parsed into Python objects at a time (bounds memory)


def _json_text(value: Any) -> str | None:
    """A JSON value as DuckDB's ``json_extract_string`` gives it: a string as it is, anything
    else as its JSON text, JSON null as None."""
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _json_number(value: Any) -> float:
    """``TRY_CAST(json_extract_string(...) AS DOUBLE)`` of a parsed JSON value (NaN for NULL)."""
    if type(value) is float:
        return value
    if value is None or isinstance(value, bool | dict | list):
        return math.nan
    try:
        return float(value)
    except ValueError:
        return math.nan


def _round_half_away(values: pd.Series, digits: int) -> pd.Series:
    """DuckDB's ``round(DOUBLE, digits)``: half away from zero (numpy rounds half to even)."""
    scale = 10.0 ** digits
    scaled = values.to_numpy(dtype=float) * scale
    magnitude = np.abs(scaled)
    whole = np.floor(magnitude)
    rounded = np.copysign(whole + (magnitude - whole >= 0.5), scaled) / scale
    return pd.Series(rounded, index=values.index)


def _percent_rank(values: pd.Series, ascending: bool = True) -> pd.Series:
    """DuckDB's ``percent_rank() OVER (ORDER BY values)``: (rank - 1) / (n - 1), ties taking the
    lowest rank, 0 for a single row."""
    n = len(values)
    if n <= 1:
        return pd.Series(0.0, index=values.index)
    return (values.rank(method="min", ascending=ascending) - 1) / (n - 1)


def _parse_properties(texts: pd.Series) -> pd.DataFrame:
    """revenue, price, category and products[0].category of each properties document (orjson,
    a chunk of documents at a time); rows without properties are left out."""
    present = texts.dropna()
    loads, number = orjson.loads, _json_number
    parts = []
    for start in range(0, len(present), PANDAS_JSON_CHUNK):
        chunk = present.iloc[start:start + PANDAS_JSON_CHUNK]
        revenue: list[float] = []
        price: list[float] = []
        category: list[str | None] = []
        product_category: list[str | None] = []
        for text in chunk.tolist():
            doc = loads(text)
            if type(doc) is not dict:
                doc = {}
            r, p, c, products = (doc.get("revenue"), doc.get("price"), doc.get("category"),
                                 doc.get("products"))
            revenue.append(r if type(r) is float else number(r))
            price.append(p if type(p) is float else number(p))
            category.append(c if c is None or type(c) is str else _json_text(c))
            first = products[0] if type(products) is list and products else None
            pc = first.get("category") if type(first) is dict else None
            product_category.append(pc if pc is None or type(pc) is str else _json_text(pc))
        parts.append(pd.DataFrame({
            "revenue": np.array(revenue, dtype=float), "price": np.array(price, dtype=float),
            "category": pd.array(category, dtype="str"),
            "product_category": pd.array(product_category, dtype="str"),
        }, index=chunk.index))
    if not parts:
        return pd.DataFrame({"revenue": pd.Series(dtype=float), "price": pd.Series(dtype=float),
                             "category": pd.Series(dtype="str"),
                             "product_category": pd.Series(dtype="str")})
    return pd.concat(parts)


def _parse_traits(texts: pd.Series) -> pd.DataFrame:
    """The e-mail and age texts of each traits document (few events carry traits)."""
    present = texts.dropna()
    docs = [orjson.loads(text) for text in present.tolist()]
    docs = [doc if type(doc) is dict else {} for doc in docs]
    return pd.DataFrame({
        "trait_email": pd.array([_json_text(d.get("email")) for d in docs], dtype="str"),
        "trait_age": pd.array([_json_text(d.get("age")) for d in docs], dtype="str"),
    }, index=present.index)


def pandas_full_pipeline(events: pd.DataFrame, keep: dict[str, pd.DataFrame] | None = None
                         ) -> tuple[pd.DataFrame, dict[str, float]]:
    """The work of ``dmp.build()`` (as ``hand_full_pipeline``) in pandas, on the ``events`` table
    as a frame: the wide profiles frame (the columns of ``hand_profiles``; ``profile_id`` is the
    identity component's number) and seconds per step and ``total``. ``keep``, when given,
    receives the ``identities`` (id_type, id_value, profile_id) and ``event_profiles``
    (message_id, profile_id) frames, for the agreement check."""
    clock = StepClock()

    # 1. parse the JSON documents once: traits (e-mail, age) and properties
    traits = _parse_traits(events["traits"])
    props = _parse_properties(events["properties"])
    clock.lap("parse_json")

    # 2. identity graph: every user id, e-mail (lower(trim())) and anonymous id is a node; each
    # event's strongest identifier (user id, else e-mail, else anonymous id) is joined to its others
    email = traits["trait_email"].str.strip(" ").str.lower()
    email = email.where(email != "").reindex(events.index)
    types = ("user_id", "email", "anonymous_id")
    node_codes, uniques = [], []
    offset = 0
    for values in (events["user_id"], email, events["anonymous_id"]):
        codes, found = pd.factorize(values)
        node_codes.append(np.where(codes >= 0, codes + offset, -1))
        uniques.append(found)
        offset += len(found)
    user, mail, anon = node_codes
    centre = np.where(user >= 0, user, np.where(mail >= 0, mail, anon))
    a = np.concatenate([centre, centre])
    b = np.concatenate([mail, anon])
    linked = (a >= 0) & (b >= 0) & (a != b)
    a, b = a[linked], b[linked]
    # (an edge seen many times is stored once: duplicates are or-ed together)
    graph = scipy.sparse.coo_array((np.ones(len(a), dtype=bool), (a, b)),
                                   shape=(offset, offset)).tocsr()
    clock.lap("identity_graph")
    _, label = scipy.sparse.csgraph.connected_components(graph, directed=False)
    identities = pd.DataFrame({
        "id_type": np.repeat(types, [len(u) for u in uniques]),
        "id_value": pd.concat([pd.Series(u, dtype="str") for u in uniques],
                              ignore_index=True),
        "profile_id": label.astype(np.int64),
    })
    clock.lap("components")

    # 3. every event with its profile and the fields the aggregates read
    has_identifier = centre >= 0
    ev = events[["type", "event", "timestamp"]].rename(columns={"timestamp": "ts"})
    ev.insert(0, "profile_id", label[centre].astype(np.int64))
    if not has_identifier.all():  # an event without identifiers belongs to no one
        ev = ev[has_identifier]
    ev = ev.join(props).join(traits)
    if keep is not None:
        keep["identities"] = identities
        keep["event_profiles"] = pd.DataFrame({
            "message_id": events["message_id"][has_identifier], "profile_id": ev["profile_id"]})
    behavioural = ev["type"].isin(["track", "page", "screen"])
    ref_now = ev.loc[behavioural, "ts"].max() if behavioural.any() else ev["ts"].max()
    clock.lap("event_profiles")

    # 4. one groupby over each person's events: counts, computed traits, purchasing power's
    # average price, and the latest value of each identify trait
    is_order = ev["event"].eq("Order Completed")
    in_90d = ev["ts"] > ref_now - pd.Timedelta(days=90)
    in_30d = ev["ts"] > ref_now - pd.Timedelta(days=30)
    order_revenue = ev["revenue"].where(is_order)
    person = pd.DataFrame({
        "profile_id": ev["profile_id"], "ts": ev["ts"], "order": is_order,
        "order_90d": is_order & in_90d, "revenue": order_revenue,
        "revenue_90d": order_revenue.where(in_90d), "order_ts": ev["ts"].where(is_order),
        "in_30d": in_30d, "view_30d": ev["event"].eq("Product Viewed") & in_30d,
        # purchasing power: what the person looks at and buys (the order value without a price)
        "price": ev["price"].fillna(order_revenue),
    }).groupby("profile_id").agg(
        events=("ts", "size"), first_seen=("ts", "min"), last_seen=("ts", "max"),
        orders_total=("order", "sum"), revenue_total=("revenue", "sum"),
        orders_90d=("order_90d", "sum"), revenue_90d=("revenue_90d", "sum"),
        avg_order_value=("revenue", "mean"), first_order_at=("order_ts", "min"),
        last_order_at=("order_ts", "max"), events_30d=("in_30d", "sum"),
        product_views_30d=("view_30d", "sum"), avg_price=("price", "mean"))
    identify = ev.loc[ev["type"].eq("identify"), ["profile_id", "ts", "trait_email", "trait_age"]]
    identify = identify.sort_values("ts", kind="stable")
    latest = {}
    for column in ("trait_email", "trait_age"):
        given = identify[identify[column].str.strip(" ").ne("") & identify[column].notna()]
        latest[column] = given.groupby("profile_id")[column].last()
    person["trait_email"] = latest["trait_email"]
    person["age"] = latest["trait_age"].map(_json_number).astype(float)
    clock.lap("aggregates")

    # 5. interests: each weighted event's decayed weight (half-life 30 days) once per category it
    # carries (its category and its first product's), summed per person and category
    weight = ev["event"].map(PANDAS_INTEREST_WEIGHTS)
    hits = ev.loc[weight.notna(), ["profile_id", "event", "ts", "category", "product_category"]]
    decayed = weight[hits.index] * np.exp(
        (ref_now - hits["ts"]).dt.total_seconds() * (-math.log(2) / 30 / 86400))
    own = hits["category"].notna()
    other = hits["product_category"].notna() & hits["product_category"].ne(hits["category"])
    per = pd.concat([
        pd.DataFrame({"profile_id": hits["profile_id"], "category": hits["category"],
                      "views": hits["event"].eq("Product Viewed"), "raw": decayed})[own],
        pd.DataFrame({"profile_id": hits["profile_id"], "category": hits["product_category"],
                      "views": False, "raw": decayed})[other],
    ]).groupby(["profile_id", "category"], as_index=False).agg(views=("views", "sum"),
                                                              raw=("raw", "sum"))
    # top_category: the most viewed category, ties alphabetically first
    top = (per[per["views"] > 0]
           .sort_values(["profile_id", "views", "category"], ascending=[True, False, True])
           .drop_duplicates("profile_id").set_index("profile_id")["category"])
    # scores divided by the person's strongest interest, one interest_<category> column each
    scored = per[per["category"] != ""].copy()
    strongest = scored.groupby("profile_id")["raw"].transform("max")
    scored["score"] = _round_half_away((scored["raw"] / strongest).where(strongest > 0, 0.0), 6)
    interests = scored.pivot(index="profile_id", columns="category", values="score")
    interests = interests.reindex(columns=sorted(interests.columns))
    interests.columns = [f"interest_{c}" for c in interests.columns]
    clock.lap("interests")

    # 6. RFM, engagement and purchasing power (percent ranks as DuckDB's percent_rank), the
    # identifiers, traits and interests: one wide row per person
    ids = identities.groupby("profile_id").agg(identifiers=("id_value", "size"))
    for kind in ("user_id", "email"):
        of_kind = identities[identities["id_type"] == kind]
        ids[kind] = of_kind.groupby("profile_id")["id_value"].min()
    buyers = person.loc[person["orders_total"] > 0, ["orders_total", "revenue_total"]]
    recency = np.floor(
        (ref_now - person.loc[buyers.index, "last_order_at"]).dt.total_seconds() / 86400)
    rfm = pd.DataFrame({"rfm_frequency": buyers["orders_total"],
                        "rfm_monetary": buyers["revenue_total"],
                        "rfm_recency_days": recency.astype(np.int64)})
    for column, source, ascending in (("rfm_r", "rfm_recency_days", False),
                                      ("rfm_f", "rfm_frequency", True),
                                      ("rfm_m", "rfm_monetary", True)):
        # money ranked to a millionth, as scores.py (a float sum's last bits vary)
        key = rfm[source].round(6) if source == "rfm_monetary" else rfm[source]
        quintile = np.floor(_percent_rank(key, ascending) * 5).astype(np.int64) + 1
        rfm[column] = quintile.clip(upper=5)
    r, f = rfm["rfm_r"], rfm["rfm_f"]
    rfm["rfm_score"] = (r.astype(str) + f.astype(str) + rfm["rfm_m"].astype(str)).astype("str")
    rfm["rfm_segment"] = pd.Series(np.select(
        [(r >= 4) & (f >= 4), (r >= 4) & (f == 1), r >= 4, (r == 3) & (f >= 3), r == 3,
         (r == 1) & (f == 5), f >= 3, (r == 1) & (f == 1)],
        ["champions", "new customers", "potential loyalists", "loyal", "need attention",
         "can't lose them", "at risk", "lost"], "hibernating"), index=rfm.index, dtype="str")
    rfm = rfm.astype({c: "Int64" for c in ("rfm_frequency", "rfm_recency_days", "rfm_r",
                                           "rfm_f", "rfm_m")})
    # engagement: half activity in the last 30 days, half recency, both quantiles
    engagement = _round_half_away(
        (_percent_rank(person["events_30d"]) + _percent_rank(person["last_seen"])) * 50, 1)
    power_rank = _percent_rank(person["avg_price"].dropna().round(6))
    power = pd.Series(np.select([power_rank < 1 / 3, power_rank < 2 / 3], ["low", "medium"],
                                "high"), index=power_rank.index, dtype="str")
    profiles = person.join(top.rename("top_category")).join(ids).join(rfm)
    profiles["engagement_score"] = engagement
    profiles["purchasing_power"] = power
    profiles = profiles.join(interests)
    profiles[interests.columns] = profiles[interests.columns].fillna(0.0)
    profiles = profiles.rename_axis("profile_id").reset_index()[
        ["profile_id", "events", "first_seen", "last_seen", "orders_total", "revenue_total",
         "orders_90d", "revenue_90d", "avg_order_value", "first_order_at", "last_order_at",
         "events_30d", "product_views_30d", "top_category", "user_id", "email", "identifiers",
         "trait_email", "age", "rfm_frequency", "rfm_monetary", "rfm_recency_days", "rfm_r",
         "rfm_f", "rfm_m", "rfm_score", "rfm_segment", "engagement_score", "avg_price",
         "purchasing_power", *interests.columns]]
    clock.lap("profiles")
    return profiles, clock.done()
