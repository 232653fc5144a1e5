"""``dmp.segments``: create, inspect, size, list members, export, overlap and refresh segments.

Example:
    >>> import tempfile, pyarrow as pa
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> dmp.engine.write_table("profiles", pa.table({"profile_id": ["a", "b", "c"],
    ...                                              "age": [22.0, 31.0, 45.0]}))
    >>> segs = Segments(dmp.engine)
    >>> segs.create("Thirties", rule="age between 30 and 39")["id"]
    'thirties'
    >>> segs.size("thirties")["size"], segs.estimate(rule="age > 40")["size"]
    (1, 1)
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from pydantic import ValidationError as PydanticValidationError

from aidmp.engine.base import Engine
from aidmp.errors import NotFoundError, ValidationError
from aidmp.profiles.describe import describe_traits
from aidmp.segments.catalog import Catalog, slug
from aidmp.segments.compiler import CompiledSegment, catalog_of, compile_spec
from aidmp.segments.membership import RefreshReport, history, refresh_membership
from aidmp.segments.parser import parse_rule
from aidmp.spec.segments import (
    AggregateCondition,
    AndCondition,
    Condition,
    EventCondition,
    NotCondition,
    OrCondition,
    SegmentSpec,
)

ExportFormat = Literal["csv", "parquet"]
_EXPORT_IDS = ("user_id", "email")
_SAMPLE_BUCKETS = 100


def spec_from(spec: SegmentSpec | dict[str, Any] | str) -> SegmentSpec:
    """A spec from an object, a dict or JSON text, with errors naming the bad field."""
    if isinstance(spec, SegmentSpec):
        return spec
    try:
        if isinstance(spec, str):
            return SegmentSpec.model_validate_json(spec)
        return SegmentSpec.model_validate(spec)
    except PydanticValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ValidationError(f"{where}: {err['msg']}", field="spec") from None


def segment_refs(c: Condition) -> list[str]:
    """The segments a condition refers to with ``in_segment`` (at any depth)."""
    if isinstance(c, AndCondition | OrCondition):
        return [s for x in c.conditions for s in segment_refs(x)]
    if isinstance(c, NotCondition):
        return segment_refs(c.condition)
    return [c.segment] if c.kind == "in_segment" else []


def event_names(c: Condition) -> set[str]:
    """The track event names a condition's event predicates read (at any depth, not through
    ``in_segment``): only such an event can change what they answer.

    Example:
        >>> rule = 'event("Order Completed") and not count("Refund", within=30d) >= 1 or age > 3'
        >>> sorted(event_names(parse_rule(rule).condition))
        ['Order Completed', 'Refund']
    """
    if isinstance(c, AndCondition | OrCondition):
        return {n for x in c.conditions for n in event_names(x)}
    if isinstance(c, NotCondition):
        return event_names(c.condition)
    return {c.event} if isinstance(c, EventCondition | AggregateCondition) else set()


class Segments:
    """Rule segments over one store.

    Args:
        engine: the store.
        as_of: a point in time (UTC) for ``within=`` windows and spell times (``--as-of``,
            tests, replays): event predicates then read only events up to it, every window
            ``[as_of - within, as_of]``; default the current time at each call.
    """

    def __init__(self, engine: Engine, *, as_of: datetime | None = None) -> None:
        self.engine = engine
        self.as_of = as_of

    def _now(self) -> datetime:
        return self.as_of or datetime.now(UTC)

    # -- definitions ---------------------------------------------------------------------------
    def _rows(self) -> list[dict[str, Any]]:
        return self.engine.to_arrow("segments").to_pylist()  # type: ignore[no-any-return]

    def get(self, segment_id: str) -> dict[str, Any]:
        """The stored definition of a segment.

        Raises:
            NotFoundError: no such segment (the message lists the existing ones).
        """
        t = self.engine.table("segments")
        rows = self.engine.execute(t.filter(t.id == segment_id)).to_pylist()
        if not rows:
            known = ", ".join(sorted(r["id"] for r in self._rows())) or "none yet"
            raise NotFoundError(f"no segment {segment_id!r}; segments: {known}")
        return rows[0]  # type: ignore[no-any-return]

    def _catalog(self) -> Catalog:
        return catalog_of(self.engine, {r["id"]: bool(r["realtime"]) for r in self._rows()})

    def _spec(self, rule: str | None, spec: SegmentSpec | dict[str, Any] | str | None,
              catalog: Catalog) -> SegmentSpec:
        if (rule is None) == (spec is None):
            raise ValidationError("give either a rule or a spec", field="rule")
        return parse_rule(rule, catalog) if rule is not None else spec_from(spec)  # type: ignore[arg-type]

    def compile(
        self, rule: str | None = None, spec: SegmentSpec | dict[str, Any] | str | None = None,
    ) -> CompiledSegment:
        """Parse, check and compile a rule or spec without saving it."""
        catalog = self._catalog()
        parsed = self._spec(rule, spec, catalog)
        return compile_spec(parsed, self.engine, catalog=catalog, as_of=self._now(),
                            realtime_segments=catalog.segments, bounded=self.as_of is not None)

    def _compiled(self, segment_id: str) -> CompiledSegment:
        row = self.get(segment_id)
        catalog = self._catalog()
        return compile_spec(spec_from(row["spec"]), self.engine, catalog=catalog,
                            as_of=self._now(), realtime_segments=catalog.segments,
                            bounded=self.as_of is not None)

    def create(
        self, name: str, rule: str | None = None,
        spec: SegmentSpec | dict[str, Any] | str | None = None, *,
        description: str | None = None, realtime: bool = False, webhook_url: str | None = None,
    ) -> dict[str, Any]:
        """Save a segment (id = slug of the name) after checking and compiling its rule.

        Raises:
            ValidationError: bad rule or spec, a taken name, a real-time request for a rule
                that needs batch data, a webhook URL that is not http(s).
        """
        segment_id = slug(name or "")
        if not segment_id:
            raise ValidationError("give a name with letters or digits", field="name")
        if any(r["id"] == segment_id for r in self._rows()):
            raise ValidationError(f"segment {segment_id!r} exists; delete it first or choose "
                                  "another name", field="name")
        if webhook_url is not None and not webhook_url.startswith(("http://", "https://")):
            raise ValidationError("must start with http:// or https://", field="webhook_url")
        catalog = self._catalog()
        parsed = self._spec(rule, spec, catalog)
        compiled = compile_spec(parsed, self.engine, catalog=catalog, as_of=self._now(),
                                realtime_segments=catalog.segments)
        if realtime and not compiled.realtime_capable:
            raise ValidationError(f"this rule cannot be real-time ({compiled.reason}); create "
                                  "it with realtime=False", field="realtime")
        now = self._now()
        row = {"id": segment_id, "name": name, "description": description, "rule": rule,
               "spec": parsed.model_dump_json(), "kind": "rule",
               "realtime": realtime, "webhook_url": webhook_url, "created_at": now,
               "updated_at": now}
        schema = self.engine.table("segments").schema().to_pyarrow()
        self.engine.append("segments", pa.Table.from_pylist([row], schema=schema))
        return self.show(segment_id)

    def list(self) -> builtins.list[dict[str, Any]]:
        """Every segment: id, name, description, rule, real-time flag."""
        keep = ("id", "name", "description", "rule", "realtime", "webhook_url", "created_at")
        return [{k: r[k] for k in keep} for r in sorted(self._rows(), key=lambda r: r["id"])]

    def show(self, segment_id: str) -> dict[str, Any]:
        """Definition, spec, compiled SQL, size and real-time capability."""
        row = self.get(segment_id)
        compiled = self._compiled(segment_id)
        return {
            "id": row["id"], "name": row["name"], "description": row["description"],
            "rule": row["rule"], "spec": json.loads(row["spec"]), "kind": row["kind"],
            "realtime": bool(row["realtime"]), "webhook_url": row["webhook_url"],
            "realtime_capable": compiled.realtime_capable,
            "realtime_reason": compiled.reason, "sql": self.engine.compile(compiled.expr),
            "size": self._count(compiled.expr), "created_at": row["created_at"],
        }

    def delete(self, segment_id: str) -> None:
        """Delete a segment and its membership history.

        Raises:
            ValidationError: another segment's rule uses it (``in_segment``).
        """
        self.get(segment_id)
        users = [r["id"] for r in self._rows()
                 if segment_id in segment_refs(spec_from(r["spec"]).condition)]
        if users:
            raise ValidationError(f"segment {segment_id!r} is used by {', '.join(users)}; "
                                  "delete those first", field="id")
        s = self.engine.table("segments")
        self.engine.keep_only("segments", s.filter(s.id != segment_id))
        m = self.engine.table("segment_members")
        self.engine.keep_only("segment_members", m.filter(m.segment_id != segment_id))

    # -- sizes and members ---------------------------------------------------------------------
    def _count(self, expr: ir.Table) -> int:
        return int(self.engine.execute(expr.aggregate(n=expr.count())).column("n")[0].as_py())

    def _sized(self, compiled: CompiledSegment, approximate_above: int | None) -> dict[str, Any]:
        total = self.engine.count("profiles")
        if approximate_above is None or total <= approximate_above:
            return {"size": self._count(compiled.expr), "approximate": False,
                    "profiles": total}
        # A fixed 1 % of profiles picked by hash: the same people every time, on every engine.
        e = compiled.expr
        sample = e.filter((e.profile_id.hash() % _SAMPLE_BUCKETS).abs() == 0)
        return {"size": self._count(sample) * _SAMPLE_BUCKETS, "approximate": True,
                "sample_fraction": 1 / _SAMPLE_BUCKETS, "profiles": total}

    def size(self, segment_id: str, *, approximate_above: int | None = None) -> dict[str, Any]:
        """Members now (exact; approximate from a 1 % sample above ``approximate_above``)."""
        out = self._sized(self._compiled(segment_id), approximate_above)
        return {"id": segment_id, **out}

    def estimate(
        self, rule: str | None = None, spec: SegmentSpec | dict[str, Any] | str | None = None,
        *, approximate_above: int | None = None,
    ) -> dict[str, Any]:
        """Size of an unsaved rule, with its real-time capability."""
        compiled = self.compile(rule, spec)
        return {**self._sized(compiled, approximate_above),
                "realtime_capable": compiled.realtime_capable,
                "realtime_reason": compiled.reason}

    def members(self, segment_id: str, page: int = 1, page_size: int = 100) -> dict[str, Any]:
        """One page of member profile ids, in profile-id order."""
        if page < 1 or not 1 <= page_size <= 10_000:
            raise ValidationError("page >= 1 and page_size between 1 and 10000", field="page")
        expr = self._compiled(segment_id).expr
        rows = self.engine.execute(expr.order_by("profile_id").limit(
            page_size, offset=(page - 1) * page_size))
        return {"id": segment_id, "page": page, "page_size": page_size,
                "size": self._count(expr), "profile_ids": rows.column("profile_id").to_pylist()}

    def describe(self, segment_id: str,
                 traits: Sequence[str] | str | None = None) -> dict[str, Any]:
        """Statistics of ``traits`` for the segment's members beside every profile: count,
        mean, median, std, quartiles of numbers; top values of texts."""
        out = describe_traits(self.engine, traits, self._compiled(segment_id).expr)
        return {"id": segment_id, **out}

    def member_ids(self, segment_id: str) -> builtins.list[str]:
        """Every member profile id now, in one query."""
        expr = self._compiled(segment_id).expr.select("profile_id").distinct()
        return [str(p) for p in self.engine.execute(expr).column("profile_id").to_pylist()]

    def export(self, segment_id: str, path: str | Path,
               format: ExportFormat | None = None) -> dict[str, Any]:
        """Write the members (profile id and identifiers) to a CSV or Parquet file."""
        path = Path(path)
        fmt = format or ("parquet" if path.suffix in (".parquet", ".pq") else "csv")
        if fmt not in ("csv", "parquet"):
            raise ValidationError(f"unknown format {fmt!r}; valid: csv, parquet", field="format")
        members = self._compiled(segment_id).expr
        p = self.engine.table("profiles")
        cols = ["profile_id", *(c for c in _EXPORT_IDS if c in p.columns)]
        rows = p.filter(p.profile_id.isin(members.profile_id)).select(cols).order_by("profile_id")
        data = self.engine.execute(rows)
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "csv":
            import pyarrow.csv as pacsv

            pacsv.write_csv(data, path)
        else:
            import pyarrow.parquet as pq

            pq.write_table(data, path)
        return {"id": segment_id, "path": str(path), "format": fmt, "rows": data.num_rows}

    def overlap(self, segment_ids: builtins.list[str]) -> dict[str, Any]:
        """Pairwise intersection sizes (the diagonal is each segment's size), in one query."""
        if not segment_ids:
            raise ValidationError("give at least one segment id", field="segments")
        parts = [self._compiled(s).expr.select("profile_id", seg=ibis.literal(i))
                 for i, s in enumerate(segment_ids)]
        both = parts[0].union(*parts[1:], distinct=False) if len(parts) > 1 else parts[0]
        other = both.view()
        pairs = both.join(other, both.profile_id == other.profile_id).select(
            a=both.seg, b=other.seg)
        counts = self.engine.execute(pairs.group_by(["a", "b"]).aggregate(n=pairs.count()))
        n = len(segment_ids)
        matrix = [[0] * n for _ in range(n)]
        for r in counts.to_pylist():
            matrix[r["a"]][r["b"]] = int(r["n"])
        return {"segments": list(segment_ids), "matrix": matrix}

    # -- membership ----------------------------------------------------------------------------
    def refresh_order(self, rows: builtins.list[dict[str, Any]]) -> builtins.list[dict[str, Any]]:
        by_id = {r["id"]: r for r in rows}
        done: dict[str, dict[str, Any]] = {}

        def visit(r: dict[str, Any]) -> None:
            if r["id"] in done:
                return
            for dep in segment_refs(spec_from(r["spec"]).condition):
                if dep in by_id:
                    visit(by_id[dep])
            done[r["id"]] = r

        for r in rows:
            visit(r)
        return list(done.values())

    def refresh(self, build_id: str | None = None,
                segment_ids: builtins.list[str] | None = None) -> builtins.list[RefreshReport]:
        """Materialise membership into ``segment_members`` (segments used by others first)."""
        rows = self._rows() if segment_ids is None else [self.get(s) for s in segment_ids]
        at = self._now()
        trigger = f"build:{build_id}" if build_id else "manual"
        return [refresh_membership(self.engine, r["id"], self._compiled(r["id"]).expr, at=at,
                                   trigger=trigger) for r in self.refresh_order(rows)]

    def history(self, segment_id: str,
                profile_id: str | None = None) -> builtins.list[dict[str, Any]]:
        """Every membership spell of a segment (optionally of one profile)."""
        self.get(segment_id)
        return history(self.engine, segment_id, profile_id)
