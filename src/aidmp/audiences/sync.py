"""Incremental audience sync: send a segment to a destination, then only what changed.

One sync of segment ``S`` to destination ``D``:

1. members of ``S`` now (its compiled rule over ``profiles``) with the columns ``D`` needs;
2. consent: people who withdrew ``D.purpose`` (``granted = false`` in ``consents``) are skipped,
   and with ``require_opt_in`` so is everybody without a grant (``skipped_no_consent``);
3. people with no usable identifier for ``D`` are skipped (``skipped_no_identifier``);
4. fewer than ``D.min_audience`` people left: refused (a tiny audience can single people out);
5. diff against the ids last sent for (``S``, ``D``), kept in the derived table
   ``sync_state_<D>`` (``segment_id``, ``profile_id``): the first sync sends everyone, later
   ones only ``added`` and ``removed`` (people who left, withdrew consent or lost their
   identifier); a log row goes to the derived table ``audience_syncs``.

A dry run computes the same summary and neither sends nor stores anything. When a webhook batch
ends in the dead letter the state is not updated, so the next sync sends the same changes again.

Example:
    >>> import tempfile, pyarrow as pa
    >>> from aidmp import DMP
    >>> from aidmp.audiences.destinations import FileDestination
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> dmp.engine.write_table("profiles", pa.table({"profile_id": ["a", "b", "c"],
    ...     "email": ["a@x.co", None, "c@x.co"], "age": [30.0, 31.0, 50.0]}))
    >>> _ = dmp.segments.create("Thirties", rule="age between 30 and 39")
    >>> dest = FileDestination(name="f", folder=tempfile.mkdtemp(), columns=["email"],
    ...                        min_audience=1)
    >>> s = AudienceSync(dmp.engine, dmp.home).sync("thirties", dest, dry_run=True)
    >>> s.added, s.skipped_no_identifier, s.first_sync
    (1, 1, True)
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from aidmp.audiences.delivery import deliver
from aidmp.audiences.destinations import Destination
from aidmp.audiences.formats import format_rows, source_columns
from aidmp.campaigns.experiments import assign
from aidmp.engine.base import Engine
from aidmp.errors import ValidationError
from aidmp.segments.service import Segments

LOG_TABLE = "audience_syncs"
_STATE_SCHEMA = pa.schema([("segment_id", pa.string()), ("profile_id", pa.string())])


def state_table(destination: str) -> str:
    """The derived table holding what was last sent to ``destination``."""
    return f"sync_state_{destination}"


@dataclass
class SyncSummary:
    """The outcome of one sync (or dry run)."""

    segment_id: str
    destination: str
    dry_run: bool
    first_sync: bool
    members: int
    added: int
    removed: int
    unchanged: int
    skipped_no_consent: int
    skipped_no_identifier: int
    skipped_holdout: int = 0
    files: list[str] = field(default_factory=list)
    batches: int = 0
    failed_batches: int = 0
    stored: bool = False
    sync_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)


class AudienceSync:
    """Computes and sends segment diffs to destinations.

    Args:
        engine: the store (``profiles``, ``segments``, ``consents``).
        home: the installation folder (webhook secret, dead letters).
    """

    def __init__(self, engine: Engine, home: str | Path) -> None:
        self.engine = engine
        self.home = Path(home)

    # -- inputs ------------------------------------------------------------------------------
    def _members(self, segment_id: str, dest: Destination) -> pa.Table:
        segs = Segments(self.engine)
        expr = segs.compile(spec=segs.get(segment_id)["spec"]).expr
        p = self.engine.table("profiles")
        cols = source_columns(dest, p.columns)
        rows = p.filter(p.profile_id.isin(expr.profile_id)).select(cols).order_by("profile_id")
        return self.engine.execute(rows)

    def _consent_mask(self, ids: pa.Array, dest: Destination) -> pa.Array:
        """True for every profile ``dest`` may receive."""
        if dest.purpose is None:
            return pa.array([True] * len(ids), type=pa.bool_())
        c = self.engine.table("consents")
        rows = self.engine.execute(c.filter(c.purpose == dest.purpose)
                                   .select("profile_id", "granted"))
        granted = rows.filter(pc.equal(rows.column("granted"), True)).column("profile_id")
        refused = rows.filter(pc.equal(rows.column("granted"), False)).column("profile_id")
        if dest.require_opt_in:
            return pc.is_in(ids, value_set=granted.combine_chunks())
        return pc.invert(pc.is_in(ids, value_set=refused.combine_chunks()))

    def _previous(self, segment_id: str, destination: str) -> tuple[pa.Table, pa.Array, bool]:
        name = state_table(destination)
        if not self.engine.has_table(name):
            return _STATE_SCHEMA.empty_table(), pa.array([], type=pa.string()), True
        state = self.engine.to_arrow(name)
        mine = pc.equal(state.column("segment_id"), segment_id)
        previous = state.filter(mine).column("profile_id").combine_chunks()
        first = not self._synced_before(segment_id, destination)
        return state.filter(pc.invert(mine)), previous, first

    def _synced_before(self, segment_id: str, destination: str) -> bool:
        if not self.engine.has_table(LOG_TABLE):
            return False
        t = self.engine.table(LOG_TABLE)
        hit = t.filter([t.segment_id == segment_id, t.destination == destination]).limit(1)
        return self.engine.execute(hit).num_rows > 0

    # -- the sync ----------------------------------------------------------------------------
    def sync(self, segment_id: str, dest: Destination, *, dry_run: bool = False,
             holdout: tuple[str, float] | None = None) -> SyncSummary:
        """Send ``segment_id`` to ``dest``: everyone the first time, then adds and removes.

        ``holdout`` = (experiment id, share) leaves out the members that
        :func:`~aidmp.campaigns.experiments.assign` puts in the ``holdout`` arm (a campaign's
        control group: the same draw its report uses).

        Raises:
            NotFoundError: no such segment.
            ValidationError: fewer eligible people than ``dest.min_audience``.
        """
        members = self._members(segment_id, dest)
        held = 0
        if holdout is not None:
            experiment_id, share = holdout
            arms = assign(experiment_id, members.column("profile_id").to_pylist(),
                          {"holdout": share, "exposed": 1 - share})
            exposed = pa.array([a == "exposed" for a in arms], pa.bool_())
            held = members.num_rows - int(pc.sum(exposed).as_py() or 0)
            members = members.filter(exposed)
        ids = members.column("profile_id").combine_chunks()
        allowed = self._consent_mask(ids, dest)
        consented = members if pc.all(allowed).as_py() else members.filter(allowed)
        formatted, has_id = format_rows(dest, consented)
        sendable = formatted if all(has_id) else formatted.filter(pa.array(has_id, pa.bool_()))
        n = sendable.num_rows
        if n < dest.min_audience:
            raise ValidationError(
                f"audience {segment_id!r} has {n} eligible profiles for destination "
                f"{dest.name!r}, below its minimum audience size of {dest.min_audience} "
                "(k-anonymity: small audiences can identify people); grow the segment or "
                "lower min_audience", field="min_audience")
        others, previous, first = self._previous(segment_id, dest.name)
        current = sendable.column("profile_id").combine_chunks()
        was_sent = pc.is_in(current, value_set=previous)
        added = sendable if first else sendable.filter(pc.invert(was_sent))
        removed_ids = previous.filter(pc.invert(pc.is_in(previous, value_set=current)))
        summary = SyncSummary(
            segment_id=segment_id, destination=dest.name, dry_run=dry_run, first_sync=first,
            members=members.num_rows + held, added=added.num_rows,
            removed=0 if first else len(removed_ids),
            unchanged=0 if first else int(pc.sum(was_sent).as_py() or 0),
            skipped_no_consent=members.num_rows - consented.num_rows,
            skipped_no_identifier=consented.num_rows - n, skipped_holdout=held,
            sync_id=uuid.uuid4().hex[:12])
        if dry_run:
            return summary
        removed = self._removed_rows(removed_ids, dest) if summary.removed else \
            formatted.slice(0, 0)
        report = deliver(dest, segment_id, added, removed, first=first, home=self.home)
        summary.files, summary.batches = report.files, report.batches
        summary.failed_batches = report.failed_batches
        if report.failed_batches == 0:
            self._store(dest.name, segment_id, others, current, summary)
            summary.stored = True
        return summary

    def _removed_rows(self, removed_ids: pa.Array, dest: Destination) -> pa.Table:
        # People who left still need their identifiers so the platform can drop them; ids of
        # profiles deleted since (erasure) go out with the profile id alone. The ids go through
        # a staging table: a 10k-literal IN list costs seconds to compile in ibis.
        stage = f"_activate_stage_{uuid.uuid4().hex[:8]}"
        self.engine.write_table(stage, pa.table({"profile_id": removed_ids.cast(pa.string())}))
        try:
            p, ids = self.engine.table("profiles"), self.engine.table(stage)
            found = self.engine.execute(p.filter(p.profile_id.isin(ids.profile_id))
                                        .select(source_columns(dest, p.columns)))
        finally:
            self.engine.drop(stage)
        formatted, _ = format_rows(dest, found)
        gone = removed_ids.filter(pc.invert(pc.is_in(removed_ids,
                                                     value_set=found.column("profile_id"))))
        if len(gone):
            missing = pa.table({"profile_id": gone}).cast(pa.schema(
                [pa.field("profile_id", formatted.schema.field("profile_id").type)]))
            formatted = pa.concat_tables([formatted, missing], promote_options="default")
        return formatted

    def _store(self, destination: str, segment_id: str, others: pa.Table, current: pa.Array,
               summary: SyncSummary) -> None:
        mine = pa.table({"segment_id": pa.array([segment_id] * len(current), pa.string()),
                         "profile_id": current.cast(pa.string())})
        state = pa.concat_tables([others.cast(_STATE_SCHEMA), mine])
        self.engine.write_table(state_table(destination), state)
        row = {k: v for k, v in summary.to_dict().items() if k not in ("files", "stored")}
        log = pa.Table.from_pylist([{**row, "synced_at": datetime.now(UTC)}])
        if self.engine.has_table(LOG_TABLE):
            self.engine.write_table(LOG_TABLE, log, mode="append")
        else:
            self.engine.write_table(LOG_TABLE, log)

    def history(self, segment_id: str | None = None) -> list[dict[str, Any]]:
        """Past syncs (newest first), optionally of one segment."""
        if not self.engine.has_table(LOG_TABLE):
            return []
        t = self.engine.table(LOG_TABLE)
        if segment_id is not None:
            t = t.filter(t.segment_id == segment_id)
        rows = self.engine.execute(t.order_by(t.synced_at.desc()))
        return rows.to_pylist()  # type: ignore[no-any-return]


__all__ = ["LOG_TABLE", "AudienceSync", "SyncSummary", "state_table"]
