"""De-duplication as ibis expressions, so it runs unchanged on every aidmp engine.

- :func:`dedupe_events` keeps one row per ``message_id`` (the first received), then collapses
  bursts of the same person (``coalesce(user_id, anonymous_id)``) sending the same call
  (``type``, ``event``, ``properties`` text) where each repeat comes at most
  ``window_seconds`` after the previous one (retries, double clicks, replays).
- :func:`dedupe_rows` keeps the latest row per key (CRM exports).

Both return a :class:`DedupeResult` holding expressions for the kept and the dropped rows;
nothing runs until an engine executes them (:meth:`DedupeResult.summarize` counts).

Example:
    >>> from aidmp.engine.base import unbound_table
    >>> result = dedupe_events(unbound_table("events"), window_seconds=30)
    >>> result.dropped.columns[-2:]
    ('dedupe_reason', 'duplicate_of')
    >>> "ROW_NUMBER" in ibis.to_sql(result.kept, dialect="duckdb")
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from aidmp.engine.base import Engine
from aidmp.errors import ValidationError

__all__ = ["DedupeResult", "DedupeSummary", "dedupe_events", "dedupe_rows", "window_repeats"]

REASON = "dedupe_reason"
DUPLICATE_OF = "duplicate_of"
_EVENT_COLUMNS = ("message_id", "type", "event", "user_id", "anonymous_id", "properties",
                  "timestamp", "received_at")


@dataclass(frozen=True)
class DedupeSummary:
    """Executed counts of a de-duplication."""

    kept: int
    dropped: int
    by_reason: dict[str, int]
    dropped_ids: list[str]


@dataclass(frozen=True)
class DedupeResult:
    """Kept and dropped rows as unexecuted ibis expressions.

    Attributes:
        kept: the input's columns, one row per distinct record.
        dropped: the input's columns plus ``dedupe_reason`` (``message_id``, ``window`` or
            ``key``) and ``duplicate_of`` (the id of the kept row, when there is an id column).
        id_column: column naming a row in ``dropped_ids`` (``None``: the key columns).
    """

    kept: ir.Table
    dropped: ir.Table
    id_column: str | None = None

    def dropped_count(self) -> ir.Table:
        """One row per reason with the number of dropped rows ``n``."""
        return self.dropped.group_by(REASON).aggregate(n=self.dropped.count())

    def summarize(self, engine: Engine, *, max_ids: int = 10_000) -> DedupeSummary:
        """Run the counts on ``engine``; list up to ``max_ids`` dropped ids (sorted)."""
        kept = engine.execute(self.kept.aggregate(n=self.kept.count())).column("n")[0].as_py()
        counts = engine.execute(self.dropped_count()).to_pylist()
        by_reason = {str(r[REASON]): int(r["n"]) for r in counts}
        ids: list[str] = []
        if self.id_column is not None:
            col = self.dropped[self.id_column]
            expr = self.dropped.select(col).order_by(col).limit(max_ids)
            ids = [str(v) for v in engine.execute(expr).column(self.id_column).to_pylist()]
        return DedupeSummary(kept=int(kept or 0), dropped=sum(by_reason.values()),
                             by_reason=by_reason, dropped_ids=ids)


def _need(t: ir.Table, columns: Sequence[str], field: str) -> None:
    missing = [c for c in columns if c not in t.columns]
    if missing:
        raise ValidationError(f"the table has no column(s) {', '.join(missing)}; columns: "
                              f"{', '.join(t.columns)}", field=field)


def dedupe_events(t: ir.Table, *, window_seconds: int = 60) -> DedupeResult:
    """De-duplicate an events table (the ``events`` schema of :mod:`aidmp.store.schema`).

    Args:
        t: the events table (or any expression with its columns).
        window_seconds: a repeat of the same person + call + properties at most this many
            seconds after the previous one is a duplicate; ``0`` keeps only exact-time repeats
            out. Each repeat is compared with the one before it, so a steady burst collapses
            into its first row.

    Raises:
        ValidationError: a negative window or a table without the events columns.

    Properties are compared as stored JSON text, so the same object with its keys in a
    different order is not a duplicate.
    """
    _need(t, _EVENT_COLUMNS, "t")
    columns = list(t.columns)
    by_id = ibis.window(group_by=t.message_id, order_by=[t.received_at, t.timestamp])
    ranked = t.mutate(_rank=ibis.row_number().over(by_id))
    id_dupes = ranked.filter(ranked._rank > 0).select(
        *columns, **{REASON: ibis.literal("message_id"), DUPLICATE_OF: ranked.message_id})
    marked = _marked(ranked.filter(ranked._rank == 0).select(*columns), window_seconds)
    # A running count of "starts" numbers the bursts; the first row of a burst is the kept one.
    cumulative = ibis.cumulative_window(
        group_by=[marked._person, marked.type, marked.event, marked.properties],
        order_by=[marked.timestamp, marked.received_at, marked.message_id])
    bursts = marked.mutate(_burst=marked._repeat.sum().over(cumulative))
    first = ibis.window(
        group_by=[bursts._person, bursts.type, bursts.event, bursts.properties, bursts._burst],
        order_by=[bursts.timestamp, bursts.received_at, bursts.message_id])
    bursts = bursts.mutate(_first=bursts.message_id.first().over(first))
    kept = bursts.filter(bursts._repeat == 1).select(*columns)
    window_dupes = bursts.filter(bursts._repeat == 0).select(
        *columns, **{REASON: ibis.literal("window"), DUPLICATE_OF: bursts._first})
    return DedupeResult(kept=kept, dropped=id_dupes.union(window_dupes), id_column="message_id")


def window_repeats(t: ir.Table, *, window_seconds: int = 60) -> ir.Table:
    """The events of ``t`` (one row per ``message_id`` already, as the stored ``events``) that
    :func:`dedupe_events` drops by its time window, without ``duplicate_of``: what counting
    them needs (one window over the events instead of three, and no row per id first).

    Raises:
        ValidationError: a negative window or a table without the events columns.
    """
    _need(t, _EVENT_COLUMNS, "t")
    marked = _marked(t, window_seconds)
    return marked.filter(marked._repeat == 0).select(*t.columns)


def _marked(unique: ir.Table, window_seconds: int) -> ir.Table:
    """``unique`` with ``_person`` and ``_repeat`` (0 for an event that repeats the one before
    it, same person, call and properties, within ``window_seconds``; 1 for the others)."""
    if window_seconds < 0:
        raise ValidationError("must be 0 or more seconds", field="window_seconds")
    unique = unique.mutate(_person=ibis.coalesce(unique.user_id, unique.anonymous_id))
    keys = [unique._person, unique.type, unique.event, unique.properties]
    order = [unique.timestamp, unique.received_at, unique.message_id]
    prev = unique.timestamp.lag().over(ibis.window(group_by=keys, order_by=order))
    repeat = (unique._person.notnull() & prev.notnull()
              & (unique.timestamp <= prev + ibis.interval(seconds=window_seconds)))
    return unique.mutate(_repeat=repeat.ifelse(0, 1))


def dedupe_rows(
    t: ir.Table, key_columns: str | Sequence[str], order_by: str | Sequence[str], *,
    id_column: str | None = None,
) -> DedupeResult:
    """Keep the latest row per key (largest ``order_by``; a missing order value sorts oldest).

    Rows with a missing key are all kept: two CRM rows without an e-mail are not the same
    person. Rows tied on every ``order_by`` column keep an engine-chosen one: add a
    tie-breaking column (e.g. a row id) for a reproducible choice.

    Args:
        t: the table.
        key_columns: the column(s) that identify a record.
        order_by: column(s) whose largest value marks the latest row.
        id_column: a column naming rows, listed by :meth:`DedupeResult.summarize`.

    Raises:
        ValidationError: a column the table does not have.
    """
    keys = [key_columns] if isinstance(key_columns, str) else list(key_columns)
    order = [order_by] if isinstance(order_by, str) else list(order_by)
    if not keys:
        raise ValidationError("name at least one key column", field="key_columns")
    _need(t, keys, "key_columns")
    _need(t, order, "order_by")
    _need(t, [id_column] if id_column else [], "id_column")
    columns = list(t.columns)
    w = ibis.window(group_by=[t[k] for k in keys],
                    order_by=[t[c].desc(nulls_first=False) for c in order])
    any_null = ibis.or_(*[t[k].isnull() for k in keys])
    ranked = t.mutate(_rank=ibis.row_number().over(w), _null_key=any_null)
    is_dup = (ranked._rank > 0) & ~ranked._null_key
    kept = ranked.filter(~is_dup).select(*columns)
    dropped = ranked.filter(is_dup).select(*columns, **{REASON: ibis.literal("key")})
    return DedupeResult(kept=kept, dropped=dropped, id_column=id_column)
