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
    from aidmp.demo.generator import DemoConfig

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


