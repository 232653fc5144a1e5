"""Sending the rows of one sync: files for file-like destinations, signed batches for webhooks.

File-like destinations (``file``, ``google_customer_match``, ``meta_custom_audience``,
``email_platform``) write ``<folder>/<segment>/<destination>-<stamp>-<part>.<ext>`` where
``part`` is ``full`` on the first sync, then ``added`` and ``removed`` (only when not empty).

Webhooks post JSON lists of ``{"segment_id", "destination", "change": "added"|"removed",
"profile_id", ...columns}`` in batches of ``batch_size`` (a batch of one is the bare object,
as in segment webhooks), signed like segment webhooks
(:mod:`aidmp.segments.webhooks`), retried with exponential backoff; after the last attempt a
batch is appended to ``<home>/activate/dead-letter/<destination>.jsonl``.

Example:
    >>> import tempfile, pyarrow as pa
    >>> from aidmp.audiences.destinations import FileDestination
    >>> dest = FileDestination(name="f", folder=tempfile.mkdtemp())
    >>> rows = pa.table({"profile_id": ["p1"], "email": ["a@b.co"]})
    >>> report = deliver(dest, "seg", rows, rows.slice(0, 0), first=True, home=dest.folder)
    >>> [p.rsplit("-", 1)[-1] for p in report.files], report.failed_batches
    (['full.csv'], 0)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from aidmp.audiences.destinations import Destination, FileDestination, WebhookDestination
from aidmp.segments.webhooks import RetryPolicy, WebhookSender, load_secret


@dataclass
class DeliveryReport:
    """What was sent: files written, webhook batches delivered or dead-lettered."""

    files: list[str] = field(default_factory=list)
    batches: int = 0
    failed_batches: int = 0
    dead_letter_path: str | None = None


def _write(table: pa.Table, path: Path, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, tmp)
    else:
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, tmp)
    tmp.replace(path)  # a half-written upload file must never be picked up


def _deliver_files(dest: Destination, segment_id: str, added: pa.Table, removed: pa.Table,
                   first: bool) -> DeliveryReport:
    folder = Path(dest.folder) / segment_id  # type: ignore[union-attr]
    fmt = dest.format if isinstance(dest, FileDestination) else "csv"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    parts = [("full", added)] if first else [("added", added), ("removed", removed)]
    report = DeliveryReport()
    for part, table in parts:
        if part != "full" and table.num_rows == 0:
            continue
        path = folder / f"{dest.name}-{stamp}-{part}.{fmt}"
        _write(table, path, fmt)
        report.files.append(str(path))
    return report


def _records(segment_id: str, dest: str, change: str, table: pa.Table) -> list[dict[str, Any]]:
    return [{"segment_id": segment_id, "destination": dest, "change": change, **r}
            for r in table.to_pylist()]


def _deliver_webhook(dest: WebhookDestination, segment_id: str, added: pa.Table,
                     removed: pa.Table, home: Path) -> DeliveryReport:
    policy = RetryPolicy(attempts=dest.attempts, first_delay=dest.first_delay,
                         timeout=dest.timeout)
    sender = WebhookSender(home, policy=policy, secret=load_secret(home), workers=2)
    sender.dead_letter_path = home / "activate" / "dead-letter" / f"{dest.name}.jsonl"
    report = DeliveryReport(dead_letter_path=str(sender.dead_letter_path))
    try:
        for change, table in (("added", added), ("removed", removed)):
            for start in range(0, table.num_rows, dest.batch_size):
                chunk = table.slice(start, dest.batch_size)
                sender.send(dest.url, _records(segment_id, dest.name, change, chunk))
                report.batches += 1
        total_wait = dest.attempts * dest.timeout + sum(policy.delays()) + 5
        sender.drain(timeout=total_wait)
    finally:
        sender.close(timeout=1.0)
    report.failed_batches = sender.stats.dead
    return report


def deliver(dest: Destination, segment_id: str, added: pa.Table, removed: pa.Table, *,
            first: bool, home: str | Path) -> DeliveryReport:
    """Send one sync's additions and removals to ``dest``."""
    if isinstance(dest, WebhookDestination):
        return _deliver_webhook(dest, segment_id, added, removed, Path(home))
    return _deliver_files(dest, segment_id, added, removed, first)


__all__ = ["DeliveryReport", "deliver"]
