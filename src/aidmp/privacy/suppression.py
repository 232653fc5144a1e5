"""The suppression list: identifiers of erased people, kept as keyed hashes only.

Every write path of events (the collector, ``dmp.events.ingest``, file and database imports,
quarantine replays, the broker loader) passes its rows through :meth:`Suppression.filter`
before they are stored, so a late event, a re-sent batch or a re-import for an erased person
is dropped instead of bringing them back. With an empty list the filter costs nothing.

Example:
    >>> import pyarrow as pa
    >>> from aidmp.engine.duckdb import DuckDBEngine
    >>> from aidmp.privacy.pseudonym import Pseudonymiser
    >>> eng = DuckDBEngine(":memory:"); _ = eng.migrate()
    >>> sup = Suppression(eng, Pseudonymiser(b"s" * 32))
    >>> sup.add([("user_id", "u1")], request_id="dsr_1")
    1
    >>> rows = pa.table({"user_id": ["u1", "u2"], "anonymous_id": [None, "a9"],
    ...                  "traits": [None, None]})
    >>> sup.filter(rows).column("user_id").to_pylist()
    ['u2']
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from aidmp.engine.base import Engine, arrow_schema
from aidmp.privacy.pseudonym import Pseudonymiser
from aidmp.store.schema import TABLES

_EMAIL = re.compile(r'"email"\s*:\s*"([^"]+)"')


class Suppression:
    """The keyed hashes of erased identifiers, cached in memory.

    Args:
        engine: the store (table ``suppressions``).
        pseudonymiser: the installation's keyed hash.
    """

    def __init__(self, engine: Engine, pseudonymiser: Pseudonymiser) -> None:
        self.engine = engine
        self.pseudonymiser = pseudonymiser
        self._lock = threading.Lock()
        self._hashes: set[str] = set(
            engine.to_arrow("suppressions").column("hash").to_pylist()
        ) if engine.has_table("suppressions") else set()

    def __len__(self) -> int:
        return len(self._hashes)

    def add(self, identifiers: Iterable[tuple[str, str]], *, request_id: str) -> int:
        """Suppress identifiers (type, value); return how many were new."""
        keys = {self.pseudonymiser.hash(t, v) for t, v in identifiers}
        now = datetime.now(UTC)
        rows = pa.Table.from_pylist(
            [{"hash": k, "request_id": request_id, "created_at": now} for k in sorted(keys)],
            schema=arrow_schema(TABLES["suppressions"]))
        n = self.engine.append("suppressions", rows)
        with self._lock:
            self._hashes |= keys
        return n

    def is_suppressed(self, id_type: str, value: str) -> bool:
        """Whether an identifier belongs to an erased person."""
        return self.pseudonymiser.hash(id_type, value) in self._hashes

    def _hit(self, kind: str, values: pa.ChunkedArray | pa.Array) -> pa.Array:
        distinct = [v for v in pc.unique(values).to_pylist() if v]
        hit = [v for v in distinct if self.is_suppressed(kind, v)]
        return pc.fill_null(pc.is_in(values, value_set=pa.array(hit, pa.string())), False)

    def filter(self, rows: pa.Table) -> pa.Table:
        """``rows`` (events) without those of suppressed people (by user id, anonymous id or
        the e-mail in their traits)."""
        if not self._hashes or rows.num_rows == 0:
            return rows
        drop = pa.array([False] * rows.num_rows)
        for kind in ("user_id", "anonymous_id"):
            if kind in rows.column_names:
                drop = pc.or_(drop, self._hit(kind, rows.column(kind).cast(pa.string())))
        if "traits" in rows.column_names:
            texts = rows.column("traits").cast(pa.string()).to_pylist()
            emails = [m.group(1).strip().lower() if t and (m := _EMAIL.search(t)) else None
                      for t in texts]
            drop = pc.or_(drop, self._hit("email", pa.array(emails, pa.string())))
        return rows.filter(pc.invert(drop))
