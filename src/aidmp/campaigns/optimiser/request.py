"""What ``POST /v1/campaigns/optimise`` and the ``campaigns.optimise`` job take, and running
it: one definition for the route, the job and ``POST /v1/jobs``.

Example:
    >>> OptimiseRequest.model_validate({"total": 100}).period
    'day'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from aidmp.campaigns.service import Campaigns

RuleModel = Literal["first_touch", "last_touch", "linear", "time_decay", "position_based"]


class HistoryRow(BaseModel):
    """One period of one channel's (or channel and segment's) spend and return."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    channel: str = Field(min_length=1)
    segment: str | None = None
    period: str | int
    spend: float = Field(ge=0)
    return_: float = Field(alias="return")


class CurveSpec(BaseModel):
    """One channel's response: a curve (``model`` + ``params``, ``up_to`` for log) or a
    spend/return table (``points``: ``[[spend, return], ...]``)."""

    model_config = ConfigDict(extra="forbid")
    channel: str = Field(min_length=1, max_length=200)
    """The channel."""
    model: Literal["exp", "hill", "log"] | None = None
    """Curve shape (with ``params``)."""
    params: list[float] | None = Field(default=None, min_length=2, max_length=3)
    """exp / log: [a, b]; hill: [a, k, n]."""
    up_to: float | None = Field(default=None, gt=0)
    """The largest spend the curve holds for (required for log)."""
    points: list[list[float]] | None = Field(default=None, min_length=1, max_length=10_000)
    """[[spend, return], ...]: expected return at each spend level."""


class OptimiseRequest(BaseModel):
    """Fit response curves on ``history`` and allocate ``total``.

    Without ``history`` the store's campaign costs and attributed revenue per ``period`` are
    the history (channels with fewer than 3 different spends are left out and listed); without
    ``total`` the current total spend per period is re-allocated.
    """

    model_config = ConfigDict(extra="forbid")
    history: list[HistoryRow] | None = Field(default=None, min_length=2)
    total: float | None = Field(default=None, ge=0)
    period: Literal["day", "week"] = "day"
    attribution_model: RuleModel = "last_touch"
    lookback_days: float = Field(default=30.0, gt=0)
    breakpoints: int = Field(default=20, ge=2, le=500)
    model: Literal["exp", "hill", "log", "auto"] = "exp"
    min_spend: dict[str, float] | None = None
    max_spend: dict[str, float] | None = None
    reach_caps: dict[str, float] | None = None
    current: dict[str, float] | None = None
    spend_all: bool = False
    curves: list[CurveSpec] | None = Field(default=None, min_length=1, max_length=1000)
    """Your own response curves or spend/return tables instead of fitting from history."""


def run(campaigns: Campaigns, req: OptimiseRequest) -> dict[str, Any]:
    """The plan for a request (its history rows as a table, its curves as dicts)."""
    import pyarrow as pa

    history = None
    if req.history is not None:
        rows = [r.model_dump(by_alias=True, exclude_none=True) for r in req.history]
        for r in rows:
            r["period"] = str(r["period"])
        history = pa.Table.from_pylist(rows)
    return campaigns.optimise(
        history, total=req.total, period=req.period, attribution_model=req.attribution_model,
        lookback_days=req.lookback_days, breakpoints=req.breakpoints, model=req.model,
        min_spend=req.min_spend, max_spend=req.max_spend, reach_caps=req.reach_caps,
        current=req.current, spend_all=req.spend_all,
        **({"curves": [c.model_dump(exclude_none=True) for c in req.curves]}
           if req.curves is not None else {}))


__all__ = ["CurveSpec", "HistoryRow", "OptimiseRequest", "run"]
