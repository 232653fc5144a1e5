"""The profile build (identities -> traits -> the stages of :mod:`aidmp.profiles.stages` -> the
wide ``profiles`` table) and profile lookups by identifier, by id and as a timeline.

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> _ = dmp.events.ingest([
    ...     {"type": "identify", "userId": "u1", "traits": {"age": 31},
    ...      "timestamp": "2026-01-01T00:00:00Z"},
    ...     {"type": "track", "userId": "u1", "event": "Order Completed",
    ...      "properties": {"revenue": 40.5, "category": "books"},
    ...      "timestamp": "2026-01-02T00:00:00Z"}], source="web")
    >>> summary = dmp.profiles.build()
    >>> row = dmp.profiles.get("user_id", "u1")["profile"]
    >>> row["age"], row["orders_total"], row["revenue_total"], row["top_category"]
    (31.0, 1, 40.5, None)
    >>> dmp.profiles.get("user_id", "u1")["interests"]
    {'books': 1.0}
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from aidmp.engine.base import Engine
from aidmp.identity.service import IdentityGraph
from aidmp.profiles.common import column_name
from aidmp.profiles.inputs import missing_inputs
from aidmp.profiles.stages import Stages
from aidmp.profiles.timeline import carries, person_ids, timeline
from aidmp.profiles.traits import build_traits
from aidmp.spec.clock import as_utc
from aidmp.spec.profiles import ProfileConfig

StageProgress = Callable[[str, int, int], None]
STAGES = ("identities", "traits", "computed traits", "scores", "interests", "profiles")
# work columns of the since-build query: every event past the build watermark (a count, not a
# counter of the person), and which of them are the person's / the person's orders / refunds
_FRESH, _MINE, _ORDER = "__aidmp_fresh", "__aidmp_mine", "__aidmp_order"
_REFUND = "__aidmp_refund"


@dataclass
class BuildSummary:
    """What one build produced, stage by stage."""

    build_id: str
    profiles: int = 0
    identifiers: int = 0
    merges: int = 0
    traits: int = 0
    interests: int = 0
    columns: int = 0
    segments: int = 0
    identities_incremental: bool = False
    """Identities were brought up to date from the new events only (see IdentityGraph)."""
    profiles_incremental: bool = False
    """Only the people whose events changed were recomputed (the ranks over everyone)."""
    profiles_recomputed: int = 0
    """How many people an incremental build recomputed."""
    profiles_reused: bool = False
    """Nothing the profiles read had changed since the last build: they were kept as they were."""
    warnings: list[str] = field(default_factory=list)
    """Expected inputs no event carries and what that disables (no revenue: RFM monetary and
    CLV), from :func:`aidmp.profiles.inputs.missing_inputs`."""
    seconds: dict[str, float] = field(default_factory=dict)
    as_of: datetime | None = None
    """The point in time the user asked the profiles to be built as of (None: none)."""
    reference_time: datetime | None = None
    """The build's "now", which every window ends at: ``as_of``, else the wall clock at the
    start of the build (UTC)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for JSON output)."""
        return asdict(self)


class ProfileBuilder:
    """``dmp.profiles``: build, look up and page through profiles."""

    def __init__(self, engine: Engine, cfg: ProfileConfig, identity: IdentityGraph) -> None:
        self.engine = engine
        self.cfg = cfg
        self.identity = identity
        # lookups reuse (see by_id): the newest build record, until the engine's data version
        # moves; the ``profiles`` table's expression, until the build changes; and the (data
        # version, build watermark) at which no event had been received since the build
        self._build_cache: tuple[Hashable, dict[str, Any] | None] | None = None
        self._profiles_cache: tuple[str | None, ir.Table | None] | None = None
        self._quiet_since: tuple[Hashable, Any] | None = None
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        """The wall clock a build without ``as_of`` takes its reference time from (UTC)."""

    # -- build ---------------------------------------------------------------------------------
    def build(self, progress: StageProgress | None = None, *, full: bool = False,
              as_of: datetime | None = None) -> BuildSummary:
        """Bring identities up to date, then the per-person stages, rank everyone and replace
        ``profiles``; record the build.

        The reference time (``now``: where every window ends, what RFM recency counts back
        from) is the wall clock at the start of the build, or ``as_of``. The aggregates,
        windows (``(now - window, now]``), scores and interests read only events with
        ``timestamp <= now``: an event stamped ahead of the wall clock (a device's clock skew,
        up to the clock policy's ``max_future_skew``) counts from the first build after its
        time.

        Incremental unless ``full``: when identities were resolved incrementally and the
        profile configuration and the catalog are those of the last build, only the people
        whose events changed (new events, merged profiles, an event crossing a window's edge
        as the reference time moved) are recomputed; the result is the same as a full build's.

        ``as_of`` (a point in time, UTC) builds the profiles as they stood then. Such a build
        is always full and leaves no incremental state (the next build is full). Identities
        and identify traits are those of the whole store."""
        eng, cfg = self.engine, self.cfg
        if as_of is not None:
            as_of = as_utc(as_of)
            full = True
        build_id = f"b_{uuid.uuid4().hex[:12]}"
        started = self.clock()
        ev_all = eng.table("events")
        watermark = eng.execute(ev_all.aggregate(t=ev_all.received_at.max())).column("t")[0]
        summary = BuildSummary(build_id=build_id, as_of=as_of,
                               reference_time=as_of if as_of is not None else started)
        clock = time.perf_counter()

        def done(stage: str) -> None:
            nonlocal clock
            now_ = time.perf_counter()
            summary.seconds[stage] = round(now_ - clock, 3)
            clock = now_
            if progress:
                progress(stage, STAGES.index(stage) + 1, len(STAGES))

        resolved = self.identity.resolve(build_id=build_id, full=full)
        summary.identifiers, summary.merges = resolved.identifiers, resolved.merges
        summary.identities_incremental = resolved.incremental
        done("identities")
        stages = Stages(eng, cfg, now=started, as_of=as_of)
        until = self.identity.watermark()
        state = None if full or not resolved.incremental else stages.state()
        summary.profiles_incremental = state is not None
        if state is not None and stages.unchanged(state, until):
            # no event, prediction, catalog item or setting the profiles read has changed
            summary.profiles_reused = True
            summary.traits = eng.count("traits")
            for stage in STAGES[1:]:
                done(stage)
        else:
            stages.forget()  # until this build finishes: a build that fails leaves none
            if state is None:
                summary.traits = build_traits(eng, cfg)
                done("traits")
                stages.over_all_events(done)
            else:
                people = stages.changed_people(state, until)
                summary.traits = build_traits(eng, cfg, people)
                done("traits")
                summary.profiles_recomputed = stages.over_changed_people(people, done)
            eng.materialize("profiles", stages.assemble())
            eng.index("profiles", ["profile_id"])
            stages.finish(until)
            if as_of is not None:  # per-person results of another instant: not reusable
                stages.forget()
            done("profiles")
        summary.warnings = missing_inputs(eng, cfg)
        summary.interests = stages.interests()
        summary.profiles = eng.count("profiles")
        summary.columns = len(eng.table("profiles").columns)
        eng.append("builds", pa.Table.from_pylist([{
            "build_id": build_id, "started_at": started, "finished_at": datetime.now(UTC),
            "events_until": watermark.as_py(),
            "stats": json.dumps(summary.to_dict(), default=str)}]))
        eng.checkpoint()
        return summary

    # -- lookups -------------------------------------------------------------------------------
    def last_build(self) -> dict[str, Any] | None:
        """The newest build record."""
        return self._last_build(self.engine.data_version())

    def _last_build(self, version: Hashable | None) -> dict[str, Any] | None:
        """The newest build record, read again only when the data version moved; and then only
        its start time at first (build records are appended once and never changed, so the
        same newest start is the same record: ~0.3 ms instead of ~1.2 ms for the top-1 query
        while events stream in)."""
        eng = self.engine
        cached = self._build_cache
        if version is not None and cached is not None and cached[0] == version:
            return None if cached[1] is None else dict(cached[1])
        if cached is not None and cached[1] is not None:

            def newest_start() -> ir.Table:
                b = eng.table("builds")
                return b.aggregate(started_at=b.started_at.max())

            start = eng.prepared("builds.newest_start", newest_start, []).column(0)[0].as_py()
            if start == cached[1]["started_at"]:
                self._build_cache = (version, cached[1])
                return dict(cached[1])

        def newest() -> ir.Table:
            b = eng.table("builds")
            return b.order_by(ibis.desc("started_at")).limit(1)

        rows = eng.prepared("builds.last", newest, []).to_pylist()
        build = rows[0] if rows else None
        self._build_cache = (version, build)
        return None if build is None else dict(build)

    def get(self, id_type: str, id_value: str) -> dict[str, Any]:
        """A profile by any identifier: its row, traits with provenance, identities, and
        counters brought up to date with events received since the last build.

        Raises:
            NotFoundError: unknown identifier, or no build yet.
        """
        profile_id = self.identity.profile_of(id_type, id_value)
        return self.by_id(profile_id)

    def _profiles_table(self, build_id: str | None) -> ir.Table | None:
        """The ``profiles`` table's expression, looked up once per build (its columns only
        change when a build replaces it)."""
        cached = self._profiles_cache
        if cached is None or cached[0] != build_id:
            table = self.engine.table("profiles") if self.engine.has_table("profiles") else None
            cached = (build_id, table)
            self._profiles_cache = cached
        return cached[1]

    def by_id(self, profile_id: str) -> dict[str, Any]:
        """Like :meth:`get`, by profile id."""
        from aidmp.errors import NotFoundError

        eng = self.engine
        version = eng.data_version()  # read before any query: a later write moves it
        build = self._last_build(version)
        p = self._profiles_table(None if build is None else build["build_id"])
        if p is None:
            raise NotFoundError("no profiles yet: run `aidmp build` first")
        # Three short statements, each an index probe on profile_id: with DuckDB one statement
        # with the identities and traits as list sub-queries costs more (its longer SQL takes
        # longer to parse and plan than the three together). Keyed by the column list: a
        # rebuild may change the profile table's columns.
        rows = eng.prepared(f"profiles.by_id:{','.join(p.columns)}",
                            lambda pid: p.filter(p.profile_id == pid), [profile_id]).to_pylist()
        if not rows:
            raise NotFoundError(f"profile {profile_id!r} is not built yet: run `aidmp build`")
        row = rows[0]

        def traits_of(pid: ibis.Value) -> ir.Table:
            t = eng.table("traits")
            return t.filter(t.profile_id == pid).drop("profile_id")

        # sorted here rather than by the database: a sort adds an operator to every lookup,
        # and keys are unique per profile (text order is code-point order on both sides)
        traits = sorted(eng.prepared("profiles.traits", traits_of, [profile_id]).to_pylist(),
                        key=lambda r: str(r["key"]))
        identities = self.identity.identities_of(profile_id)
        realtime = self._since_build(build, identities, version)
        for key in ("events", "orders_total"):
            if key in row and row[key] is not None:
                row[key] += realtime.get(key, 0)
        if realtime.get("revenue_total") and "revenue_total" in row:
            row["revenue_total"] = (row["revenue_total"] or 0.0) + realtime["revenue_total"]
        for key in ("last_seen", "last_order_at"):
            if realtime.get(key) and key in row and (row[key] is None or realtime[key] > row[key]):
                row[key] = realtime[key]
        # model scores written since the build (``models fit --score``) show at once: the wide
        # table only pivots them in at the next build
        def scores_of(pid: ibis.Value) -> ir.Table:
            t = eng.table("predictions")
            return t.filter(t.profile_id == pid).select("key", "value")

        for score in eng.prepared("profiles.predictions", scores_of, [profile_id]).to_pylist():
            row[column_name(score["key"])] = score["value"]
        interests = {k.removeprefix("interest_"): v for k, v in row.items()
                     if k.startswith("interest_") and v}
        return {"profile_id": profile_id, "profile": row, "traits": traits,
                "identities": identities, "interests": dict(sorted(
                    interests.items(), key=lambda kv: -float(kv[1]))),
                "since_build": realtime}

    def _since_build(self, build: dict[str, Any] | None, identities: list[dict[str, Any]],
                     version: Hashable | None) -> dict[str, Any]:
        """Counters of events stored after the last build for this person (the real-time part):
        matched by the person's user ids and anonymous ids.

        The events are read past the build's watermark only (``received_at``: DuckDB skips
        every row group older than it). The same scan counts all events past the watermark;
        when there are none, nothing is read again until the engine's data version moves.
        """
        if build is None:
            return {}
        users, anons = person_ids(identities)
        if not users and not anons:
            return {}
        until = build["events_until"]
        if version is not None and self._quiet_since == (version, until):
            return {}
        cfg = self.cfg

        def query(*marks: ibis.Value) -> ibis.Table:
            ev = self.engine.table("events")
            fresh = ev
            if until is not None:
                fresh = fresh.filter(fresh.received_at > marks[0].cast(ev.received_at.type()))
            ids = marks[1:]
            who = carries(fresh, list(ids[: len(users)]), list(ids[len(users):]))
            # every fresh event is counted (is anything new at all?), the person's ones summed
            refund = (who & (fresh.event == cfg.refund_event) if cfg.refund_event
                      else ibis.literal(False))
            marked = fresh.select("event", "timestamp", "properties", "message_id", **{
                _MINE: who, _ORDER: who & (fresh.event == cfg.order_event), _REFUND: refund})
            mine, order = marked[_MINE], marked[_ORDER]
            text = self.engine.json_text
            revenue = text(marked.properties, "$." + cfg.revenue_property).try_cast("float64")
            # as the build counts them: distinct order ids, revenue net of refunds
            order_key = ibis.coalesce(text(marked.properties, "$." + cfg.order_id_property),
                                      marked.message_id)
            net = (ibis.coalesce(revenue.sum(where=order), 0.0)
                   - ibis.coalesce(revenue.abs().sum(where=marked[_REFUND]), 0.0))
            return marked.aggregate(**{
                _FRESH: marked.count(),
                "events": marked.count(where=mine),
                "orders_total": order_key.nunique(where=order),
                "revenue_total": net,
                "last_seen": marked.timestamp.max(where=mine),
                "last_order_at": marked.timestamp.max(where=order)})

        params = [until.isoformat() if until is not None else "", *users, *anons]
        key = f"profiles.since_build:{until is None}:{len(users)}:{len(anons)}"
        got = self.engine.prepared(key, query, params).to_pylist()[0]
        if not got.pop(_FRESH) and version is not None:
            self._quiet_since = (version, until)
        return {k: v for k, v in got.items() if v}

    def events(self, profile_id: str, *, page: int = 1, size: int = 50) -> dict[str, Any]:
        """The person's timeline, newest first, paged (:mod:`aidmp.profiles.timeline`)."""
        return timeline(self.engine, self.identity, profile_id, page=page, size=size)

    def count(self) -> int:
        """Profiles in the last build."""
        return self.engine.count("profiles") if self.engine.has_table("profiles") else 0

    def describe(self, traits: Sequence[str] | str | None = None) -> dict[str, Any]:
        """Count, mean, median, std, quartiles (numbers) or top values (texts) of ``traits``
        over every profile (:mod:`aidmp.profiles.describe`)."""
        from aidmp.profiles.describe import describe_traits

        return describe_traits(self.engine, traits)

    def rfm(self) -> dict[str, Any]:
        """Buyers per R x F score pair and per RFM segment (:func:`~aidmp.profiles.describe.
        rfm_distribution`)."""
        from aidmp.profiles.describe import rfm_distribution

        return rfm_distribution(self.engine)
