"""What the service's jobs and schedules need of an installation.

Jobs run work of every kind (builds, imports, fits, syncs, erasures), so they take the whole
installation; typing it as this protocol rather than as :class:`aidmp.DMP` keeps the
dependency one way: ``aidmp.dmp`` builds the service, the service never imports it back.

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> isinstance(DMP(home=tempfile.mkdtemp()), Host)
    True
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from aidmp.config import Settings
    from aidmp.engine.base import Engine


@runtime_checkable
class Host(Protocol):
    """An installation: its engine, settings and home, and the namespaces jobs call."""

    engine: Engine
    settings: Settings
    home: Path

    def build(self, progress: Any = None, *, full: bool = False,
              as_of: Any = None) -> Any:
        """Resolve, rebuild profiles, refresh segments."""

    @property
    def audit(self) -> Any:
        """The audit log."""

    @property
    def audiences(self) -> Any:
        """Destinations and syncs."""

    @property
    def events(self) -> Any:
        """The events namespace."""

    @property
    def identity(self) -> Any:
        """The identity graph."""

    @property
    def imports(self) -> Any:
        """File imports."""

    @property
    def jobs(self) -> Any:
        """The job runner."""

    def matching_with(self, config: Any) -> Any:
        """Probabilistic matching with a configuration (None: automatic)."""

    @property
    def keys(self) -> Any:
        """API keys."""

    @property
    def models(self) -> Any:
        """Model fits and scores."""

    @property
    def privacy(self) -> Any:
        """Consent, access, erasure."""

    @property
    def quality(self) -> Any:
        """The quality report."""

    @property
    def schedules(self) -> Any:
        """Cron schedules."""

    @property
    def segments(self) -> Any:
        """Rule segments."""

    def segments_at(self, as_of: Any) -> Any:
        """Rule segments evaluated at a point in time."""

    @property
    def sources(self) -> Any:
        """Database imports."""
