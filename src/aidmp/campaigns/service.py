"""The ``Campaigns`` namespace: costs, ROI / ROAS, attribution and experiments over the store.

ROI and ROAS credit revenue with one attribution model (last-touch by default) and put it
next to the imported ``campaign_costs``: ROAS = revenue / cost, ROI = (revenue - cost) / cost.
By segment, a channel's cost is shared in proportion to the segment members' touches on it.

Example:
    >>> ratios(50.0, 20.0)
    {'roas': 2.5, 'roi': 1.5}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa

from aidmp.campaigns import touchpoints as tp
from aidmp.campaigns.attribution import (
    MODELS,
    RULE_MODELS,
    Attribution,
    conversion_paths,
    rule_weights,
)
from aidmp.campaigns.experiments import AB, Correction, analyse, assign
from aidmp.campaigns.plans import CampaignPlans
from aidmp.engine.base import Engine
from aidmp.errors import ValidationError
from aidmp.segments.service import Segments

GROUPINGS = ("channel", "campaign", "week", "segment")
EXPOSURE_EVENT = "Experiment Viewed"
_CONTROLS = ("control", "holdout")


def ratios(revenue: float, cost: float) -> dict[str, float | None]:
    """ROAS and ROI (None without cost)."""
    if not cost:
        return {"roas": None, "roi": None}
    return {"roas": round(revenue / cost, 6), "roi": round((revenue - cost) / cost, 6)}


def _week(ts: ir.TimestampValue | ir.DateValue) -> ir.Value:
    # via timestamp: DuckDB's date_trunc of a DATE returns a TIMESTAMP that ibis types as date
    if isinstance(ts, ir.DateValue):
        ts = ts.cast("timestamp")
    return ts.truncate("W").cast("date")


@dataclass(frozen=True)
class _Participants:
    people: list[str]
    arm_of: list[str]
    arms: list[str]  # control first
    outcomes: dict[str, tuple[int, float]]  # profile_id -> (conversions, revenue)
    source: str  # "recorded" or "assigned"


class Campaigns:
    """Campaign measurement over one engine (``dmp.campaigns``); with ``as_of`` (UTC) the
    reports read only touches and conversions up to it and costs of days up to its date."""

    def __init__(self, engine: Engine, *, as_of: datetime | None = None) -> None:
        self.engine, self.as_of = engine, as_of

    # -- definitions -----------------------------------------------------------------------------
    @property
    def plans(self) -> CampaignPlans:
        """Campaign definitions (create / list / get / delete)."""
        return CampaignPlans(self.engine)

    def create(self, name: str, channel: str, start: date, end: date, *,
               daily_cost: float | None = None, audience: str | None = None,
               utm_campaign: str | None = None, holdout: float | None = None
               ) -> dict[str, Any]:
        """Define a campaign (see :meth:`CampaignPlans.create`)."""
        return self.plans.create(name, channel, start, end, daily_cost=daily_cost,
                                 audience=audience, utm_campaign=utm_campaign, holdout=holdout)

    def performance(self, campaign_id: str, *, model: str = "last_touch",
                    lookback_days: float = 30.0, alpha: float = 0.05,
                    seed: int = 0) -> dict[str, Any]:
        """One campaign from start to end: cost, touches, reach, credited conversions and
        revenue, ROAS / ROI and, with an audience and a holdout, the holdout test.

        Touches are the events carrying the campaign's channel and ``utm_campaign`` between
        its first and last day; ``model`` credits conversions to them. The holdout test
        draws the audience's current members exactly as the audience sync does (experiment
        id = campaign id) and compares their conversions during the campaign.
        """
        if model not in RULE_MODELS:
            raise ValidationError(f"model must be one of {', '.join(RULE_MODELS)}, got "
                                  f"{model!r}", field="model")
        plan = self.plans.get(campaign_id)
        t0 = datetime.combine(plan["start_date"], time(), tzinfo=UTC)
        t1 = datetime.combine(plan["end_date"] + timedelta(days=1), time(), tzinfo=UTC)
        touches = self.touchpoints()
        mine = touches.filter([touches.channel == plan["channel"],
                               touches.campaign == plan["utm_campaign"],
                               touches.timestamp >= ibis.literal(t0),
                               touches.timestamp < ibis.literal(t1)])
        reach = self.engine.execute(mine.aggregate(
            touches=mine.count(), people=mine.profile_id.nunique())).to_pylist()[0]
        w = rule_weights(conversion_paths(touches, self.conversions(), lookback_days), 7.0)
        w = w.filter([w.channel == plan["channel"], w.campaign == plan["utm_campaign"],
                      w.touch_ts >= ibis.literal(t0), w.touch_ts < ibis.literal(t1)])
        credit = self.engine.execute(w.aggregate(conversions=w[model].sum(),
                                                 revenue=(w[model] * w.revenue).sum())
                                     ).to_pylist()[0]
        cost = 0.0
        all_costs = tp.costs_until(self.engine, self.as_of)
        if all_costs is not None:
            c = all_costs.filter([all_costs.channel == plan["channel"],
                                  all_costs.campaign == plan["utm_campaign"],
                                  all_costs.date >= ibis.literal(plan["start_date"]),
                                  all_costs.date <= ibis.literal(plan["end_date"])])
            cost = float(self.engine.execute(c.aggregate(s=c.cost.sum())).column("s")[0]
                         .as_py() or 0.0)
        revenue = float(credit["revenue"] or 0.0)
        out: dict[str, Any] = {
            "campaign": plan, "model": model, "lookback_days": lookback_days,
            "touches": int(reach["touches"] or 0), "people_reached": int(reach["people"] or 0),
            "conversions": round(float(credit["conversions"] or 0.0), 6),
            "revenue": round(revenue, 6), "cost": round(cost, 6), **ratios(revenue, cost),
            "audience_size": None, "holdout_test": None}
        if plan["audience"] is not None:
            members = Segments(self.engine).member_ids(plan["audience"])
            out["audience_size"] = len(members)
            if plan["holdout_share"]:
                h = float(plan["holdout_share"])
                part = self._participants(campaign_id, {"holdout": h, "exposed": 1 - h}, t0,
                                          t1, people=sorted(members))
                out["holdout_test"] = analyse(campaign_id, part.people, part.arm_of,
                                              part.outcomes, part.arms, alpha=alpha,
                                              seed=seed)
        return out

    # -- inputs ----------------------------------------------------------------------------------
    def import_costs(self, source: str | Path | pa.Table, *, mode: str = "replace") -> int:
        """Load a cost CSV (date, channel, campaign, cost) into ``campaign_costs``."""
        return tp.import_costs(self.engine, source, mode=mode)

    def touchpoints(self) -> ir.Table:
        """Campaign touches (ibis expression)."""
        return tp.until(tp.touchpoints(self.engine), self.as_of)

    def conversions(self, event: str = tp.CONVERSION_EVENT) -> ir.Table:
        """Conversions (ibis expression)."""
        return tp.until(tp.conversions(self.engine, event), self.as_of)

    # -- attribution -----------------------------------------------------------------------------
    def attribution(self, *, lookback_days: float = 30.0, half_life_days: float = 7.0,
                    by: Sequence[str] = ("channel",), ci: float | None = None,
                    n_boot: int = 300, seed: int = 0) -> dict[str, Any]:
        """Every model side by side: credited conversions and revenue per channel.

        With ``ci`` (e.g. 0.95) every credit gets a bootstrap interval (``<model>_ci``).
        """
        model = Attribution(lookback_days=lookback_days, half_life_days=half_life_days,
                            by=by, ci=ci, n_boot=n_boot, seed=seed).fit(
            self.engine, self.touchpoints(), self.conversions())
        return {"models": list(MODELS), "lookback_days": lookback_days, "ci": ci,
                "half_life_days": half_life_days, "conversions": model.conversions_,
                "revenue": round(model.revenue_, 6), "unattributed": model.unattributed_,
                "removal_effects": {k: round(v, 6) for k, v in
                                    model.markov_.removal_effects_.items()},
                "rows": model.report()}

    # -- ROI / ROAS ------------------------------------------------------------------------------
    def roi(self, by: str = "channel", *, model: str = "last_touch",
            lookback_days: float = 30.0, half_life_days: float = 7.0) -> list[dict[str, Any]]:
        """Revenue, cost, ROAS and ROI by ``channel``, ``campaign`` (channel + campaign),
        ``week`` (channel + week of the conversion / cost) or ``segment`` (open spells)."""
        if by not in GROUPINGS:
            raise ValidationError(f"by must be one of {', '.join(GROUPINGS)}, got {by!r}",
                                  field="by")
        if model not in RULE_MODELS:
            raise ValidationError(f"model must be one of {', '.join(RULE_MODELS)}, got "
                                  f"{model!r}", field="model")
        touches = self.touchpoints()
        paths = conversion_paths(touches, self.conversions(), lookback_days)
        w = rule_weights(paths, half_life_days)
        if by == "segment":
            return self._by_segment(w, touches, model)
        keys = {"channel": ["channel"], "campaign": ["channel", "campaign"],
                "week": ["channel", "week"]}[by]
        w = w.mutate(week=_week(w.conv_ts))
        credit = w.group_by(keys).aggregate(conversions=w[model].sum(),
                                            revenue=(w[model] * w.revenue).sum())
        rows = {tuple(r[k] for k in keys): r for r in self.engine.execute(credit).to_pylist()}
        cost = tp.costs_until(self.engine, self.as_of)
        if cost is not None:
            c = cost.mutate(week=_week(cost.date))
            for r in self.engine.execute(c.group_by(keys).aggregate(
                    cost=c.cost.sum())).to_pylist():
                k = tuple(r[x] for x in keys)
                rows.setdefault(k, {**{x: r[x] for x in keys}, "conversions": 0.0,
                                    "revenue": 0.0})["cost"] = r["cost"]
        out = []
        for k in sorted(rows, key=lambda t: tuple(str(x) for x in t)):
            r = rows[k]
            rev, cst = float(r["revenue"] or 0.0), float(r.get("cost") or 0.0)
            out.append({**{x: r[x] for x in keys}, "conversions": round(r["conversions"], 6),
                        "revenue": round(rev, 6), "cost": round(cst, 6), **ratios(rev, cst)})
        return out

    def _by_segment(self, w: ir.Table, touches: ir.Table, model: str) -> list[dict[str, Any]]:
        sm = self.engine.table("segment_members")
        members = sm.filter(sm.exited_at.isnull()).select("segment_id", "profile_id").distinct()
        conv = self.conversions().select(conversion_id="message_id", profile_id="profile_id")
        wm = w.join(conv, "conversion_id").join(members, "profile_id")
        credit = self.engine.execute(wm.group_by(["segment_id", "channel"]).aggregate(
            conversions=wm[model].sum(), revenue=(wm[model] * wm.revenue).sum())).to_pylist()
        tm = touches.join(members, "profile_id")
        seg_t = {(r["segment_id"], r["channel"]): r["n"] for r in self.engine.execute(
            tm.group_by(["segment_id", "channel"]).aggregate(n=tm.count())).to_pylist()}
        all_t = {r["channel"]: r["n"] for r in self.engine.execute(
            touches.group_by("channel").aggregate(n=touches.count())).to_pylist()}
        cost = tp.costs_until(self.engine, self.as_of)
        ch_cost: dict[str, float] = {}
        if cost is not None:
            ch_cost = {r["channel"]: float(r["cost"]) for r in self.engine.execute(
                cost.group_by("channel").aggregate(cost=cost.cost.sum())).to_pylist()}
        out = []
        for r in sorted(credit, key=lambda r: (r["segment_id"], r["channel"])):
            share = seg_t.get((r["segment_id"], r["channel"]), 0) / max(all_t.get(
                r["channel"], 0), 1)
            cst = ch_cost.get(r["channel"], 0.0) * share
            rev = float(r["revenue"] or 0.0)
            out.append({"segment_id": r["segment_id"], "channel": r["channel"],
                        "conversions": round(r["conversions"], 6), "revenue": round(rev, 6),
                        "cost": round(cst, 6), **ratios(rev, cst)})
        return out

    def report(self, *, lookback_days: float = 30.0, model: str = "last_touch"
               ) -> dict[str, Any]:
        """ROI / ROAS by channel, campaign and week, plus all attribution models."""
        return {"model": model,
                **{f"by_{g}": self.roi(g, model=model, lookback_days=lookback_days)
                   for g in ("channel", "campaign", "week")},
                "attribution": self.attribution(lookback_days=lookback_days)}

    # -- optimiser input -------------------------------------------------------------------------
    def optimise(self, history: pa.Table | None = None, *, total: float | None = None,
                 period: str = "day", attribution_model: str = "last_touch",
                 lookback_days: float = 30.0, **options: Any) -> dict[str, Any]:
        """Allocate a budget across channels by LP over fitted diminishing-return curves.

        Without ``history`` the store's costs and attributed revenue per ``period`` are the
        history (:meth:`history`). ``options`` go to
        :func:`~aidmp.campaigns.optimiser.service.optimise_budget` (breakpoints, model,
        min_spend, max_spend, reach_caps, current, spend_all, plot).
        """
        from aidmp.campaigns.optimiser.service import optimise_budget

        def stored() -> pa.Table:
            return self.history(model=attribution_model, lookback_days=lookback_days,
                                period=period, fittable=True)

        return optimise_budget(stored if history is None else history, total=total, **options)

    def history(self, *, model: str = "last_touch", lookback_days: float = 30.0,
                half_life_days: float = 7.0, period: str = "day",
                fittable: bool = False) -> pa.Table:
        """Spend and attributed revenue per channel and period: the budget optimiser's input.

        Spend is the imported ``campaign_costs``; the return of a period is the revenue that
        ``model`` credits to the channel's touches *in* that period (a click today earns
        today's spend its orders of the next days). Only channels with costs appear; with
        ``fittable``, only those with at least 3 different positive spends (what a response
        curve needs), the others listed in the table's ``skipped`` metadata.

        Returns:
            Arrow table ``channel, period, spend, return`` (period: ISO date of the day or
            the week's Monday).
        """
        if model not in RULE_MODELS:
            raise ValidationError(f"model must be one of {', '.join(RULE_MODELS)}, got "
                                  f"{model!r}", field="model")
        if period not in ("day", "week"):
            raise ValidationError(f"period must be day or week, got {period!r}", field="period")
        cost = tp.costs_until(self.engine, self.as_of)
        if cost is None:
            raise ValidationError("no campaign costs: import them first (aidmp campaigns costs "
                                  "FILE)", field="history")

        def when(ts: ir.Value) -> ir.Value:
            return _week(ts) if period == "week" else ts.cast("date")

        paths = conversion_paths(self.touchpoints(), self.conversions(), lookback_days)
        w = rule_weights(paths, half_life_days)
        w = w.mutate(period=when(w.touch_ts))
        earned = {(r["channel"], r["period"]): float(r["ret"] or 0.0) for r in
                  self.engine.execute(w.group_by(["channel", "period"]).aggregate(
                      ret=(w[model] * w.revenue).sum())).to_pylist()}
        c = cost.mutate(period=when(cost.date))
        spent = self.engine.execute(c.group_by(["channel", "period"]).aggregate(
            spend=c.cost.sum()).order_by(["channel", "period"])).to_pylist()
        skipped: list[str] = []
        if fittable:
            levels: dict[str, set[float]] = {}
            for r in spent:
                if r["spend"] and r["spend"] > 0:
                    levels.setdefault(r["channel"], set()).add(round(float(r["spend"]), 2))
            skipped = sorted({r["channel"] for r in spent
                              if len(levels.get(r["channel"], ())) < 3})
            spent = [r for r in spent if r["channel"] not in skipped]
        out = pa.table({
            "channel": pa.array([r["channel"] for r in spent], pa.string()),
            "period": pa.array([r["period"].isoformat() for r in spent], pa.string()),
            "spend": pa.array([float(r["spend"]) for r in spent], pa.float64()),
            "return": pa.array([earned.get((r["channel"], r["period"]), 0.0) for r in spent],
                               pa.float64())})
        return out.replace_schema_metadata({"skipped": ",".join(skipped)})

    # -- experiments -----------------------------------------------------------------------------
    def experiment(self, experiment_id: str, *, arms: Mapping[str, float] | None = None,
                   start: datetime | None = None, end: datetime | None = None,
                   alpha: float = 0.05, seed: int = 0, event: str = tp.CONVERSION_EVENT,
                   value_property: str = "revenue", correction: Correction = "holm"
                   ) -> dict[str, Any]:
        """Compare each arm of an experiment with its control (the first arm).

        When the events hold ``Experiment Viewed`` calls for ``experiment_id`` (Segment's spec
        event, ``properties.experiment_id`` and ``variation_name``), the test was run
        elsewhere: its people and arms are the recorded ones, and each person's outcomes count
        from their first exposure on. Otherwise every known person is assigned
        deterministically to ``arms`` (weights; ``arms={"holdout": 0.1, "exposed": 0.9}`` for
        a holdout test) and outcomes count from ``start``. The control is the arm named
        ``control`` or ``holdout`` when there is one, else the first. The outcome is any
        ``event`` (orders by default; visits, sign-ups...) of each person until ``end``, read
        three ways: did it (conversion), how often (count) and its ``value_property`` summed
        (revenue). With several treatments every one is compared with the control and the
        p-values of each metric are adjusted (``correction``: holm, bonferroni, none).
        """
        part = self._participants(experiment_id, arms, start, end, event=event,
                                  value_property=value_property)
        result = analyse(experiment_id, part.people, part.arm_of, part.outcomes, part.arms,
                         alpha=alpha, seed=seed, correction=correction)
        return {**result, "arms_from": part.source, "event": event,
                "value_property": value_property}

    def uplift(self, experiment_id: str, features: Sequence[str], *,
               arms: Mapping[str, float] | None = None, start: datetime | None = None,
               end: datetime | None = None, folds: int = 5, top: int = 0,
               seed: int = 0, event: str = tp.CONVERSION_EVENT) -> dict[str, Any]:
        """Who responds: a cross-fitted two-model uplift over profile ``features``; with
        several treatments, one per treatment against the control, and each person's best
        arm (the highest predicted uplift, if positive).

        The people, arms and outcomes (converted or not) are those of :meth:`experiment`;
        the features are numeric ``profiles`` columns (missing values allowed), which should
        describe people *before* the test (demographics, tenure), not its outcome.

        Returns:
            The :func:`~aidmp.campaigns.uplift.uplift_report` (Qini, deciles of predicted vs
            observed uplift) and, with ``top``, the ``top`` profiles most likely to respond.
        """
        from aidmp.campaigns.uplift import arm_uplift, uplift_report

        if not features:
            raise ValidationError("name at least one profile column", field="features")
        part = self._participants(experiment_id, arms, start, end, event=event)
        x_all = self._features(part.people, features)
        y_all = np.array([1 if part.outcomes.get(p, (0, 0.0))[0] else 0 for p in part.people])
        arm = np.array(part.arm_of)
        control = part.arms[0]
        reports: dict[str, dict[str, Any]] = {}
        scores: dict[str, np.ndarray] = {}
        for treatment in part.arms[1:]:
            # each treatment against the control on the people of those two arms; its uplift
            # is also predicted for everyone, so that the best arm per person can be named
            rows = np.isin(arm, [control, treatment])
            reports[treatment] = uplift_report(x_all[rows], arm[rows] == treatment, y_all[rows],
                                               features, folds=folds, seed=seed)
            scores[treatment] = arm_uplift(x_all, rows, arm == treatment, y_all)
        if len(reports) == 1:
            (treatment, report), = reports.items()
            predicted = report.pop("predicted")
            people = [p for p, a in zip(part.people, arm, strict=True) if a in reports
                      or a == control]
            order = np.argsort(-predicted, kind="stable")[:top]
            report["top"] = [{"profile_id": people[i],
                              "predicted_uplift": round(float(predicted[i]), 6)} for i in order]
            return {"experiment_id": experiment_id, "control": control,
                    "treatment": treatment, "arms_from": part.source, **report}
        for report in reports.values():
            report.pop("predicted")
        names = list(scores)
        matrix = np.column_stack([scores[n] for n in names])
        best, gain = matrix.argmax(axis=1), matrix.max(axis=1)
        order = np.argsort(-gain, kind="stable")[:top]
        return {"experiment_id": experiment_id, "control": control, "treatments": reports,
                "arms_from": part.source,
                "best_arm_share": {n: float(np.mean((best == i) & (gain > 0)))
                                   for i, n in enumerate(names)},
                "top": [{"profile_id": part.people[i], "best_arm": names[best[i]],
                         "predicted_uplift": round(float(gain[i]), 6)} for i in order]}

    def _features(self, people: Sequence[str], features: Sequence[str]) -> np.ndarray:
        """The people's numeric profile columns, in ``people`` order (NaN when missing)."""
        if not self.engine.has_table("profiles"):
            raise ValidationError("no profiles yet: run the build first", field="features")
        prof = self.engine.table("profiles")
        numeric = sorted(c for c, t in prof.schema().items()
                         if t.is_numeric() or t.is_boolean())
        bad = [f for f in features if f not in numeric]
        if bad:
            raise ValidationError(f"not numeric profile columns: {bad}; valid: "
                                  f"{', '.join(numeric)}", field="features")
        data = self.engine.execute(prof.select("profile_id", *(prof[f].cast("float64")
                                                               for f in features)))
        index = {p: i for i, p in enumerate(data["profile_id"].to_pylist())}
        cols = np.column_stack([data[f].to_numpy(zero_copy_only=False).astype(float)
                                for f in features])
        rows = np.array([index.get(p, -1) for p in people])
        out = np.full((len(people), len(features)), np.nan)
        out[rows >= 0] = cols[rows[rows >= 0]]
        return out

    def _participants(self, experiment_id: str, arms: Mapping[str, float] | None,
                      start: datetime | None, end: datetime | None,
                      people: Sequence[str] | None = None, event: str = tp.CONVERSION_EVENT,
                      value_property: str = "revenue") -> _Participants:
        """People, their arms (control first) and outcomes of an experiment.

        ``people`` fixes who takes part (a campaign's audience) and assigns them; otherwise
        the recorded arms, else every known person.
        """
        if not self.engine.has_table("event_profiles"):
            raise ValidationError("no people yet: run the build first", field="experiment_id")
        conv = tp.until(tp.conversions(self.engine, event, value_property), self.as_of)
        if start is not None:
            conv = conv.filter(conv.timestamp >= ibis.literal(start))
        if end is not None:
            conv = conv.filter(conv.timestamp < ibis.literal(end))
        recorded = self._recorded_arms(experiment_id)
        if people is None and self.engine.execute(
                recorded.aggregate(n=recorded.count())).column("n")[0].as_py():
            rows = self.engine.execute(recorded.order_by("profile_id")).to_pylist()
            people = [r["profile_id"] for r in rows]
            arm_of = [r["arm"] for r in rows]
            names = sorted(set(arm_of), key=lambda a: (a not in _CONTROLS, a))
            if arms:
                unknown = sorted(set(arms) - set(names))
                if unknown:
                    raise ValidationError(f"arms {unknown} were not recorded; recorded: {names}",
                                          field="arms")
                names = [*arms, *(a for a in names if a not in arms)]
            seen = conv.join(recorded, "profile_id")
            conv = seen.filter(seen.timestamp >= seen.first_seen)
            source = "recorded"
        else:
            arms = dict(arms or AB)
            if len(arms) < 2:
                raise ValidationError("an experiment needs at least 2 arms", field="arms")
            if people is None:
                ep = self.engine.table("event_profiles")
                people = [r["profile_id"] for r in self.engine.execute(
                    ep.select("profile_id").distinct().order_by("profile_id")).to_pylist()]
            arm_of = assign(experiment_id, people, arms)
            names = list(arms)
            source = "assigned"
        if len(names) < 2:
            raise ValidationError(f"experiment {experiment_id!r} has one arm only: {names}",
                                  field="experiment_id")
        per = {r["profile_id"]: (r["n"], r["revenue"]) for r in self.engine.execute(
            conv.group_by("profile_id").aggregate(n=conv.count(), revenue=conv.revenue.sum())
        ).to_pylist()}
        return _Participants(list(people), arm_of, names, per, source)

    def _recorded_arms(self, experiment_id: str) -> ir.Table:
        """profile_id, arm, first_seen of the ``Experiment Viewed`` calls of an experiment."""
        ev = self.engine.table("events")
        exp = self.engine.json_text(ev.properties, "$.experiment_id")
        arm = ibis.coalesce(self.engine.json_text(ev.properties, "$.variation_name"),
                            self.engine.json_text(ev.properties, "$.variation_id"))
        seen = ev.filter([ev.type == "track", ev.event == EXPOSURE_EVENT,
                          exp == ibis.literal(experiment_id)]).select(
            ev.message_id, ev.timestamp, arm=arm)
        seen = seen.filter(seen.arm.notnull()).join(self.engine.table("event_profiles"),
                                                    "message_id")
        # a person's first exposure decides their arm and when their outcomes start to count
        first = ibis.window(group_by=seen.profile_id, order_by=[seen.timestamp, seen.message_id])
        ranked = seen.mutate(_r=ibis.row_number().over(first))
        return ranked.filter(ranked._r == 0).select("profile_id", "arm",
                                                    first_seen=ranked.timestamp)
