"""RFM with quantile scores and named segments, engagement, purchasing power.

Scores are quantiles over buyers computed with ``percent_rank`` so that ties share a score
(60 % of people with one order must not be spread over F-scores 1 to 3 at random):
``score = min(5, floor(percent_rank * 5) + 1)``.

Segments (first match wins), on the R and F scores:

====================  ======================
champions             R >= 4 and F >= 4
new customers         R >= 4 and F = 1
potential loyalists   R >= 4 and F in 2..3
loyal                 R = 3 and F >= 3
need attention        R = 3 and F <= 2
can't lose them       R = 1 and F = 5
at risk               R <= 2 and F >= 3
lost                  R = 1 and F = 1
hibernating           R <= 2 and F <= 2
====================  ======================
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from aidmp.engine.base import Engine
from aidmp.profiles.common import epoch_seconds as _secs
from aidmp.profiles.common import property_text

RFM_SEGMENTS = ("champions", "new customers", "potential loyalists", "loyal", "need attention",
                "can't lose them", "at risk", "lost", "hibernating")


def _score(value: ir.Value, *, ascending: bool = True) -> ir.IntegerValue:
    order = value if ascending else ibis.desc(value)
    pr = ibis.percent_rank().over(order_by=order)
    return ibis.least((pr.cast("float64") * 5).floor().cast("int64") + 1, 5)


def rfm(per: ir.Table, ref: ir.Table) -> ir.Table:
    """profile_id, rfm_frequency, rfm_monetary, rfm_recency_days, rfm_r/f/m, score, segment.

    ``per`` has one row per person with the :func:`score_aggregates` columns (the
    computed-traits table); ``ref`` is the build's reference time
    (:func:`aidmp.profiles.common.reference_time`): recency is counted back from it."""
    buyers = per.filter(per._score_rfm_frequency > 0).cross_join(ref)
    now = buyers.now
    # float casts everywhere: Spark reads 86400.0 as a DECIMAL literal otherwise
    # whole days, as RFM is read ("ordered 3 days ago")
    seconds = _secs(now) - _secs(buyers._score_rfm_last)
    days = (seconds.cast("float64") / ibis.literal(86400.0, "float64")).floor().cast("int64")
    per = buyers.select("profile_id", rfm_frequency=buyers._score_rfm_frequency,
                        rfm_monetary=ibis.coalesce(buyers._score_rfm_monetary, 0.0),
                        rfm_recency_days=days)
    scored = per.mutate(rfm_r=_score(per.rfm_recency_days, ascending=False),
                        rfm_f=_score(per.rfm_frequency), rfm_m=_score(per.rfm_monetary.round(6)))
    r, f = scored.rfm_r, scored.rfm_f
    segment = ibis.cases(
        ((r >= 4) & (f >= 4), "champions"),
        ((r >= 4) & (f == 1), "new customers"),
        (r >= 4, "potential loyalists"),
        ((r == 3) & (f >= 3), "loyal"),
        (r == 3, "need attention"),
        ((r == 1) & (f == 5), "can't lose them"),
        (f >= 3, "at risk"),
        ((r == 1) & (f == 1), "lost"),
        else_="hibernating",
    )
    return scored.mutate(
        rfm_score=scored.rfm_r.cast("string") + scored.rfm_f.cast("string")
        + scored.rfm_m.cast("string"),
        rfm_segment=segment)


def score_aggregates(engine: Engine, ev: ir.Table, order_event: str, revenue_property: str,
                     price_property: str, *, order_id_property: str = "order_id",
                     refund_event: str | None = None) -> dict[str, ir.Value]:
    """The per-person aggregates RFM, engagement and purchasing power start from, to compute in
    the same pass over the events as the computed traits (``_score_*`` columns): none depends
    on other people, so a build recomputes them for the people with new events only.

    Frequency counts distinct orders (``order_id_property``, an event without one counting
    once); monetary is the orders' revenue less the absolute revenue of ``refund_event``."""
    recent = ev.timestamp > ev.now - ibis.interval(days=30)
    price = property_text(engine, ev, price_property).try_cast("float64")
    revenue = property_text(engine, ev, revenue_property).try_cast("float64")
    is_order = ev.event == order_event
    # the price of what a person looks at and buys (order value when there are no prices)
    value = ibis.coalesce(price, ibis.ifelse(is_order, revenue, ibis.null("float64")))
    order = ibis.coalesce(property_text(engine, ev, order_id_property), ev.message_id)
    monetary = revenue.sum(where=is_order)
    if refund_event is not None:
        refunds = revenue.abs().sum(where=ev.event == refund_event)
        monetary = ibis.ifelse(monetary.isnull() & refunds.isnull(), ibis.null("float64"),
                               ibis.coalesce(monetary, 0.0) - ibis.coalesce(refunds, 0.0))
    return {"_score_n30": ev.count(where=recent), "_score_price": value.mean(),
            "_score_rfm_last": ev.timestamp.max(where=is_order),
            "_score_rfm_frequency": order.nunique(where=is_order),
            "_score_rfm_monetary": monetary}


def engagement(per: ir.Table) -> ir.Table:
    """profile_id, engagement_score 0-100: half activity in the last 30 days (quantile of event
    count), half recency of the last event (quantile), so it reads as a percentile.

    ``per`` has one row per person with ``last_seen`` and the :func:`score_aggregates`
    columns (the computed-traits table)."""
    activity = ibis.percent_rank().over(order_by=per._score_n30)
    recency = ibis.percent_rank().over(order_by=per.last_seen)
    score = (activity.cast("float64") + recency.cast("float64")) * 50
    return per.select("profile_id", engagement_score=score.round(1))


def purchasing_power(per: ir.Table) -> ir.Table:
    """profile_id, avg_price, purchasing_power low | medium | high: terciles of the average
    price of the products a person looks at and buys, among the people who have one.

    ``per`` has one row per person with the :func:`score_aggregates` columns."""
    per = per.filter(per._score_price.notnull())
    # ranked on the rounded average: a sum's last bits depend on the order it was added in,
    # and two equal averages must share a tier whichever build computed them
    pr = ibis.percent_rank().over(order_by=per._score_price.round(6))
    pr = pr.cast("float64")
    tier = ibis.cases((pr < 1 / 3, "low"), (pr < 2 / 3, "medium"), else_="high")
    return per.select("profile_id", avg_price=per._score_price, purchasing_power=tier)
