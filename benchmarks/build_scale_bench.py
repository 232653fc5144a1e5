"""Profile build at scale: 10M events / 1M people vs hand-written DuckDB SQL and pandas.

Events are generated inside DuckDB (so generation does not dominate): 1M people, 1-3 devices
each, 60 % of people log in (identify with user id, anonymous id and e-mail), a page / product
view / add-to-cart / order mix with categories, prices and revenue over 180 days. They are
written straight into the store's ``events`` table; then ``dmp.build()`` runs the whole pipeline
(identity graph, traits, computed traits, RFM, engagement, purchasing power, interests, the wide
table).

Three baselines on the same ``events`` table, two hand-written in DuckDB SQL, one in pandas:

- ``hand_written_duckdb_s`` (``HAND_SQL``, and pandas doing the same, ``pandas_s``): one GROUP BY
  of the aggregates that need no identity resolution (events, orders, revenue, last seen, orders
  in 90 days, keyed by user id else anonymous id). It does far less than the build: no identity
  graph, no traits, RFM, scores or interests. ``aidmp_build_s`` over it is an upper bound on
  aidmp's overhead, not a like-for-like comparison.
- ``hand_full_pipeline_s`` (``hand_full_pipeline``, median of 3 runs, per step in
  ``hand_full_pipeline_step_s``): the build's work written by hand, as a skilled engineer would
  for this data: identity graph from the user id, anonymous id and e-mail (star edges around each
  event's strongest identifier, components by min-label propagation in a Python loop), every
  event's profile, the default computed traits, RFM, engagement, purchasing power, decayed
  interest scores, latest traits, one wide ``hand_profiles`` row per person. ``--check-hand``
  asserts that it gives the same profiles as ``dmp.build()`` (every column, 20,000 people /
  200,000 events). It is specialised to what the generated data holds, so it skips what aidmp
  does in general (other identifier types and normalisers, blocked values, shared-identifier
  hubs, conflict splits and per-type limits, catalogue categories, rating weights, typed trait
  discovery) and what aidmp records besides the profiles (per-identifier first / last seen,
  events and sources, merge records, trait provenance, the build record, indexes).
  ``ratio_build_to_hand_full`` is aidmp's cost over doing the same work by hand; it is measured
  after the build, the lookups and pandas (so that the RSS peaks above are the build's own).
- ``pandas_full_pipeline_s`` (``pandas_full_pipeline``, ONE run, per step in
  ``pandas_full_pipeline_step_s``): the same work as ``hand_full_pipeline`` (the same
  identifiers, strongest-identifier rule, formulas and specialisation to the generated data) as a
  data scientist would write it in pandas on the events frame (read from the store through Arrow,
  ``pandas_load_s``, as for ``pandas_s``): JSON parsed with orjson, identity resolution as
  ``scipy.sparse.csgraph.connected_components`` over a sparse graph of ``pd.factorize``'d
  identifiers, groupby aggregations, percent ranks from ``rank(method="min")``. It runs
  essentially on one core (the JSON loop is Python, pandas' groupbys are single-threaded; DuckDB
  uses all). ``--check-pandas`` asserts that it gives the same profiles as ``dmp.build()`` (every
  column, 20,000 people / 200,000 events). ``peak_rss_mb_after_pandas_full`` is the process peak
  after it (the frame included); ``ratio_build_to_pandas_full`` is aidmp's time over it.

Also: identity edges, profile lookup p50/p99 in process and over HTTP.

Run: ``.venv/bin/python benchmarks/build_scale_bench.py`` (PEOPLE=1000000 EVENTS=10000000);
``--check-hand`` and ``--check-pandas`` run an agreement check alone.
``--home DIR`` keeps the generated, built store in ``DIR``; ``--home DIR --lookups-only`` reuses
such a store and measures the lookups alone, updating only their figures in the results file.

Lookups (300 identifiers drawn from the first 2,000 stored, a fresh ``DMP``): the first pass right
after opening the store (DuckDB's buffer pool is empty: every column segment and index node a
lookup touches is read and checksummed on first use), then the same identifiers again (warm),
then over HTTP, then in process again with one event ingested before each lookup (the data
version moves, so the newest build and the events since it are read again, and the since-build
counters have fresh events to count; those events are removed afterwards).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import httpx
import numpy as np
import orjson
import pandas as pd
import scipy.sparse
import scipy.sparse.csgraph

from aidmp import DMP
from aidmp.api.server import ServerThread

PEOPLE = int(os.environ.get("PEOPLE", "1000000"))
EVENTS = int(os.environ.get("EVENTS", "10000000"))

GENERATE = """
INSERT INTO events BY NAME
WITH ev AS (
  SELECT i, hash(i) AS h, (hash(i) % {people}) AS p FROM range({events}) t(i)
), x AS (
  SELECT i, p, h,
    (h >> 8) % 100 AS kind_roll,
    (h >> 16) % 3 AS dev,
    TIMESTAMPTZ '2026-05-01 00:00:00+00' + to_seconds(((h >> 24) % (180 * 86400))::BIGINT) AS ts,
    ['fashion','books','sports','home','beauty','toys','garden','music']
      [1 + ((p * 7 + (h >> 40) % 3) % 8)::INT] AS cat,
    round(5 + ((h >> 32) % 20000) / 100.0, 2) AS price
  FROM ev
)
SELECT
  'm' || i AS message_id,
  CASE WHEN kind_roll < 55 THEN 'page' WHEN kind_roll < 97 THEN 'track' ELSE 'identify' END AS type,
  CASE WHEN kind_roll < 55 THEN 'Product'
       WHEN kind_roll < 85 THEN 'Product Viewed'
       WHEN kind_roll < 93 THEN 'Product Added'
       WHEN kind_roll < 97 THEN 'Order Completed' END AS event,
  CASE WHEN p % 10 < 6 AND (kind_roll >= 97 OR (kind_roll >= 85 AND kind_roll < 97))
       THEN 'u' || p END AS user_id,
  'a' || p || '_' || (dev % (1 + p % 3)) AS anonymous_id,
  ts AS timestamp, ts AS original_timestamp, ts AS received_at,
  CASE WHEN kind_roll >= 97 THEN NULL
       WHEN kind_roll >= 93 THEN '{{"revenue": ' || price || ', "products": [{{"category": "'
                                 || cat || '", "price": ' || price || '}}]}}'
       ELSE '{{"category": "' || cat || '", "price": ' || price || '}}' END AS properties,
  CASE WHEN kind_roll >= 97 THEN '{{"email": "person' || p || '@mail.example", "age": '
                                 || (18 + p % 60) || '}}' END AS traits,
  'web' AS source,
  ts::DATE AS event_date
FROM x
"""

HAND_SQL = """
SELECT coalesce(user_id, anonymous_id) AS person, count(*) AS events,
       count(*) FILTER (WHERE event = 'Order Completed') AS orders,
       sum(TRY_CAST(json_extract_string(properties, '$.revenue') AS DOUBLE))
           FILTER (WHERE event = 'Order Completed') AS revenue,
       max(timestamp) AS last_seen,
       count(*) FILTER (WHERE event = 'Order Completed'
                        AND timestamp > (SELECT max(timestamp) FROM events) - INTERVAL 90 DAY)
           AS orders_90d
FROM events GROUP BY 1
"""

# -- the same work as dmp.build(), written by hand in plain DuckDB SQL ----------------------------
# What a skilled engineer would write straight against the ``events`` table to get the same
# profiles for this data set: its identifiers are the user_id and anonymous_id columns and the
# e-mail in traits (lower(trim())); no other identifier type, no shared devices, no person with two
# user ids, no catalogue items and no rating events occur in the generated data, so the hand version
# leaves out what aidmp does for them (shared-value blocking, conflict splits, per-type limits,
# item categories, rating weights) and what it records besides the profiles (per-identifier first /
# last seen and sources, merge records, trait provenance, indexes). Work tables are TEMP tables;
# the outputs are hand_profiles, hand_identities and hand_event_profiles.

# 1. identity graph: nodes and the star edges, from the distinct identifier combinations (one scan)
HAND_IDENTITY_SQL = [
    # every distinct combination of identifiers an event carries, as graph nodes (type:value)
    """
    CREATE TEMP TABLE h_id_sets AS
    SELECT 'user_id:' || user_id AS uid, 'email:' || email AS email,
           'anonymous_id:' || anonymous_id AS aid
    FROM (SELECT DISTINCT user_id, anonymous_id,
                 nullif(lower(trim(json_extract_string(traits, '$.email'))), '') AS email
          FROM events)
    """,
    # the event's strongest identifier (user_id 1 < e-mail 3 < anonymous_id 6; one value of each
    # type per event, so the first present one) is the centre of a star to the others; both ways
    """
    CREATE TEMP TABLE h_edges AS
    WITH s AS (
      SELECT coalesce(uid, email, aid) AS centre, email, aid FROM h_id_sets
    ), star AS (
      SELECT centre AS a, email AS b FROM s WHERE email <> centre
      UNION
      SELECT centre AS a, aid AS b FROM s WHERE aid <> centre
    )
    SELECT a, b FROM star UNION ALL SELECT b, a FROM star
    """,
    # every node starts as its own component
    """
    CREATE TEMP TABLE h_labels AS
    SELECT node, node AS label
    FROM (SELECT DISTINCT unnest([uid, email, aid]) AS node FROM h_id_sets)
    WHERE node IS NOT NULL
    """,
]
# 2. connected components: each node takes the smallest label among itself and its neighbours,
# until no label changes (a Python loop issuing these three statements)
HAND_LABEL_STEP = """
CREATE TEMP TABLE h_labels_next AS
SELECT node, min(label) AS label
FROM (SELECT node, label FROM h_labels
      UNION ALL
      SELECT e.a AS node, l.label FROM h_edges e JOIN h_labels l ON l.node = e.b)
GROUP BY node
"""
HAND_LABEL_CHANGED = """
SELECT count(*) FROM h_labels_next n JOIN h_labels o USING (node) WHERE n.label <> o.label
"""
HAND_LABEL_SWAP = ["DROP TABLE h_labels", "ALTER TABLE h_labels_next RENAME TO h_labels"]
# the profile is the component, named by its smallest node
HAND_IDENTITIES_SQL = [
    "CREATE TABLE hand_identities AS SELECT node, label AS profile_id FROM h_labels",
]
# 3. every event with its profile (its strongest identifier's component) and the properties and
# traits the aggregates read, each JSON document parsed once
HAND_EVENTS_SQL = [
    """
    CREATE TEMP TABLE h_events AS
    WITH e AS (
      SELECT message_id, type, event, timestamp, user_id, anonymous_id,
             json_extract_string(properties, ['$.revenue', '$.price', '$.category',
                                              '$.products[0].category']) AS p,
             json_extract_string(traits, ['$.email', '$.age']) AS t
      FROM events
    )
    SELECT e.message_id, i.profile_id, e.type, e.event, e.timestamp AS ts,
           TRY_CAST(p[1] AS DOUBLE) AS revenue, TRY_CAST(p[2] AS DOUBLE) AS price,
           p[3] AS category, p[4] AS product_category,
           t[1] AS trait_email, t[2] AS trait_age
    FROM e JOIN hand_identities i
      ON i.node = coalesce('user_id:' || e.user_id,
                           'email:' || nullif(lower(trim(t[1])), ''),
                           'anonymous_id:' || e.anonymous_id)
    """,
    "CREATE TABLE hand_event_profiles AS SELECT message_id, profile_id FROM h_events",
    # the reference time: the newest behavioural event (else the newest event)
    """
    CREATE TEMP TABLE h_ref AS
    SELECT coalesce(max(ts) FILTER (WHERE type IN ('track', 'page', 'screen')), max(ts))
           AS ref_now
    FROM h_events
    """,
]
# 4. one pass over each person's events: counts, computed traits, the average price (purchasing
# power) and the latest value of each identify trait
HAND_AGGREGATE_SQL = [
    """
    CREATE TEMP TABLE h_person AS
    SELECT profile_id,
      count(*) AS events, min(ts) AS first_seen, max(ts) AS last_seen,
      count(*) FILTER (WHERE event = 'Order Completed') AS orders_total,
      coalesce(sum(revenue) FILTER (WHERE event = 'Order Completed'), 0) AS revenue_total,
      count(*) FILTER (WHERE event = 'Order Completed' AND ts > ref_now - INTERVAL 90 DAY)
        AS orders_90d,
      coalesce(sum(revenue) FILTER (WHERE event = 'Order Completed'
                                    AND ts > ref_now - INTERVAL 90 DAY), 0) AS revenue_90d,
      avg(revenue) FILTER (WHERE event = 'Order Completed') AS avg_order_value,
      min(ts) FILTER (WHERE event = 'Order Completed') AS first_order_at,
      max(ts) FILTER (WHERE event = 'Order Completed') AS last_order_at,
      count(*) FILTER (WHERE ts > ref_now - INTERVAL 30 DAY) AS events_30d,
      count(*) FILTER (WHERE event = 'Product Viewed' AND ts > ref_now - INTERVAL 30 DAY)
        AS product_views_30d,
      -- purchasing power: what the person looks at and buys (the order value without a price)
      avg(coalesce(price, CASE WHEN event = 'Order Completed' THEN revenue END)) AS avg_price,
      arg_max(trait_email, ts) FILTER (WHERE type = 'identify' AND trim(trait_email) <> '')
        AS trait_email,
      TRY_CAST(arg_max(trait_age, ts) FILTER (WHERE type = 'identify' AND trim(trait_age) <> '')
               AS DOUBLE) AS age,
      any_value(ref_now) AS ref_now
    FROM h_events, h_ref
    GROUP BY profile_id
    """,
]
# 5. interests: each weighted event's decayed weight (half-life 30 days) once per category it
# carries, summed per person and category; the most viewed category comes from the same rows
HAND_INTEREST_SQL = [
    """
    CREATE TEMP TABLE h_category AS
    WITH hits AS (
      SELECT profile_id, event, category AS prop_category, ts, ref_now,
             unnest(list_distinct([category, product_category])) AS category
      FROM h_events, h_ref
      WHERE event IN ('Product Viewed', 'Product Added', 'Checkout Started', 'Order Completed',
                      'Item Rated')
    )
    SELECT profile_id, category,
      count(*) FILTER (WHERE event = 'Product Viewed' AND category = prop_category) AS views,
      sum(CASE event WHEN 'Product Viewed' THEN 1.0 WHEN 'Product Added' THEN 3.0
                     WHEN 'Checkout Started' THEN 3.0 WHEN 'Order Completed' THEN 5.0
                     WHEN 'Item Rated' THEN 1.0 END::DOUBLE
          * exp((epoch(ref_now) - epoch(ts)) * (-ln(2) / 30 / 86400))) AS raw
    FROM hits
    GROUP BY profile_id, category
    """,
    # top_category: the most viewed category, ties alphabetically first
    """
    CREATE TEMP TABLE h_top AS
    SELECT profile_id, first(category ORDER BY views DESC, category) AS top_category
    FROM h_category WHERE views > 0 GROUP BY profile_id
    """,
    # scores divided by the person's strongest interest, one interest_<category> column each
    # (0 for the categories a person has none of: filled in the final table)
    """
    CREATE TEMP TABLE h_interests AS
    SELECT * FROM (PIVOT (
            SELECT profile_id, 'interest_' || category AS name,
                   round(CASE WHEN max(raw) OVER (PARTITION BY profile_id) > 0
                              THEN raw / max(raw) OVER (PARTITION BY profile_id) ELSE 0 END, 6)
                     AS score
            FROM h_category WHERE category <> ''
          ) ON name USING max(score) GROUP BY profile_id)
    """,
]
# 6. RFM, engagement and purchasing power (quantiles with percent_rank, as scores.py), the
# identifiers, traits and interests: one wide row per person
HAND_PROFILE_SQL = [
    """
    CREATE TABLE hand_profiles AS
    WITH ids AS (
      SELECT profile_id,
             min(substr(node, 9)) FILTER (WHERE starts_with(node, 'user_id:')) AS user_id,
             min(substr(node, 7)) FILTER (WHERE starts_with(node, 'email:')) AS email,
             count(*) AS identifiers
      FROM hand_identities GROUP BY profile_id
    ), buyers AS (
      SELECT profile_id, orders_total AS rfm_frequency, revenue_total AS rfm_monetary,
             floor((epoch(ref_now) - epoch(last_order_at)) / 86400)::BIGINT AS rfm_recency_days
      FROM h_person WHERE orders_total > 0
    ), scored AS (
      SELECT *,
        least(floor(percent_rank() OVER (ORDER BY rfm_recency_days DESC) * 5)::BIGINT + 1, 5)
          AS rfm_r,
        least(floor(percent_rank() OVER (ORDER BY rfm_frequency) * 5)::BIGINT + 1, 5) AS rfm_f,
        least(floor(percent_rank() OVER (ORDER BY rfm_monetary) * 5)::BIGINT + 1, 5) AS rfm_m
      FROM buyers
    ), rfm AS (
      SELECT *, rfm_r::VARCHAR || rfm_f::VARCHAR || rfm_m::VARCHAR AS rfm_score,
        CASE WHEN rfm_r >= 4 AND rfm_f >= 4 THEN 'champions'
             WHEN rfm_r >= 4 AND rfm_f = 1 THEN 'new customers'
             WHEN rfm_r >= 4 THEN 'potential loyalists'
             WHEN rfm_r = 3 AND rfm_f >= 3 THEN 'loyal'
             WHEN rfm_r = 3 THEN 'need attention'
             WHEN rfm_r = 1 AND rfm_f = 5 THEN 'can''t lose them'
             WHEN rfm_f >= 3 THEN 'at risk'
             WHEN rfm_r = 1 AND rfm_f = 1 THEN 'lost'
             ELSE 'hibernating' END AS rfm_segment
      FROM scored
    ), power AS (
      SELECT profile_id,
             CASE WHEN pr < 1::DOUBLE / 3 THEN 'low' WHEN pr < 2::DOUBLE / 3 THEN 'medium'
                  ELSE 'high' END AS purchasing_power
      FROM (SELECT profile_id, percent_rank() OVER (ORDER BY avg_price) AS pr
            FROM h_person WHERE avg_price IS NOT NULL)
    )
    SELECT p.profile_id, p.events, p.first_seen, p.last_seen, p.orders_total, p.revenue_total,
           p.orders_90d, p.revenue_90d, p.avg_order_value, p.first_order_at, p.last_order_at,
           p.events_30d, p.product_views_30d, t.top_category,
           ids.user_id, ids.email, ids.identifiers, p.trait_email, p.age,
           rfm.rfm_frequency, rfm.rfm_monetary, rfm.rfm_recency_days, rfm.rfm_r, rfm.rfm_f,
           rfm.rfm_m, rfm.rfm_score, rfm.rfm_segment,
           -- engagement: half activity in the last 30 days, half recency, both quantiles
           round((percent_rank() OVER (ORDER BY p.events_30d)
                  + percent_rank() OVER (ORDER BY p.last_seen)) * 50, 1) AS engagement_score,
           p.avg_price, power.purchasing_power, coalesce(COLUMNS('^interest_'), 0)
    FROM h_person p
    LEFT JOIN ids USING (profile_id) LEFT JOIN rfm USING (profile_id)
    LEFT JOIN power USING (profile_id) LEFT JOIN h_top t USING (profile_id)
    LEFT JOIN h_interests USING (profile_id)
    """,
]
HAND_WORK_TABLES = ("h_id_sets", "h_edges", "h_labels", "h_labels_next", "h_events", "h_ref",
                    "h_person", "h_category", "h_top", "h_interests")
HAND_OUTPUTS = ("hand_profiles", "hand_identities", "hand_event_profiles")


def hand_full_pipeline(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    """Run the hand-written full pipeline on ``con`` (its database holds ``events``); seconds
    per step and ``total``. The hand_* output tables must not exist yet."""
    con.execute("SET TimeZone = 'UTC'")  # as aidmp's engine: day windows in UTC
    seconds: dict[str, float] = {}
    start = clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[step] = round(now - clock, 3)
        clock = now

    for sql in HAND_IDENTITY_SQL:
        con.execute(sql)
    lap("identity_graph")
    iterations = 0
    while True:
        iterations += 1
        con.execute(HAND_LABEL_STEP)
        row = con.execute(HAND_LABEL_CHANGED).fetchone()
        for sql in HAND_LABEL_SWAP:
            con.execute(sql)
        if row is None or row[0] == 0:
            break
        if iterations >= 100:
            raise RuntimeError("hand-written components did not converge")
    for sql in HAND_IDENTITIES_SQL:
        con.execute(sql)
    lap("components")
    for step, statements in (("event_profiles", HAND_EVENTS_SQL),
                             ("aggregates", HAND_AGGREGATE_SQL),
                             ("interests", HAND_INTEREST_SQL),
                             ("profiles", HAND_PROFILE_SQL)):
        for sql in statements:
            con.execute(sql)
        if step == "profiles":
            for name in HAND_WORK_TABLES:
                con.execute(f"DROP TABLE IF EXISTS {name}")
        lap(step)
    seconds["total"] = round(time.perf_counter() - start, 3)
    return seconds


def drop_hand_outputs(con: duckdb.DuckDBPyConnection) -> None:
    """Remove the hand-written pipeline's output tables."""
    for name in HAND_OUTPUTS:
        con.execute(f"DROP TABLE IF EXISTS {name}")


def time_hand_full_pipeline(con: duckdb.DuckDBPyConnection, runs: int = 3) -> dict[str, float]:
    """The hand-written full pipeline ``runs`` times (its outputs dropped before each run and
    after the last): the per-step seconds of the run with the median total."""
    timings = []
    for _ in range(runs):
        drop_hand_outputs(con)
        timings.append(hand_full_pipeline(con))
    drop_hand_outputs(con)
    timings.sort(key=lambda steps: steps["total"])
    return timings[len(timings) // 2]


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
    seconds: dict[str, float] = {}
    start = clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[step] = round(now - clock, 3)
        clock = now

    # 1. parse the JSON documents once: traits (e-mail, age) and properties
    traits = _parse_traits(events["traits"])
    props = _parse_properties(events["properties"])
    lap("parse_json")

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
    lap("identity_graph")
    _, label = scipy.sparse.csgraph.connected_components(graph, directed=False)
    identities = pd.DataFrame({
        "id_type": np.repeat(types, [len(u) for u in uniques]),
        "id_value": pd.concat([pd.Series(u, dtype="str") for u in uniques],
                              ignore_index=True),
        "profile_id": label.astype(np.int64),
    })
    lap("components")

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
    lap("event_profiles")

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
    lap("aggregates")

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
    lap("interests")

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
        quintile = np.floor(_percent_rank(rfm[source], ascending) * 5).astype(np.int64) + 1
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
    power_rank = _percent_rank(person["avg_price"].dropna())
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
    lap("profiles")
    seconds["total"] = round(time.perf_counter() - start, 3)
    return profiles, seconds


def rss_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


def measure_lookups(home: Path) -> dict[str, object]:
    """Profile lookup latencies on a built store (see the module docstring)."""
    dmp = DMP(home=home)
    ids = dmp.engine.execute(dmp.engine.table("identities").select("id_type", "id_value")
                             .limit(2000)).to_pylist()
    random.seed(1)
    sample = random.sample(ids, min(300, len(ids)))

    def timed(before: Callable[[int], None] | None = None) -> list[float]:
        out = []
        for i, r in enumerate(sample):
            if before is not None:
                before(i)
            t = time.perf_counter()
            dmp.profiles.get(r["id_type"], r["id_value"])
            out.append(time.perf_counter() - t)
        return out

    cold = timed()
    warm = timed()

    read = dmp.keys.create("read", source="bench").secret
    http = []
    with ServerThread(dmp) as srv, httpx.Client(base_url=srv.url, headers={
            "Authorization": f"Bearer {read}"}) as client:
        for r in sample:
            t = time.perf_counter()
            client.get(f"/v1/profiles/{r['id_type']}:{r['id_value']}").raise_for_status()
            http.append(time.perf_counter() - t)

    def one_event(i: int) -> None:
        r = sample[i]
        key = "userId" if r["id_type"] == "user_id" else "anonymousId"
        dmp.events.ingest([{"type": "track", "event": "Order Completed", key: r["id_value"]
                            if r["id_type"] in ("user_id", "anonymous_id") else f"x{i}",
                            "properties": {"revenue": 1.0}}], source="bench-live")

    live = timed(one_event)
    dmp.close()
    # leave the store as it was built (the live pass's events would count as "since build")
    con = duckdb.connect(str(home / "aidmp.duckdb"))
    con.execute("DELETE FROM events WHERE source = 'bench-live'")
    con.execute("DELETE FROM api_keys WHERE source = 'bench'")
    con.execute("CHECKPOINT")
    con.close()
    return {
        "lookup_in_process_ms": {"p50": pct(cold, 0.5), "p99": pct(cold, 0.99)},
        "lookup_in_process_warm_ms": {"p50": pct(warm, 0.5), "p99": pct(warm, 0.99)},
        "lookup_in_process_after_each_write_ms": {"p50": pct(live, 0.5),
                                                  "p99": pct(live, 0.99)},
        "lookup_http_ms": {"p50": pct(http, 0.5), "p99": pct(http, 0.99)},
    }


def _generate_and_build(people: int, events: int, prefix: str) -> tuple[DMP, float]:
    """A fresh store holding ``events`` generated events of ``people`` people, built by
    ``dmp.build()``; the open DMP and the build's seconds."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    DMP(home=home).close()
    con = duckdb.connect(str(home / "aidmp.duckdb"))
    con.execute(GENERATE.format(people=people, events=events))
    con.close()
    dmp = DMP(home=home)
    t = time.perf_counter()
    dmp.build()
    return dmp, time.perf_counter() - t


def compare_with_aidmp(con: duckdb.DuckDBPyConnection, name: str, nan_is_null: bool = False
                       ) -> tuple[dict[str, object], list[str]]:
    """Compare the profiles in ``{name}_profiles``, ``{name}_identities`` (node as
    ``type:value``, profile_id) and ``{name}_event_profiles`` (message_id, profile_id) with
    aidmp's on ``con``: the same identifiers and events, the same people (each of these profiles
    maps to one aidmp profile through the identifiers they share, and back) and, per person, the
    same value in every column both have (numbers within 1e-6; ``nan_is_null``: NaN counts as
    NULL). A summary, and what disagrees (empty when all agrees)."""

    def one(sql: str) -> Any:
        row = con.execute(sql).fetchone()
        assert row is not None
        return row[0] if len(row) == 1 else row

    # the same identifiers, and the same partition of them into people
    nodes = one(f"""
        SELECT count(*) FILTER (WHERE h.node IS NULL), count(*) FILTER (WHERE i.node IS NULL),
               count(*)
        FROM {name}_identities h
        FULL JOIN (SELECT id_type || ':' || id_value AS node, profile_id FROM identities
                   WHERE status = 'linked') i USING (node)""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE chk_pairs AS
        SELECT DISTINCT h.profile_id AS hand_id, i.profile_id AS aidmp_id
        FROM {name}_identities h
        JOIN identities i ON h.node = i.id_type || ':' || i.id_value""")
    pairs, hand_ids, aidmp_ids = one(
        "SELECT count(*), count(DISTINCT hand_id), count(DISTINCT aidmp_id) FROM chk_pairs")
    hand_n, aidmp_n = one(f"SELECT (SELECT count(*) FROM {name}_profiles), "
                          "(SELECT count(*) FROM profiles)")
    events_mapped = one(f"""
        SELECT count(*) FILTER (WHERE c.aidmp_id IS DISTINCT FROM a.profile_id), count(*)
        FROM {name}_event_profiles h FULL JOIN event_profiles a USING (message_id)
        LEFT JOIN chk_pairs c ON c.hand_id = h.profile_id""")
    # every column both profile tables have, compared person by person
    hand_cols = {r[0]: r[1] for r in con.execute(f"DESCRIBE {name}_profiles").fetchall()}
    aidmp_cols = {r[0]: r[1] for r in con.execute("DESCRIBE profiles").fetchall()}
    common = [c for c in hand_cols if c in aidmp_cols and c != "profile_id"]
    numeric = ("DOUBLE", "FLOAT", "DECIMAL")

    def differs(c: str) -> str:
        h, a = f'h."{c}"::DOUBLE', f'a."{c}"::DOUBLE'
        if any(hand_cols[c].startswith(n) for n in numeric) or \
                any(aidmp_cols[c].startswith(n) for n in numeric):
            if nan_is_null:
                h, a = (f"(CASE WHEN NOT isnan({h}) THEN {h} END)",
                        f"(CASE WHEN NOT isnan({a}) THEN {a} END)")
            return (f"count(*) FILTER (WHERE ({h} IS NULL) <> ({a} IS NULL) "
                    f"OR abs({h} - {a}) > 1e-6 + 1e-9) AS \"{c}\"")
        return f'count(*) FILTER (WHERE h."{c}" IS DISTINCT FROM a."{c}") AS "{c}"'

    cur = con.execute(f"""
        SELECT count(*) AS compared, {', '.join(differs(c) for c in common)}
        FROM chk_pairs p JOIN {name}_profiles h ON h.profile_id = p.hand_id
        JOIN profiles a ON a.profile_id = p.aidmp_id""")
    row = cur.fetchone()
    assert row is not None and cur.description is not None
    counts = dict(zip([d[0] for d in cur.description], row, strict=True))
    compared = counts.pop("compared")
    con.execute("DROP TABLE chk_pairs")
    summary: dict[str, object] = {
        "profiles_aidmp": aidmp_n, f"profiles_{name}": hand_n,
        "identifiers": nodes[2], "identifiers_only_in_aidmp": nodes[0],
        f"identifiers_only_in_{name}": nodes[1], "profile_pairs": pairs,
        "events_in_another_profile": events_mapped[0], "events_mapped": events_mapped[1],
        "profiles_compared": compared, "columns_compared": len(common),
        "columns_only_in_aidmp": sorted(set(aidmp_cols) - set(hand_cols)),
        f"columns_only_in_{name}": sorted(set(hand_cols) - set(aidmp_cols)),
        "mismatches": {c: n for c, n in counts.items() if n},
    }
    problems = []
    required = ("events", "orders_total", "revenue_total", "orders_90d", "last_seen",
                "rfm_segment", "engagement_score", "purchasing_power", "top_category")
    missing = [c for c in required if c not in common]
    missing += [] if any(c.startswith("interest_") for c in common) else ["interest_*"]
    if missing:
        problems.append(f"columns not compared: {missing}")
    if not aidmp_n == hand_n == pairs == hand_ids == aidmp_ids == compared:
        problems.append(f"not the same people: {aidmp_n} aidmp profiles, {hand_n} {name} "
                        f"profiles, {pairs} pairs of {hand_ids} {name} and {aidmp_ids} aidmp "
                        f"profiles, {compared} compared")
    if not nodes[0] == nodes[1] == 0 or events_mapped[0] != 0:
        problems.append("not the same identifiers, or events in another profile")
    if summary["mismatches"]:
        problems.append(f"columns that differ: {summary['mismatches']}")
    return summary, problems


def check_hand_matches(people: int = 20000, events: int = 200000) -> dict[str, object]:
    """Generate ``events`` events of ``people`` people, run ``dmp.build()`` and the hand-written
    full pipeline on the same store, and assert that both give the same profiles: the same
    people (each hand profile maps to one aidmp profile through the identifiers they share, and
    back) and, per person, the same value in every column both tables have (numbers within
    1e-6). Returns (and prints) a summary."""
    from aidmp.engine.duckdb.engine import DuckDBEngine

    dmp, build_s = _generate_and_build(people, events, "aidmp-hand-check-")
    assert isinstance(dmp.engine, DuckDBEngine)
    con = dmp.engine._cursor()
    steps = hand_full_pipeline(con)
    compared, problems = compare_with_aidmp(con, "hand")
    summary: dict[str, object] = {
        "people": people, "events": events, **compared,
        "aidmp_build_s": round(build_s, 2), "hand_full_pipeline_s": steps,
        "ratio_build_to_hand_full": round(build_s / steps["total"], 2),
    }
    dmp.close()
    print(json.dumps(summary, indent=2))
    assert not problems, problems
    print(f"hand-written full pipeline agrees with dmp.build() on "
          f"{compared['profiles_compared']} profiles, {compared['columns_compared']} columns")
    return summary


def check_pandas_matches(people: int = 20000, events: int = 200000) -> dict[str, object]:
    """As ``check_hand_matches``, for ``pandas_full_pipeline``: generate the events, run
    ``dmp.build()``, read the ``events`` table into pandas as ``main()`` does, run the pandas
    pipeline on it and assert that it gives the same profiles as aidmp (the same identifiers,
    events and people, every shared column equal: numbers within 1e-6 with NaN as NULL,
    timestamps and strings equal). Returns (and prints) a summary."""
    from aidmp.engine.duckdb.engine import DuckDBEngine

    dmp, build_s = _generate_and_build(people, events, "aidmp-pandas-check-")
    assert isinstance(dmp.engine, DuckDBEngine)
    t = time.perf_counter()
    frame = dmp.engine.to_pandas("events")
    load_s = time.perf_counter() - t
    keep: dict[str, pd.DataFrame] = {}
    profiles, steps = pandas_full_pipeline(frame, keep)
    del frame
    con = dmp.engine._cursor()
    con.register("pandas_profiles", profiles)
    con.register("pandas_identity_rows", keep["identities"])
    con.execute("""CREATE TEMP VIEW pandas_identities AS
                   SELECT id_type || ':' || id_value AS node, profile_id
                   FROM pandas_identity_rows""")
    con.register("pandas_event_profiles", keep["event_profiles"])
    compared, problems = compare_with_aidmp(con, "pandas", nan_is_null=True)
    summary: dict[str, object] = {
        "people": people, "events": events, **compared,
        "aidmp_build_s": round(build_s, 2), "pandas_load_s": round(load_s, 2),
        "pandas_full_pipeline_s": steps,
        "ratio_build_to_pandas_full": round(build_s / steps["total"], 2),
    }
    dmp.close()
    print(json.dumps(summary, indent=2))
    assert not problems, problems
    print(f"pandas full pipeline agrees with dmp.build() on "
          f"{compared['profiles_compared']} profiles, {compared['columns_compared']} columns")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, help="keep the generated store in this folder")
    parser.add_argument("--lookups-only", action="store_true",
                        help="reuse the built store in --home; measure the lookups only")
    parser.add_argument("--check-hand", action="store_true",
                        help="check that the hand-written full pipeline gives the same profiles "
                             "as dmp.build() (20,000 people, 200,000 events) and exit")
    parser.add_argument("--check-pandas", action="store_true",
                        help="check that the pandas full pipeline gives the same profiles as "
                             "dmp.build() (20,000 people, 200,000 events) and exit")
    args = parser.parse_args()
    if args.check_hand:
        check_hand_matches()
        return
    if args.check_pandas:
        check_pandas_matches()
        return
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    if args.lookups_only:
        if args.home is None or not (args.home / "aidmp.duckdb").exists():
            parser.error("--lookups-only needs --home with a built store")
        lookups = measure_lookups(args.home)
        path = out / "build_scale.json"
        result = json.loads(path.read_text()) if path.exists() else {}
        result.update(lookups)
        path.write_text(json.dumps(result, indent=2))
        print(json.dumps(lookups, indent=2))
        return
    if args.home is not None and (args.home / "aidmp.duckdb").exists():
        parser.error(f"{args.home} already holds a store: add --lookups-only, or pick a new folder")
    home = args.home or Path(tempfile.mkdtemp(prefix="aidmp-scale-"))
    home.mkdir(parents=True, exist_ok=True)
    DMP(home=home).close()
    db = str(home / "aidmp.duckdb")
    con = duckdb.connect(db)
    t = time.perf_counter()
    con.execute(GENERATE.format(people=PEOPLE, events=EVENTS))
    gen_s = time.perf_counter() - t
    hand = []
    for _ in range(3):
        t = time.perf_counter()
        con.execute(f"CREATE OR REPLACE TABLE hand AS {HAND_SQL}")
        hand.append(time.perf_counter() - t)
    con.close()
    rss_before_build = rss_mb()
    dmp = DMP(home=home)
    t = time.perf_counter()
    summary = dmp.build()
    build_s = time.perf_counter() - t
    rss_build = rss_mb()
    edges = dmp.engine.count("event_profiles")
    # lookups are served by another process than the batch build (`aidmp serve`)
    dmp.close()
    lookups = measure_lookups(home)
    dmp = DMP(home=home)
    t = time.perf_counter()
    frame = dmp.engine.to_pandas("events")
    pandas_load_s = time.perf_counter() - t
    dmp.close()
    rss_pandas_load = rss_mb()

    def pandas_agg(f: Any) -> None:
        person = f["user_id"].fillna(f["anonymous_id"])
        orders = f["event"] == "Order Completed"
        revenue = f["properties"].str.extract(r'"revenue": ([0-9.]+)')[0].astype(float)
        now = f["timestamp"].max()
        import pandas as pd

        g = pd.DataFrame({"person": person, "orders": orders, "revenue": revenue.where(orders),
                          "ts": f["timestamp"],
                          "recent": orders & (f["timestamp"] > now - pd.Timedelta(days=90))})
        g.groupby("person").agg(events=("ts", "size"), orders=("orders", "sum"),
                                revenue=("revenue", "sum"), last_seen=("ts", "max"),
                                orders_90d=("recent", "sum"))

    t = time.perf_counter()
    pandas_agg(frame)
    pandas_s = time.perf_counter() - t
    # the build's work in pandas on the same frame: one run only (it is slow at this scale)
    pandas_profiles, pandas_full = pandas_full_pipeline(frame)
    rss_pandas_full = rss_mb()
    # the hand-written full pipeline last: the RSS figures above are process peaks, and it would
    # otherwise be counted in them (the pandas frames are let go first)
    del frame, pandas_profiles
    con = duckdb.connect(db)
    hand_full = time_hand_full_pipeline(con)
    con.close()
    result = {
        "people": PEOPLE, "events": EVENTS, "generate_s": round(gen_s, 1),
        "aidmp_build_s": round(build_s, 1), "aidmp_stage_s": summary.seconds,
        "profiles": summary.profiles, "identifiers": summary.identifiers,
        "profile_columns": summary.columns, "identity_edges_events_mapped": edges,
        "peak_rss_mb_after_build": rss_build, "rss_mb_before_build": rss_before_build,
        "hand_written_duckdb_s": round(statistics.median(hand), 2),
        "hand_full_pipeline_s": hand_full["total"], "hand_full_pipeline_step_s": hand_full,
        "ratio_build_to_hand_full": round(build_s / hand_full["total"], 2),
        "pandas_s": round(pandas_s, 1), "pandas_load_s": round(pandas_load_s, 1),
        "peak_rss_mb_with_pandas": rss_pandas_load,
        "pandas_full_pipeline_runs": 1, "pandas_full_pipeline_s": pandas_full["total"],
        "pandas_full_pipeline_step_s": pandas_full,
        "peak_rss_mb_after_pandas_full": rss_pandas_full,
        "ratio_build_to_pandas_full": round(build_s / pandas_full["total"], 2),
        **lookups,
    }
    (out / "build_scale.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
