"""People (the ground truth), the product catalog and the dirty CRM export, vectorised.

People are drawn in fixed-size chunks, each from its own random stream, then finished together
(e-mails and phone numbers made unique, account numbers assigned in order).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from aidmp.demo import _reference as ref
from aidmp.demo._util import (
    DAY_MS,
    HOUR_MS,
    STREAM_CATALOG,
    STREAM_CRM,
    STREAM_PEOPLE,
    pick,
    pick_rows,
    rng_for,
    zfill,
)

if TYPE_CHECKING:
    from aidmp.demo.config import DemoConfig

YEAR_MS = int(365.25 * DAY_MS)
LATEST_START_MS = 12 * HOUR_MS  # no session starts in the last 12 h, so none runs past `end`


def _cdf_matrix(rows: list[list[float]]) -> np.ndarray:
    width = max(len(r) for r in rows)
    out = np.zeros((len(rows), width))
    for i, r in enumerate(rows):
        c = np.cumsum(r)
        out[i, : len(r)] = c
        out[i, len(r) :] = c[-1]
    return out


class _Tables:
    """The reference data flattened into arrays for vectorised lookups."""

    def __init__(self) -> None:
        countries = ref.COUNTRIES
        self.country_codes = pl.Series([c.code for c in countries])
        cities = [(ci, city) for ci, c in enumerate(countries) for city in c.cities]
        self.city_country = np.array([ci for ci, _ in cities])
        self.city_names = pl.Series([city.name for _, city in cities])
        self.city_tz = [city.tz for _, city in cities]
        self.city_offset = np.cumsum([0] + [len(c.cities) for c in countries])[:-1]
        self.city_cdf = _cdf_matrix([[city.weight for city in c.cities] for c in countries])
        # post codes
        self.postcodes = pl.Series([p for _, city in cities for p in city.postcodes])
        self.postcode_off = np.cumsum([0] + [len(city.postcodes) for _, city in cities])[:-1]
        self.postcode_len = np.array([len(city.postcodes) for _, city in cities])
        kinds = {"": 0, "d2": 1, "d3": 2, "gb": 3}
        self.postcode_kind = np.array([kinds[city.postcode_suffix] for _, city in cities])
        # names: (country, gender) pools
        pools = [[c.female, c.male] for c in countries]
        self.first_names = pl.Series([n for p in pools for g in p for n in g])
        lens = np.array([[len(g) for g in p] for p in pools])
        self.first_len = lens
        self.first_off = (np.cumsum(lens.ravel()) - lens.ravel()).reshape(lens.shape)
        self.last_names = pl.Series([n for c in countries for n in c.last])
        self.last_len = np.array([len(c.last) for c in countries])
        self.last_off = np.cumsum(self.last_len) - self.last_len
        # e-mail domains
        self.domains = pl.Series([d for c in countries for d, _ in c.email_domains])
        self.domain_off = np.cumsum([0] + [len(c.email_domains) for c in countries])[:-1]
        self.domain_cdf = _cdf_matrix([[w for _, w in c.email_domains] for c in countries])
        # phone areas: landlines per city, mobiles per country (US: the city's codes)
        self.areas: list[str] = []
        self.area_len: list[int] = []
        city_area: list[tuple[int, int]] = []
        for _, city in cities:
            city_area.append((len(self.areas), len(city.areas)))
            for a, n in city.areas:
                self.areas.append(a)
                self.area_len.append(n)
        country_mobile: list[tuple[int, int]] = []
        for c in countries:
            country_mobile.append((len(self.areas), len(c.mobile_areas)))
            for a, n in c.mobile_areas:
                self.areas.append(a)
                self.area_len.append(n)
        self.city_area = np.array(city_area)
        self.country_mobile = np.array(country_mobile)
        self.area_series = pl.Series(self.areas)
        self.sub_len = np.array(self.area_len)
        self.interest_w = np.log(np.array(ref.INTEREST_WEIGHTS))


TABLES = _Tables()
EMAIL_PATTERN_SHARES = (0.30, 0.12, 0.12, 0.06, 0.18, 0.10, 0.06, 0.06)


def window(cfg: DemoConfig) -> tuple[int, int]:
    """(start, end) of the event window in epoch milliseconds."""
    end = int(cfg.end.timestamp() * 1000)
    return end - cfg.days * DAY_MS, end


def people_chunk(cfg: DemoConfig, chunk: int, lo: int, hi: int) -> pl.DataFrame:
    """Draw people ``lo..hi`` (chunk ``chunk``); ids, e-mails and phones are finished later."""
    rng = rng_for(cfg.seed, STREAM_PEOPLE, chunk)
    t = TABLES
    n = hi - lo
    country = pick(rng, [c.weight for c in ref.COUNTRIES], n)
    city = t.city_offset[country] + pick_rows(rng, t.city_cdf[country])
    gender = pick(rng, ref.GENDER_SHARES, n)
    name_gender = np.where(gender == 2, rng.integers(0, 2, n), gender)
    first_idx = t.first_off[country, name_gender] + (
        rng.random(n) * t.first_len[country, name_gender]
    ).astype(np.int64)
    last_idx = t.last_off[country] + (rng.random(n) * t.last_len[country]).astype(np.int64)
    start, end = window(cfg)
    age = np.clip(18 + rng.gamma(4.0, 5.0, n), 18, 85)
    birth_ms = end - (age * YEAR_MS).astype(np.int64) - rng.integers(0, 365, n) * DAY_MS
    income = pick(rng, ref.INCOME_SHARES, n)
    # interests: weighted sampling without replacement (Gumbel top-k), 1-3 per person
    logw = t.interest_w[gender].copy()
    logw[:, 6] += np.where((age >= 28) & (age < 46), np.log(1.8), 0.0)  # parents buy toys
    logw[:, :2] += np.where(age < 30, np.log(1.2), 0.0)[:, None]
    logw[:, [2, 5]] += np.where(age > 55, np.log(1.3), 0.0)[:, None]
    order = np.argsort(-(logw + rng.gumbel(size=logw.shape)), axis=1)[:, :3]
    n_interests = pick(rng, (0.35, 0.40, 0.25), n) + 1
    interests = np.where(np.arange(3)[None, :] < n_interests[:, None], order, -1)
    propensity = np.round(rng.beta(2.0, 5.0, n), 4)
    lifecycle = pick(rng, ref.LIFECYCLE_SHARES, n)
    online = rng.random(n) >= cfg.crm_only_share
    identifies = online & (rng.random(n) >= cfg.anonymous_only_share)
    in_crm = (identifies & (rng.random(n) < cfg.crm_share)) | ~online
    n_devices = np.where(online, pick(rng, (0.5, 0.35, 0.15), n) + 1, 0)
    activity = rng.gamma(2.0, 0.5, n)
    # activity interval of session starts, shaped by the lifecycle
    span = end - start
    latest = end - LATEST_START_MS
    u = rng.random(n)
    act_a = np.where(lifecycle == 0, end - (span * (0.01 + 0.24 * u)).astype(np.int64), start)
    act_a = np.minimum(act_a, latest)
    act_b = np.where(lifecycle == 3, start + (span * (0.1 + 0.57 * u)).astype(np.int64), latest)
    created = np.where(
        lifecycle == 0,
        act_a - rng.integers(0, HOUR_MS, n),
        start - rng.integers(0, 5 * YEAR_MS, n),
    )
    # contact details
    pattern = pick(rng, EMAIL_PATTERN_SHARES, n)
    email_num = rng.integers(1, 1000, n)
    domain = t.domain_off[country] + pick_rows(rng, t.domain_cdf[country])
    mobile = rng.random(n) < 0.75
    area_off, area_n = np.where(
        mobile[:, None], t.country_mobile[country], t.city_area[city]
    ).T
    us_mobile = mobile & (area_n == 0)  # US mobiles use the city's landline area codes
    area_off = np.where(us_mobile, t.city_area[city][:, 0], area_off)
    area_n = np.where(us_mobile, t.city_area[city][:, 1], area_n)
    area = area_off + (rng.random(n) * area_n).astype(np.int64)
    sub = _subscriber(rng, t.sub_len[area])
    traits_phone = identifies & (rng.random(n) < 0.4)
    web_capitalised = rng.random(n) < 0.05
    postcode_idx = t.postcode_off[city] + (rng.random(n) * t.postcode_len[city]).astype(np.int64)
    digits = rng.integers(0, 1000, n)
    letters = rng.integers(0, 20, (n, 2))
    return pl.DataFrame({
        "_idx": np.arange(lo, hi, dtype=np.int64),
        "first_name": t.first_names.gather(first_idx),
        "last_name": t.last_names.gather(last_idx),
        "gender": pl.Series(ref.GENDERS).gather(gender),
        "birth_date": pl.Series(birth_ms).cast(pl.Datetime("ms")).cast(pl.Date),
        "_country": country.astype(np.int8),
        "_city": city.astype(np.int16),
        "income_band": pl.Series(ref.INCOME_BANDS).gather(income),
        "_interests": interests.astype(np.int8),
        "propensity": propensity,
        "lifecycle": pl.Series(ref.LIFECYCLES).gather(lifecycle),
        "_lifecycle": lifecycle.astype(np.int8),
        "online": online,
        "identifies": identifies,
        "in_crm": in_crm,
        "_devices": n_devices.astype(np.int8),
        "_activity": activity,
        "_act_a": act_a,
        "_act_b": act_b,
        "created_at": pl.Series(created).cast(pl.Datetime("ms", "UTC")),
        "_pattern": pattern.astype(np.int8),
        "_email_num": email_num,
        "_domain": t.domains.gather(domain),
        "_area": t.area_series.gather(area),
        "_sub": sub,
        "_traits_phone": traits_phone,
        "_web_capitalised": web_capitalised,
        "_postcode_prefix": t.postcodes.gather(postcode_idx),
        "_postcode_kind": t.postcode_kind[city].astype(np.int8),
        "_pc_digits": digits,
        "_pc_letters": letters,
    })


def _subscriber(rng: np.random.Generator, lengths: np.ndarray) -> pl.Series:
    """Subscriber numbers of the given lengths, first digit 2-9, as strings."""
    value = rng.integers(2, 10, len(lengths)) * 10**7 + rng.integers(0, 10**7, len(lengths))
    return pl.Series(value // 10 ** (8 - lengths)).cast(pl.String)


_LETTERS = list("ABDEFGHJLNPQRSTUWXYZ")  # letters of British inward codes


def _letter(index: pl.Expr) -> pl.Expr:
    return index.replace_strict(list(range(len(_LETTERS))), _LETTERS, return_dtype=pl.String)


def _fold(expr: pl.Expr) -> pl.Expr:
    return expr.str.to_lowercase().str.replace_many(ref.FOLD).str.replace_all(" ", "")


def finish_people(cfg: DemoConfig, chunks: list[pl.DataFrame]) -> pl.DataFrame:
    """Join the chunks and finish identifiers: unique e-mails and phones, person/user ids."""
    df = pl.concat(chunks, how="vertical")
    f, last = _fold(pl.col("first_name")), _fold(pl.col("last_name"))
    num = pl.col("_email_num").cast(pl.String)
    yy = zfill(pl.col("birth_date").dt.year() % 100, 2)
    p = pl.col("_pattern")
    local = (
        pl.when(p == 0).then(pl.concat_str(f, pl.lit("."), last))
        .when(p == 1).then(pl.concat_str(f, last))
        .when(p == 2).then(pl.concat_str(f.str.slice(0, 1), last))
        .when(p == 3).then(pl.concat_str(f, pl.lit("_"), last))
        .when(p == 4).then(pl.concat_str(f, pl.lit("."), last, yy))
        .when(p == 5).then(pl.concat_str(f, num))
        .when(p == 6).then(pl.concat_str(last, pl.lit("."), f))
        .otherwise(pl.concat_str(f.str.slice(0, 1), pl.lit("."), last, num))
    )
    calling = pl.Series([c.calling_code for c in ref.COUNTRIES])
    df = df.with_columns(local.alias("_local"), calling.gather(df["_country"]).alias("_cc"))
    # e-mails: later duplicates get a number appended, until all are unique
    for _ in range(20):
        df = df.with_columns(pl.concat_str("_local", pl.lit("@"), "_domain").alias("email"))
        dup = pl.int_range(pl.len()).over("email")
        if not df.select((dup > 0).any()).item():
            break
        df = df.with_columns(
            pl.when(dup > 0).then(pl.concat_str("_local", (dup + 1).cast(pl.String)))
            .otherwise("_local").alias("_local")
        )
    # phones: later duplicates draw a new subscriber number, until all are unique
    rng = rng_for(cfg.seed, STREAM_PEOPLE, 1 << 30)
    for _ in range(20):
        taken = df.select(
            pl.int_range(pl.len()).over(pl.concat_str("_cc", "_area", "_sub")) > 0
        ).to_series()
        if not taken.any():
            break
        fresh = _subscriber(rng, df["_sub"].str.len_chars().to_numpy())
        df = df.with_columns(pl.when(taken).then(fresh).otherwise(pl.col("_sub")).alias("_sub"))
    inward = pl.concat_str(
        (pl.col("_pc_digits") % 10).cast(pl.String),
        _letter(pl.col("_pc_letters").arr.get(0)),
        _letter(pl.col("_pc_letters").arr.get(1)),
    )
    kind = pl.col("_postcode_kind")
    prefix = pl.col("_postcode_prefix")
    postcode = (
        pl.when(kind == 1).then(pl.concat_str(prefix, zfill(pl.col("_pc_digits") % 100, 2)))
        .when(kind == 2).then(pl.concat_str(prefix, zfill(pl.col("_pc_digits"), 3)))
        .when(kind == 3).then(pl.concat_str(prefix, pl.lit(" "), inward))
        .otherwise(prefix)
    )
    email = pl.col("email")
    web_email = pl.when("_web_capitalised").then(
        pl.concat_str(email.str.slice(0, 1).str.to_uppercase(), email.str.slice(1))
    ).otherwise(email)
    account = pl.col("identifies").cast(pl.Int64).cum_sum()
    interests = pl.col("_interests").arr.to_list().list.eval(
        pl.element().filter(pl.element() >= 0).replace_strict(
            list(range(len(ref.CATEGORIES))), list(ref.CATEGORIES), return_dtype=pl.String
        )
    )
    return df.with_columns(
        *phone_columns(),
        pl.format("p_{}", zfill(pl.col("_idx") + 1, 6)).alias("person_id"),
        web_email.alias("_web_email"),
        pl.when("identifies").then(pl.format("u_{}", zfill(account, 6))).alias("user_id"),
        postcode.alias("postcode"),
        TABLES.country_codes.gather(df["_country"]).alias("country"),
        TABLES.city_names.gather(df["_city"]).alias("city"),
        interests.alias("interests"),
    )


def phone_columns() -> list[pl.Expr]:
    """Phone numbers in national, E.164 and the other common formats of each country.

    Reads ``_country``, ``_cc`` (calling code), ``_area`` and ``_sub`` (subscriber number).
    """
    c, cc, area, sub = pl.col("_country"), pl.col("_cc"), pl.col("_area"), pl.col("_sub")
    us = c == 0
    n = sub.str.len_chars()

    def s(a: int, b: int) -> pl.Expr:
        return sub.str.slice(a, b - a)

    sp = pl.lit(" ")
    grouped = (
        pl.when(us).then(pl.concat_str(s(0, 3), pl.lit("-"), s(3, 7)))
        .when((c == 1) & (n == 8)).then(pl.concat_str(s(0, 4), sp, s(4, 8)))
        .when((c == 1) & (n == 7)).then(pl.concat_str(s(0, 3), sp, s(3, 7)))
        .when(c == 3).then(pl.concat_str(s(0, 2), sp, s(2, 4), sp, s(4, 6), sp, s(6, 8)))
        .otherwise(sub)
    )
    national = pl.when(us).then(
        pl.concat_str(pl.lit("("), area, pl.lit(") "), grouped)
    ).otherwise(pl.concat_str(pl.lit("0"), area, sp, grouped))
    intl = pl.when(us).then(
        pl.concat_str(pl.lit("+1 "), area, pl.lit("-"), grouped)
    ).otherwise(pl.concat_str(pl.lit("+"), cc, sp, area, sp, grouped))
    dotted_or_00 = pl.when(us).then(
        pl.concat_str(area, pl.lit("."), s(0, 3), pl.lit("."), s(3, 7))
    ).otherwise(pl.concat_str(pl.lit("00"), cc, area, sub))
    compact = pl.when(us).then(pl.concat_str(area, sub)).otherwise(
        pl.concat_str(pl.lit("0"), area, sub)
    )
    return [
        national.alias("phone"),
        pl.concat_str(pl.lit("+"), cc, area, sub).alias("phone_e164"),
        intl.alias("_phone_intl"),
        dotted_or_00.alias("_phone_alt"),
        compact.alias("_phone_compact"),
    ]


PEOPLE_COLUMNS = (
    "person_id", "first_name", "last_name", "gender", "birth_date", "email", "phone",
    "phone_e164", "country", "city", "postcode", "income_band", "interests", "propensity",
    "lifecycle", "online", "identifies", "user_id", "in_crm", "created_at",
)


# ---------------------------------------------------------------- catalog


def _charm(price: np.ndarray) -> np.ndarray:
    """Realistic price points: 4.99, 24.99, 129.99, 1249.99."""
    step = np.select([price < 10, price < 100, price < 1000], [1.0, 5.0, 10.0], 50.0)
    return np.round(np.maximum(np.ceil(price / step) * step, 1.0) - 0.01, 2)


def make_catalog(cfg: DemoConfig) -> pl.DataFrame:
    """The shop's products: id, name, category, brand, price, popularity, URL."""
    rng = rng_for(cfg.seed, STREAM_CATALOG)
    k = len(ref.CATEGORIES)
    counts = np.full(k, cfg.products // k) + (np.arange(k) < cfg.products % k)
    frames = []
    for c, count in enumerate(counts):
        nouns, adjs, brands = (ref.CATEGORY_NOUNS[c], ref.CATEGORY_ADJECTIVES[c],
                               ref.CATEGORY_BRANDS[c])
        combos = rng.choice(len(nouns) * len(adjs) * len(brands), size=int(count), replace=False)
        b, rest = np.divmod(combos, len(nouns) * len(adjs))
        a, nn = np.divmod(rest, len(nouns))
        median, sigma = ref.CATEGORY_PRICE[c]
        price = _charm(rng.lognormal(np.log(median), sigma, int(count)))
        rank = rng.permutation(int(count))
        popularity = 1.0 / (rank + 1.0) ** 0.9
        brand = pl.Series(brands).gather(b)
        frames.append(pl.DataFrame({
            "name": brand + " " + pl.Series(adjs).gather(a) + " " + pl.Series(nouns).gather(nn),
            "category": [ref.CATEGORIES[c]] * int(count),
            "brand": brand,
            "price": price,
            "popularity": np.round(popularity / popularity.sum(), 6),
        }))
    df = pl.concat(frames).with_row_index("_i")
    slug = (
        pl.col("name").str.to_lowercase().str.replace_many(ref.FOLD)
        .str.replace_all(r"[^a-z0-9]+", "-").str.strip_chars("-")
    )
    return df.select(
        pl.format("P{}", pl.col("_i") + 10001).alias("product_id"),
        "name", "category", "brand", "price", "popularity",
        pl.format("{}/products/{}-{}", pl.lit(ref.SHOP_HOST), slug, pl.col("_i") + 10001)
        .alias("url"),
    )


# ---------------------------------------------------------------- CRM export


def make_crm(cfg: DemoConfig, people: pl.DataFrame) -> pl.DataFrame:
    """The CRM export with its dirt, plus a ``_person_id`` column (dropped before export)."""
    rng = rng_for(cfg.seed, STREAM_CRM)
    base = people.filter("in_crm").sort("created_at", "_idx")
    n = len(base)
    email_state = np.where(
        rng.random(n) < cfg.crm_missing_email_rate, 0,
        np.where(rng.random(n) < cfg.crm_email_dirt_rate, 1 + rng.integers(0, 5, n), 6),
    )
    phone_state = np.where(
        rng.random(n) < cfg.crm_missing_phone_rate, 0,
        np.where(rng.random(n) < cfg.crm_phone_format_rate, 1 + rng.integers(0, 4, n), 5),
    )
    typo = rng.random(n) < cfg.crm_typo_rate
    typo_last = rng.random(n) < 0.5
    typo_op = rng.integers(0, 3, n)
    typo_pos = rng.random(n)
    birth_missing = rng.random(n) < 0.12
    score = base["propensity"].to_numpy() * rng.uniform(0.7, 1.3, n)
    tier = np.digitize(score, [0.25, 0.40, 0.55])
    df = base.with_columns(
        pl.Series("_es", email_state), pl.Series("_ps", phone_state), pl.Series("_typo", typo),
        pl.Series("_typo_last", typo_last), pl.Series("_op", typo_op),
        pl.Series("_pos", typo_pos), pl.Series("_bm", birth_missing),
        pl.Series("loyalty_tier", ref.LOYALTY_TIERS).gather(tier),
        pl.format("C{}", zfill(pl.int_range(pl.len()) + 1_000_001, 7)).alias("crm_id"),
    )
    e, es = pl.col("email"), pl.col("_es")
    at = e.str.find("@")
    email = (
        pl.when(es == 0).then(pl.lit(None, dtype=pl.String))
        .when(es == 1).then(e.str.to_uppercase())
        .when(es == 2).then(pl.concat_str(e.str.slice(0, 1).str.to_uppercase(), e.str.slice(1)))
        .when(es == 3).then(pl.concat_str(pl.lit(" "), e, pl.lit(" ")))
        .when(es == 4).then(pl.concat_str(e, pl.lit("  ")))
        .when(es == 5).then(pl.concat_str(e.str.slice(0, at + 1),
                                          e.str.slice(at + 1).str.to_uppercase()))
        .otherwise(e)
    )
    ps = pl.col("_ps")
    phone = (
        pl.when(ps == 0).then(pl.lit(None, dtype=pl.String))
        .when(ps == 1).then(pl.col("phone_e164"))
        .when(ps == 2).then(pl.col("_phone_intl"))
        .when(ps == 3).then(pl.col("_phone_alt"))
        .when(ps == 4).then(pl.col("_phone_compact"))
        .otherwise(pl.col("phone"))
    )
    df = df.with_columns(
        email.alias("email"),
        phone.alias("phone"),
        _typo("first_name", pl.col("_typo") & ~pl.col("_typo_last")),
        _typo("last_name", pl.col("_typo") & pl.col("_typo_last")),
        pl.when("_bm").then(None).otherwise(pl.col("birth_date")).alias("birth_date"),
        pl.col("created_at").dt.date().alias("signup_date"),
    ).select(*CRM_COLUMNS, pl.col("person_id").alias("_person_id"))
    n_dup = round(n * cfg.crm_duplicate_rate)
    if n_dup and n:
        df = pl.concat([df, df[np.sort(rng.choice(n, size=min(n_dup, n), replace=False))]])
    return df[rng.permutation(len(df))]


CRM_COLUMNS = (
    "crm_id", "first_name", "last_name", "email", "phone", "birth_date", "postcode", "country",
    "loyalty_tier", "signup_date",
)


def _typo(column: str, where: pl.Expr) -> pl.Expr:
    """A keyboard slip: drop, double or swap one letter (never the first)."""
    name = pl.col(column)
    n = name.str.len_chars()
    pos = (1 + pl.col("_pos") * (n - 2).clip(lower_bound=1)).floor().cast(pl.Int64)
    pos = pl.min_horizontal(pos, n - 1)
    head, ch, nxt = name.str.slice(0, pos), name.str.slice(pos, 1), name.str.slice(pos + 1, 1)
    tail2 = name.str.slice(pos + 2)
    op = pl.col("_op")
    dropped = pl.concat_str(head, name.str.slice(pos + 1))
    doubled = pl.concat_str(head, ch, ch, name.str.slice(pos + 1))
    swapped = pl.concat_str(head, nxt, ch, tail2)
    slip = (
        pl.when(op == 0).then(dropped)
        .when((op == 1) | (nxt == ch) | (nxt == "")).then(doubled)
        .otherwise(swapped)
    )
    return pl.when(where).then(slip).otherwise(name).alias(column)
