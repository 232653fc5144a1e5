"""A campaign study with planted effects: paid channels, costs, a holdout test and the truth.

The web-shop generator (:mod:`aidmp.demo.generator`) tags sessions with UTM campaigns, but
there a channel does not *cause* anything. This module adds what campaign measurement needs to
be checked against a known answer, for the generator's registered customers (their
``userId``):

* **paid channels** (``cpc``, ``paid_social``, ``display`` by default): a daily spend that
  varies around a plan (flighting), clicks that grow with spend with diminishing returns,
  ``clicks(s) = m * reach * (1 - exp(-s / (m * scale)))`` for ``m`` thousand customers (so
  the economics do not depend on the population's size), each click a ``page`` event with
  ``context.campaign``; a click leads to an order within hours with the channel's planted
  ``conversion_rate`` (the channel's true incremental effect) and ``order_value``;
* **baseline orders** that no campaign caused (organic demand, no UTM);
* **an e-mail holdout experiment**: every customer gets an ``Experiment Viewed`` event
  (Segment's spec event: ``experiment_id``, ``variation_name``), arms drawn with
  :func:`aidmp.campaigns.experiments.assign`; the exposed arm gets weekly newsletters (a click is
  a ``page`` with ``utm_medium=email``), and the newsletter causes an extra order for a planted
  share of the exposed, larger for customers under 35 (an ``identify`` at the study's start
  carries every customer's ``age``), so an uplift model has someone to find;
* **costs** per day, channel and campaign (what an ad platform's export holds);
* **truth**: per channel the spend, clicks, caused orders and revenue, the true response curve
  and its marginal return at the planned spend; for the experiment the sample average treatment
  effect on conversion and revenue per person, from both potential outcomes of every person.

Example:
    >>> from aidmp.demo.generator import DemoConfig, DemoGenerator
    >>> study = CampaignStudy(DemoGenerator(DemoConfig(people=300, seed=3)).people(),
    ...                       StudyConfig(days=28, experiment_days=14))
    >>> data = study.generate()
    >>> sorted(data.truth["channels"])
    ['cpc', 'display', 'paid_social']
    >>> data.costs.column_names
    ['date', 'channel', 'campaign', 'cost']
    >>> sorted({m["type"] for m in data.messages})
    ['identify', 'page', 'track']
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from aidmp.campaigns.experiments import assign
from aidmp.demo._reference import SHOP_HOST
from aidmp.demo.config import DEFAULT_END

DAY_S = 86400.0


@dataclass(frozen=True)
class PlantedChannel:
    """One paid channel and its true effect.

    Args:
        channel: the UTM medium (the channel name in reports).
        source: the UTM source.
        campaign: the UTM campaign name.
        daily_spend: planned spend per day and 1,000 customers; the actual spend varies.
        reach: most clicks per day per 1,000 customers (the curve's ceiling).
        scale: spend per 1,000 customers at which clicks reach 63 % of the ceiling.
        conversion_rate: share of clicks that lead to an order (the planted effect).
        order_value: mean revenue of an order the channel caused.
    """

    channel: str
    source: str
    campaign: str
    daily_spend: float
    reach: float
    scale: float
    conversion_rate: float
    order_value: float

    def planned(self, customers: int) -> float:
        """Planned spend per day for ``customers``."""
        return self.daily_spend * customers / 1000.0

    def clicks(self, spend: float | np.ndarray, customers: int) -> Any:
        """Expected clicks per day at ``spend``."""
        m = customers / 1000.0
        return m * self.reach * (1.0 - np.exp(-np.asarray(spend) / (m * self.scale)))

    def expected_return(self, spend: float, customers: int) -> float:
        """Expected revenue per day at ``spend`` (the true response curve)."""
        return float(self.clicks(spend, customers)) * self.conversion_rate * self.order_value

    def marginal_return(self, spend: float, customers: int) -> float:
        """d revenue / d spend at ``spend``: the true marginal ROAS."""
        m = customers / 1000.0
        slope = self.reach / self.scale * math.exp(-spend / (m * self.scale))
        return slope * self.conversion_rate * self.order_value


# search converts best and is far from saturation at its planned spend; social and display
# are spent past the point where another dollar pays back
DEFAULT_CHANNELS: tuple[PlantedChannel, ...] = (
    PlantedChannel("cpc", "google", "search_always_on", 15.0, 12.0, 12.5, 0.06, 70.0),
    PlantedChannel("paid_social", "facebook", "social_prospecting", 15.0, 20.0, 25.0, 0.02,
                   60.0),
    PlantedChannel("display", "gdn", "display_retargeting", 7.5, 20.0, 10.0, 0.01, 55.0),
)


@dataclass(frozen=True)
class StudyConfig:
    """What the study plants. Defaults make a 12-week study ending where the demo ends.

    Args:
        days: length of the study, ending at ``end``.
        seed: randomness of the study (independent of the demo's seed).
        end: end of the study (default: the demo generator's window end).
        channels: the paid channels and their true effects.
        spend_spread: daily spend is the plan times a uniform factor in this range.
        baseline_daily_rate: organic orders per customer per day (no campaign caused them).
        experiment_id: id of the newsletter holdout test.
        holdout_share: share of customers who get no newsletter.
        experiment_days: the test runs for the study's last ``experiment_days`` days.
        sends: newsletters sent to the exposed arm during the test (evenly spaced).
        email_click_rate: share of sends that get a click.
        email_uplift_under_35: share of exposed customers under 35 the newsletter makes order
            (the planted effect).
        email_uplift_35_plus: the same for customers aged 35 and over.
        email_order_value: mean revenue of such an order.
        email_cost_per_send: cost of one newsletter to one person.
        order_delay_hours: mean time from a paid click to the order it causes.
    """

    days: int = 84
    seed: int = 7
    end: datetime | None = None
    channels: tuple[PlantedChannel, ...] = DEFAULT_CHANNELS
    spend_spread: tuple[float, float] = (0.3, 1.7)
    baseline_daily_rate: float = 0.0002
    experiment_id: str = "newsletter_holdout"
    holdout_share: float = 0.2
    experiment_days: int = 28
    sends: int = 4
    email_click_rate: float = 0.08
    email_uplift_under_35: float = 0.05
    email_uplift_35_plus: float = 0.015
    email_order_value: float = 65.0
    email_cost_per_send: float = 0.002
    order_delay_hours: float = 8.0

    def __post_init__(self) -> None:
        if self.days < 7 or not 1 <= self.experiment_days <= self.days:
            raise ValueError("need days >= 7 and 1 <= experiment_days <= days")
        lo, hi = self.spend_spread
        if not 0 < lo <= hi:
            raise ValueError("spend_spread must be (low, high) with 0 < low <= high")
        if not 0 < self.holdout_share < 1:
            raise ValueError("holdout_share must be in (0, 1)")


@dataclass
class StudyData:
    """The study's Segment messages (time-ordered), cost rows and truth."""

    messages: list[dict[str, Any]]
    costs: pa.Table
    truth: dict[str, Any]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class CampaignStudy:
    """Generates a :class:`StudyData` for the registered customers of a demo population.

    Args:
        people: :meth:`aidmp.demo.generator.DemoGenerator.people` (customers are the rows
            with a ``user_id``).
        config: what to plant.
    """

    def __init__(self, people: pl.DataFrame, config: StudyConfig | None = None,
                 end: datetime | None = None) -> None:
        self.config = config or StudyConfig()
        customers = people.filter(pl.col("user_id").is_not_null())
        self.users = customers["user_id"].to_list()
        self.end = self.config.end or end or DEFAULT_END
        born = customers["birth_date"].to_list()
        today = self.end.date()
        self.ages = np.array([today.year - b.year - ((today.month, today.day) < (b.month, b.day))
                              for b in born], dtype=np.int64)
        if not self.users:
            raise ValueError("the population has no registered customers (user_id)")
        self._messages: list[tuple[float, dict[str, Any]]] = []

    # -- messages --------------------------------------------------------------------------------
    def _emit(self, ts: float, message: dict[str, Any]) -> None:
        n = len(self._messages)
        # no sentAt: the study is replayed history, and clock-skew correction against the
        # replay's receive time would move every event to "now"
        message.update(messageId=f"study-{self.config.seed}-{n:08d}", timestamp=_iso(ts))
        self._messages.append((ts, message))

    def _click(self, ts: float, user: str, source: str, medium: str, campaign: str) -> None:
        search = f"?utm_source={source}&utm_medium={medium}&utm_campaign={campaign}"
        page = {"path": "/", "referrer": "", "search": search, "title": "Demo Shop",
                "url": f"{SHOP_HOST}/{search}"}
        self._emit(ts, {"type": "page", "name": "Home", "userId": user, "properties": page,
                        "context": {"page": page, "campaign": {
                            "source": source, "medium": medium, "name": campaign}}})

    def _order(self, ts: float, user: str, revenue: float, cause: str) -> None:
        self._emit(ts, {"type": "track", "event": "Order Completed", "userId": user,
                        "properties": {"order_id": f"ord_s{len(self._messages):08d}",
                                       "revenue": revenue, "currency": "USD",
                                       "products": [{"product_id": f"S-{cause}", "price": revenue,
                                                     "quantity": 1}]},
                        "context": {"page": {"path": "/checkout/confirmation",
                                             "url": f"{SHOP_HOST}/checkout/confirmation"}}})

    # -- the study -------------------------------------------------------------------------------
    def generate(self) -> StudyData:
        """Simulate the study (deterministic for a seed)."""
        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        n = len(self.users)
        end = self.end.timestamp()
        start = end - cfg.days * DAY_S
        self._messages = []
        cost_rows: list[dict[str, Any]] = []
        delay_s = cfg.order_delay_hours * 3600.0

        def revenue(mean: float, size: int) -> np.ndarray:
            sigma = 0.5  # lognormal with the given mean
            return np.round(rng.lognormal(math.log(mean) - sigma**2 / 2, sigma, size), 2)

        # ---- who the customers are (the CRM's sync at the study's start)
        for i, user in enumerate(self.users):
            self._emit(start + 60.0 * (i % 60), {"type": "identify", "userId": user,
                                                 "traits": {"age": int(self.ages[i])}})

        # ---- paid channels: spend -> clicks -> caused orders
        channels: dict[str, Any] = {}
        caused_by: list[tuple[float, str]] = []  # (order time, user) of every caused order
        for ch in cfg.channels:
            lo, hi = cfg.spend_spread
            spend = np.round(ch.planned(n) * rng.uniform(lo, hi, cfg.days), 2)
            clicks = rng.poisson(ch.clicks(spend, n))
            caused, caused_revenue = 0, 0.0
            for d in range(cfg.days):
                day0 = start + d * DAY_S
                cost_rows.append({"date": datetime.fromtimestamp(day0, UTC).date().isoformat(),
                                  "channel": ch.channel, "campaign": ch.campaign,
                                  "cost": float(spend[d])})
                k = int(clicks[d])
                who = rng.integers(0, n, k)
                when = day0 + rng.uniform(0, DAY_S, k)
                converts = rng.random(k) < ch.conversion_rate
                value = revenue(ch.order_value, k)
                delay = np.minimum(rng.exponential(delay_s, k), 2 * DAY_S)
                for i in range(k):
                    user = self.users[int(who[i])]
                    self._click(float(when[i]), user, ch.source, ch.channel, ch.campaign)
                    t_order = float(when[i] + 60.0 + delay[i])
                    if converts[i] and t_order < end:
                        self._order(t_order, user, float(value[i]), ch.channel)
                        caused_by.append((t_order, user))
                        caused += 1
                        caused_revenue += float(value[i])
            planned = ch.planned(n)
            channels[ch.channel] = {
                **asdict(ch), "spend": round(float(spend.sum()), 2),
                "clicks": int(clicks.sum()), "caused_orders": caused,
                "caused_revenue": round(caused_revenue, 2),
                "mean_daily_spend": round(float(spend.mean()), 4),
                "planned_daily_spend": round(planned, 4),
                "expected_daily_return_at_plan": round(ch.expected_return(planned, n), 4),
                "marginal_return_at_plan": round(ch.marginal_return(planned, n), 6)}

        # ---- organic orders
        n_base = rng.poisson(cfg.baseline_daily_rate * cfg.days * n)
        base_who = rng.integers(0, n, n_base)
        base_when = rng.uniform(start, end, n_base)
        base_value = revenue(50.0, n_base)
        for i in range(n_base):
            self._order(float(base_when[i]), self.users[int(base_who[i])], float(base_value[i]),
                        "organic")
        caused_by.extend((float(t), self.users[int(u)]) for t, u in zip(base_when, base_who,
                                                                          strict=True))

        experiment = self._experiment(rng, start, end, caused_by, cost_rows, revenue)
        self._messages.sort(key=lambda m: m[0])
        costs = pa.Table.from_pylist(cost_rows, schema=pa.schema([
            ("date", pa.string()), ("channel", pa.string()), ("campaign", pa.string()),
            ("cost", pa.float64())]))
        truth = {"customers": n, "start": _iso(start), "end": _iso(end),
                 "channels": channels, "organic_orders": int(n_base),
                 "experiment": experiment}
        return StudyData([m for _, m in self._messages], costs, truth)

    def _experiment(self, rng: np.random.Generator, start: float, end: float,
                    orders: list[tuple[float, str]], cost_rows: list[dict[str, Any]],
                    revenue: Any) -> dict[str, Any]:
        """The newsletter holdout test; returns its truth (both potential outcomes)."""
        cfg = self.config
        n = len(self.users)
        t0 = end - cfg.experiment_days * DAY_S
        arms = assign(cfg.experiment_id, self.users,
                      {"holdout": cfg.holdout_share, "exposed": 1 - cfg.holdout_share})
        viewed = t0 + rng.uniform(0, 3600.0, n)
        for i, user in enumerate(self.users):
            self._emit(float(viewed[i]), {
                "type": "track", "event": "Experiment Viewed", "userId": user,
                "properties": {"experiment_id": cfg.experiment_id,
                               "experiment_name": "Newsletter holdout",
                               "variation_name": arms[i]}})
        # orders that happen anyway (ads, organic) inside each person's test window
        index = {u: i for i, u in enumerate(self.users)}
        y0_orders = np.zeros(n, dtype=np.int64)
        for t, u in orders:
            i = index[u]
            if viewed[i] <= t < end:
                y0_orders[i] += 1
        # the newsletter's own effect, drawn for everyone (both potential outcomes)
        gap = cfg.experiment_days * DAY_S / cfg.sends
        send_times = t0 + 7200.0 + gap * np.arange(cfg.sends)
        effect = np.where(self.ages < 35, cfg.email_uplift_under_35, cfg.email_uplift_35_plus)
        extra = rng.random(n) < effect
        extra_send = rng.integers(0, cfg.sends, n)
        extra_value = revenue(cfg.email_order_value, n)
        clicks = rng.random((n, cfg.sends)) < cfg.email_click_rate
        click_delay = rng.exponential(3 * 3600.0, (n, cfg.sends))
        order_delay = rng.exponential(3600.0, n)
        exposed = np.array([a == "exposed" for a in arms])
        extra_time = send_times[extra_send] + click_delay[np.arange(n), extra_send] + 60.0 \
            + order_delay
        extra &= extra_time < end
        for i in np.flatnonzero(exposed).tolist():
            user = self.users[i]
            for s in range(cfg.sends):
                if clicks[i, s] or (extra[i] and extra_send[i] == s):
                    self._click(float(send_times[s] + click_delay[i, s]), user, "newsletter",
                                "email", cfg.experiment_id)
            if extra[i]:
                self._order(float(extra_time[i]), user, float(extra_value[i]), "email")
        for s in range(cfg.sends):
            day = datetime.fromtimestamp(float(send_times[s]), UTC).date().isoformat()
            cost_rows.append({"date": day, "channel": "email", "campaign": cfg.experiment_id,
                              "cost": round(float(exposed.sum()) * cfg.email_cost_per_send, 2)})
        conv0 = y0_orders > 0
        conv1 = conv0 | extra
        return {"experiment_id": cfg.experiment_id, "start": _iso(t0), "end": _iso(end),
                "arms": {"holdout": int((~exposed).sum()), "exposed": int(exposed.sum())},
                "planted_uplift": {"under_35": cfg.email_uplift_under_35,
                                   "35_plus": cfg.email_uplift_35_plus},
                "ate_conversion_under_35": round(float(
                    (conv1.astype(float) - conv0)[self.ages < 35].mean()), 6),
                "ate_conversion_35_plus": round(float(
                    (conv1.astype(float) - conv0)[self.ages >= 35].mean()), 6),
                "ate_conversion": round(float((conv1.astype(float) - conv0).mean()), 6),
                "ate_revenue_per_person": round(float(np.where(extra, extra_value, 0.0).mean()),
                                                6),
                "caused_orders": int((extra & exposed).sum())}

