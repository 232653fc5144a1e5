"""``aidmp campaigns costs|roi|report|attribution|experiment|uplift|sample-size|optimise``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aidmp.cli.client import call, run_job, server
from aidmp.cli.common import AsOfOption, HomeOption, JsonOption, as_of_text, open_dmp
from aidmp.cli.output import console, emit_json, summary, table
from aidmp.errors import ValidationError

if TYPE_CHECKING:
    from aidmp.campaigns import Campaigns
    from aidmp.dmp import DMP

app = typer.Typer(help="Campaign measurement: costs, ROI / ROAS, attribution, experiments.",
                  no_args_is_help=True)

Lookback = Annotated[float, typer.Option(min=0.01, help="Look-back window in days.")]
Model = Annotated[str, typer.Option(help="first_touch, last_touch, linear, time_decay or "
                                         "position_based.")]
Plot = Annotated[Path | None, typer.Option(help="Also draw a chart: a .png or .html file.")]


def _fmt(v: Any) -> Any:
    return f"{v:,.2f}" if isinstance(v, float) else v


def _roi_table(title: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print(f"{title}: no data")
        return
    cols = list(rows[0])
    table(title, cols, [[_fmt(r[c]) for c in cols] for r in rows])


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Campaign name (its id is a slug of it).")],
    channel: Annotated[str, typer.Option(help="Channel = the UTM medium, e.g. cpc.")],
    start: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="First day.")],
    end: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="Last day.")],
    daily_cost: Annotated[float | None, typer.Option(min=0, help="Planned cost per day.")] = None,
    audience: Annotated[str | None, typer.Option(help="Segment it targets.")] = None,
    utm_campaign: Annotated[str | None, typer.Option(
        help="utm_campaign of its links (default: the id).")] = None,
    holdout: Annotated[float | None, typer.Option(
        min=0.001, max=0.5, help="Share of the audience held out.")] = None,
    home: HomeOption = None, json: JsonOption = False,
) -> None:
    """Define a campaign: channel, dates, planned daily cost, audience, holdout."""
    row = call(home, "create_campaign_v1_campaigns_post", body={
        "name": name, "channel": channel, "start": start.date().isoformat(),
        "end": end.date().isoformat(), "daily_cost": daily_cost, "audience": audience,
        "utm_campaign": utm_campaign, "holdout": holdout},
        local=lambda dmp: dmp.campaigns.create(name, channel, start.date(), end.date(),
                                               daily_cost=daily_cost, audience=audience,
                                               utm_campaign=utm_campaign, holdout=holdout))
    emit_json(row) if json else summary(f"campaign {row['id']}", row)


@app.command("list")
def list_command(home: HomeOption = None, json: JsonOption = False) -> None:
    """Every campaign definition."""
    rows = call(home, "list_campaigns_v1_campaigns_get",
                local=lambda dmp: dmp.campaigns.plans.list())
    if json:
        emit_json(rows)
        return
    table("campaigns", ["id", "channel", "utm_campaign", "start", "end", "planned cost",
                        "audience", "holdout"],
          [(r["id"], r["channel"], r["utm_campaign"], r["start_date"], r["end_date"],
            _fmt(r["planned_cost"]), r["audience"] or "", r["holdout_share"] or "")
           for r in rows])


@app.command("show")
def show(campaign_id: Annotated[str, typer.Argument(help="Campaign id.")],
         model: Model = "last_touch", lookback_days: Lookback = 30.0,
         home: HomeOption = None, json: JsonOption = False) -> None:
    """A campaign's cost, reach, credited conversions, ROAS and holdout test."""
    data = call(home, "campaign_performance_v1_campaigns__campaign_id__get",
                {"campaign_id": campaign_id, "model": model, "lookback_days": lookback_days},
                local=lambda dmp: dmp.campaigns.performance(campaign_id, model=model,
                                                            lookback_days=lookback_days))
    if json:
        emit_json(data)
        return
    summary(f"campaign {campaign_id}", {k: v for k, v in data.items()
                                        if k not in ("campaign", "holdout_test")})
    test = data["holdout_test"]
    if test and test["comparisons"]["exposed"].get("conversion"):
        c = test["comparisons"]["exposed"]["conversion"]
        summary("holdout test", {"exposed / holdout": f"{test['sizes']['exposed']} / "
                                                      f"{test['sizes']['holdout']}",
                                 "uplift (CI)": f"{c['uplift']:+.4f} ({c['uplift_ci'][0]:+.4f}, "
                                                f"{c['uplift_ci'][1]:+.4f})",
                                 "p (z-test)": f"{c['p_value']:.4g}"})


@app.command("delete")
def delete(campaign_id: Annotated[str, typer.Argument(help="Campaign id.")],
           home: HomeOption = None, json: JsonOption = False) -> None:
    """Delete a campaign definition (its events and imported costs stay)."""
    call(home, "delete_campaign_v1_campaigns__campaign_id__delete",
         {"campaign_id": campaign_id}, local=lambda dmp: dmp.campaigns.plans.delete(campaign_id))
    emit_json({"id": campaign_id, "deleted": True}) if json else \
        console.print(f"deleted campaign {campaign_id}")


@app.command("costs")
def costs(path: Annotated[Path, typer.Argument(help="CSV: date,channel,campaign,cost")],
          append: Annotated[bool, typer.Option(help="Add to the costs already there.")] = False,
          home: HomeOption = None, json: JsonOption = False) -> None:
    """Import campaign costs into the campaign_costs table."""
    mode = "append" if append else "replace"
    client = server(home)
    if client is None:
        with open_dmp(home) as dmp:
            n = dmp.campaigns.import_costs(path, mode=mode)
    else:  # the rows travel in the body (the server may not read the caller's files)
        n = client.call("import_costs_v1_campaigns_costs_post",
                        body={"rows": _cost_rows(path), "mode": mode})["rows"]
    emit_json({"rows": n}) if json else console.print(f"{n} cost rows imported")


@app.command("roi")
def roi(by: Annotated[str, typer.Option(help="channel, campaign, week or segment.")] = "channel",
        model: Model = "last_touch", lookback_days: Lookback = 30.0,
        home: HomeOption = None, json: JsonOption = False, as_of: AsOfOption = None) -> None:
    """Revenue, cost, ROAS and ROI by channel, campaign, week or segment."""
    when = as_of_text(as_of)
    rows = call(home, "roi_v1_campaigns_roi_get",
                {"by": by, "model": model, "lookback_days": lookback_days, "as_of": when},
                local=lambda dmp: _at(dmp, when).roi(by, model=model,
                                                     lookback_days=lookback_days))
    emit_json(rows) if json else _roi_table(f"ROI by {by} ({model})", rows)


@app.command("report")
def report(model: Model = "last_touch", lookback_days: Lookback = 30.0, plot: Plot = None,
           home: HomeOption = None, json: JsonOption = False, as_of: AsOfOption = None) -> None:
    """ROI / ROAS by channel, campaign and week, and every attribution model."""
    when = as_of_text(as_of)
    data = call(home, "report_v1_campaigns_report_get",
                {"model": model, "lookback_days": lookback_days, "as_of": when},
                local=lambda dmp: _at(dmp, when).report(lookback_days=lookback_days,
                                                        model=model))
    if plot:
        from aidmp.campaigns.plots import plot_roi

        plot_roi(data["by_channel"], plot)
    if json:
        emit_json(data)
        return
    for g in ("channel", "campaign", "week"):
        _roi_table(f"ROI by {g} ({model})", data[f"by_{g}"])
    _attribution_tables(data["attribution"])


def _at(dmp: DMP, when: str | None) -> Campaigns:
    """The campaign reports as they stood at ``when`` (ISO text; None: everything)."""
    from aidmp.campaigns import Campaigns

    return Campaigns(dmp.engine, as_of=None if when is None else datetime.fromisoformat(when))


def _cost_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a cost CSV as ``POST /v1/campaigns/costs`` takes them."""
    import polars as pl

    if not path.exists():
        raise ValidationError(f"{path} not found", field="path")
    frame = pl.read_csv(path, infer_schema=False)
    missing = [c for c in ("date", "channel", "campaign", "cost") if c not in frame.columns]
    if missing:
        raise ValidationError(f"the CSV has no column {missing[0]!r}; it needs date, channel, "
                              "campaign, cost", field=missing[0])
    rows = []
    for i, r in enumerate(frame.iter_rows(named=True)):
        try:
            cost = float(r["cost"])
        except (TypeError, ValueError):
            raise ValidationError(f"line {i + 2}: {r['cost']!r} is not a number",
                                  field="cost") from None
        rows.append({"date": r["date"], "channel": r["channel"], "campaign": r["campaign"],
                     "cost": cost})
    return rows


def _attribution_tables(data: dict[str, Any]) -> None:
    summary("attribution", {k: data[k] for k in ("conversions", "revenue", "unattributed",
                                                 "lookback_days", "half_life_days")})
    keys = [k for k in data["rows"][0] if k not in data["models"] and not k.endswith(
        "_revenue")] if data["rows"] else ["channel"]
    for what, suffix in (("credited conversions", ""), ("credited revenue", "_revenue")):
        table(what, [*keys, *data["models"]],
              [[*(r[k] for k in keys), *(_fmt(r[m + suffix]) for m in data["models"])]
               for r in data["rows"]])


@app.command("attribution")
def attribution(lookback_days: Lookback = 30.0,
                half_life_days: Annotated[float, typer.Option(
                    min=0.01, help="Time-decay half-life in days.")] = 7.0,
                by_campaign: Annotated[bool, typer.Option(
                    help="Credit channel + campaign instead of channel.")] = False,
                ci: Annotated[float | None, typer.Option(
                    min=0.5, max=0.999, help="Bootstrap intervals at this level, e.g. 0.95."
                )] = None,
                plot: Plot = None, home: HomeOption = None, json: JsonOption = False,
                as_of: AsOfOption = None) -> None:
    """First/last-touch, linear, time-decay, position-based and Markov, side by side."""
    by = ("channel", "campaign") if by_campaign else ("channel",)
    when = as_of_text(as_of)
    if ci is not None:  # the bootstrap refits hundreds of times: a job
        data = run_job(home, "campaigns.attribution", {
            "lookback_days": lookback_days, "half_life_days": half_life_days,
            "by_campaign": by_campaign, "ci": ci, "as_of": when}, label="attribution",
            show_progress=not json)
    else:
        data = call(home, "attribution_v1_campaigns_attribution_get",
                    {"lookback_days": lookback_days, "half_life_days": half_life_days,
                     "by_campaign": by_campaign, "as_of": when},
                    local=lambda dmp: _at(dmp, when).attribution(
                        lookback_days=lookback_days, half_life_days=half_life_days, by=by))
    if plot:
        from aidmp.campaigns.plots import plot_attribution

        plot_attribution(data, plot)
    emit_json(data) if json else _attribution_tables(data)


@app.command("experiment")
def experiment(
    experiment_id: Annotated[str, typer.Argument(help="Experiment id (seeds the assignment).")],
    holdout: Annotated[float | None, typer.Option(
        min=0.001, max=0.999, help="Holdout share (holdout vs exposed) instead of 50/50 A/B."
    )] = None,
    start: Annotated[datetime | None, typer.Option(help="Count conversions from.")] = None,
    end: Annotated[datetime | None, typer.Option(help="Count conversions until.")] = None,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    plot: Plot = None, home: HomeOption = None, json: JsonOption = False,
    arms_: Annotated[str | None, typer.Option("--arms", help=(
        "Arms, control first: control,a,b (equal) or control=2,a=1,b=1."))] = None,
    event: Annotated[str, typer.Option(help="Outcome event (orders, sign-ups, visits...).")]
    = "Order Completed",
    value_property: Annotated[str, typer.Option(help="Event property summed as the value.")]
    = "revenue",
    correction: Annotated[str, typer.Option(
        help="Multiple-comparison correction over treatments: holm|bonferroni|none.")] = "holm",
) -> None:
    """Test each arm against control: did the event (conversion), how often (count), value.

    Arms come from the experiment's ``Experiment Viewed`` events when there are any, else
    every person is assigned deterministically (50/50, --holdout or --arms).
    """
    from aidmp.campaigns.experiments import parse_arms

    arms = parse_arms(arms_, holdout)
    data = call(home, "experiment_v1_campaigns_experiments__experiment_id__get", {
        "experiment_id": experiment_id, "holdout": holdout, "arms": arms_, "seed": seed,
        "start": start.isoformat() if start else None, "end": end.isoformat() if end else None,
        "event": event, "value_property": value_property, "correction": correction},
        local=lambda dmp: dmp.campaigns.experiment(
            experiment_id, arms=arms, start=start, end=end, seed=seed, event=event,
            value_property=value_property, correction=correction))  # type: ignore[arg-type]
    if plot:
        from aidmp.campaigns.plots import plot_experiment

        plot_experiment(data, plot)
    if json:
        emit_json(data)
        return
    summary(f"experiment {experiment_id}", {"arms from": data["arms_from"],
                                             **{f"n {a}": n for a, n in data["sizes"].items()}})
    for arm, comp in data["comparisons"].items():
        if comp["conversion"] is None:
            console.print(f"{arm}: {comp['note']}")
            continue
        c, r = comp["conversion"], comp["revenue"]
        summary(f"{arm} vs {data['control']}", {
            "conversion rate": f"{c['rate_b']:.4f} vs {c['rate_a']:.4f}",
            "uplift (CI)": f"{c['uplift']:+.4f} ({c['uplift_ci'][0]:+.4f}, "
                           f"{c['uplift_ci'][1]:+.4f})",
            "relative uplift": f"{c['relative_uplift']:+.2%}", "p (z-test)": f"{c['p_value']:.4g}",
            f"p ({data['correction']})": f"{c['p_adjusted']:.4g}",
            "events / person": f"{comp['count']['mean_b']:.3f} vs {comp['count']['mean_a']:.3f} "
                               f"(p {comp['count']['p_adjusted']:.4g})",
            "revenue / person": f"{r['mean_b']:.2f} vs {r['mean_a']:.2f}",
            "difference (bootstrap CI)": f"{r['difference']:+.2f} ({r['bootstrap_ci'][0]:+.2f}, "
                                         f"{r['bootstrap_ci'][1]:+.2f})",
            "p (Welch)": f"{r['p_value']:.4g}"})


@app.command("uplift")
def uplift(
    experiment_id: Annotated[str, typer.Argument(help="Experiment id.")],
    feature: Annotated[list[str], typer.Option(
        help="Numeric profile column describing people before the test (repeat).")],
    folds: Annotated[int, typer.Option(min=2, max=20, help="Cross-fitting folds.")] = 5,
    top: Annotated[int, typer.Option(min=0, help="List the N likeliest responders.")] = 0,
    holdout: Annotated[float | None, typer.Option(
        min=0.001, max=0.999, help="Holdout share when the arms are assigned here.")] = None,
    home: HomeOption = None, json: JsonOption = False,
    arms_: Annotated[str | None, typer.Option("--arms", help=(
        "Arms, control first: control,a,b (equal) or control=2,a=1,b=1."))] = None,
    event: Annotated[str, typer.Option(help="Outcome event.")] = "Order Completed",
) -> None:
    """Who responds: cross-fitted two-model uplift, Qini and observed uplift by decile (per
    treatment, and each person's best arm, when there are several)."""
    from aidmp.campaigns.experiments import parse_arms

    arms = parse_arms(arms_, holdout)
    data = call(home, "uplift_v1_campaigns_experiments__experiment_id__uplift_get", {
        "experiment_id": experiment_id, "features": feature, "folds": folds, "top": top,
        "holdout": holdout, "arms": arms_, "event": event},
        local=lambda dmp: dmp.campaigns.uplift(experiment_id, feature, arms=arms,
                                               folds=folds, top=top, event=event))
    if json:
        emit_json(data)
        return
    if "treatments" in data:
        table(f"uplift per treatment vs {data['control']}",
              ["treatment", "people", "Qini", "best arm for"],
              [(t, r["people"], f"{r['qini']:+.4f}", f"{data['best_arm_share'][t]:.1%}")
               for t, r in data["treatments"].items()])
        if data["top"]:
            table("likeliest responders", ["profile", "best arm", "predicted uplift"],
                  [(r["profile_id"], r["best_arm"], f"{r['predicted_uplift']:+.4f}")
                   for r in data["top"]])
        return
    summary(f"uplift model for {experiment_id} ({data['treatment']} vs {data['control']})",
            {"people": data["people"], "features": ", ".join(data["features"]),
             "Qini coefficient (> 0: better than random)": data["qini"]})
    table("deciles of predicted uplift (highest first)",
          ["decile", "people", "treated", "predicted", "observed"],
          [(i + 1, d["people"], d["treated"], f"{d['predicted_uplift']:+.4f}",
            "" if d["observed_uplift"] is None else f"{d['observed_uplift']:+.4f}")
           for i, d in enumerate(data["deciles"])])
    if data["top"]:
        table("likeliest responders", ["profile", "predicted uplift"],
              [(r["profile_id"], f"{r['predicted_uplift']:+.4f}") for r in data["top"]])


@app.command("sample-size")
def sample_size_command(
    baseline: Annotated[float, typer.Option(help="Control conversion rate, e.g. 0.10.")],
    mde: Annotated[float, typer.Option(help="Minimum detectable effect, e.g. 0.02.")],
    relative: Annotated[bool, typer.Option(help="Read --mde as relative to baseline.")] = False,
    alpha: Annotated[float, typer.Option(help="Significance level.")] = 0.05,
    power: Annotated[float, typer.Option(help="Power.")] = 0.8,
    json: JsonOption = False,
) -> None:
    """People per arm to detect an effect on a conversion rate."""
    from aidmp.campaigns import sample_size  # scipy: loaded when asked for

    n = sample_size(baseline, mde, alpha=alpha, power=power, relative=relative)
    emit_json({"per_arm": n}) if json else console.print(f"{n:,} people per arm")


def _amounts(values: list[str], field: str) -> dict[str, float] | None:
    out: dict[str, float] = {}
    for v in values:
        key, sep, num = v.partition("=")
        try:
            out[key] = float(num)
        except ValueError:
            sep = ""
        if not sep or not key:
            raise ValidationError(f"expected CHANNEL=AMOUNT, got {v!r}", field=field)
    return out or None


def _number(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


@app.command()
def optimise(
    history: Annotated[Path | None, typer.Argument(
        help="CSV or Parquet with channel, [segment], period, spend, return. Default: the "
             "store's campaign costs and attributed revenue.")] = None,
    total: Annotated[float | None, typer.Option(
        help="Budget to allocate per period (default: the current total).")] = None,
    breakpoints: Annotated[int, typer.Option(min=2, max=500)] = 20,
    model: Annotated[str, typer.Option(help="exp | hill | log | auto")] = "exp",
    min_spend: Annotated[list[str] | None, typer.Option(help="CHANNEL=AMOUNT (repeat).")] = None,
    max_spend: Annotated[list[str] | None, typer.Option(help="CHANNEL=AMOUNT (repeat).")] = None,
    reach_cap: Annotated[list[str] | None, typer.Option(help="CHANNEL=AMOUNT (repeat).")] = None,
    spend_all: Annotated[bool, typer.Option(help="Spend the whole budget.")] = False,
    period: Annotated[str, typer.Option(help="Store history per day or week.")] = "day",
    attribution_model: Annotated[str, typer.Option(
        help="Rule model crediting the store's revenue.")] = "last_touch",
    lookback_days: Lookback = 30.0,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG of curves and plan.")] = None,
    home: HomeOption = None, json: JsonOption = False,
    curves: Annotated[Path | None, typer.Option(
        help="Your own response curves instead of fitting: JSON/YAML ([{channel, model, "
             "params, up_to} or {channel, points}]) or a CSV/Parquet spend/return table "
             "(channel, spend, return).")] = None,
) -> None:
    """Fit response curves with diminishing returns (or take --curves) and allocate the
    budget (LP, HiGHS)."""
    from aidmp.campaigns.optimiser.service import read_curves, read_history

    given: dict[str, Any] = {"curves": read_curves(curves)} if curves is not None else {}
    table_ = read_history(history) if history is not None else None
    options: dict[str, Any] = {
        "total": total, "period": period, "attribution_model": attribution_model,
        "lookback_days": lookback_days, "breakpoints": breakpoints, "model": model,
        "min_spend": _amounts(min_spend or [], "min_spend"),
        "max_spend": _amounts(max_spend or [], "max_spend"),
        "reach_caps": _amounts(reach_cap or [], "reach_cap"), "spend_all": spend_all}
    client = server(home)
    if client is None:
        with open_dmp(home) as dmp:
            out = dmp.campaigns.optimise(table_, **given, **options, plot=plot)
    else:  # the files are read here; their rows travel in the body
        if plot is not None:
            raise ValidationError("the plan's chart is drawn where the store is; run without "
                                  "--plot while aidmp serve holds the home", field="plot")
        rows = None if table_ is None else [
            {**r, "period": str(r["period"])} for r in table_.to_pylist()]
        out = run_job(home, "campaigns.optimise", {"history": rows, **given, **options},
                      label="optimise", show_progress=not json)
    skipped = out["skipped_channels"]
    if json:
        emit_json(out)
        return
    table("budget plan", ["channel", "current", "optimal", "marginal ROI", "binding"],
          [(c["unit"], _number(c["current_spend"], ".0f"), _number(c["spend"], ".0f"),
            _number(c["marginal_roi"], ".2f"), c["binding"] or "") for c in out["channels"]])
    summary("expected return", {k: out[k] for k in (
        "expected_return", "current_return", "uplift", "uplift_pct", "budget_marginal_roi")})
    if skipped:
        console.print(f"not optimised (fewer than 3 different spends): {', '.join(skipped)}")
