"""Sessions and Segment-Spec messages for one chunk of people, vectorised.

A chunk is simulated in two stages with separate random streams:

* :func:`make_plan` - devices (anonymous ids, browsers, clock skew), sessions (count by lifecycle,
  start times clustered in evenings and weekends, channel and campaign) and which devices log in.
  The ground truth only needs this stage.
* :func:`make_messages` - the page views of every session, product picks, the add-to-cart /
  checkout / order funnel, identify calls and the timing of every message, as one wide frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from aidmp.demo import _reference as ref
from aidmp.demo._people import TABLES, window
from aidmp.demo._util import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    STREAM_EVENTS,
    STREAM_PLAN,
    Col,
    Opt,
    hex_ids,
    id_keys,
    iso_ms,
    pick,
    pick_rows,
    ragged,
    rng_for,
    uuid4_strings,
)

if TYPE_CHECKING:
    from aidmp.demo.config import DemoConfig

ID_ANONYMOUS, ID_MESSAGE, ID_ORDER, ID_CART = 1, 2, 3, 4
PAGE, IDENTIFY, VIEWED, ADDED, CHECKOUT, ORDER = range(6)
KIND_EVENTS = {VIEWED: "Product Viewed", ADDED: "Product Added", CHECKOUT: "Checkout Started",
               ORDER: "Order Completed"}
HOME, CATEGORY, SEARCH, PRODUCT, CART, CHECKOUT_PAGE, CONFIRMATION = range(7)
PAGE_NAMES = ("Home", "Category", "Search", "Product", "Cart", "Checkout", "Order Confirmation")
PAGE_PATHS = ("/", "", "/search", "", "/cart", "/checkout", "/checkout/confirmation")
PAGE_TITLES = ("Home", "", "", "", "Shopping Cart", "Checkout", "Order Confirmation")
SESSION_DEVICE_CDF = np.cumsum([[1.0, 0.0, 0.0], [0.65, 0.35, 0.0], [0.55, 0.30, 0.15]], axis=1)
MAX_LANDING, MAX_VIEWS = 6, 20
FREE_SHIPPING, SHIPPING_FEE = 50.0, 4.99
CHUNK_BITS = 40  # message/order counters are (chunk << 40) | index: unique across chunks

_TZ = sorted({tz for tz in TABLES.city_tz})
CITY_TZ = np.array([_TZ.index(tz) for tz in TABLES.city_tz])
_UA = [ua for group in ref.USER_AGENTS for ua in group]
UA_OFF = np.cumsum([0] + [len(g) for g in ref.USER_AGENTS])[:-1]
UA_LEN = np.array([len(g) for g in ref.USER_AGENTS])
CURRENCIES = pl.Series([c.currency for c in ref.COUNTRIES])
LOCALES = [c.locale for c in ref.COUNTRIES]


@cache
def tz_offsets(first_day: int, n_days: int) -> np.ndarray:
    """UTC offsets (ms) at local noon of each day, per time zone: shape (len(_TZ), n_days)."""
    noon = (np.arange(first_day, first_day + n_days, dtype=np.int64) * DAY_MS) + 12 * HOUR_MS
    local = pl.Series(noon).cast(pl.Datetime("ms"))
    rows = []
    for tz in _TZ:
        zoned = local.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
        off = zoned.dt.base_utc_offset() + zoned.dt.dst_offset()
        rows.append(off.dt.total_milliseconds().fill_null(0).to_numpy())
    return np.vstack(rows).astype(np.int64)


@dataclass
class Plan:
    """Devices and sessions of one chunk of people."""

    people: pl.DataFrame
    devices: pl.DataFrame  # one row per device
    sessions: pl.DataFrame  # one row per session, sorted by person and start


def make_plan(cfg: DemoConfig, chunk: int, people: pl.DataFrame) -> Plan:
    """Devices, sessions and log-ins of a chunk of (finished) people."""
    rng = rng_for(cfg.seed, STREAM_PLAN, chunk)
    n = len(people)
    country = people["_country"].to_numpy().astype(np.int64)
    n_dev = people["_devices"].to_numpy().astype(np.int64)
    dev_person, dev_slot = ragged(n_dev)
    nd = len(dev_person)
    dev_type = np.where(dev_slot == 0, pick(rng, (0.5, 0.45, 0.05), nd),
                        pick(rng, (0.25, 0.6, 0.15), nd))
    ua = UA_OFF[dev_type] + (rng.random(nd) * UA_LEN[dev_type]).astype(np.int64)
    skewed = rng.random(nd) < cfg.skewed_device_share
    magnitude = np.minimum(rng.lognormal(np.log(10 * MINUTE_MS), 1.5, nd), 2 * DAY_MS)
    skew = np.where(skewed, np.where(rng.random(nd) < 0.5, -1, 1) * magnitude, 0).astype(np.int64)
    english = rng.random(nd) < 0.08
    dev_country = country[dev_person]
    locale = np.where(english & (dev_country != 0), 0, dev_country)
    octet1 = _ip_first_octet(rng, dev_country)
    octets = rng.integers(0, 256, (nd, 3))
    anon_counter = people["_idx"].to_numpy().astype(np.uint64)[dev_person] * np.uint64(4)
    anon = uuid4_strings(anon_counter + dev_slot.astype(np.uint64), id_keys(cfg.seed, ID_ANONYMOUS))

    # sessions: 1 + Poisson(rate by lifecycle x personal activity) for everyone online
    lifecycle = people["_lifecycle"].to_numpy().astype(np.int64)
    rate = (cfg.sessions_per_person - 1) * np.asarray(ref.LIFECYCLE_RATE)[lifecycle]
    lam = rate * people["_activity"].to_numpy()
    n_sessions = np.where(people["online"].to_numpy(), 1 + rng.poisson(lam), 0)
    s_person, _ = ragged(n_sessions)
    ns = len(s_person)
    slot = pick_rows(rng, SESSION_DEVICE_CDF[np.maximum(n_dev, 1)[s_person] - 1])
    s_device = (np.cumsum(n_dev) - n_dev)[s_person] + slot
    start = _session_starts(cfg, rng, people, s_person)
    order = np.lexsort((start, s_person))
    s_person, s_device, start = s_person[order], s_device[order], start[order]

    identifies = people["identifies"].to_numpy()
    channel = pick_rows(rng, np.cumsum(np.array(
        [ref.CHANNEL_MIX_ANON, ref.CHANNEL_MIX_KNOWN]), axis=1)[identifies[s_person].astype(int)])
    camp_u = rng.random(ns)
    camp_interest = rng.random(ns)
    first_session = np.cumsum(n_sessions) - n_sessions
    # log-ins: the device of a person's first session always, other devices 60% of the time,
    # at a session drawn with a bias towards the device's early sessions
    dev_sessions = np.bincount(s_device, minlength=nd)
    has_session = n_sessions > 0
    first_device = np.full(n, -1)
    first_device[has_session] = s_device[first_session[has_session]]
    is_first = first_device[dev_person] == np.arange(nd)
    logs_in = identifies[dev_person] & (dev_sessions > 0) & (is_first | (rng.random(nd) < 0.6))
    login_k = (dev_sessions * rng.random(nd) ** 2).astype(np.int64)
    by_device = np.lexsort((start, s_device))
    _, pos_sorted = ragged(dev_sessions)
    pos_in_device = np.empty(ns, dtype=np.int64)
    pos_in_device[by_device] = pos_sorted
    s_login = logs_in[s_device] & (pos_in_device == login_k[s_device])
    batched = rng.random(ns) < cfg.batched_share
    referrer_u = rng.random(ns)

    devices = pl.DataFrame({
        "_person": dev_person, "slot": dev_slot.astype(np.int8),
        "anonymous_id": anon,
        "device_type": pl.Series(ref.DEVICE_TYPES).gather(dev_type),
        "user_agent": pl.Series(_UA).gather(ua),
        "locale": pl.Series(LOCALES).gather(locale),
        "clock_skew_ms": skew,
        "sessions": dev_sessions,
        "logs_in": logs_in,
        "_ip1": octet1, "_ip": octets,
    })
    sessions = pl.DataFrame({
        "_person": s_person, "_device": s_device, "start": start, "channel": channel,
        "_camp_u": camp_u, "_camp_interest": camp_interest, "login": s_login,
        "batched": batched, "_referrer_u": referrer_u,
    })
    return Plan(people, devices, sessions)


def _ip_first_octet(rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
    prefixes = [c.ip_prefixes for c in ref.COUNTRIES]
    width = max(len(p) for p in prefixes)
    table = np.array([[p[i % len(p)] for i in range(width)] for p in prefixes])
    return table[country, rng.integers(0, width, len(country))]


def _session_starts(cfg: DemoConfig, rng: np.random.Generator, people: pl.DataFrame,
                    s_person: np.ndarray) -> np.ndarray:
    """Session start times (UTC ms) inside each person's activity interval.

    Lapsing people's sessions thin out over the window; all sessions favour local evenings and
    (with 20% of weekday sessions moved to the weekend) weekends.
    """
    ns = len(s_person)
    a = people["_act_a"].to_numpy()[s_person]
    b = people["_act_b"].to_numpy()[s_person]
    lapsing = people["_lifecycle"].to_numpy()[s_person] == 2
    u = rng.random(ns)
    u = np.where(lapsing, 1.0 - np.sqrt(1.0 - u), u)
    t = a + ((b - a) * u).astype(np.int64)
    start, end = window(cfg)
    first_day = start // DAY_MS - 2
    offsets = tz_offsets(first_day, (end - start) // DAY_MS + 5)
    tz = CITY_TZ[people["_city"].to_numpy().astype(np.int64)[s_person]]

    def offset(ms: np.ndarray) -> np.ndarray:
        day = np.clip(ms // DAY_MS - first_day, 0, offsets.shape[1] - 1)
        return offsets[tz, day]

    local_day = (t + offset(t)) // DAY_MS
    dow = (local_day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    weekend = local_day + (5 - dow) + rng.integers(0, 2, ns)
    move = (dow < 5) & (rng.random(ns) < 0.2) & (weekend * DAY_MS - 14 * HOUR_MS <= b)
    local_day = np.where(move, weekend, local_day)
    hour = pick(rng, ref.HOUR_WEIGHTS, ns)
    local = local_day * DAY_MS + hour * HOUR_MS + rng.integers(0, HOUR_MS, ns)
    return np.clip(local - offset(local), a, b)


# ---------------------------------------------------------------- messages


def campaign_columns() -> list[pl.Expr]:
    """UTM source / medium / campaign of each session (null for organic, direct, referral)."""
    ch = pl.col("channel")
    u = pl.col("_camp_u")
    cat = pl.col("_cat0")
    month = pl.from_epoch("start", time_unit="ms").dt.month()
    season = (
        pl.when(month.is_between(3, 5)).then(pl.lit("spring"))
        .when(month.is_between(6, 8)).then(pl.lit("summer"))
        .when(month.is_between(9, 11)).then(pl.lit("autumn")).otherwise(pl.lit("winter"))
    )
    day = pl.from_epoch("start", time_unit="ms")
    newsletter = pl.format("newsletter_{}_w{}", day.dt.iso_year(),
                           day.dt.week().cast(pl.String).str.zfill(2))
    lc = pl.col("_lifecycle")
    name = (
        pl.when(ch == 2).then(
            pl.when(u < 0.4).then(pl.lit("brand_search"))
            .when(u < 0.75).then(pl.format("generic_{}", cat))
            .otherwise(pl.format("shopping_{}", cat)))
        .when(ch == 3).then(
            pl.when(u < 0.4).then(pl.lit("prospecting_lookalike"))
            .when(u < 0.75).then(pl.lit("retargeting_viewed_products"))
            .otherwise(pl.format("{}_sale", season)))
        .when(ch == 4).then(
            pl.when((lc >= 2) & (u < 0.4)).then(pl.lit("winback_30d"))
            .when((lc == 0) & (u < 0.4)).then(pl.lit("welcome_series"))
            .when(u > 0.85).then(pl.lit("abandoned_cart"))
            .otherwise(newsletter))
    )
    source = pl.when(ch == 2).then(pl.lit("google")).when(ch == 3).then(pl.lit("facebook"))
    source = source.when(ch == 4).then(pl.lit("newsletter"))
    medium = pl.when(ch == 2).then(pl.lit("cpc")).when(ch == 3).then(pl.lit("paid_social"))
    medium = medium.when(ch == 4).then(pl.lit("email"))
    return [source.alias("utm_source"), medium.alias("utm_medium"), name.alias("utm_campaign"),
            ch.is_in([2, 3, 4]).alias("has_campaign")]


_REFERRERS = {
    0: ("https://www.google.com/", "https://www.google.com/", "https://www.google.com/",
        "https://www.bing.com/", "https://duckduckgo.com/"),
    2: ("https://www.google.com/",),
    3: ("https://l.facebook.com/", "https://l.facebook.com/", "https://l.instagram.com/"),
    5: ("https://blog.example.org/gift-guide-2026", "https://forum.example.net/deals",
        "https://news.example.com/best-buys"),
}


def _first_referrer() -> pl.Expr:
    u = pl.col("_referrer_u")
    expr: Any = pl.lit("")
    for ch, options in _REFERRERS.items():
        pickone: Any = pl.lit(options[-1])
        for i in range(len(options) - 2, -1, -1):
            pickone = pl.when(u < (i + 1) / len(options)).then(pl.lit(options[i])).otherwise(
                pickone)
        expr = pl.when(pl.col("channel") == ch).then(pickone).otherwise(expr)
    return expr


def make_messages(cfg: DemoConfig, chunk: int, plan: Plan, catalog: pl.DataFrame,
                  catalog_cdf: np.ndarray, catalog_start: np.ndarray) -> pl.DataFrame:
    """Every message of a chunk as one wide frame, sorted in output order, with ``rank``.

    Columns not used by a message's type are null; :mod:`aidmp.demo.generator` turns rows into
    Segment messages through per-type templates.
    """
    rng = rng_for(cfg.seed, STREAM_EVENTS, chunk)
    people, sessions, devices = plan.people, plan.sessions, plan.devices
    ns = len(sessions)
    s_person = sessions["_person"].to_numpy()
    interests = people["_interests"].to_numpy()[s_person].astype(np.int64)
    n_int = (interests >= 0).sum(axis=1)
    propensity = people["propensity"].to_numpy()[s_person]
    rel = propensity / (2.0 / 7.0)  # Beta(2, 5) has mean 2/7

    # browse steps: landing pages (home / category / search) and product pages, shuffled
    n_land = 1 + np.minimum(rng.poisson(1.0, ns), MAX_LANDING - 1)
    r = 1.5
    n_view = np.minimum(rng.negative_binomial(r, r / (r + cfg.views_per_session), ns), MAX_VIEWS)
    n_browse = n_land + n_view
    b_sess, b_pos = ragged(n_browse)
    nb = len(b_sess)
    key = np.where(b_pos == 0, -1.0, rng.random(nb))
    order = np.lexsort((key, b_sess))
    is_product = np.empty(nb, dtype=bool)
    is_product[order] = b_pos >= n_land[b_sess]
    landing = np.where(b_pos == 0, np.where(rng.random(nb) < 0.6, HOME, CATEGORY),
                       pick(rng, (0.15, 0.6, 0.25), nb))
    page_type = np.where(is_product, PRODUCT, landing)
    # categories: mostly the person's interests
    j = (rng.random(nb) * n_int[b_sess]).astype(np.int64)
    own = interests[b_sess, j]
    other = pick(rng, ref.CATEGORY_POPULARITY, nb)
    category = np.where(rng.random(nb) < 0.8, own, other)
    product = np.searchsorted(catalog_cdf, category + rng.random(nb), side="right")
    product = np.minimum(product, catalog_start[category + 1] - 1)
    term = rng.integers(0, len(ref.SEARCH_TERMS[0]), nb)
    gap = np.clip(rng.lognormal(np.log(35_000), 0.9, nb), 8_000, 20 * MINUTE_MS).astype(np.int64)
    p_add = np.clip(cfg.add_to_cart_rate * rel, 0.02, 0.9)[b_sess]
    added = is_product & (rng.random(nb) < p_add)
    grocery = category == ref.CATEGORIES.index("grocery")
    quantity = np.where(grocery, pick(rng, (0.5, 0.3, 0.12, 0.08), nb),
                        pick(rng, (0.8, 0.14, 0.06, 0.0), nb)) + 1
    n_added = np.bincount(b_sess[added], minlength=ns)
    p_checkout = np.clip(cfg.checkout_rate * n_added, 0.0, 0.95)
    checkout = (n_added > 0) & (rng.random(ns) < p_checkout)
    p_order = np.clip(cfg.purchase_rate * (0.7 + 0.3 * rel), 0.05, 0.98)
    ordered = checkout & (rng.random(ns) < p_order)

    # funnel pages after browsing: cart, checkout, confirmation
    extra = [(np.flatnonzero(n_added > 0), CART, 0), (np.flatnonzero(checkout), CHECKOUT_PAGE, 1),
             (np.flatnonzero(ordered), CONFIRMATION, 2)]
    e_sess = np.concatenate([e[0] for e in extra])
    e_type = np.concatenate([np.full(len(e[0]), e[1]) for e in extra])
    e_pos = np.concatenate([n_browse[e[0]] + e[2] for e in extra])
    ne = len(e_sess)
    st_sess = np.concatenate([b_sess, e_sess])
    st_pos = np.concatenate([b_pos, e_pos])
    st_order = np.lexsort((st_pos, st_sess))
    st_sess = st_sess[st_order]

    def steps(a: np.ndarray, fill: Any) -> np.ndarray:
        return np.concatenate([a, np.full(ne, fill, dtype=a.dtype)])[st_order]

    st_type = np.concatenate([page_type, e_type])[st_order]
    st_cat = steps(category, -1)
    st_product = steps(product, -1)
    st_term = steps(term, 0)
    st_added = steps(added, False)
    st_qty = steps(quantity, 0)
    st_gap = np.concatenate([gap, np.clip(rng.lognormal(np.log(40_000), 0.6, ne), 8_000,
                                          10 * MINUTE_MS).astype(np.int64)])[st_order]
    n_steps = np.bincount(st_sess, minlength=ns)
    first_step = np.cumsum(n_steps) - n_steps
    elapsed = np.cumsum(st_gap) - st_gap
    st_ts = sessions["start"].to_numpy()[st_sess] + elapsed - elapsed[first_step][st_sess]
    session_end = st_ts[first_step + n_steps - 1] + st_gap[first_step + n_steps - 1]

    # identify: one browse step of each log-in session
    login = sessions["login"].to_numpy()
    id_sess = np.flatnonzero(login)
    id_step = first_step[id_sess] + (rng.random(len(id_sess)) * n_browse[id_sess]).astype(np.int64)
    id_ts = st_ts[id_step] + st_gap[id_step] // 5

    # messages: (step, kind, true time, order within the step)
    nst = len(st_sess)
    prod_steps = np.flatnonzero(st_type == PRODUCT)
    add_steps = np.flatnonzero(st_added)
    co_steps = np.flatnonzero(st_type == CHECKOUT_PAGE)
    oc_steps = np.flatnonzero(st_type == CONFIRMATION)
    parts = [
        (np.arange(nst), PAGE, st_ts, 0),
        (prod_steps, VIEWED, st_ts[prod_steps] + rng.integers(150, 1500, len(prod_steps)), 1),
        (id_step, IDENTIFY, id_ts, 2),
        (add_steps, ADDED, st_ts[add_steps]
         + (st_gap[add_steps] * rng.uniform(0.3, 0.85, len(add_steps))).astype(np.int64), 3),
        (co_steps, CHECKOUT, st_ts[co_steps] + rng.integers(300, 2000, len(co_steps)), 1),
        (oc_steps, ORDER, st_ts[oc_steps] + rng.integers(100, 800, len(oc_steps)), 1),
    ]
    m_step = np.concatenate([p[0] for p in parts])
    m_kind = np.concatenate([np.full(len(p[0]), p[1], dtype=np.int8) for p in parts])
    m_true = np.concatenate([p[2] for p in parts]).astype(np.int64)
    m_seq = np.concatenate([np.full(len(p[0]), p[3], dtype=np.int8) for p in parts])
    m_sess = st_sess[m_step]
    m_dev = sessions["_device"].to_numpy()[m_sess]
    skew = devices["clock_skew_ms"].to_numpy()
    login_ts = np.full(len(devices), np.iinfo(np.int64).max)
    login_ts[sessions["_device"].to_numpy()[id_sess]] = id_ts
    m_ts = m_true + skew[m_dev]
    delay = np.clip(rng.lognormal(np.log(120), 0.8, len(m_step)), 5, 10_000).astype(np.int64)
    batch_delay = rng.integers(MINUTE_MS, 30 * MINUTE_MS, ns)
    batched = sessions["batched"].to_numpy()
    m_sent = np.where(batched[m_sess], session_end[m_sess] + batch_delay[m_sess], m_true + delay)
    m_sent = m_sent + skew[m_dev]
    m_person = s_person[m_sess]
    out_order = np.lexsort((m_seq, m_step, m_ts, m_person))
    # mobile networks hand out a new address most sessions, home broadband rarely
    s_dev = sessions["_device"].to_numpy()
    mobile = devices["device_type"].to_numpy()[s_dev] != "desktop"
    fresh_ip = rng.random(ns) < np.where(mobile, 0.6, 0.1)
    session_ip = rng.integers(0, 256, (ns, 3))

    # ---- frames: sessions (with campaign and cart), steps (page context), messages
    cart = _cart(ns, st_sess, st_product, st_qty, st_added, catalog)
    person_cols = people.select(
        pl.col("_lifecycle"), pl.col("user_id"), pl.col("_web_email").alias("t_email"),
        pl.col("first_name").alias("t_first_name"), pl.col("last_name").alias("t_last_name"),
        pl.col("phone_e164").alias("t_phone"),
        (pl.col("identifies") & pl.col("_traits_phone")).alias("has_phone"),
        pl.col("city").alias("t_city"), pl.col("postcode").alias("t_postal_code"),
        pl.col("country").alias("t_country"),
        iso_ms(pl.col("created_at").dt.epoch("ms")).alias("t_created_at"),
        CURRENCIES.gather(people["_country"]).alias("currency"),
        pl.Series(_TZ).gather(CITY_TZ[people["_city"].to_numpy().astype(np.int64)])
        .alias("timezone"),
    )
    # the category a paid campaign advertised: one of the person's interests
    camp_pick = (sessions["_camp_interest"].to_numpy() * n_int).astype(np.int64)
    camp_cat = interests[np.arange(ns), camp_pick]
    sess_df = sessions.with_columns(
        pl.Series("_cat0", pl.Series(ref.CATEGORIES).gather(camp_cat)),
        pl.Series("_lifecycle", people["_lifecycle"].to_numpy()[s_person]),
    ).with_columns(*campaign_columns(), _first_referrer().alias("_first_referrer"))
    sess_df = sess_df.with_columns(cart)
    order_counter = (np.uint64(chunk) << np.uint64(CHUNK_BITS)) | np.arange(ns, dtype=np.uint64)
    sess_df = sess_df.with_columns(
        pl.concat_str(pl.lit("ord_"), hex_ids(order_counter, id_keys(cfg.seed, ID_ORDER)[0]))
        .alias("order_id"),
        pl.concat_str(pl.lit("cart_"), hex_ids(order_counter, id_keys(cfg.seed, ID_CART)[0]))
        .alias("cart_id"),
    )
    ip = np.where(fresh_ip[:, None], session_ip, devices["_ip"].to_numpy()[s_dev])
    sess_df = sess_df.with_columns(pl.format(
        "{}.{}.{}.{}", pl.Series(devices["_ip1"].to_numpy()[s_dev]), pl.Series(ip[:, 0]),
        pl.Series(ip[:, 1]), pl.Series(np.maximum(ip[:, 2], 1))).alias("ip"))
    dev_df = devices.select("anonymous_id", "user_agent", "locale")
    step_df = _page_context(st_sess, st_type, st_cat, st_product, st_term, catalog, sess_df)

    idx = out_order
    msg = pl.DataFrame({
        "kind": m_kind[idx], "_step": m_step[idx], "_sess": m_sess[idx], "_dev": m_dev[idx],
        "_person": m_person[idx], "_ts": m_ts[idx], "_sent": m_sent[idx],
        "_logged_in": m_true[idx] >= login_ts[m_dev[idx]],
        "quantity": st_qty[m_step[idx]],
    })
    counter = (np.uint64(chunk) << np.uint64(CHUNK_BITS)) | np.arange(len(idx), dtype=np.uint64)
    msg = msg.with_columns(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("rank"),
        uuid4_strings(counter, id_keys(cfg.seed, ID_MESSAGE)).alias("message_id"),
        iso_ms(pl.col("_ts")).alias("timestamp"),
        iso_ms(pl.col("_sent")).alias("sent_at"),
    )
    # cart contents only where a message carries them (checkout and order), null elsewhere
    carries = pl.Series(np.isin(m_kind[idx], [CHECKOUT, ORDER]))
    cart_rows = pl.select(pl.when(carries).then(pl.Series(m_sess[idx]))).to_series()
    msg = pl.concat([
        msg,
        dev_df[msg["_dev"]],
        step_df[msg["_step"]],
        sess_df.select("ip", "has_campaign", "utm_source", "utm_medium", "utm_campaign",
                       "order_id", "cart_id")[msg["_sess"]],
        sess_df.select(pl.col("products", "revenue").gather(cart_rows)),
        person_cols.drop("_lifecycle")[msg["_person"]],
    ], how="horizontal")
    return msg.with_columns(
        pl.when("_logged_in").then(pl.col("user_id")).alias("user_id"),
        pl.when(pl.col("revenue") >= FREE_SHIPPING).then(0.0).otherwise(SHIPPING_FEE)
        .alias("shipping"),
    ).with_columns((pl.col("revenue") + pl.col("shipping")).round(2).alias("total"))


def _cart(ns: int, st_sess: np.ndarray, st_product: np.ndarray, st_qty: np.ndarray,
          st_added: np.ndarray, catalog: pl.DataFrame) -> list[pl.Series]:
    """Per session: the cart lines (products added, same product merged) and their revenue."""
    lines = pl.DataFrame({
        "_sess": st_sess[st_added], "_product": st_product[st_added], "quantity": st_qty[st_added],
    }).group_by("_sess", "_product", maintain_order=True).agg(pl.col("quantity").sum())
    lines = pl.concat([
        lines, catalog.select("product_id", "name", "category", "brand", "price")[lines["_product"]]
    ], how="horizontal")
    per_session = lines.group_by("_sess", maintain_order=True).agg(
        pl.struct("product_id", "name", "category", "brand", "price", "quantity").alias("products"),
        (pl.col("price") * pl.col("quantity")).sum().round(2).alias("revenue"),
    )
    full = pl.DataFrame({"_sess": np.arange(ns, dtype=st_sess.dtype)}).join(
        per_session, on="_sess", how="left", maintain_order="left")
    return [full["products"], full["revenue"]]


def _page_context(st_sess: np.ndarray, st_type: np.ndarray, st_cat: np.ndarray,
                  st_product: np.ndarray, st_term: np.ndarray, catalog: pl.DataFrame,
                  sess_df: pl.DataFrame) -> pl.DataFrame:
    """Page name, path, URL, title, search and referrer of every step."""
    host = ref.SHOP_HOST
    shop = f" | {ref.SHOP_NAME}"
    t = pl.col("_type")
    cat = pl.col("_cat")
    prod = catalog.select(pl.col("name").alias("_pname"), pl.col("url").alias("_purl"))
    terms = [term for group in ref.SEARCH_TERMS for term in group]
    term_idx = np.maximum(st_cat, 0) * len(ref.SEARCH_TERMS[0]) + st_term
    df = pl.DataFrame({
        "_sess": st_sess, "_type": st_type.astype(np.int8),
        "_cat": pl.Series(ref.CATEGORIES).gather(np.maximum(st_cat, 0)),
        "_cat_title": pl.Series(ref.CATEGORY_TITLES).gather(np.maximum(st_cat, 0)),
        "_term": pl.Series(terms).gather(term_idx),
    })
    df = pl.concat([df, prod[np.maximum(st_product, 0)],
                    catalog.select("product_id", pl.col("name").alias("product_name"),
                                   pl.col("category").alias("product_category"), "brand",
                                   "price")[np.maximum(st_product, 0)],
                    sess_df.select("has_campaign", "utm_source", "utm_medium", "utm_campaign",
                                   "_first_referrer")[st_sess]], how="horizontal")
    path = (
        pl.when(t == CATEGORY).then(pl.concat_str(pl.lit("/c/"), cat))
        .when(t == PRODUCT).then(pl.col("_purl").str.slice(len(host)))
        .otherwise(t.replace_strict(list(range(7)), list(PAGE_PATHS), return_dtype=pl.String))
    )
    first = pl.int_range(pl.len()).over("_sess") == 0
    utm = pl.format("utm_source={}&utm_medium={}&utm_campaign={}", "utm_source", "utm_medium",
                    "utm_campaign")
    query = (
        pl.when(t == SEARCH).then(pl.concat_str(pl.lit("q="), pl.col("_term").str.replace_all(
            " ", "+")))
        .when(first & pl.col("has_campaign")).then(utm)
    )
    search = pl.when(query.is_not_null()).then(pl.concat_str(pl.lit("?"), query)).otherwise(
        pl.lit(""))
    title = (
        pl.when(t == CATEGORY).then(pl.col("_cat_title"))
        .when(t == SEARCH).then(pl.format('Search results for "{}"', "_term"))
        .when(t == PRODUCT).then(pl.col("_pname"))
        .otherwise(t.replace_strict(list(range(7)), list(PAGE_TITLES), return_dtype=pl.String))
    )
    df = df.with_columns(
        path.alias("path"), search.alias("search"),
        pl.concat_str(title, pl.lit(shop)).alias("title"),
        t.replace_strict(list(range(7)), list(PAGE_NAMES), return_dtype=pl.String)
        .alias("page_name"),
    ).with_columns(pl.concat_str(pl.lit(host), "path", "search").alias("url"))
    df = df.with_columns(
        pl.when(first).then(pl.col("_first_referrer"))
        .otherwise(pl.col("url").shift(1).over("_sess")).alias("referrer"),
        pl.when(t == PRODUCT).then(pl.col("product_id")).alias("product_id"),
    )
    return df.select("page_name", "path", "search", "title", "url", "referrer", "product_id",
                     "product_name", "product_category", "brand", "price")


# ---------------------------------------------------------------- templates

CONTEXT: dict[str, Any] = {
    "ip": Col("ip"),
    "library": dict(ref.LIBRARY),
    "locale": Col("locale"),
    "timezone": Col("timezone"),
    "userAgent": Col("user_agent"),
    "page": {"path": Col("path"), "referrer": Col("referrer"), "search": Col("search"),
             "title": Col("title"), "url": Col("url")},
    "campaign": Opt("has_campaign", {"source": Col("utm_source"), "medium": Col("utm_medium"),
                                     "name": Col("utm_campaign")}),
}


def _envelope(kind: str, extra: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, **extra, "messageId": Col("message_id"),
            "anonymousId": Col("anonymous_id"), "userId": Col("user_id"),
            "timestamp": Col("timestamp"), "sentAt": Col("sent_at"), "context": CONTEXT, **body}


_PRODUCT = {"product_id": Col("product_id"), "name": Col("product_name"),
            "category": Col("product_category"), "brand": Col("brand"), "price": Col("price")}

TEMPLATES: dict[int, dict[str, Any]] = {
    PAGE: _envelope("page", {"name": Col("page_name")}, {"properties": {
        "path": Col("path"), "referrer": Col("referrer"), "search": Col("search"),
        "title": Col("title"), "url": Col("url")}}),
    IDENTIFY: _envelope("identify", {}, {"traits": {
        "email": Col("t_email"), "first_name": Col("t_first_name"),
        "last_name": Col("t_last_name"), "phone": Opt("has_phone", Col("t_phone")),
        "address": {"city": Col("t_city"), "postal_code": Col("t_postal_code"),
                    "country": Col("t_country")},
        "created_at": Col("t_created_at")}}),
    VIEWED: _envelope("track", {"event": KIND_EVENTS[VIEWED]}, {"properties": {
        **_PRODUCT, "currency": Col("currency"), "url": Col("url")}}),
    ADDED: _envelope("track", {"event": KIND_EVENTS[ADDED]}, {"properties": {
        "cart_id": Col("cart_id"), **_PRODUCT, "quantity": Col("quantity"),
        "currency": Col("currency")}}),
    CHECKOUT: _envelope("track", {"event": KIND_EVENTS[CHECKOUT]}, {"properties": {
        "order_id": Col("order_id"), "value": Col("revenue"), "revenue": Col("revenue"),
        "currency": Col("currency"), "products": Col("products")}}),
    ORDER: _envelope("track", {"event": KIND_EVENTS[ORDER]}, {"properties": {
        "order_id": Col("order_id"), "total": Col("total"), "revenue": Col("revenue"),
        "shipping": Col("shipping"), "currency": Col("currency"),
        "products": Col("products")}}),
}
