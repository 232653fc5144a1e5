"""The same work as ``dmp.build()`` on the generated events, written by hand in DuckDB SQL.

The limit ``build_scale_bench.py`` compares the build against; ``--check-hand`` there proves it
gives the same profiles.
"""

from __future__ import annotations

import duckdb

from benchmarks.step_clock import StepClock

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
        least(floor(percent_rank() OVER (ORDER BY round(rfm_monetary, 6)) * 5)::BIGINT + 1, 5)
          AS rfm_m
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
      FROM (SELECT profile_id, percent_rank() OVER (ORDER BY round(avg_price, 6)) AS pr
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
    clock = StepClock()

    for sql in HAND_IDENTITY_SQL:
        con.execute(sql)
    clock.lap("identity_graph")
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
    clock.lap("components")
    for step, statements in (("event_profiles", HAND_EVENTS_SQL),
                             ("aggregates", HAND_AGGREGATE_SQL),
                             ("interests", HAND_INTEREST_SQL),
                             ("profiles", HAND_PROFILE_SQL)):
        for sql in statements:
            con.execute(sql)
        if step == "profiles":
            for name in HAND_WORK_TABLES:
                con.execute(f"DROP TABLE IF EXISTS {name}")
        clock.lap(step)
    return clock.done()


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
