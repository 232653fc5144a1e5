"""Materialised membership with history: spells in ``segment_members``.

A refresh compares the rule's current members with the open spells of the segment, in the
engine: newcomers get a new spell (``entered_at``), leavers get their open spell closed
(``exited_at``), people who stay keep their spell untouched. Only the two deltas travel as Arrow.

Example:
    >>> from datetime import datetime, UTC
    >>> import ibis, pyarrow as pa
    >>> from aidmp.engine.duckdb import DuckDBEngine
    >>> eng = DuckDBEngine(":memory:"); _ = eng.migrate()
    >>> eng.write_table("now", pa.table({"profile_id": ["a", "b"]}))
    >>> r = refresh_membership(eng, "vip", eng.table("now"), at=datetime(2025, 1, 1, tzinfo=UTC),
    ...                        trigger="build:1")
    >>> r.entered, r.exited, r.size
    (2, 0, 2)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from aidmp.engine.base import Engine

_TS = "timestamp('UTC')"


@dataclass
class RefreshReport:
    """What a refresh changed for one segment."""

    segment_id: str
    entered: int
    exited: int
    stayed: int
    size: int

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for JSON output)."""
        return asdict(self)


def open_spells(engine: Engine, segment_id: str) -> ir.Table:
    """The open spells (current members) of a segment."""
    m = engine.table("segment_members")
    return m.filter([m.segment_id == segment_id, m.exited_at.isnull()])


def refresh_membership(
    engine: Engine, segment_id: str, current: ir.Table, *, at: datetime, trigger: str,
) -> RefreshReport:
    """Bring the spells of ``segment_id`` in line with ``current`` (a ``profile_id`` query).

    Args:
        engine: the store.
        segment_id: the segment.
        current: who is a member now (one row per profile).
        at: the time written as ``entered_at`` / ``exited_at``.
        trigger: why (``build:<id>``), stored on new spells.
    """
    spells = open_spells(engine, segment_id)
    now = current.select("profile_id").distinct()
    at_lit = ibis.literal(at, type=_TS)
    entering = now.anti_join(spells, now.profile_id == spells.profile_id).select(
        segment_id=ibis.literal(segment_id), profile_id=now.profile_id, entered_at=at_lit,
        exited_at=ibis.null(_TS), trigger=ibis.literal(trigger))
    leaving = spells.anti_join(now, spells.profile_id == now.profile_id).select(
        "segment_id", "profile_id", "entered_at", exited_at=at_lit, trigger=spells.trigger)
    # Both deltas are computed before either write so the second does not see the first.
    new_rows = _conform(engine.execute(entering))
    closed = _conform(engine.execute(leaving))
    stats = engine.execute(now.aggregate(n=now.count())).column("n")[0].as_py()
    engine.append("segment_members", new_rows)
    engine.upsert("segment_members", closed)
    size = int(stats or 0)
    return RefreshReport(segment_id, new_rows.num_rows, closed.num_rows,
                         size - new_rows.num_rows, size)


def _conform(data: pa.Table) -> pa.Table:
    from aidmp.store.schema import TABLES

    schema = TABLES["segment_members"].schema.to_pyarrow()
    return data.select(schema.names).cast(schema)


def history(engine: Engine, segment_id: str, profile_id: str | None = None) -> list[dict[str, Any]]:
    """Every spell of a segment (optionally of one profile), oldest first."""
    m = engine.table("segment_members")
    sel = m.filter(m.segment_id == segment_id)
    if profile_id is not None:
        sel = sel.filter(sel.profile_id == profile_id)
    return engine.execute(sel.order_by(["profile_id", "entered_at"])).to_pylist()  # type: ignore[no-any-return]
