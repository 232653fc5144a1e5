"""Data-subject access: one archive of everything held about a person found by any identifier.

Layout of the ZIP archive (documented in ``docs/privacy.md``):

* ``manifest.json`` — request id, time, the identifier type asked about, counts per part;
* ``profile.json`` — the wide profile row (traits, computed traits, RFM, interests, scores);
  ``identities`` and ``merges``; ``traits`` with provenance (source, time, rule);
  ``consents`` and ``consent_history``; ``segments`` (memberships with entered / exited
  times); ``predictions`` (model, version, score, when); ``destinations`` (what was sent where,
  from the sync state); ``audit`` (entries about the profile);
* ``events.ndjson`` and ``events.csv`` — every event of the person, all columns.

Example:
    >>> import io, json, tempfile, zipfile
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> _ = dmp.events.ingest([{"type": "identify", "userId": "u1", "messageId": "m1",
    ...                         "traits": {"email": "ann@x.com"}}], source="web")
    >>> _ = dmp.build()
    >>> archive = zipfile.ZipFile(io.BytesIO(dmp.privacy.access("email", "ann@x.com")))
    >>> sorted(archive.namelist())
    ['events.csv', 'events.ndjson', 'manifest.json', 'profile.json']
    >>> json.loads(archive.read("manifest.json"))["counts"]["events"]
    1
"""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv

from aidmp.identity.service import EVENT_PROFILES
from aidmp.store.schema import DERIVED

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from aidmp.engine.base import Engine
    from aidmp.identity.service import IdentityGraph
    from aidmp.privacy.consent import ConsentLedger


def _rows(engine: Engine, expr: ir.Table) -> list[dict[str, Any]]:
    return engine.execute(expr).to_pylist()  # type: ignore[no-any-return]


class AccessExport:
    """Builds the access archive of one person.

    Args:
        engine: the store.
        identity: the identity graph.
        consent: the consent ledger (history by identifier).
    """

    def __init__(self, engine: Engine, identity: IdentityGraph, consent: ConsentLedger) -> None:
        self.engine = engine
        self.identity = identity
        self.consent = consent

    def _by_profile(self, table: str, profile_id: str, column: str = "profile_id"
                    ) -> list[dict[str, Any]]:
        if not self.engine.has_table(table):
            return []
        t = self.engine.table(table)
        return _rows(self.engine, t.filter(t[column] == profile_id))

    def _events(self, profile_id: str) -> pa.Table:
        ev = self.engine.table("events")
        if not self.engine.has_table(EVENT_PROFILES):
            return self.engine.execute(ev.limit(0))
        ep = self.engine.table(EVENT_PROFILES)
        mine = ep.filter(ep.profile_id == profile_id).select("message_id")
        return self.engine.execute(ev.join(mine, "message_id").order_by("timestamp"))

    def _destinations(self, profile_id: str) -> list[dict[str, Any]]:
        sync = next(d for d in DERIVED if d.name == "sync_state_")
        out = []
        for table in self.engine.tables():
            if sync.matches(table):
                t = self.engine.table(table)
                for r in _rows(self.engine, t.filter(t.profile_id == profile_id)):
                    out.append({"destination": table.removeprefix(sync.name),
                                "segment_id": r["segment_id"]})
        return out

    def profile(self, profile_id: str, id_type: str, id_value: str) -> dict[str, Any]:
        """Everything but the events, as one JSON-ready document."""
        m = self.engine.table("merges")
        merges = _rows(self.engine, m.filter((m.into_profile == profile_id)
                                             | (m.from_profile == profile_id)))
        audit = self._by_profile("audit_log", profile_id, "object")
        return {
            "profile_id": profile_id,
            "profile": next(iter(self._by_profile("profiles", profile_id)), None),
            "identities": self.identity.identities_of(profile_id),
            "merges": merges,
            "traits": self._by_profile("traits", profile_id),
            "consents": self._by_profile("consents", profile_id),
            "consent_history": self.consent.history(id_type, id_value),
            "segments": self._by_profile("segment_members", profile_id),
            "predictions": self._by_profile("predictions", profile_id),
            "destinations": self._destinations(profile_id),
            "audit": [{k: r[k] for k in ("at", "actor", "action", "object")} for r in audit],
        }

    def archive(self, id_type: str, id_value: str, request_id: str) -> bytes:
        """The ZIP archive (bytes) for the person an identifier belongs to.

        Raises:
            NotFoundError: no one with that identifier.
        """
        value = self.identity.normalise(id_type, id_value)
        profile_id = self.identity.profile_of(id_type, value)
        doc = self.profile(profile_id, id_type, value)
        events = self._events(profile_id)
        counts = {k: len(v) for k, v in doc.items() if isinstance(v, list)}
        counts["events"] = events.num_rows
        manifest = {"request_id": request_id, "generated_at": datetime.now(UTC),
                    "identifier_type": id_type, "counts": counts,
                    "files": {"profile.json": "profile, identities, merges, traits with "
                              "provenance, consents and their history, segments, predictions, "
                              "destinations, audit entries",
                              "events.ndjson": "every event, one JSON object per line",
                              "events.csv": "the same events as CSV"}}
        opts = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("manifest.json", orjson.dumps(manifest, option=opts))
            zf.writestr("profile.json", orjson.dumps(doc, option=opts, default=str))
            zf.writestr("events.ndjson", b"".join(
                orjson.dumps(r, default=str) + b"\n" for r in events.to_pylist()))
            out = io.BytesIO()
            pacsv.write_csv(events, out)
            zf.writestr("events.csv", out.getvalue())
        return buf.getvalue()
