"""A deterministic, realistic e-commerce demo-data generator (numpy + polars, no engine).

One ``seed`` drives everything, bit for bit:

* **people** - the ground truth: names, contact details in national formats (US, GB, DE, FR),
  demographics, 1-3 interest categories, a purchasing propensity and a lifecycle
  (new, active, lapsing, churned) that shapes when they are active;
* **catalog** - products with lognormal prices at realistic price points (19.99);
* **events** - Segment-Spec ``page`` / ``identify`` / ``track`` messages of web sessions over a
  time window: 1-3 devices (anonymous ids) per person, evening- and weekend-heavy sessions with
  UTM campaigns, a Product Viewed -> Added -> Checkout Started -> Order Completed funnel,
  log-ins that attach a ``userId`` from the identify call on, delayed batches and skewed clocks;
* **CRM export** - part of the registered customers plus store-only ones, with realistic dirt
  (e-mail case and spaces, phone formats, typos, missing values, duplicate rows);
* **truth** - which person every emitted identifier belongs to, to score identity resolution.

People are simulated in chunks of ``chunk_people`` with their own random streams, so memory
stays bounded: ``event_batches`` and ``write`` stream the messages chunk by chunk.

Example:
    >>> gen = DemoGenerator(DemoConfig(people=50, seed=7))
    >>> batch = next(gen.event_batches(100))
    >>> batch[0]["type"], batch[0]["timestamp"].endswith("Z")
    ('page', True)
    >>> sorted(gen.truth()["id_type"].unique())
    ['anonymous_id', 'crm_id', 'email', 'phone', 'user_id']
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from aidmp.demo import _events as ev
from aidmp.demo import _people as pp
from aidmp.demo import _reference as ref
from aidmp.demo._util import dict_builder, flags_of, resolve, struct_expr, template_columns
from aidmp.demo.config import DemoConfig

__all__ = ["DemoConfig", "DemoGenerator", "estimate_events_per_person", "people_for_events"]


@dataclass(frozen=True)
class _Group:
    """The messages of one template variant within a chunk."""

    frame: pl.DataFrame
    ranks: np.ndarray
    template: dict[str, Any]


class DemoGenerator:
    """Generates the demo shop's people, catalog, events, CRM export and ground truth.

    Results are deterministic for a config; people, catalog and CRM are cached, events are
    re-simulated (identically) on every pass.

    Example:
        >>> gen = DemoGenerator(DemoConfig(people=20, seed=1))
        >>> gen.people()["person_id"].to_list()[:2]
        ['p_000001', 'p_000002']
        >>> gen.catalog()["price"].min() > 0
        True
    """

    def __init__(self, config: DemoConfig) -> None:
        self.config = config
        self._people: pl.DataFrame | None = None
        self._catalog: pl.DataFrame | None = None
        self._crm: pl.DataFrame | None = None

    # ------------------------------------------------------------ people, catalog, CRM

    def _chunks(self) -> Iterator[tuple[int, int, int]]:
        step = self.config.chunk_people
        for chunk, lo in enumerate(range(0, self.config.people, step)):
            yield chunk, lo, min(lo + step, self.config.people)

    def _people_full(self) -> pl.DataFrame:
        if self._people is None:
            parts = [pp.people_chunk(self.config, c, lo, hi) for c, lo, hi in self._chunks()]
            self._people = pp.finish_people(self.config, parts)
        return self._people

    def people(self) -> pl.DataFrame:
        """The ground-truth people, one row each (``interests`` is a list of categories)."""
        return self._people_full().select(pp.PEOPLE_COLUMNS)

    def catalog(self) -> pl.DataFrame:
        """Products: ``product_id, name, category, brand, price, popularity, url``."""
        if self._catalog is None:
            self._catalog = pp.make_catalog(self.config)
        return self._catalog

    def _crm_full(self) -> pl.DataFrame:
        if self._crm is None:
            self._crm = pp.make_crm(self.config, self._people_full())
        return self._crm

    def crm(self) -> pl.DataFrame:
        """The CRM export as the shop would hand it over: dirty, with a few duplicate rows."""
        return self._crm_full().drop("_person_id")

    # ------------------------------------------------------------ simulation per chunk

    def _plans(self) -> Iterator[tuple[int, ev.Plan]]:
        people = self._people_full()
        for chunk, lo, hi in self._chunks():
            yield chunk, ev.make_plan(self.config, chunk, people.slice(lo, hi - lo))

    def _catalog_lookup(self) -> tuple[np.ndarray, np.ndarray]:
        cat = self.catalog()
        codes = cat["category"].replace_strict(list(ref.CATEGORIES), list(range(8))).to_numpy()
        pop = cat["popularity"].to_numpy()
        cdf = np.empty(len(cat))
        starts = np.searchsorted(codes, np.arange(9))
        for c in range(8):
            lo, hi = starts[c], starts[c + 1]
            cum = np.cumsum(pop[lo:hi])
            cdf[lo:hi] = c + cum / cum[-1]
            cdf[hi - 1] = c + 1.0
        return cdf, starts

    def _message_frames(self) -> Iterator[pl.DataFrame]:
        """Each chunk's messages; the next chunk is simulated in a worker thread meanwhile."""
        cdf, starts = self._catalog_lookup()
        catalog = self.catalog()
        frames = (ev.make_messages(self.config, chunk, plan, catalog, cdf, starts)
                  for chunk, plan in self._plans() if len(plan.sessions))
        return _prefetched(frames)

    @staticmethod
    def _groups(msg: pl.DataFrame) -> list[_Group]:
        """Split a chunk's messages by type and optional template parts, in one pass."""
        flags = {k: flags_of(t) for k, t in ev.TEMPLATES.items()}
        every = sorted({f for fs in flags.values() for f in fs})
        keyed = msg.with_columns(
            (pl.col(f) & pl.col("kind").is_in([k for k, fs in flags.items() if f in fs]))
            .alias(f"_flag_{f}") for f in every
        )
        groups = []
        for key, frame in keyed.partition_by(
            ["kind", *(f"_flag_{f}" for f in every)], as_dict=True, include_key=False
        ).items():
            kind = int(key[0])
            present = frozenset(f for f, on in zip(every, key[1:], strict=True) if on)
            groups.append(_Group(frame, frame["rank"].to_numpy(),
                                 resolve(ev.TEMPLATES[kind], present)))
        return groups

    # ------------------------------------------------------------ events

    def event_batches(self, batch_size: int = 10_000) -> Iterator[list[dict[str, Any]]]:
        """Segment-Spec message dicts in batches of ``batch_size`` (the last may be shorter).

        Messages are JSON-ready (str/int/float/bool/None/list/dict only), grouped by person and
        in timestamp order within each person; the concatenated stream does not depend on
        ``batch_size``.

        Example:
            >>> gen = DemoGenerator(DemoConfig(people=30, seed=3))
            >>> sizes = [len(b) for b in gen.event_batches(500)]
            >>> max(sizes) == 500 and sum(sizes) > 500
            True
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        pending: list[dict[str, Any]] = []
        for msg in self._message_frames():
            for part in self._dicts(msg, min(batch_size, 5_000)):
                pending.extend(part)
                while len(pending) >= batch_size:
                    yield pending[:batch_size]
                    pending = pending[batch_size:]
        if pending:
            yield pending

    def _dicts(self, msg: pl.DataFrame, size: int) -> Iterator[list[dict[str, Any]]]:
        groups = [(g, template_columns(g.template), dict_builder(g.template))
                  for g in self._groups(msg)]
        for lo in range(0, len(msg), size):
            hi = min(lo + size, len(msg))
            out: list[Any] = [None] * (hi - lo)
            for g, cols, build in groups:
                i, j = np.searchsorted(g.ranks, [lo, hi])
                if i == j:
                    continue
                part = g.frame.slice(int(i), int(j - i))
                dicts = build(*(part[c].to_list() for c in cols))
                for pos, d in zip((g.ranks[i:j] - lo).tolist(), dicts, strict=True):
                    out[pos] = d
            yield out

    def ndjson_chunks(self) -> Iterator[pl.DataFrame]:
        """The messages as JSON text, one frame (column ``line``) per chunk, in stream order.

        This encodes in polars (Rust), far faster than ``json.dumps`` on the dicts, and yields
        the same messages as :meth:`event_batches`.
        """
        for msg in self._message_frames():
            parts = [g.frame.select("rank", struct_expr(g.template).struct.json_encode()
                                    .alias("line")) for g in self._groups(msg)]
            yield pl.concat(parts).sort("rank").select("line")

    def estimate_events(self) -> int:
        """Expected number of messages for this config (within a few percent beyond ~500 people).

        Example:
            >>> DemoGenerator(DemoConfig(people=1000)).estimate_events() > 40_000
            True
        """
        return round(self.config.people * estimate_events_per_person(self.config))

    # ------------------------------------------------------------ truth and devices

    def devices(self) -> pl.DataFrame:
        """Every device: ``anonymous_id, person_id, device_type, user_agent, locale,
        clock_skew_ms, sessions, logs_in`` (skewed clocks shift timestamps and sentAt alike)."""
        frames = []
        for _, plan in self._plans():
            frames.append(plan.devices.select(
                "anonymous_id",
                plan.people["person_id"].gather(plan.devices["_person"]).alias("person_id"),
                "device_type", "user_agent", "locale", "clock_skew_ms", "sessions", "logs_in",
            ))
        return pl.concat(frames) if frames else pl.DataFrame()

    def truth(self) -> pl.DataFrame:
        """``(id_type, id_value, person_id)`` for every identifier emitted anywhere.

        ``id_type`` is one of ``anonymous_id``, ``user_id``, ``email``, ``phone``, ``crm_id``;
        e-mails and phones appear exactly as emitted (dirty CRM variants included).
        """
        frames: list[pl.DataFrame] = []

        def rows(id_type: str, df: pl.DataFrame, value: str, person: str) -> None:
            frames.append(df.select(
                pl.lit(id_type).alias("id_type"), pl.col(value).alias("id_value"),
                pl.col(person).alias("person_id"),
            ).drop_nulls())

        for _, plan in self._plans():
            dev = plan.devices.filter(pl.col("sessions") > 0)
            dev = dev.with_columns(plan.people["person_id"].gather(dev["_person"]).alias("pid"))
            rows("anonymous_id", dev, "anonymous_id", "pid")
            logged = np.unique(plan.devices.filter("logs_in")["_person"].to_numpy())
            who = plan.people[logged]
            rows("user_id", who, "user_id", "person_id")
            rows("email", who, "_web_email", "person_id")
            rows("phone", who.filter("_traits_phone"), "phone_e164", "person_id")
        crm = self._crm_full()
        for id_type, col in (("crm_id", "crm_id"), ("email", "email"), ("phone", "phone")):
            rows(id_type, crm, col, "_person_id")
        return pl.concat(frames).unique(maintain_order=True)

    # ------------------------------------------------------------ files

    def write(self, folder: Path, progress: Callable[[int], None] | None = None
              ) -> dict[str, Path]:
        """Write ``events.ndjson``, ``crm.csv``, ``catalog.csv``, ``truth.csv``, ``people.csv``.

        Events are streamed chunk by chunk; ``progress`` (if given) receives each chunk's
        message count.

        Example:
            >>> import tempfile
            >>> files = DemoGenerator(DemoConfig(people=20)).write(Path(tempfile.mkdtemp()))
            >>> sorted(files)
            ['catalog.csv', 'crm.csv', 'events.ndjson', 'people.csv', 'truth.csv']
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        files = {name: folder / name for name in
                 ("events.ndjson", "crm.csv", "catalog.csv", "truth.csv", "people.csv")}
        with files["events.ndjson"].open("wb") as fh:
            for lines in self.ndjson_chunks():
                lines.write_csv(fh, include_header=False, quote_style="never")
                if progress:
                    progress(len(lines))
        self.crm().write_csv(files["crm.csv"])
        self.catalog().write_csv(files["catalog.csv"])
        self.truth().write_csv(files["truth.csv"])
        self.people().with_columns(pl.col("interests").list.join("|")).write_csv(
            files["people.csv"])
        return files


def _prefetched(items: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """Yield ``items`` in order while a worker thread already computes the next one.

    Polars and numpy release the GIL for most of the work, so simulating chunk ``k + 1``
    overlaps with encoding chunk ``k``; at most two chunks are in memory.
    """
    pool = ThreadPoolExecutor(1, thread_name_prefix="aidmp-demo")
    try:
        pending = pool.submit(next, items, None)
        while (item := pending.result()) is not None:
            pending = pool.submit(next, items, None)
            yield item
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------- sizing


def estimate_events_per_person(config: DemoConfig) -> float:
    """Expected messages per person under ``config``, from the model's distributions.

    Example:
        >>> 40 < estimate_events_per_person(DemoConfig()) < 60
        True
    """
    c = config
    # propensity ~ Beta(2, 5) on a grid; funnel probabilities per propensity
    x = (np.arange(2000) + 0.5) / 2000
    w = x * (1 - x) ** 4
    w /= w.sum()
    rel = x / (2 / 7)
    p = np.clip(c.add_to_cart_rate * rel, 0.02, 0.9)
    q = np.clip(c.purchase_rate * (0.7 + 0.3 * rel), 0.05, 0.98)
    # product pages ~ min(NegBin(r=1.5, mean=views), 20); landing pages 1 + min(Poisson(1), 5)
    r = 1.5
    prob = r / (r + c.views_per_session)
    k = np.arange(ev.MAX_VIEWS + 1)
    views = np.array([math.exp(math.lgamma(i + r) - math.lgamma(r) - math.lgamma(i + 1)
                               + r * math.log(prob) + i * math.log1p(-prob)) for i in k])
    views[-1] += 1 - views.sum()
    pois = np.array([math.exp(-1) / math.factorial(i) for i in range(ev.MAX_LANDING)])
    landing = 1 + float((np.minimum(np.arange(ev.MAX_LANDING), ev.MAX_LANDING - 1) * pois).sum()
                        + (ev.MAX_LANDING - 1) * (1 - pois.sum()))
    adds = cart = checkout = order = 0.0
    for v, pv in zip(k, views, strict=True):
        for a in range(v + 1):
            pa = math.comb(int(v), a) * p**a * (1 - p) ** (v - a)
            co = min(0.95, c.checkout_rate * a) * pa
            adds += pv * float((w * a * pa).sum())
            cart += pv * float((w * pa).sum()) if a else 0.0
            checkout += pv * float((w * co).sum())
            order += pv * float((w * co * q).sum())
    per_session = (landing + 2 * float((k * views).sum()) + adds + cart + 2 * checkout
                   + 2 * order)
    online = 1 - c.crm_only_share
    identifies = 1.0 + 0.6 * 0.65 * 0.75  # first device, plus some of the 0.65 other devices
    return float(online * (c.sessions_per_person * per_session
                           + (1 - c.anonymous_only_share) * identifies))


def people_for_events(n_events: int, config: DemoConfig | None = None) -> int:
    """How many people give roughly ``n_events`` messages (default config otherwise).

    Example:
        >>> 150_000 < people_for_events(10_000_000) < 250_000
        True
    """
    per_person = estimate_events_per_person(config or DemoConfig())
    return max(1, round(n_events / per_person))
