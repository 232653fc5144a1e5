"""Campaign definitions: what runs where, for whom, when, at what planned cost.

A campaign names its channel (the UTM medium) and the ``utm_campaign`` value its links carry,
so its touches, conversions and revenue are found in the events; it may target an audience
(a segment), hold out a share of it (a deterministic per-person draw, the same one that
``aidmp audiences sync --campaign`` uses to leave those people out), and plan a cost per day.
Planned costs fill the days for which no cost was imported: an imported cost for a day,
channel and campaign always wins.

Example:
    >>> import tempfile
    >>> from datetime import date
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> plans = CampaignPlans(dmp.engine)
    >>> row = plans.create("Spring search", "CPC", date(2026, 3, 1), date(2026, 3, 3),
    ...                    daily_cost=20.0)
    >>> row["id"], row["channel"], row["utm_campaign"], row["planned_cost"]
    ('spring_search', 'cpc', 'spring_search', 60.0)
"""

from __future__ import annotations

import builtins
import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import ibis.expr.types as ir
import pyarrow as pa

from aidmp.engine.base import Engine, arrow_schema
from aidmp.errors import NotFoundError, ValidationError
from aidmp.segments.catalog import slug
from aidmp.store.schema import TABLES

PLANNED_COSTS = "campaign_planned_costs"
# ids the REST routes under /v1/campaigns/ use for reports
RESERVED = frozenset({"roi", "report", "attribution", "experiments", "sample_size", "optimise",
                      "plots", "costs", "definitions"})
_SCHEMA = arrow_schema(TABLES["campaigns"])
_COSTS_SCHEMA = pa.schema([("date", pa.date32()), ("channel", pa.string()),
                           ("campaign", pa.string()), ("cost", pa.float64())])


class CampaignPlans:
    """Create, list, show and delete campaign definitions (``dmp.campaigns.create`` ...)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _rows(self) -> builtins.list[dict[str, Any]]:
        t = self.engine.table("campaigns")
        return self.engine.execute(t.order_by("id")).to_pylist()

    def create(self, name: str, channel: str, start: date, end: date, *,
               daily_cost: float | None = None, audience: str | None = None,
               utm_campaign: str | None = None, holdout: float | None = None
               ) -> dict[str, Any]:
        """Save a campaign (id = slug of the name).

        Args:
            name: display name.
            channel: the UTM medium its touches carry (``cpc``, ``email``...).
            start: first day; end: last day (inclusive).
            daily_cost: planned cost per day (imported costs replace it day by day).
            audience: the segment it targets.
            utm_campaign: the ``utm_campaign`` of its links (default: the id).
            holdout: share of the audience kept out to measure the campaign (0 < h <= 0.5).

        Raises:
            ValidationError: a taken or reserved id, an empty channel, end before start, a
                negative cost, a holdout outside (0, 0.5], an unknown audience.
        """
        campaign_id = slug(name or "")
        if not campaign_id:
            raise ValidationError("give a name with letters or digits", field="name")
        if campaign_id in RESERVED:
            raise ValidationError(f"{campaign_id!r} is reserved; choose another name",
                                  field="name")
        if any(r["id"] == campaign_id for r in self._rows()):
            raise ValidationError(f"campaign {campaign_id!r} exists; delete it first or choose "
                                  "another name", field="name")
        channel = (channel or "").strip().lower()
        if not channel:
            raise ValidationError("give the channel (the UTM medium, e.g. cpc)", field="channel")
        if end < start:
            raise ValidationError(f"end {end} is before start {start}", field="end")
        if daily_cost is not None and not (math.isfinite(daily_cost) and daily_cost >= 0):
            raise ValidationError("must be a number >= 0", field="daily_cost")
        if holdout is not None and not 0 < holdout <= 0.5:
            raise ValidationError("must be in (0, 0.5]", field="holdout")
        if audience is not None:
            seg = self.engine.table("segments")
            if not self.engine.execute(seg.filter(seg.id == audience).select("id")).num_rows:
                raise ValidationError(f"unknown segment {audience!r}", field="audience")
        row = {"id": campaign_id, "name": name, "channel": channel,
               "utm_campaign": (utm_campaign or campaign_id).strip(),
               "daily_cost": daily_cost, "audience": audience, "start_date": start,
               "end_date": end, "holdout_share": holdout, "created_at": datetime.now(UTC)}
        self.engine.append("campaigns", pa.Table.from_pylist([row], schema=_SCHEMA))
        self._write_planned_costs()
        return self.get(campaign_id)

    def list(self) -> builtins.list[dict[str, Any]]:
        """Every campaign definition with its planned total cost."""
        return [self._public(r) for r in self._rows()]

    def get(self, campaign_id: str) -> dict[str, Any]:
        """One definition.

        Raises:
            NotFoundError: no such campaign.
        """
        for r in self._rows():
            if r["id"] == campaign_id:
                return self._public(r)
        known = ", ".join(r["id"] for r in self._rows()) or "none yet"
        raise NotFoundError(f"no campaign {campaign_id!r}; known: {known}")

    def delete(self, campaign_id: str) -> None:
        """Delete a definition (imported costs and events stay)."""
        self.get(campaign_id)
        t = self.engine.table("campaigns")
        self.engine.keep_only("campaigns", t.filter(t.id != campaign_id))
        self._write_planned_costs()

    @staticmethod
    def _public(row: dict[str, Any]) -> dict[str, Any]:
        days = (row["end_date"] - row["start_date"]).days + 1
        planned = None if row["daily_cost"] is None else round(row["daily_cost"] * days, 6)
        return {**row, "days": days, "planned_cost": planned}

    def _write_planned_costs(self) -> None:
        """One row per planned day of every campaign with a daily cost."""
        rows = []
        for r in self._rows():
            if r["daily_cost"] is None:
                continue
            day = r["start_date"]
            while day <= r["end_date"]:
                rows.append({"date": day, "channel": r["channel"],
                             "campaign": r["utm_campaign"], "cost": float(r["daily_cost"])})
                day += timedelta(days=1)
        self.engine.write_table(PLANNED_COSTS, pa.Table.from_pylist(rows, schema=_COSTS_SCHEMA))


def planned_costs(engine: Engine) -> ir.Table | None:
    """The planned daily costs of the defined campaigns, or None."""
    return engine.table(PLANNED_COSTS) if engine.has_table(PLANNED_COSTS) else None
