"""Which inputs the profile stages expect that the stored events lack, and what that disables.

A store of orders without a revenue property builds without error, every ``revenue_total``
0 and every ``rfm_m`` 1: the build summary and the quality report say so instead of staying
silent.

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> _ = dmp.events.ingest([{"type": "track", "userId": "u1", "event": "Order Completed",
    ...     "properties": {"total": 12}, "timestamp": "2026-01-01T00:00:00Z"}], source="shop")
    >>> [w.split(":")[0] for w in missing_inputs(dmp.engine, dmp.settings.profiles)]
    ["no 'revenue' on any 'Order Completed' event"]
"""

from __future__ import annotations

from datetime import datetime

import ibis

from aidmp.engine.base import Engine
from aidmp.profiles.common import json_path
from aidmp.spec.profiles import ProfileConfig


def missing_inputs(engine: Engine, cfg: ProfileConfig, *,
                   as_of: datetime | None = None) -> list[str]:
    """One sentence per expected input that no stored event (up to ``as_of``, when given)
    carries: what is absent, what it disables, and how a mapping supplies it. Empty when
    nothing is missing."""
    ev = engine.table("events")
    if as_of is not None:
        ev = ev.filter(ev.timestamp <= ibis.literal(as_of, type="timestamp('UTC')"))
    orders = ev.filter(ev.event == cfg.order_event)
    revenue = engine.json_text(orders.properties, json_path(cfg.revenue_property))
    row = engine.execute(orders.aggregate(
        n=orders.count(), revenue=revenue.try_cast("float64").count(),
    )).to_pylist()[0]
    oc, rev = cfg.order_event, cfg.revenue_property
    out: list[str] = []
    if not row["n"]:
        out.append(f"no '{oc}' events: orders_total, revenue_total, avg_order_value, RFM "
                   "(rfm_*) and CLV are empty or 0; import orders with event: "
                   f"'{oc}' (docs/importing.md)")
    elif not row["revenue"]:
        out.append(f"no '{rev}' on any '{oc}' event: revenue_total and avg_order_value are "
                   "0, RFM monetary (rfm_m) ranks nobody, CLV (Gamma-Gamma) cannot be fitted; "
                   f"map or derive it (derive: {{{rev}: Quantity * UnitPrice}})")
    return out


__all__ = ["missing_inputs"]
