"""Typed, strict configuration: ``AIDMP_*`` environment variables, ``<home>/aidmp.yaml``, arguments.

Precedence (highest first): arguments to :class:`Settings`, environment variables
(``AIDMP_HOME``, ``AIDMP_ENGINE__KIND=spark``, ``AIDMP_COLLECTOR__FSYNC=false``...), the YAML file
in the home folder, the defaults below.

Example:
    >>> s = Settings(home="/tmp/dmp-example")
    >>> s.engine.kind, s.collector.max_batch_bytes
    ('duckdb', 512000)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from aidmp.errors import ConfigError
from aidmp.privacy.retention import RetentionPolicy
from aidmp.service.config import ServiceConfig
from aidmp.spec.clock import ClockPolicy, OutOfWindow
from aidmp.spec.identity import IdentityRules
from aidmp.spec.profiles import ProfileConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DuckDBConfig(_Strict):
    """The embedded engine (default)."""

    kind: Literal["duckdb"] = "duckdb"
    path: Path | None = None
    """Database file; default ``<home>/aidmp.duckdb``."""
    memory_limit: str | None = Field(default="60%", pattern=r"^\d+(\.\d+)?\s*(%|[KMGT]i?B)$")
    """DuckDB's ``memory_limit``: a share of RAM (``60%``) or a size (``4GB``, ``512MiB``);
    None leaves DuckDB's own default (80 % of RAM). Beyond it DuckDB spills to disk."""


class SparkConfig(_Strict):
    """Apache Spark, for data beyond one machine."""

    kind: Literal["spark"] = "spark"
    master: str = "local[2]"
    """Spark master URL (``local[2]``, ``spark://host:7077``...)."""
    warehouse: Path | None = None
    """Where tables are stored as Parquet; default ``<home>/spark-warehouse``."""
    database: str = "aidmp"
    """Spark database (schema) that holds aidmp's tables."""


EngineConfig = Annotated[DuckDBConfig | SparkConfig, Field(discriminator="kind")]


class CollectorConfig(_Strict):
    """The Segment-compatible HTTP collector (``aidmp serve``)."""

    host: str = "127.0.0.1"
    """Interface to listen on."""
    port: int = Field(default=8000, ge=0, le=65535)
    """TCP port (0 picks a free one)."""
    max_event_bytes: int = Field(default=32 * 1024, gt=0)
    """Largest single message (Segment: 32 KB)."""
    max_batch_bytes: int = Field(default=500 * 1024, gt=0)
    """Largest request body, after decompression (Segment: 500 KB)."""
    flush_interval_ms: int = Field(default=250, gt=0)
    """How often buffered events are written to the engine."""
    flush_rows: int = Field(default=20_000, gt=0)
    """Write earlier once this many events are buffered."""
    fsync: bool = True
    """fdatasync the write-ahead log before acknowledging (survives power loss)."""
    wal_key_file: Path | None = None
    """File (outside the home) with the write-ahead log's AES-256 keys, newest first, one
    per line in hex; ``$AIDMP_WAL_KEYS`` takes precedence. None and no variable: in clear."""


class KafkaBrokerConfig(_Strict):
    """A Kafka (or Kafka-protocol) broker between collector-only processes and the loader."""

    kind: Literal["kafka"] = "kafka"
    bootstrap: str = "127.0.0.1:9092"
    """``bootstrap.servers``: comma-separated ``host:port`` list."""
    topic: str = Field(default="aidmp-events", min_length=1, max_length=249,
                       pattern=r"^[A-Za-z0-9._\-]+$")
    """Topic the collectors write acknowledged batches to."""
    group: str = Field(default="aidmp-loader", min_length=1, max_length=255)
    """Consumer group whose committed offsets record what the loader has stored."""
    partitions: int = Field(default=1, ge=1, le=1024)
    """Partitions when the topic is created (an existing topic keeps its own)."""


class RedisBrokerConfig(_Strict):
    """A Redis stream between collector-only processes and the loader."""

    kind: Literal["redis"] = "redis"
    url: str = "redis://127.0.0.1:6379/0"
    """Redis URL; a password in it may come from the environment as ``${VAR}``."""
    stream: str = Field(default="aidmp-events", min_length=1, max_length=256)
    """Stream key the collectors ``XADD`` acknowledged batches to."""
    group: str = Field(default="aidmp-loader", min_length=1, max_length=256)
    """Consumer group; entries are ``XACK``-ed once stored."""


BrokerConfig = Annotated[KafkaBrokerConfig | RedisBrokerConfig, Field(discriminator="kind")]


class LimitsConfig(_Strict):
    """Limits on what clients send, enforced before the work they would cost (issue 16).

    The clock window is :class:`aidmp.spec.clock.ClockPolicy`: one policy for every door.
    """

    max_depth: int = Field(default=32, ge=2, le=200)
    """Deepest nesting of objects/arrays in one message (the message is level 1). Deeper
    messages are quarantined; 200 at most, so whatever is stored can be written back as JSON."""
    min_timestamp: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    """Earliest accepted event time, after clock-skew correction."""
    max_future_skew_s: float = Field(default=86_400.0, ge=0, le=366 * 86_400)
    """How many seconds after its receipt an event time may lie, after skew correction."""
    out_of_window: OutOfWindow = "quarantine"
    """An event time outside the window: ``quarantine`` the message (default) or ``clamp``
    the time to the window's nearest edge."""
    max_body_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    """Largest request body on the REST routes (the collector has ``collector.max_batch_bytes``)."""

    def clock(self) -> ClockPolicy:
        """The clock policy these limits describe."""
        when = self.min_timestamp if self.min_timestamp.tzinfo else \
            self.min_timestamp.replace(tzinfo=UTC)
        return ClockPolicy(when, timedelta(seconds=self.max_future_skew_s), self.out_of_window)


class PrivacyConfig(_Strict):
    """Consent purposes, where consent is read from, and the pseudonymisation secret."""

    purposes: tuple[str, ...] = ("analytics", "personalisation", "advertising", "email")
    """Consent purposes people grant or withdraw."""
    categories: dict[str, str] = Field(default_factory=lambda: {
        "Analytics": "analytics", "Personalization": "personalisation",
        "Personalisation": "personalisation", "Advertising": "advertising",
        "Marketing": "email", "Email": "email"})
    """Consent categories as sources name them (Segment's ``categoryPreferences`` keys) ->
    purpose. A purpose's own name is always read too."""
    retention: RetentionPolicy = RetentionPolicy()
    """How long raw events (per source / event) and quarantined records are kept; applied by
    the ``retention`` job (schedule it)."""
    dp_budget: float = Field(default=10.0, gt=0, le=1e6)
    """Total epsilon the differentially private reports may spend."""
    secret_file: Path | None = None
    """File holding the pseudonymisation secret (keyed hashes of identifiers and profile
    ids). Default: ``$AIDMP_PRIVACY_SECRET`` if set, else ``<home>/secrets/pseudonym.key``
    (created, mode 0600)."""


class Settings(BaseSettings):
    """All of aidmp's settings."""

    model_config = SettingsConfigDict(
        env_prefix="AIDMP_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    home: Path = Path("aidmp-home")
    """Folder holding the database, the write-ahead log and generated files."""
    engine: EngineConfig = DuckDBConfig()
    """Which engine stores the tables and runs the queries."""
    collector: CollectorConfig = CollectorConfig()
    """Collector limits and durability."""
    limits: LimitsConfig = LimitsConfig()
    """Nesting, event-time window and body-size limits on client input."""
    broker: BrokerConfig | None = None
    """A broker between ``aidmp serve --collector-only`` processes and the loader; none: the
    collector writes the store itself."""
    identity: IdentityRules = IdentityRules()
    """Identity-resolution rules (identifier types, priorities, limits, blocked values)."""
    profiles: ProfileConfig = ProfileConfig()
    """Trait merge rules, computed traits, interests."""
    service: ServiceConfig = ServiceConfig()
    """Schedules, delivery retries and the scheduler of ``aidmp serve``."""
    privacy: PrivacyConfig = PrivacyConfig()
    """Consent purposes and sources, pseudonymisation."""


def load_settings(home: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from arguments, environment and ``<home>/aidmp.yaml``.

    Raises:
        ConfigError: naming the bad field and what is wrong with it.
    """
    import os

    home_path = Path(home) if home is not None else Path(os.environ.get("AIDMP_HOME", "aidmp-home"))
    file_values: dict[str, Any] = {}
    config_file = home_path / "aidmp.yaml"
    if config_file.exists():
        loaded = yaml.safe_load(config_file.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{config_file} must hold a mapping of settings")
        file_values = loaded
    try:
        base = Settings(**{**file_values, **overrides, "home": home_path})
    except PydanticValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{err['msg']} (from arguments, AIDMP_* variables or {config_file})",
                          field=loc) from None
    return base
