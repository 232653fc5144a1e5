"""``/v1/campaigns``: costs, ROI / ROAS, report, attribution, experiments, sample size."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from aidmp.api.auth import require
from aidmp.api.params import DAYS, When
from aidmp.api.routes.jobs import JOB_RESPONSES, WAIT, answer_job
from aidmp.campaigns import Campaigns, sample_size
from aidmp.campaigns.experiments import parse_arms
from aidmp.campaigns.optimiser.request import OptimiseRequest
from aidmp.errors import ValidationError
from aidmp.privacy.keys import ApiKey
from aidmp.spec.clock import point_in_time

router = APIRouter(tags=["campaigns"])
RuleModel = Literal["first_touch", "last_touch", "linear", "time_decay", "position_based"]


def _campaigns(request: Request, as_of: datetime | None = None) -> Campaigns:
    return Campaigns(request.app.state.dmp.engine, as_of=point_in_time(as_of))


#: ``?as_of=``: a report as it stood at an instant
AS_OF = Query(None, description="ISO-8601 instant (UTC, not in the future): only touches "
              "and conversions up to it, costs of days up to its date [default: all]")


class CostRow(BaseModel):
    """One day of spend of a campaign on a channel."""

    model_config = ConfigDict(extra="forbid")
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    channel: str = Field(min_length=1)
    campaign: str = Field(min_length=1)
    cost: float = Field(ge=0)


class CostsRequest(BaseModel):
    """Cost rows to store, replacing (default) or appending to the stored ones."""

    model_config = ConfigDict(extra="forbid")
    rows: list[CostRow] = Field(min_length=1)
    mode: Literal["replace", "append"] = "replace"


@router.post("/v1/campaigns/costs")
def import_costs(request: Request, body: CostsRequest,
                 _: ApiKey = Depends(require("audiences"))) -> dict[str, int]:
    """Store campaign costs (the CSV columns as JSON rows)."""
    import pyarrow as pa

    data = pa.Table.from_pylist([r.model_dump() for r in body.rows])
    return {"rows": _campaigns(request).import_costs(data, mode=body.mode)}


@router.get("/v1/campaigns/roi")
def roi(request: Request, by: Literal["channel", "campaign", "week", "segment"] = "channel",
        model: RuleModel = "last_touch", lookback_days: float = DAYS,
        as_of: When | None = AS_OF,
        _: ApiKey = Depends(require("aggregate"))) -> list[dict[str, Any]]:
    """Revenue, cost, ROAS and ROI by channel, campaign, week or segment (``as_of``: as they
    stood at an instant)."""
    return _campaigns(request, as_of).roi(by, model=model, lookback_days=lookback_days)


@router.get("/v1/campaigns/report")
def report(request: Request, model: RuleModel = "last_touch",
           lookback_days: float = DAYS, as_of: When | None = AS_OF,
           _: ApiKey = Depends(require("aggregate"))) -> dict[str, Any]:
    """ROI / ROAS by channel, campaign and week, and every attribution model (``as_of``: as
    they stood at an instant)."""
    return _campaigns(request, as_of).report(lookback_days=lookback_days, model=model)


@router.get("/v1/campaigns/attribution", responses=JOB_RESPONSES)
def attribution(request: Request, lookback_days: float = DAYS,
                half_life_days: float = Query(7.0, gt=0, le=3650, allow_inf_nan=False),
                by_campaign: bool = False,
                ci: float | None = Query(None, ge=0.5, lt=1.0), as_of: When | None = AS_OF,
                wait: bool = WAIT, key: ApiKey = Depends(require("aggregate"))) -> Any:
    """First/last-touch, linear, time-decay, position-based and Markov, side by side;
    ``as_of`` gives them as they stood at an instant.

    ``ci`` (e.g. 0.95) adds bootstrap intervals (``<model>_ci``) to every credit: hundreds of
    refits, so that is a ``campaigns.attribution`` job, answered 202 with the job at once
    (``Location: /v1/jobs/{id}``), or its result with ``?wait=true``.
    """
    if ci is not None:
        return answer_job(request, key, "campaigns.attribution", {
            "lookback_days": lookback_days, "half_life_days": half_life_days,
            "by_campaign": by_campaign, "ci": ci,
            "as_of": as_of.isoformat() if as_of else None}, wait=wait)
    by = ("channel", "campaign") if by_campaign else ("channel",)
    return _campaigns(request, as_of).attribution(lookback_days=lookback_days,
                                           half_life_days=half_life_days, by=by, ci=ci)


@router.get("/v1/campaigns/plots/{chart}", response_class=Response)
def plot(request: Request, chart: Literal["roi", "attribution", "experiment"],
         format: Literal["png", "html"] = "png", experiment_id: str | None = None,
         lookback_days: float = DAYS, ci: float | None = Query(None, ge=0.5, lt=1.0),
         _: ApiKey = Depends(require("aggregate"))) -> Response:
    """A chart of a report as PNG or a self-contained HTML page."""
    import tempfile
    from pathlib import Path

    from aidmp.campaigns import plots

    c = _campaigns(request)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{chart}.{format}"
        if chart == "roi":
            plots.plot_roi(c.roi("channel", lookback_days=lookback_days), path)
        elif chart == "attribution":
            plots.plot_attribution(c.attribution(lookback_days=lookback_days, ci=ci), path)
        else:
            if not experiment_id:
                raise ValidationError("the experiment chart needs ?experiment_id=",
                                      field="experiment_id")
            plots.plot_experiment(c.experiment(experiment_id), path)
        body = path.read_bytes()
    return Response(body, media_type="image/png" if format == "png" else "text/html")


@router.get("/v1/campaigns/experiments/{experiment_id}")
def experiment(request: Request, experiment_id: str,
               holdout: float | None = Query(None, gt=0, lt=1),
               start: When | None = None, end: When | None = None,
               seed: int = Query(0, ge=0, le=2**32 - 1),
               arms: str | None = Query(None, max_length=1000),
               event: str = Query("Order Completed", min_length=1, max_length=200),
               value_property: str = Query("revenue", max_length=128),
               correction: Literal["holm", "bonferroni", "none"] = "holm",
               _: ApiKey = Depends(require("aggregate"))) -> dict[str, Any]:
    """Deterministic assignment and conversion / count / value tests of every arm against
    the control (``arms=control,a,b``), p-values adjusted over the treatments."""
    return _campaigns(request).experiment(experiment_id, arms=parse_arms(arms, holdout),
                                          start=start, end=end, seed=seed, event=event,
                                          value_property=value_property,
                                          correction=correction)


@router.get("/v1/campaigns/experiments/{experiment_id}/uplift")
def uplift(request: Request, experiment_id: str,
           features: list[str] = Query(..., min_length=1), folds: int = Query(5, ge=2, le=20),
           top: int = Query(0, ge=0, le=10_000), holdout: float | None = Query(None, gt=0, lt=1),
           arms: str | None = Query(None, max_length=1000),
           event: str = Query("Order Completed", min_length=1, max_length=200),
           _: ApiKey = Depends(require("aggregate"))) -> dict[str, Any]:
    """Who responds: cross-fitted two-model uplift over profile features, with the Qini (per
    treatment and each person's best arm when there are several)."""
    return _campaigns(request).uplift(experiment_id, features, arms=parse_arms(arms, holdout),
                                      folds=folds, top=top, event=event)


@router.get("/v1/campaigns/sample-size")
def sample_size_route(baseline: float = Query(ge=1e-6, le=1 - 1e-6),
                      mde: float = Query(ge=1e-6, le=100),
                      alpha: float = Query(0.05, ge=1e-6, le=0.5),
                      power: float = Query(0.8, ge=0.5, le=1 - 1e-6),
                      relative: bool = False,
                      _: ApiKey = Depends(require("aggregate"))) -> dict[str, int]:
    """People per arm to detect ``mde`` on a conversion rate of ``baseline``."""
    try:
        n = sample_size(baseline, mde, alpha=alpha, power=power, relative=relative)
    except (OverflowError, ZeroDivisionError) as exc:
        raise ValidationError(f"no finite sample size for these values ({exc})",
                              field="mde") from None
    return {"per_arm": n}


@router.post("/v1/campaigns/optimise", tags=["campaigns"], status_code=202,
             responses=JOB_RESPONSES)
def optimise(request: Request, body: OptimiseRequest, wait: bool = WAIT,
             key: ApiKey = Depends(require("aggregate"))) -> Any:
    """Allocate a budget across channels by LP over fitted diminishing-returns curves.

    A ``campaigns.optimise`` job (curve fits over the store's history): answered 202 with
    the job at once (``Location: /v1/jobs/{id}``), or the plan with ``?wait=true``.
    """
    return answer_job(request, key, "campaigns.optimise",
                      body.model_dump(mode="json", by_alias=True), wait=wait)


class CampaignRequest(BaseModel):
    """A campaign definition."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    channel: str = Field(min_length=1, max_length=64)
    start: date
    end: date
    daily_cost: float | None = Field(default=None, ge=0)
    audience: str | None = None
    utm_campaign: str | None = Field(default=None, min_length=1)
    holdout: float | None = Field(default=None, gt=0, le=0.5)


# Definitions come after the report routes: /v1/campaigns/roi is a report, not a campaign id
# (report names are reserved ids).
@router.post("/v1/campaigns", status_code=201)
def create_campaign(request: Request, body: CampaignRequest,
                    key: ApiKey = Depends(require("audiences"))) -> dict[str, Any]:
    """Define a campaign: channel, dates, planned daily cost, audience, holdout."""
    row = _campaigns(request).create(body.name, body.channel, body.start, body.end,
                                     daily_cost=body.daily_cost, audience=body.audience,
                                     utm_campaign=body.utm_campaign, holdout=body.holdout)
    request.app.state.dmp.audit.record(key.key_id, "campaigns.create", row["id"], {})
    return row


@router.get("/v1/campaigns")
def list_campaigns(request: Request,
                   _: ApiKey = Depends(require("aggregate"))) -> list[dict[str, Any]]:
    """Every campaign definition."""
    return _campaigns(request).plans.list()


@router.get("/v1/campaigns/{campaign_id}")
def campaign_performance(request: Request, campaign_id: str, model: RuleModel = "last_touch",
                         lookback_days: float = DAYS,
                         _: ApiKey = Depends(require("aggregate"))) -> dict[str, Any]:
    """The campaign's cost, reach, credited conversions, ROAS / ROI and holdout test."""
    return _campaigns(request).performance(campaign_id, model=model,
                                           lookback_days=lookback_days)


@router.delete("/v1/campaigns/{campaign_id}")
def delete_campaign(request: Request, campaign_id: str,
                    key: ApiKey = Depends(require("audiences"))) -> dict[str, Any]:
    """Delete a campaign definition (events and imported costs stay)."""
    _campaigns(request).plans.delete(campaign_id)
    request.app.state.dmp.audit.record(key.key_id, "campaigns.delete", campaign_id, {})
    return {"id": campaign_id, "deleted": True}
