"""Multi-touch attribution: rule-based models in the engine, Markov removal effect in numpy.

Conversion paths are the touchpoints of a person in a look-back window before each conversion.
First-touch, last-touch, linear, time-decay and position-based (40/20/40) credits are window
functions over those paths, summed per channel in one engine query. The data-driven model is a
first-order Markov chain over channel transitions (counted in the engine; the matrix is only
channels x channels) whose *removal effect* says how much the conversion probability drops
when a channel is taken out.

Example:
    >>> chain = MarkovAttribution().fit(
    ...     ["(start)", "(start)", "a", "b"], ["a", "b", "(conversion)", "(null)"], [1, 1, 1, 1])
    >>> {k: round(v, 2) for k, v in chain.shares_.items()}
    {'a': 1.0, 'b': 0.0}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from aidmp.campaigns.markov import CONVERSION, NULL, START, MarkovAttribution
from aidmp.engine.base import Engine
from aidmp.errors import ValidationError

RULE_MODELS = ("first_touch", "last_touch", "linear", "time_decay", "position_based")
MODELS = (*RULE_MODELS, "markov")


def conversion_paths(touches: ir.Table, convs: ir.Table, lookback_days: float) -> ir.Table:
    """Touches in the look-back window before each conversion, numbered in time order.

    Columns: conversion_id, conv_ts, revenue, touch_id, touch_ts, channel, campaign, pos (0 =
    first), n (touches on the path), age_days (conversion time minus touch time).
    """
    c = convs.select(conversion_id=convs.message_id, cprofile=convs.profile_id,
                     conv_ts=convs.timestamp, revenue=convs.revenue)
    t = touches.select(touch_id=touches.message_id, profile_id=touches.profile_id,
                       touch_ts=touches.timestamp, channel=touches.channel,
                       campaign=touches.campaign)
    window = ibis.interval(seconds=int(lookback_days * 86400))
    j = c.join(t, [c.cprofile == t.profile_id, t.touch_ts <= c.conv_ts,
                   t.touch_ts > c.conv_ts - window])
    order = ibis.window(group_by=j.conversion_id, order_by=[j.touch_ts, j.touch_id])
    whole = ibis.window(group_by=j.conversion_id)
    age = (j.conv_ts.epoch_seconds() - j.touch_ts.epoch_seconds()).cast("float64") / 86400.0
    return j.select("conversion_id", "conv_ts", "revenue", "touch_id", "touch_ts", "channel",
                    "campaign", pos=ibis.row_number().over(order),
                    n=j.touch_id.count().over(whole), age_days=age)


def rule_weights(paths: ir.Table, half_life_days: float,
                 position: tuple[float, float, float] = (0.4, 0.2, 0.4)) -> ir.Table:
    """``paths`` with one credit column per rule model (each sums to 1 per conversion)."""
    first_w, middle_w, last_w = position
    is_first, is_last = paths.pos == 0, paths.pos == paths.n - 1
    one = ibis.literal(1.0, type="float64")
    pos_w = (ibis.cases((paths.n == 1, one),
                        (paths.n == 2, ibis.literal(0.5, type="float64")),
                        (is_first, ibis.literal(first_w, type="float64")),
                        (is_last, ibis.literal(last_w, type="float64")),
                        else_=ibis.literal(middle_w, type="float64")
                        / (paths.n - 2).cast("float64"))).cast("float64")
    decay = (ibis.literal(0.5, type="float64") ** (paths.age_days / half_life_days))
    # booleans cast to double: DuckDB would type CASE ... 1.0 ELSE 0.0 as DECIMAL
    p = paths.mutate(first_touch=is_first.cast("float64"),
                     last_touch=is_last.cast("float64"),
                     linear=one / paths.n.cast("float64"),
                     position_based=pos_w, _decay=decay)
    return p.mutate(time_decay=p._decay / p._decay.sum().over(group_by=p.conversion_id)).drop(
        "_decay")


def credit_by(weighted: ir.Table, keys: Sequence[str | ir.Value]) -> ir.Table:
    """Credited conversions (``<model>``) and revenue (``<model>_revenue``) per group."""
    aggs: dict[str, ir.Value] = {}
    for m in RULE_MODELS:
        aggs[m] = weighted[m].sum()
        aggs[f"{m}_revenue"] = (weighted[m] * weighted.revenue).sum()
    return weighted.group_by(list(keys)).aggregate(**aggs)


def transitions(touches: ir.Table, paths: ir.Table, per_journey: bool = False,
                lookback_days: float | None = None) -> ir.Table:
    """Channel transition counts (from_state, to_state, n) of converting and other journeys.

    A converting journey is a conversion path ending in ``(conversion)``. The touches of a
    person that lead to no conversion end in ``(null)``: one journey per person, or, with
    ``lookback_days``, one per run of touches less than ``lookback_days`` apart, so that
    converting and non-converting journeys span the same horizon (without that, months of a
    busy channel's touches chained into one long journey inflate its removal effect). With
    ``per_journey`` the counts are per journey (a ``journey`` column), for resampling.
    """
    w = ibis.window(group_by=paths.conversion_id, order_by=[paths.touch_ts, paths.touch_id])
    conv = paths.select(journey=paths.conversion_id, from_state=paths.channel,
                        to_state=ibis.coalesce(paths.channel.lead().over(w),
                                               ibis.literal(CONVERSION)),
                        first=ibis.row_number().over(w) == 0)
    used = paths.select(used_id=paths.touch_id).distinct()
    rest = touches.anti_join(used, touches.message_id == used.used_id)
    # Lost journeys in one pass over each person's touches: a step goes to the next touch
    # unless that is more than the look-back away (then the journey ends in (null)), and a
    # journey starts at a person's first touch or after such a gap.
    by_time = ibis.window(group_by=rest.profile_id, order_by=[rest.timestamp, rest.message_id])
    secs = rest.timestamp.epoch_seconds()
    prev_gap = secs - rest.timestamp.lag().over(by_time).epoch_seconds()
    next_gap = rest.timestamp.lead().over(by_time).epoch_seconds() - secs
    nxt = rest.channel.lead().over(by_time)
    if lookback_days is None:
        to_state, first = nxt, prev_gap.isnull()
    else:
        limit = lookback_days * 86400
        to_state = ibis.cases((next_gap <= limit, nxt), else_=ibis.null().cast("string"))
        first = prev_gap.isnull() | (prev_gap > limit)
    lost = rest.select(journey=rest.profile_id, ts=rest.timestamp, tid=rest.message_id,
                       from_state=rest.channel,
                       to_state=ibis.coalesce(to_state, ibis.literal(NULL)), first=first)
    if per_journey:
        # one key per lost journey: the person and the number of the run of touches
        run = lost.first.cast("int64").cumsum().over(ibis.window(
            group_by=lost.journey, order_by=[lost.ts, lost.tid], rows=(None, 0)))
        lost = lost.mutate(journey=lost.journey.concat(ibis.literal("#"), run.cast("string")))
    # journey ids cannot clash: conversions are message ids, the others profile ids
    steps = conv.union(lost.select("journey", "from_state", "to_state", "first"),
                       distinct=False)
    starts = steps.filter(steps.first).select("journey", from_state=ibis.literal(START),
                                              to_state=steps.from_state)
    moves = steps.select("journey", "from_state", "to_state").union(starts, distinct=False)
    keys = ["journey", "from_state", "to_state"] if per_journey else ["from_state", "to_state"]
    return moves.group_by(keys).aggregate(n=moves.count())


def markov_credit(trans: pa.Table, total_conversions: float, total_revenue: float
                  ) -> tuple[MarkovAttribution, dict[str, tuple[float, float]]]:
    """Fit the chain and spread conversions and revenue by removal-effect share."""
    d = trans.to_pydict()
    chain = MarkovAttribution().fit(d["from_state"], d["to_state"],
                                    [float(x) for x in d["n"]])
    credit = {c: (s * total_conversions, s * total_revenue) for c, s in chain.shares_.items()}
    return chain, credit


class Attribution:
    """All attribution models side by side over the store's conversion paths.

    Args:
        lookback_days: touches older than this before a conversion get no credit.
        half_life_days: time-decay half-life (a touch this old gets half the weight).
        position_weights: first / middle (shared) / last credit of the position-based model.
        by: columns of the touchpoints to credit (``channel``, or ``channel`` + ``campaign``).
        ci: confidence level of bootstrap intervals (e.g. 0.95); None for none.
        n_boot: bootstrap replicates when ``ci`` is set.
        seed: seed of the bootstrap.

    Attributes:
        credits_: Arrow table, one row per group, ``<model>`` (credited conversions) and
            ``<model>_revenue`` columns for every model of :data:`MODELS`.
        conversions_: conversions with at least one touch in the window.
        revenue_: their revenue.
        unattributed_: conversions with no touch in the window.
        markov_: the fitted :class:`MarkovAttribution` (over channels).
        intervals_: with ``ci``, group -> ``{model: [low, high], <model>_revenue: [...]}``
            (:mod:`aidmp.campaigns.attribution_ci`); Markov ones when ``by`` is channel only.
    """

    def __init__(self, lookback_days: float = 30.0, half_life_days: float = 7.0,
                 position_weights: tuple[float, float, float] = (0.4, 0.2, 0.4),
                 by: Sequence[str] = ("channel",), ci: float | None = None,
                 n_boot: int = 300, seed: int = 0) -> None:
        self.lookback_days = lookback_days
        self.ci = ci
        self.n_boot = n_boot
        self.seed = seed
        self.half_life_days = half_life_days
        self.position_weights = position_weights
        self.by = by

    def _check(self) -> None:
        if self.lookback_days <= 0:
            raise ValidationError("lookback_days must be > 0", field="lookback_days")
        if self.half_life_days <= 0:
            raise ValidationError("half_life_days must be > 0", field="half_life_days")
        if abs(sum(self.position_weights) - 1.0) > 1e-9 or min(self.position_weights) < 0:
            raise ValidationError("position_weights must be 3 non-negative numbers summing to 1",
                                  field="position_weights")
        if self.ci is not None and not (0.5 <= self.ci < 1.0 and self.n_boot >= 20):
            raise ValidationError("ci must be in [0.5, 1) and n_boot >= 20", field="ci")
        bad = [b for b in self.by if b not in ("channel", "campaign")]
        if bad or "channel" not in self.by:
            raise ValidationError(f"by must hold 'channel' and optionally 'campaign', got "
                                  f"{list(self.by)}", field="by")

    def fit(self, engine: Engine, touches: ir.Table, convs: ir.Table) -> Self:
        """Build the paths in ``engine`` and credit every model."""
        self._check()
        execute = engine.execute
        paths = conversion_paths(touches, convs, self.lookback_days)
        weighted = rule_weights(paths, self.half_life_days, self.position_weights)
        rules: pa.Table = execute(credit_by(weighted, list(self.by)))
        # first-touch gives each attributed conversion exactly one credit: its sums are the
        # totals, which saves another pass over the paths
        self.conversions_ = round(sum(v or 0.0 for v in rules.column("first_touch").to_pylist()))
        self.revenue_ = float(sum(v or 0.0 for v in
                                  rules.column("first_touch_revenue").to_pylist()))
        all_n = execute(convs.aggregate(n=convs.count())).column("n")[0].as_py()
        self.unattributed_ = int(all_n or 0) - self.conversions_
        trans: pa.Table = execute(transitions(touches, paths, lookback_days=self.lookback_days))
        self.markov_, credit = markov_credit(trans, self.conversions_, self.revenue_)
        self.credits_ = self._add_markov(rules, credit)
        self.intervals_: dict[tuple[object, ...], dict[str, list[float]]] = {}
        if self.ci is not None:
            # imported here: the bootstrap is only needed when intervals are asked for
            from aidmp.campaigns.attribution_ci import intervals

            per_conv = execute(credit_by(weighted, ["conversion_id", *self.by]))
            journeys = execute(transitions(touches, paths, per_journey=True,
                                           lookback_days=self.lookback_days))
            self.intervals_ = intervals(per_conv, journeys, list(self.by), RULE_MODELS,
                                        self.ci, self.n_boot, self.seed)
        return self

    def _add_markov(self, rules: pa.Table, credit: dict[str, tuple[float, float]]) -> pa.Table:
        rows = rules.to_pylist()
        # Markov credits channels; with campaigns too, split a channel's credit by the
        # campaigns' linear share of it (the chain itself is over channels)
        lin: dict[str, float] = {}
        for r in rows:
            lin[r["channel"]] = lin.get(r["channel"], 0.0) + (r["linear"] or 0.0)
        for r in rows:
            conv, rev = credit.get(r["channel"], (0.0, 0.0))
            part = (r["linear"] or 0.0) / lin[r["channel"]] if lin[r["channel"]] else 0.0
            r["markov"], r["markov_revenue"] = conv * part, rev * part
        rows.sort(key=lambda r: tuple(str(r[k]) for k in self.by))
        return pa.Table.from_pylist(rows)

    def report(self) -> list[dict[str, Any]]:
        """One dict per group: credited conversions and revenue of every model."""
        rows = [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()}
                for r in self.credits_.to_pylist()]
        for r in rows:
            for name, interval in self.intervals_.get(tuple(r[k] for k in self.by), {}).items():
                r[f"{name}_ci"] = interval
        return rows
