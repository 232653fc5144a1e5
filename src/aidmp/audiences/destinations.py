"""Destination configurations: where an audience is sent, saved as JSON files.

Each destination is a strict pydantic model (unknown fields and wrong types are refused) kept
as JSON in the declared ``destinations`` table. Kinds:

* ``file``: CSV or Parquet files in a folder (profile id and chosen identifier columns).
* ``webhook``: signed JSON batches ``POST``-ed to a URL, retried with exponential backoff.
* ``google_customer_match``: Google Ads Customer Match upload CSVs (hashed identifiers).
* ``meta_custom_audience``: Meta Custom Audience upload CSVs (hashed identifiers).
* ``email_platform``: plain e-mail + names for an e-mail tool; opt-in ``email`` consent only.

Every destination has a consent ``purpose`` (``advertising`` for ad platforms, ``email`` for
e-mail, configurable or none for files and webhooks), ``require_opt_in`` (send only people who
granted it, not merely those who did not withdraw: the default of ad platforms and e-mail) and
``min_audience`` (k-anonymity floor).

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> store = DestinationStore(DMP(home=tempfile.mkdtemp()).engine)
    >>> store.add({"type": "meta_custom_audience", "name": "meta_main", "folder": "/tmp/m"}).purpose
    'advertising'
    >>> [d.name for d in store.list()], store.get("meta_main").min_audience
    (['meta_main'], 100)
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from aidmp.engine.base import Engine
from aidmp.errors import NotFoundError, ValidationError

_NAME = r"^[a-z][a-z0-9_]{0,62}$"
TABLE = "destinations"


class _Destination(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str = Field(pattern=_NAME, description="lower-case id: letters, digits, underscores")
    min_audience: int = Field(default=100, ge=1, description="refuse smaller audiences")
    require_opt_in: bool = Field(default=False,
                                 description="send only people who granted the purpose")
    purpose: str | None = Field(default=None, description="consent purpose checked")


class FileDestination(_Destination):
    """CSV or Parquet files in ``folder``: one full file on the first sync, then adds/removes."""

    type: Literal["file"] = "file"
    folder: str
    format: Literal["csv", "parquet"] = "csv"
    columns: list[str] = Field(default_factory=lambda: ["user_id", "email"],
                               description="profile columns written besides profile_id")


class WebhookDestination(_Destination):
    """Signed JSON batches posted to ``url`` (``X-Aidmp-Signature: sha256=<HMAC>``)."""

    type: Literal["webhook"] = "webhook"
    url: str = Field(pattern=r"^https?://")
    columns: list[str] = Field(default_factory=lambda: ["user_id", "email"])
    batch_size: int = Field(default=500, ge=1, le=10_000)
    attempts: int = Field(default=5, ge=1, le=20)
    first_delay: float = Field(default=0.2, ge=0)
    timeout: float = Field(default=10.0, gt=0)


class GoogleCustomerMatch(_Destination):
    """Customer Match upload CSVs: Email, Phone, First Name, Last Name, Country, Zip."""

    type: Literal["google_customer_match"] = "google_customer_match"
    folder: str
    purpose: str | None = "advertising"
    require_opt_in: bool = True
    region: str = Field(default="US", pattern=r"^[A-Z]{2}$",
                        description="phone region when the profile has no country")


class MetaCustomAudience(_Destination):
    """Custom Audience upload CSVs: EMAIL, PHONE, FN, LN, CT, ST, ZIP, COUNTRY, MADID."""

    type: Literal["meta_custom_audience"] = "meta_custom_audience"
    folder: str
    purpose: str | None = "advertising"
    require_opt_in: bool = True
    region: str = Field(default="US", pattern=r"^[A-Z]{2}$")


class EmailPlatform(_Destination):
    """Plain e-mail, first and last name, only for people who opted in to ``email``."""

    type: Literal["email_platform"] = "email_platform"
    folder: str
    purpose: str | None = "email"
    require_opt_in: bool = True


Destination = Annotated[
    FileDestination | WebhookDestination | GoogleCustomerMatch | MetaCustomAudience
    | EmailPlatform,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[Destination] = TypeAdapter(Destination)
KINDS = ("file", "webhook", "google_customer_match", "meta_custom_audience", "email_platform")


def parse_destination(config: dict[str, Any] | str | bytes) -> Destination:
    """A destination from a dict or JSON text, with errors naming the bad field."""
    try:
        if isinstance(config, str | bytes):
            return _ADAPTER.validate_json(config)
        return _ADAPTER.validate_python(config)
    except PydanticValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "config"
        missing = err["type"] == "union_tag_not_found"
        hint = f" (give type, one of: {', '.join(KINDS)})" if missing else ""
        raise ValidationError(f"{where}: {err['msg']}{hint}", field="destination") from None


class DestinationStore:
    """The saved destinations of one installation (the declared ``destinations`` table).

    Args:
        engine: the store.
        legacy_folder: a folder of ``<name>.json`` files written by earlier versions; they are
            moved into the table the first time the store is opened.
    """

    def __init__(self, engine: Engine, legacy_folder: Path | None = None) -> None:
        self.engine = engine
        if legacy_folder is not None and legacy_folder.is_dir():
            self._adopt(legacy_folder)

    def _adopt(self, folder: Path) -> None:
        for path in sorted(folder.glob("*.json")):
            dest = parse_destination(path.read_text())
            if not self._row(dest.name):
                self._save(dest)
            path.unlink()

    def _row(self, name: str) -> list[dict[str, Any]]:
        t = self.engine.table(TABLE)
        return self.engine.execute(t.filter(t.name == name)).to_pylist()  # type: ignore[no-any-return]

    def _save(self, dest: Destination) -> None:
        self.engine.upsert(TABLE, pa.table({
            "name": [dest.name], "type": [dest.type], "config": [dest.model_dump_json()],
            "updated_at": pa.array([datetime.now(UTC)], pa.timestamp("us", tz="UTC"))}))

    def add(self, config: dict[str, Any] | str | Destination, *,
            replace: bool = False) -> Destination:
        """Check and save a destination.

        Raises:
            ValidationError: a bad config, or the name is taken and ``replace`` is false.
        """
        dest = config if isinstance(config, _Destination) else parse_destination(config)
        if self._row(dest.name) and not replace:
            raise ValidationError(f"destination {dest.name!r} exists; remove it first",
                                  field="name")
        self._save(dest)  # type: ignore[arg-type]
        return dest  # type: ignore[return-value]

    def get(self, name: str) -> Destination:
        """A saved destination.

        Raises:
            NotFoundError: no such destination (the message lists the saved ones).
        """
        rows = self._row(name)
        if not rows:
            known = ", ".join(d.name for d in self.list()) or "none yet"
            raise NotFoundError(f"no destination {name!r}; destinations: {known}")
        return parse_destination(rows[0]["config"])

    def list(self) -> list[Destination]:
        """Every saved destination, by name."""
        t = self.engine.table(TABLE)
        rows = self.engine.execute(t.order_by("name")).to_pylist()
        return [parse_destination(r["config"]) for r in rows]

    def remove(self, name: str) -> None:
        """Delete a saved destination (its sync state stays, for the record)."""
        self.get(name)
        t = self.engine.table(TABLE)
        self.engine.keep_only(TABLE, t.filter(t.name != name))


__all__ = [
    "Destination",
    "DestinationStore",
    "EmailPlatform",
    "FileDestination",
    "GoogleCustomerMatch",
    "MetaCustomAudience",
    "WebhookDestination",
    "parse_destination",
]
