"""Erasure of one person by any identifier: everywhere aidmp keeps data, provably.

What an erasure removes (counts per place in the report, never the identifier itself):

1. the person's rows in every table that holds personal data — events (by the event map and by
   their user / anonymous ids, so events received after the last build go too), quarantine and
   outbox rows whose payload names one of their identifiers, identities, merges, decisions of
   the graph, traits, profiles and the per-person build tables, segment memberships and their
   history, predictions, consents and consent records, what was last sent to each destination;
2. files aidmp wrote: audience files of file destinations (rows of the person, by profile id,
   identifier or hashed identifier), and the collector's write-ahead-log segments still on disk;
3. then the store is compacted (:meth:`~aidmp.engine.base.Engine.compact`): DuckDB keeps
   deleted rows in free blocks until overwritten, so the file is copied table by table into a
   fresh one and the old one removed;
4. a suppression entry (keyed hash, no plaintext) per identifier makes a later import, a late
   event or a re-sent batch for them drop instead of bringing the person back.

Models keep no identifier (profile ids are keyed hashes); the person's scores are deleted and
the models trained on their data are listed in the report as due for a refit.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from aidmp.collect.wal import read_frames, sealed_frame
from aidmp.collect.walcrypt import FrameCipher
from aidmp.engine.base import Engine
from aidmp.errors import NotFoundError
from aidmp.identity.service import EVENT_PROFILES, IdentityGraph
from aidmp.privacy.suppression import Suppression
from aidmp.store.schema import DERIVED

Progress = Callable[[str, int, int], None]
STEPS = ("find", "tables", "files", "suppress", "compact")
# derived tables keyed by profile (the per-person build tables and the audience sync state)
_PROFILE_DERIVED = ("profiles", "_profile_computed", "_profile_interests")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _ids_in(events: pa.Table) -> set[str]:
    """The user and anonymous ids ``events`` carry."""
    return {v for c in ("user_id", "anonymous_id") for v in events.column(c).to_pylist() if v}


class Person:
    """Everything that identifies one person in the store, found from one identifier."""

    def __init__(self, profile_id: str | None, identifiers: list[tuple[str, str]],
                 raw_ids: set[str], message_ids: set[str] | None = None) -> None:
        self.profile_id = profile_id
        self.identifiers = identifiers
        self.raw_ids = raw_ids
        self.message_ids = message_ids or set()

    @property
    def needles(self) -> list[str]:
        """Lower-case texts that mark a payload as the person's (identifier values of at
        least 4 characters, so a short code doesn't match unrelated rows)."""
        values = {v.lower() for _, v in self.identifiers} | {v.lower() for v in self.raw_ids}
        return sorted(v for v in values if len(v) >= 4)

    @property
    def hashed(self) -> list[str]:
        """SHA-256 of the normalised e-mails and phones (what ad-platform files carry)."""
        return [_digest(v) for t, v in self.identifiers if t in ("email", "phone")]

    def mentions(self, text: str) -> bool:
        """Whether ``text`` names the person (case-insensitive)."""
        low = text.lower()
        return any(n in low for n in self.needles) or any(h in low for h in self.hashed)


class Eraser:
    """Erase people from one store.

    Args:
        engine: the store.
        identity: the identity graph (finds the person's profile and identifiers).
        suppression: the suppression list (keyed hashes of erased identifiers).
        wal_dir: the collector's write-ahead-log folder.
        files: folders of audience files written by file destinations.
    """

    def __init__(self, engine: Engine, identity: IdentityGraph, suppression: Suppression,
                 wal_dir: Path, files: Sequence[Path] = ()) -> None:
        self.engine = engine
        self.identity = identity
        self.suppression = suppression
        self.wal_dir = wal_dir
        self.files = list(files)
        self.wal_cipher: FrameCipher | None = None  # the collector's, when its log is sealed
        self._present = set(engine.tables())  # read once: each catalog query costs ~50 ms

    # -- finding the person ---------------------------------------------------------------------
    def find(self, id_type: str, id_value: str) -> Person:
        """The person's profile, identifiers, the raw ids their events carry and the ids of
        those events.

        The events are those the last build mapped to the profile (an index probe of
        ``event_profiles`` by profile id, then of ``events`` by key) and those carrying one of
        the person's user / anonymous ids, mapped or not (events received since the build):
        one pass over the two id columns, and a second only when the person's own events
        named further raw ids."""
        value = self.identity.normalise(id_type, id_value)
        profile: str | None
        try:
            profile = self.identity.profile_of(id_type, value)
        except NotFoundError:
            profile = None
        identifiers = {(id_type, value)}
        if profile is not None:
            identifiers |= {(r["id_type"], r["id_value"])
                            for r in self.identity.identities_of(profile)}
        raw = {v for t, v in identifiers if t in ("user_id", "anonymous_id")}
        if id_type in ("user_id", "anonymous_id"):
            raw.add(id_value)
        mapped = self._mapped(profile)
        messages = set(mapped.column("message_id").to_pylist())
        raw |= _ids_in(mapped)
        searched: set[str] = set()
        for _ in range(2):  # the person's raw ids, then any further ones their events carry
            fresh = sorted(raw - searched)
            if not fresh:
                break
            searched |= raw
            carrying = self._carrying(fresh)
            messages |= set(carrying.column("message_id").to_pylist())
            raw |= _ids_in(carrying)
        return Person(profile, sorted(identifiers), raw, messages)

    def _mapped(self, profile: str | None) -> pa.Table:
        """Key and raw ids of the events the last build mapped to ``profile``."""
        cols = ["message_id", "user_id", "anonymous_id"]
        if profile is None or EVENT_PROFILES not in self._present:
            return pa.table({c: pa.array([], pa.string()) for c in cols})

        def query(pid: ibis.Value) -> ir.Table:
            ep = self.engine.table(EVENT_PROFILES)
            return ep.filter(ep.profile_id == pid).select("message_id")

        ids = self.engine.prepared("privacy.event_ids", query, [profile])
        return self.engine.rows_by_key("events", ids.column("message_id").to_pylist(), cols)

    def _carrying(self, raw: list[str]) -> pa.Table:
        """Key and raw ids of every event whose user id or anonymous id is one of ``raw``
        (one pass over the two columns; no index holds them)."""
        ev = self.engine.table("events")
        cols = ["message_id", "user_id", "anonymous_id"]
        by_user = ev.filter(ev.user_id.isin(raw)).select(*cols)
        by_anon = ev.filter(ev.anonymous_id.isin(raw)).select(*cols)
        return self.engine.execute(ibis.union(by_user, by_anon, distinct=True))

    # -- erasing ----------------------------------------------------------------------------------
    def erase(self, person: Person, request_id: str, progress: Progress | None = None, *,
              compact: bool = True) -> dict[str, Any]:
        """Remove the person everywhere; the report counts what went where.

        ``compact=False`` leaves the rewrite of the store to a later
        :meth:`~aidmp.engine.base.Engine.compact` (the ``privacy.compact`` job): the rows are
        gone from every query at once, their bytes when the file is rewritten."""
        def step(name: str) -> None:
            if progress:
                progress(name, STEPS.index(name) + 1, len(STEPS))

        step("find")
        removed = self._tables(person)
        step("tables")
        files = self._files(person) + self._wal(person)
        step("files")
        suppressed = self._suppress(person, request_id)
        step("suppress")
        compacted = self.engine.compact() if compact else False
        step("compact")
        return {"rows": {k: v for k, v in removed.items() if v}, "files_rewritten": files,
                "identifiers_suppressed": suppressed, "store_compacted": compacted,
                "models_to_refit": self._models()}

    def _delete(self, table: str, doomed: ir.Table) -> int:
        if table not in self._present:
            return 0
        return self.engine.delete_rows(table, doomed)

    def _by_text(self, table: str, key: str, column: str, person: Person) -> int:
        """Delete the rows whose ``column`` (text or bytes) names the person."""
        if table not in self._present or not self.engine.count(table):
            return 0
        t = self.engine.table(table)
        text = t[column].cast("string").lower()
        needles = person.needles + person.hashed
        if not needles:
            return 0
        cond = text.contains(needles[0])
        for n in needles[1:]:
            cond = cond | text.contains(n)
        return self._delete(table, t.filter(cond).select(key))

    def _tables(self, person: Person) -> dict[str, int]:
        eng, pid = self.engine, person.profile_id
        out: dict[str, int] = {}
        if "events" in self._present:
            out["events"] = eng.delete_in("events", "message_id", sorted(person.message_ids))
        out["quarantine"] = self._by_text("quarantine", "id", "payload", person)
        out["outbox"] = self._by_text("outbox", "id", "body", person)
        values = sorted({v for _, v in person.identifiers})
        for table, col in (("identity_links", "id_value"), ("identity_links", "other_value"),
                           ("consent_records", "id_value")):
            if table in self._present:
                out[table] = out.get(table, 0) + eng.delete_in(table, col, values)
        if pid is None:
            return out
        m = eng.table("merges")
        out["merges"] = self._delete("merges", m.filter(
            (m.into_profile == pid) | (m.from_profile == pid)).select("id"))
        sync = next(d for d in DERIVED if d.name == "sync_state_")
        by_profile = ["identities", "traits", "segment_members", "predictions", "consents",
                      EVENT_PROFILES, *_PROFILE_DERIVED,
                      *(t for t in sorted(self._present) if sync.matches(t))]
        for table in by_profile:  # each an equality on the profile id: an index probe or a
            if table in self._present:  # scan that skips row groups, never a join
                out[table] = eng.delete_in(table, "profile_id", [pid])
        return out

    def _files(self, person: Person) -> int:
        """Rewrite the audience files that hold the person (CSV and Parquet)."""
        n = 0
        for folder in self.files:
            if not folder.is_dir():
                continue
            for path in sorted(folder.rglob("*")):
                if path.suffix == ".csv":
                    n += self._rewrite_csv(path, person)
                elif path.suffix == ".parquet":
                    n += self._rewrite_parquet(path, person)
        return n

    def _rewrite_csv(self, path: Path, person: Person) -> int:
        text = path.read_text(encoding="utf-8", errors="replace")
        if not (person.mentions(text) or (person.profile_id and person.profile_id in text)):
            return 0
        rows = list(csv.reader(io.StringIO(text)))
        kept = [r for i, r in enumerate(rows) if i == 0 or not (
            person.mentions(",".join(r)) or person.profile_id in r)]
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(kept)
        path.write_text(buf.getvalue(), encoding="utf-8")
        return 1

    def _rewrite_parquet(self, path: Path, person: Person) -> int:
        table = pq.read_table(path)
        rows = table.to_pylist()
        kept = [r for r in rows if not (person.mentions(orjson.dumps(r, default=str).decode())
                                        or person.profile_id in r.values())]
        if len(kept) == len(rows):
            return 0
        pq.write_table(pa.Table.from_pylist(kept, schema=table.schema), path)
        return 1

    def _wal(self, person: Person) -> int:
        """Rewrite the write-ahead-log segments still on disk without the person's records."""
        n = 0
        if not self.wal_dir.is_dir():
            return 0
        for path in sorted(self.wal_dir.glob("wal-*.log")):
            payloads = list(read_frames(path, self.wal_cipher))
            kept = [p for p in payloads if not person.mentions(p.decode("utf-8", "replace"))]
            if len(kept) == len(payloads):
                continue
            tmp = path.with_suffix(".rewrite")
            tmp.write_bytes(b"".join(sealed_frame(p, self.wal_cipher) for p in kept))
            tmp.replace(path)
            n += 1
        return n

    def _suppress(self, person: Person, request_id: str) -> int:
        raw = [(t, v) for v in person.raw_ids for t in ("user_id", "anonymous_id")]
        return self.suppression.add([*person.identifiers, *raw], request_id=request_id)

    def _models(self) -> list[str]:
        if "models" not in self._present:
            return []
        m = self.engine.table("models")
        return sorted(set(self.engine.execute(m.select("name")).column("name").to_pylist()))


def new_request_id() -> str:
    """An id for a data-subject request."""
    return f"dsr_{uuid.uuid4().hex[:16]}"
