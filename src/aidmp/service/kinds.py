"""The registry of job kinds: a name, a typed parameter model and the work it runs.

A kind's work is ``run(dmp, params, progress) -> result``: ``params`` is the validated
parameter model dumped to JSON types, ``progress(stage, done, total)`` reports progress (and is
where a cancel takes effect), the result is JSON-able. Other packages add their kinds with
:func:`register` (the privacy layer's erasure, for one).

Example:
    >>> from pydantic import BaseModel
    >>> class Echo(BaseModel):
    ...     text: str
    >>> _ = register(JobKind("test.echo", "Echo the text.", Echo,
    ...                      lambda dmp, p, progress: p["text"]))
    >>> validate_params(KINDS["test.echo"], {"text": "hi"})
    {'text': 'hi'}
    >>> validate_params(KINDS["test.echo"], {"txt": "hi"})
    Traceback (most recent call last):
    ...
    aidmp.errors.ValidationError: params.text: Field required
    >>> del KINDS["test.echo"]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from aidmp.errors import ValidationError
from aidmp.spec.clock import point_in_time

if TYPE_CHECKING:
    from aidmp.service.host import Host

Progress = Callable[[str, int, int], None]
Work = Callable[["Host", dict[str, Any], Progress], Any]
Check = Callable[["Host", dict[str, Any]], None]


@dataclass(frozen=True)
class JobKind:
    """One kind of job.

    Attributes:
        name: the kind's name, e.g. ``build``.
        description: one line for people.
        params: the pydantic model its parameters must satisfy.
        run: the work.
        cancellable: whether a running job may stop at a stage boundary (work that leaves
            nothing half-written when interrupted there).
        check: cheap checks run when the job is submitted, before it is stored (an unknown
            model, segment or destination is refused then, not minutes later).
        shown: the parameters as they may be stored and shown (a DSN without its password);
            the work gets them whole, from memory.
    """

    name: str
    description: str
    params: type[BaseModel]
    run: Work
    cancellable: bool = False
    check: Check | None = None
    shown: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    def describe(self) -> dict[str, Any]:
        """Name, description, cancellable, and the JSON schema of the parameters."""
        return {"kind": self.name, "description": self.description,
                "cancellable": self.cancellable, "params": self.params.model_json_schema()}


KINDS: dict[str, JobKind] = {}


def register(kind: JobKind) -> JobKind:
    """Add (or replace) a job kind."""
    KINDS[kind.name] = kind
    return kind


def validate_params(kind: JobKind, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters checked against the kind's model, as JSON types.

    Raises:
        ValidationError: naming the parameter (``params.<name>``) and the problem.
    """
    if not isinstance(params, dict):
        raise ValidationError("must be a JSON object", field="params")
    try:
        return kind.params.model_validate(params).model_dump(mode="json")
    except PydanticValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ValidationError(str(err["msg"]), field=f"params.{where}" if where else "params"
                              ) from None


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResolveParams(_Params):
    """Parameters of ``identity.resolve``."""

    full: bool = False
    """Recompute the whole graph instead of only what new events touch."""


AsOf = Annotated[datetime | None, AfterValidator(point_in_time)]


class BuildParams(_Params):
    """Parameters of ``build``."""

    full: bool = False
    """Recompute everything instead of only what new events touch."""
    as_of: AsOf = None
    """Build as the store stood at this instant (ISO-8601, UTC): only events up to it, every
    window ending there. Default: the wall clock at the start of the build."""


class ImportParams(_Params):
    """Parameters of ``import``."""

    path: str = Field(min_length=1)
    """A file or folder the server can read."""
    mapping: dict[str, Any]
    """The import mapping (as in a mapping YAML file)."""
    format: Literal["csv", "json", "ndjson", "parquet"] | None = None
    """File format, when the suffix does not say."""


class DatasetParams(_Params):
    """Parameters of ``datasets.load``."""

    name: Literal["cdnow", "movielens", "groceries"]
    """The public dataset to load."""
    path: str | None = Field(default=None, min_length=1)
    """Its folder, as the server reads it (default: ``$AIDMP_DATASETS/<name>`` or the
    ``shared/datasets`` folder beside the repository)."""


class RefreshParams(_Params):
    """Parameters of ``segments.refresh``."""

    segment_ids: list[str] | None = None
    """Only these segments (default: all)."""
    build_id: str | None = None
    """Build id stored as the trigger."""
    as_of: AsOf = None
    """Evaluate ``within=`` windows at this instant (ISO-8601, UTC), ignoring later events.
    Default: the wall clock."""


class FitParams(_Params):
    """Parameters of ``models.fit``."""

    kind: str = Field(min_length=1)
    """Model kind: clv, propensity, churn, rules, recommend..."""
    name: str | None = None
    """Model name (default: the kind)."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Other options of the kind, e.g. ``{"min_support": 0.002}``."""
    score: bool = False
    """Score the profiles right after fitting."""


class ScoreParams(_Params):
    """Parameters of ``models.score``."""

    name: str = Field(min_length=1)
    """Model name."""


class SyncParams(_Params):
    """Parameters of ``audiences.sync``."""

    segment_id: str = Field(min_length=1)
    """Segment to send."""
    destination: str = Field(min_length=1)
    """Destination id."""
    dry_run: bool = False
    """Compute the summary; send nothing."""
    campaign: str | None = None
    """Campaign targeting the segment: its holdout group is left out."""


class NoParams(_Params):
    """No parameters."""


class SourceImportParams(_Params):
    """Parameters of ``sources.import`` (a database table or query)."""

    dsn: str = Field(min_length=1, max_length=2000)
    """postgresql:// or mysql:// URL; ``${VAR}`` is read from the server's environment.
    Stored and shown without its password."""
    table: str | None = Field(default=None, max_length=200)
    """A table to read whole (or give ``query``)."""
    query: str | None = Field(default=None, max_length=100_000)
    """A SELECT whose rows are imported."""
    cursor: str | None = Field(default=None, max_length=63)
    """A column whose value only grows: later imports read only newer rows."""
    name: str | None = Field(default=None, max_length=64)
    """The source's name for its stored cursor (default: the mapping's source)."""
    full: bool = False
    """Read everything, ignoring the stored cursor."""
    mapping: dict[str, Any]
    """The import mapping (as for files)."""


# -- checks at submission: cheap, before the job is stored ------------------------------------
def _check_import(dmp: Host, p: dict[str, Any]) -> None:
    from aidmp.spec.imports import mapping_from

    mapping_from(p["mapping"])


def _check_refresh(dmp: Host, p: dict[str, Any]) -> None:
    for segment_id in p["segment_ids"] or []:
        dmp.segments.get(segment_id)


def _check_fit(dmp: Host, p: dict[str, Any]) -> None:
    dmp.models.check_fit(p["kind"], p["name"], **p["options"])


def _check_score(dmp: Host, p: dict[str, Any]) -> None:
    row = dmp.models.show(p["name"])
    if row["kind"] not in ("clv", "propensity", "churn"):
        raise ValidationError(f"model {p['name']!r} is a {row['kind']} model, which has no "
                              "per-profile score; score clv, propensity or churn models",
                              field="name")


def _check_sync(dmp: Host, p: dict[str, Any]) -> None:
    dmp.segments.get(p["segment_id"])
    dmp.audiences.destinations.get(p["destination"])


def _check_source(dmp: Host, p: dict[str, Any]) -> None:
    if (p["table"] is None) == (p["query"] is None):
        raise ValidationError("give either a table or a query", field="table")
    _check_import(dmp, p)


def _shown_source(p: dict[str, Any]) -> dict[str, Any]:
    from aidmp.collect.database import redact_dsn

    return {**p, "dsn": redact_dsn(p["dsn"])}


# -- the work -------------------------------------------------------------------------------------
def instant(text: str | None) -> datetime | None:
    """An instant stored in a job's parameters (ISO text) as a datetime again."""
    return None if text is None else datetime.fromisoformat(text)


def _build(dmp: Host, p: dict[str, Any], progress: Progress) -> Any:
    return dmp.build(progress=progress, full=p["full"], as_of=instant(p["as_of"])).to_dict()


def _import(dmp: Host, p: dict[str, Any], progress: Progress) -> Any:
    from aidmp.spec.imports import mapping_from

    mapping = mapping_from(p["mapping"])
    report = dmp.imports.file(Path(p["path"]), mapping, fmt=p["format"],
                              progress=lambda done, total: progress("import", done, total))
    dmp.audit.record("job", "import", mapping.source,
                     {"read": report.read, "stored": report.stored})
    return report.to_dict()


def _dataset(dmp: Host, p: dict[str, Any], progress: Progress) -> Any:
    from aidmp.demo.datasets import load_dataset

    reports = load_dataset(dmp, p["name"], Path(p["path"]) if p["path"] else None,  # type: ignore[arg-type]
                           lambda done, total: progress("load", done, total))
    dmp.audit.record("job", "datasets.load", p["name"])
    return {k: r.to_dict() for k, r in reports.items()}


def _resolve(dmp: Host, p: dict[str, Any], progress: Progress) -> Any:
    return dmp.identity.resolve(full=p["full"],
                                progress=lambda stage: progress(stage, 0, 0)).to_dict()


def _refresh(dmp: Host, p: dict[str, Any], progress: Progress) -> Any:
    progress("refresh", 0, 1)
    segments = dmp.segments_at(instant(p["as_of"]))
    out = [r.to_dict() for r in segments.refresh(p["build_id"], p["segment_ids"])]
    progress("refresh", 1, 1)
    return out


def _fit(dmp: Host, p: dict[str, Any], progress: Progress) -> Any:
    progress("fit", 0, 2 if p["score"] else 1)
    row = dmp.models.fit(p["kind"], p["name"], **p["options"])
    scored = None
    if p["score"]:
        progress("score", 1, 2)
        scored = dmp.models.score(row["name"])
    dmp.audit.record("job", "models.fit", f"{row['name']}:v{row['version']}",
                     {"kind": p["kind"]})
    return {**row, "scored": scored}


def _score(dmp: Host, p: dict[str, Any], progress: Progress) -> Any:
    progress("score", 0, 1)
    report = dmp.models.score(p["name"])
    dmp.audit.record("job", "models.score", p["name"], {"version": report["version"]})
    return report


def _source_import(dmp: Host, p: dict[str, Any], progress: Progress) -> Any:
    from aidmp.spec.imports import mapping_from

    report = dmp.sources.run(p["dsn"], mapping_from(p["mapping"]), table=p["table"],
                             query=p["query"], cursor=p["cursor"], name=p["name"],
                             full=p["full"],
                             progress=lambda done, total: progress("import", done, total))
    out = report.to_dict()
    dmp.audit.record("job", "sources.import", report.source,
                     {"read": out["read"], "stored": out["stored"]})
    return out


def _sync(dmp: Host, p: dict[str, Any], progress: Progress) -> Any:
    progress("sync", 0, 1)
    result = dmp.audiences.sync(p["segment_id"], p["destination"], dry_run=p["dry_run"],
                                campaign=p["campaign"]).to_dict()
    if not p["dry_run"]:
        dmp.audit.record("job", "audiences.sync", p["segment_id"],
                         {"destination": p["destination"], "added": result["added"],
                          "removed": result["removed"]})
    return result


class QualityParams(_Params):
    """Parameters of ``quality.report``."""

    as_of: AsOf = None
    """Profile the store as it stood at this instant (ISO-8601, UTC): only events up to it,
    freshness measured to it. Default: everything, freshness to the wall clock."""


def _quality(dmp: Host, p: dict[str, Any], progress: Progress) -> Any:
    progress("report", 0, 1)
    return dmp.quality.report(as_of=instant(p["as_of"]))


def _retention(dmp: Host, p: dict[str, Any], progress: Progress) -> Any:
    from aidmp.privacy.retention import apply_retention

    progress("retention", 0, 1)
    out = apply_retention(dmp.engine, dmp.settings.privacy.retention)
    dmp.audit.record("job", "privacy.retention", None, out)
    progress("retention", 1, 1)
    return out


def _compact(dmp: Host, p: dict[str, Any], progress: Progress) -> Any:
    progress("compact", 0, 1)
    done = dmp.engine.compact()
    dmp.audit.record("job", "privacy.compact", None, {"compacted": done})
    progress("compact", 1, 1)
    return {"compacted": done}


def _backup(dmp: Host, p: dict[str, Any], progress: Progress) -> Any:
    from aidmp.privacy.backup import backup

    progress("backup", 0, 1)
    out = backup(dmp, Path(p["path"]) if p.get("path") else None)
    dmp.audit.record("job", "backup", None, {"tables": out["tables"]})
    progress("backup", 1, 1)
    return out


class BackupParams(_Params):
    """Where to write the snapshot."""

    path: str | None = None
    """Folder (default ``<home>/backups/<time>``)."""


for _kind in (
    JobKind("privacy.retention", "Delete raw events and quarantined records past their "
            "retention.", NoParams, _retention),
    JobKind("privacy.compact", "Rewrite the store so that erased rows leave no bytes "
            "behind (batches erasures made with compact=false).", NoParams, _compact),
    JobKind("backup", "A consistent snapshot of the store (Parquet per table).", BackupParams,
            _backup),
    JobKind("build", "Resolve identities, rebuild profiles, refresh segments.", BuildParams,
            _build, cancellable=True),
    JobKind("identity.resolve", "Bring the identity graph up to date with the events.",
            ResolveParams, _resolve),
    JobKind("import", "Import a file or folder the server can read.", ImportParams, _import,
            check=_check_import),
    JobKind("datasets.load", "Import a public dataset (CDNOW, MovieLens-100K, Groceries) "
            "through the importer.", DatasetParams, _dataset),
    JobKind("sources.import", "Import a PostgreSQL / MySQL table or query.",
            SourceImportParams, _source_import, check=_check_source, shown=_shown_source),
    JobKind("segments.refresh", "Materialise segment membership with history.", RefreshParams,
            _refresh, check=_check_refresh),
    JobKind("models.fit", "Fit a model and register a new version.", FitParams, _fit,
            check=_check_fit),
    JobKind("models.score", "Score every profile with a model's latest version.", ScoreParams,
            _score, check=_check_score),
    JobKind("audiences.sync", "Send a segment to a destination (adds and removes).",
            SyncParams, _sync, check=_check_sync),
    JobKind("quality.report", "The data-quality report.", QualityParams, _quality),
):
    register(_kind)


__all__ = ["KINDS", "AsOf", "JobKind", "Progress", "instant", "register",
           "validate_params"]
