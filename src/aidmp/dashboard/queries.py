"""Read-only aggregates the pages chart that no namespace returns yet (counts per day, shares).

Each is one engine-neutral ibis query over the store's declared tables; nothing is computed in
Python row by row and nothing is written. They return plain rows for the templates.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import ibis

from aidmp.dmp import DMP

DAYS = 90
"""The window of the overview's daily charts (days up to the newest event)."""


def _has(dmp: DMP, table: str) -> bool:
    return dmp.engine.has_table(table)


def events_per_day(dmp: DMP, newest: datetime | None,
                   days: int = DAYS) -> list[dict[str, Any]]:
    """Events per day, source and type in the ``days`` days up to ``newest`` (the newest event,
    from :func:`source_freshness`): one scan serves both of the overview's charts."""
    if not _has(dmp, "events") or newest is None:
        return []
    ev = dmp.engine.table("events")
    since = min(newest, datetime.now(UTC)) - timedelta(days=days)
    recent = ev.filter(ev.timestamp >= ibis.literal(since))
    q = recent.group_by(day=recent.timestamp.date(), source=recent.source,
                        type=recent.type).aggregate(n=ibis._.count())
    return dmp.engine.execute(q).to_pylist()


def by_day(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """:func:`events_per_day`'s rows summed per day and ``key`` (source or type)."""
    sums: dict[tuple[Any, Any], int] = {}
    for r in rows:
        sums[(r["day"], r[key])] = sums.get((r["day"], r[key]), 0) + int(r["n"])
    return [{"day": d, "key": k, "n": n} for (d, k), n in sorted(sums.items(),
                                                              key=lambda kv: str(kv[0]))]


def profile_totals(dmp: DMP) -> dict[str, Any]:
    """Profiles, those with a known person (user id or e-mail), their revenue."""
    if not _has(dmp, "profiles"):
        return {"profiles": 0, "identified": 0, "revenue": None}
    p = dmp.engine.table("profiles")
    known = None
    for col in ("user_id", "email"):
        if col in p.columns:
            known = p[col].notnull() if known is None else known | p[col].notnull()
    aggs: dict[str, Any] = {"profiles": p.count()}
    aggs["identified"] = p.count(where=known) if known is not None else ibis.literal(0)
    aggs["revenue"] = p.revenue_total.sum() if "revenue_total" in p.columns \
        else ibis.null("float64")
    return dmp.engine.execute(p.aggregate(**aggs)).to_pylist()[0]


def segment_sizes(dmp: DMP) -> dict[str, int]:
    """Current members per segment from the materialised membership (refreshed by builds)."""
    if not _has(dmp, "segment_members"):
        return {}
    m = dmp.engine.table("segment_members")
    q = m.filter(m.exited_at.isnull()).group_by("segment_id").aggregate(n=ibis._.count())
    return {r["segment_id"]: int(r["n"]) for r in dmp.engine.execute(q).to_pylist()}


def membership_changes(dmp: DMP, segment_id: str) -> list[dict[str, Any]]:
    """Entries and exits of one segment per day."""
    m = dmp.engine.table("segment_members")
    seg = m.filter(m.segment_id == segment_id)
    entered = seg.group_by(day=seg.entered_at.date()).aggregate(entered=seg.count())
    left = seg.filter(seg.exited_at.notnull())
    exited = left.group_by(day=left.exited_at.date()).aggregate(exited=left.count())
    rows = {r["day"]: {"day": r["day"], "entered": r["entered"], "exited": 0}
            for r in dmp.engine.execute(entered).to_pylist()}
    for r in dmp.engine.execute(exited).to_pylist():
        rows.setdefault(r["day"], {"day": r["day"], "entered": 0, "exited": 0})
        rows[r["day"]]["exited"] = r["exited"]
    return [rows[d] for d in sorted(rows)]


def profile_segments(dmp: DMP, profile_id: str) -> list[dict[str, Any]]:
    """One person's membership spells in every segment, newest first (compiled once, the
    profile id bound: a page view runs it with only the id changing). The table is declared,
    so every store has it."""
    def query(pid: ibis.Value) -> ibis.Table:
        m = dmp.engine.table("segment_members")
        return m.filter(m.profile_id == pid).order_by(ibis.desc("entered_at")).drop(
            "profile_id")

    return dmp.engine.prepared("dashboard.profile_segments", query, [profile_id]).to_pylist()


def profile_consents(dmp: DMP, profile_id: str) -> list[dict[str, Any]]:
    """One person's consent per purpose (compiled once, the profile id bound)."""
    def query(pid: ibis.Value) -> ibis.Table:
        c = dmp.engine.table("consents")
        return c.filter(c.profile_id == pid).order_by("purpose").drop("profile_id")

    return dmp.engine.prepared("dashboard.profile_consents", query, [profile_id]).to_pylist()


def consent_by_purpose(dmp: DMP) -> list[dict[str, Any]]:
    """Granted, withdrawn and unknown consents per purpose."""
    if not _has(dmp, "consents"):
        return []
    c = dmp.engine.table("consents")
    q = c.group_by("purpose").aggregate(
        granted=c.count(where=c.granted), withdrawn=c.count(where=~c.granted),
        total=c.count()).order_by("purpose")
    return dmp.engine.execute(q).to_pylist()


def distribution(dmp: DMP, column: str, bins: int = 20) -> list[dict[str, Any]]:
    """A histogram of a numeric profile column: equal-width bins between its min and max."""
    if not _has(dmp, "profiles"):
        return []
    p = dmp.engine.table("profiles")
    if column not in p.columns:
        return []
    col = p[column].cast("float64")
    bounds = dmp.engine.execute(p.aggregate(lo=col.min(), hi=col.max())).to_pylist()[0]
    lo, hi = bounds["lo"], bounds["hi"]
    if lo is None or hi is None:
        return []
    width = (hi - lo) / bins or 1.0
    b = ((col - lo) / width).floor().clip(upper=bins - 1).cast("int64")
    binned = p.select(b=b).filter(ibis._.b.notnull())
    q = binned.group_by("b").aggregate(n=ibis._.count()).order_by("b")
    return [{"from": lo + r["b"] * width, "to": lo + (r["b"] + 1) * width, "n": r["n"]}
            for r in dmp.engine.execute(q).to_pylist()]


def top_profiles(dmp: DMP, column: str, n: int = 10,
                 extra: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The ``n`` profiles with the highest ``column`` (with ``extra`` columns that exist)."""
    if not _has(dmp, "profiles"):
        return []
    p = dmp.engine.table("profiles")
    if column not in p.columns:
        return []
    cols = ["profile_id", column, *(c for c in extra if c in p.columns and c != column)]
    q = p.filter(p[column].notnull()).order_by(ibis.desc(column)).limit(n).select(cols)
    return dmp.engine.execute(q).to_pylist()


def rfm_grid(dmp: DMP) -> list[dict[str, Any]]:
    """Profiles, revenue and segment name per recency (R) and frequency (F) score."""
    if not _has(dmp, "profiles"):
        return []
    p = dmp.engine.table("profiles")
    if not {"rfm_r", "rfm_f"} <= set(p.columns):
        return []
    q = p.filter(p.rfm_r.notnull()).group_by(["rfm_r", "rfm_f"]).aggregate(
        n=ibis._.count(), revenue=ibis._.rfm_monetary.sum()).order_by(["rfm_r", "rfm_f"])
    return dmp.engine.execute(q).to_pylist()


def rfm_segments(dmp: DMP) -> list[dict[str, Any]]:
    """Profiles and revenue per RFM segment name, biggest first."""
    if not _has(dmp, "profiles"):
        return []
    p = dmp.engine.table("profiles")
    if "rfm_segment" not in p.columns:
        return []
    q = p.filter(p.rfm_segment.notnull()).group_by("rfm_segment").aggregate(
        n=ibis._.count(), revenue=ibis._.rfm_monetary.sum()).order_by(ibis.desc("n"))
    return dmp.engine.execute(q).to_pylist()


def source_freshness(dmp: DMP) -> list[dict[str, Any]]:
    """Per source: events, the newest event time and the newest arrival."""
    if not _has(dmp, "events"):
        return []
    ev = dmp.engine.table("events")
    q = ev.group_by("source").aggregate(
        events=ev.count(), newest=ev.timestamp.max(), received=ev.received_at.max()
    ).order_by(ibis.desc("events"))
    return dmp.engine.execute(q).to_pylist()


def experiment_ids(dmp: DMP, limit: int = 20) -> list[str]:
    """Experiments seen in ``Experiment Viewed`` events (Segment's spec event)."""
    if not _has(dmp, "events"):
        return []
    ev = dmp.engine.table("events")
    seen = ev.filter(ev.event == "Experiment Viewed")
    ids = dmp.engine.json_text(seen.properties, "$.experiment_id")
    q = seen.select(experiment_id=ids).filter(ibis._.experiment_id.notnull()).distinct()
    rows = dmp.engine.execute(q.order_by("experiment_id").limit(limit)).to_pylist()
    return [str(r["experiment_id"]) for r in rows]


def audit_entries(dmp: DMP, *, actor: str | None = None, action: str | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
    """The newest audit entries, filtered by actor (key id) and action prefix."""
    if not _has(dmp, "audit_log"):
        return []
    t = dmp.engine.table("audit_log")
    if actor:
        t = t.filter(t.actor == actor)
    if action:
        t = t.filter(t.action.startswith(action))
    return dmp.engine.execute(t.order_by(ibis.desc("at")).limit(limit)).to_pylist()


def audit_actions(dmp: DMP) -> list[str]:
    """Every action name in the audit log."""
    if not _has(dmp, "audit_log"):
        return []
    t = dmp.engine.table("audit_log")
    return [r["action"] for r in dmp.engine.execute(
        t.select("action").distinct().order_by("action")).to_pylist()]
