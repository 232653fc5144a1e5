"""Two lists of the same people, as two systems would hold them: typos, swaps, missing values.

For developing and testing probabilistic matching: each person appears once in each list (a
share only in one), under column names that differ between the lists (``given_name`` /
``first_name``, ``zip`` / ``postcode``, ``dob`` / ``date_of_birth``) and with the noise of hand
entry: a typo (a letter replaced, dropped, doubled or two swapped), first and last name swapped,
day and month of a birth date swapped, a house number or a postcode digit wrong, values missing.
Postcodes are codes with leading zeros (``0812``), as text.

Example:
    >>> left, right, truth = people_records(RecordsConfig(people=200, seed=1))
    >>> left.columns[:4], right.columns[:4]
    (['record_id', 'given_name', 'surname', 'dob'], ['record_id', 'first_name', 'last_name', \
'date_of_birth'])
    >>> truth.height == left.height + right.height, truth["person_id"].n_unique() <= 200
    (True, True)
    >>> sorted(set(left["zip"].drop_nulls().str.len_chars().to_list()))
    [4]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

FIRST = ("james", "mary", "john", "patricia", "robert", "jennifer", "michael", "linda",
         "william", "elizabeth", "david", "barbara", "richard", "susan", "joseph", "jessica",
         "thomas", "sarah", "charles", "karen", "daniel", "nancy", "matthew", "lisa", "anthony",
         "betty", "mark", "margaret", "donald", "sandra", "steven", "ashley", "paul", "kimberly",
         "andrew", "emily", "joshua", "donna", "kenneth", "michelle", "kevin", "carol", "brian",
         "amanda", "george", "melissa", "timothy", "deborah", "ronald", "stephanie", "jason",
         "rebecca", "edward", "sharon", "jeffrey", "laura", "ryan", "cynthia", "jacob", "amy",
         "chloe", "zoe", "liam", "noah", "olivia", "mia", "lucas", "ava", "ethan", "isla")
LAST = ("smith", "jones", "williams", "brown", "wilson", "taylor", "johnson", "white",
        "martin", "anderson", "thompson", "nguyen", "thomas", "walker", "harris", "lee", "ryan",
        "robinson", "kelly", "king", "davis", "wright", "evans", "roberts", "green", "hall",
        "wood", "jackson", "clarke", "patel", "khan", "lewis", "james", "phillips", "mitchell",
        "turner", "campbell", "murphy", "cook", "morris", "ward", "young", "baker", "scott",
        "edwards", "hughes", "reid", "graham", "hill", "moore", "russell", "stewart", "kennedy",
        "hamilton", "o'brien", "mcdonald", "fraser", "watson", "henderson", "bell", "cooper",
        "duncan", "ferguson", "gordon", "hunter", "marshall", "murray", "palmer", "simpson")
STREETS = ("high street", "station road", "church street", "park avenue", "victoria road",
           "george street", "king street", "queen street", "elizabeth drive", "bay road",
           "hill crescent", "river parade", "ocean view", "forest way", "main road",
           "wattle grove", "banksia close", "acacia place", "pine lane", "beach road")
# (suburb, postcode, state): codes with leading zeros where the country has them
PLACES = (("darwin", "0800", "nt"), ("palmerston", "0830", "nt"), ("casuarina", "0810", "nt"),
          ("sydney", "2000", "nsw"), ("parramatta", "2150", "nsw"), ("newcastle", "2300", "nsw"),
          ("wollongong", "2500", "nsw"), ("melbourne", "3000", "vic"), ("geelong", "3220", "vic"),
          ("ballarat", "3350", "vic"), ("brisbane", "4000", "qld"), ("cairns", "4870", "qld"),
          ("townsville", "4810", "qld"), ("adelaide", "5000", "sa"), ("perth", "6000", "wa"),
          ("fremantle", "6160", "wa"), ("hobart", "7000", "tas"), ("launceston", "7250", "tas"),
          ("canberra", "2600", "act"), ("nightcliff", "0812", "nt"))
LEFT_NAMES = {"first_name": "given_name", "last_name": "surname", "birth_date": "dob",
              "street_number": "street_number", "address": "address_1", "city": "suburb",
              "postcode": "zip", "state": "state", "email": "email"}
RIGHT_NAMES = {"first_name": "first_name", "last_name": "last_name",
               "birth_date": "date_of_birth", "street_number": "house_number",
               "address": "street", "city": "city", "postcode": "postcode", "state": "state",
               "phone": "phone"}


@dataclass(frozen=True)
class RecordsConfig:
    """How many people and how much noise."""

    people: int = 1_000
    seed: int = 7
    only_one_side: float = 0.1
    typo: float = 0.12
    swap_names: float = 0.03
    swap_day_month: float = 0.03
    missing: float = 0.08


def _typo(text: str, rng: np.random.Generator) -> str:
    if len(text) < 3:
        return text
    i = int(rng.integers(1, len(text) - 1))
    kind = int(rng.integers(0, 4))
    letter = "abcdefghijklmnopqrstuvwxyz0123456789"[int(rng.integers(0, 26 if text[i].isalpha()
                                                                      else 36))]
    if kind == 0:
        return text[:i] + letter + text[i + 1:]
    if kind == 1:
        return text[:i] + text[i + 1:]
    if kind == 2:
        return text[:i] + text[i] + text[i:]
    return text[:i - 1] + text[i] + text[i - 1] + text[i + 1:]


def _people(cfg: RecordsConfig, rng: np.random.Generator) -> list[dict[str, str]]:
    out = []
    start = date(1940, 1, 1)
    for i in range(cfg.people):
        first, last = FIRST[int(rng.integers(len(FIRST)))], LAST[int(rng.integers(len(LAST)))]
        suburb, postcode, state = PLACES[int(rng.integers(len(PLACES)))]
        born = start + timedelta(days=int(rng.integers(0, 365 * 65)))
        out.append({
            "person_id": f"p{i}", "first_name": first, "last_name": last,
            "birth_date": born.isoformat(), "street_number": str(int(rng.integers(1, 300))),
            "address": STREETS[int(rng.integers(len(STREETS)))], "city": suburb,
            "postcode": postcode, "state": state,
            "email": f"{first}.{last.replace(chr(39), '')}{int(rng.integers(1, 99))}@mail.test",
            "phone": f"04{int(rng.integers(10_000_000, 99_999_999))}"})
    return out


def _noisy(person: dict[str, str], cfg: RecordsConfig, rng: np.random.Generator
           ) -> dict[str, str | None]:
    rec: dict[str, str | None] = dict(person)
    if rng.random() < cfg.swap_names:
        rec["first_name"], rec["last_name"] = rec["last_name"], rec["first_name"]
    born = str(rec["birth_date"])
    if rng.random() < cfg.swap_day_month and int(born[8:10]) <= 12:
        rec["birth_date"] = f"{born[:4]}-{born[8:10]}-{born[5:7]}"
    for key in ("first_name", "last_name", "address", "city", "street_number", "postcode",
                "birth_date", "email", "phone"):
        value = rec.get(key)
        if value is None:
            continue
        if rng.random() < cfg.missing:
            rec[key] = None
        elif rng.random() < cfg.typo:
            if key in ("birth_date", "postcode"):  # a wrong digit, the length kept
                i = len(value) - 1 - int(rng.integers(0, 2))
                rec[key] = value[:i] + str((int(value[i]) + 1) % 10) + value[i + 1:]
            else:
                rec[key] = _typo(value, rng)
    return rec


def people_records(cfg: RecordsConfig = RecordsConfig()
                   ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(left list, right list, truth): the truth has ``id_type``, ``id_value``, ``person_id``
    with left records as ``user_id`` and right ones as ``anonymous_id`` (import them with
    ``user_id_column`` / ``anonymous_id_column`` = ``record_id``)."""
    rng = np.random.default_rng(cfg.seed)
    people = _people(cfg, rng)
    sides: dict[str, list[dict[str, str | None]]] = {"l": [], "r": []}
    truth = []
    for n, person in enumerate(people):
        draw = rng.random()
        present = ["l", "r"] if draw >= cfg.only_one_side else [["l", "r"][n % 2]]
        for side in present:
            rec = _noisy(person, cfg, rng)
            rec_id = f"{side}{n:06d}"
            names = LEFT_NAMES if side == "l" else RIGHT_NAMES
            if side == "r" and rec["birth_date"]:
                b = str(rec["birth_date"])
                rec["birth_date"] = b.replace("-", "")  # the other system writes YYYYMMDD
            sides[side].append({"record_id": rec_id,
                                **{out: rec.get(key) for key, out in names.items()}})
            truth.append({"id_type": "user_id" if side == "l" else "anonymous_id",
                          "id_value": rec_id, "person_id": person["person_id"]})
    schema = {c: pl.String for c in ["record_id", *LEFT_NAMES.values()]}
    left = pl.DataFrame(sides["l"], schema=schema)
    right = pl.DataFrame(sides["r"], schema={c: pl.String for c in ["record_id",
                                                                    *RIGHT_NAMES.values()]})
    return left, right, pl.DataFrame(truth)


__all__ = ["LEFT_NAMES", "RIGHT_NAMES", "RecordsConfig", "people_records"]
