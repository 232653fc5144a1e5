"""The :class:`DMP` facade: one object that the CLI, the REST API and notebooks all use.

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> with DMP(home=tempfile.mkdtemp()) as dmp:
    ...     report = dmp.events.ingest(
    ...         [{"type": "identify", "userId": "u1", "traits": {"plan": "pro"}}], source="app")
    ...     dmp.events.count()
    1
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aidmp.collect.events import Events
from aidmp.collect.importer import Importer
from aidmp.collect.quarantine import Quarantine
from aidmp.config import DuckDBConfig, Settings, load_settings
from aidmp.engine.base import Engine
from aidmp.identity.service import IdentityGraph
from aidmp.privacy.audit import AuditLog
from aidmp.privacy.keys import KeyStore
from aidmp.privacy.pseudonym import Pseudonymiser, load_secret
from aidmp.privacy.suppression import Suppression
from aidmp.profiles.build import BuildSummary, ProfileBuilder, StageProgress
from aidmp.quality.service import Quality
from aidmp.segments.service import Segments
from aidmp.spec.clock import as_utc

if TYPE_CHECKING:  # imported when first used: they bring scipy, scikit-learn and Splink
    # (1.1-1.4 s each), which a profile lookup from the command line never needs
    from aidmp.audiences.service import Audiences
    from aidmp.campaigns import Campaigns
    from aidmp.collect.database import DatabaseImporter
    from aidmp.identity.matching.config import MatchingConfig
    from aidmp.identity.probabilistic import ProbabilisticMatcher
    from aidmp.ml.service import Models
    from aidmp.privacy.service import Privacy
    from aidmp.service.jobs import Jobs
    from aidmp.service.schedules import Schedules


def open_engine(settings: Settings, *, read_only: bool = False) -> Engine:
    """The engine the settings ask for (imports the engine package only when chosen)."""
    cfg = settings.engine
    if isinstance(cfg, DuckDBConfig):
        from aidmp.engine.duckdb import DuckDBEngine

        return DuckDBEngine(cfg.path or settings.home / "aidmp.duckdb", read_only=read_only,
                            memory_limit=cfg.memory_limit)
    from aidmp.engine.spark import SparkEngine

    return SparkEngine(
        master=cfg.master, warehouse=cfg.warehouse or settings.home / "spark-warehouse",
        database=cfg.database,
    )


class DMP:
    """An aidmp installation rooted at a home folder.

    Args:
        home: folder for the database, WAL and outputs (default ``$AIDMP_HOME`` or
            ``./aidmp-home``); created if missing.
        settings: complete settings (overrides ``home`` and ``overrides``).
        engine: an already open engine (tests, notebooks).
        read_only: open the database without write access.
        **overrides: settings fields, e.g. ``collector={"fsync": False}``.

    Namespaces: ``events``, ``imports``, ``quarantine``, ``identity``, ``matching``, ``profiles``,
    ``models``, ``segments``, ``audiences``, ``campaigns``, ``quality``, ``keys``, ``audit``.
    """

    def __init__(
        self, home: str | Path | None = None, *, settings: Settings | None = None,
        engine: Engine | None = None, read_only: bool = False, **overrides: Any,
    ) -> None:
        self.settings = settings or load_settings(home, **overrides)
        self.home = Path(self.settings.home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.engine = engine or open_engine(self.settings, read_only=read_only)
        if not read_only:
            self.engine.migrate()

    @cached_property
    def events(self) -> Events:
        """Send, count, tail and summarise events."""
        events = Events(self.engine)
        events.row_filter = self.suppression.filter
        return events

    @cached_property
    def imports(self) -> Importer:
        """Import files and frames through a mapping."""
        importer = Importer(self.engine, self.settings.identity)
        importer.row_filter = self.suppression.filter
        return importer

    @cached_property
    def sources(self) -> DatabaseImporter:
        """Database sources (PostgreSQL, MySQL / MariaDB) imported through the same mappings,
        incrementally by a cursor column kept in ``<home>/sources``."""
        from aidmp.collect.database import DatabaseImporter

        return DatabaseImporter(self.imports, self.home / "sources")

    @cached_property
    def quarantine(self) -> Quarantine:
        """List and replay refused records."""
        quarantine = Quarantine(self.engine)
        quarantine.row_filter = self.suppression.filter
        return quarantine

    @cached_property
    def identity(self) -> IdentityGraph:
        """Resolve identities, look profiles up by identifier, list and undo merges."""
        return IdentityGraph(self.engine, self.settings.identity,
                             id_key=self.pseudonymiser.derived_key("profile ids"))

    @cached_property
    def profiles(self) -> ProfileBuilder:
        """Build profiles (``build()``), look them up by any identifier, page timelines."""
        return ProfileBuilder(self.engine, self.settings.profiles, self.identity)

    def build(self, progress: StageProgress | None = None, *, full: bool = False,
              as_of: datetime | None = None) -> BuildSummary:
        """The batch pipeline: resolve identities, rebuild profiles (both incremental unless
        ``full``), refresh segment membership (entries and exits recorded against this
        build).

        ``as_of`` (UTC) builds as the store stood at that instant: profiles and segment
        windows read only events up to it, every window ending there (see
        :meth:`aidmp.profiles.build.ProfileBuilder.build`)."""
        summary = self.profiles.build(progress, full=full, as_of=as_of)
        self.privacy.consent.derive()  # consent follows the person through merges
        if self.engine.count("segments"):
            reports = self.segments_at(summary.as_of).refresh(build_id=summary.build_id)
            summary.segments = len(reports)
        return summary

    @cached_property
    def models(self) -> Models:
        """Fit, register, score and use models (CLV, propensity, rules, recommenders)."""
        from aidmp.ml.service import Models

        return Models(self.engine, self.home / "models")

    @property
    def matching(self) -> ProbabilisticMatcher:
        """Probabilistic links between profiles that share no identifier (Splink), with the
        automatic configuration; :meth:`matching_with` takes one."""
        return self.matching_with(None)

    def matching_with(self, config: MatchingConfig | None) -> ProbabilisticMatcher:
        """Probabilistic matching with a configuration (sources, comparisons, blocking,
        thresholds); each fitted model is registered as a version of ``identity_match``."""
        from aidmp.identity.probabilistic import ProbabilisticMatcher

        return ProbabilisticMatcher(self.engine, self.settings.identity, config,
                                    id_key=self.identity.id_key,
                                    models=self.home / "models")

    @cached_property
    def segments(self) -> Segments:
        """Rule segments: create, size, members, export, overlap, refresh membership."""
        return Segments(self.engine)

    def segments_at(self, as_of: datetime | None) -> Segments:
        """:attr:`segments` evaluated at a point in time: ``within=`` windows end at ``as_of``
        and events after it are ignored (None: the wall clock, as :attr:`segments`)."""
        return Segments(self.engine, as_of=as_utc(as_of))

    @cached_property
    def audiences(self) -> Audiences:
        """Destinations and incremental audience syncs (files, webhooks, ad platforms)."""
        from aidmp.audiences.service import Audiences

        return Audiences(self.engine, self.home)

    @cached_property
    def campaigns(self) -> Campaigns:
        """Campaign costs, ROI / ROAS, attribution and experiments."""
        from aidmp.campaigns import Campaigns

        return Campaigns(self.engine)

    @cached_property
    def quality(self) -> Quality:
        """Data-quality report per source and for the last build."""
        return Quality(self.engine, self.settings.profiles)

    @cached_property
    def pseudonymiser(self) -> Pseudonymiser:
        """Keyed hashes of identifiers under this installation's secret."""
        return Pseudonymiser(load_secret(self.home, self.settings.privacy.secret_file))

    @cached_property
    def suppression(self) -> Suppression:
        """Identifiers of erased people (keyed hashes); every write path drops their data."""
        return Suppression(self.engine, self.pseudonymiser)

    @cached_property
    def privacy(self) -> Privacy:
        """Consent, data-subject access and erasure."""
        from aidmp.privacy.service import Privacy

        def files() -> list[Path]:
            return [Path(d.folder) for d in self.audiences.destinations.list()
                    if hasattr(d, "folder")]

        from aidmp.collect.walcrypt import load_cipher

        privacy = Privacy(self.engine, self.settings.privacy, self.identity,
                          self.pseudonymiser, self.suppression, self.audit, self.wal_dir, files,
                          self.segments)
        privacy.wal_cipher = load_cipher(self.settings.collector.wal_key_file, self.home)
        return privacy

    @cached_property
    def keys(self) -> KeyStore:
        """API keys and write keys."""
        return KeyStore(self.engine)

    @cached_property
    def audit(self) -> AuditLog:
        """Who did what, when."""
        return AuditLog(self.engine)

    @cached_property
    def jobs(self) -> Jobs:
        """Long work in the background: submit a kind with parameters, follow its progress,
        cancel it (``aidmp serve`` runs them; see :mod:`aidmp.service.jobs`)."""
        from aidmp.service.jobs import Jobs

        return Jobs(self)

    @cached_property
    def schedules(self) -> Schedules:
        """Cron schedules that submit jobs (``aidmp serve`` runs them)."""
        from aidmp.service.schedules import Schedules

        return Schedules(self)

    @property
    def wal_dir(self) -> Path:
        """The collector's write-ahead log folder."""
        return self.home / "wal"

    def close(self) -> None:
        """Stop the job worker (if one started) and close the engine."""
        if "jobs" in self.__dict__:
            self.jobs.close()
        self.engine.close()

    def __enter__(self) -> DMP:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
