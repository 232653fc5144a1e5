"""``Audiences``: the activation namespace — destinations and incremental syncs.

Example:
    >>> import tempfile, pyarrow as pa
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> dmp.engine.write_table("profiles", pa.table({"profile_id": ["a", "b"],
    ...     "email": ["a@x.co", "b@x.co"], "age": [30.0, 31.0]}))
    >>> _ = dmp.segments.create("Thirties", rule="age between 30 and 39")
    >>> aud = dmp.audiences
    >>> _ = aud.add_destination({"type": "file", "name": "drop", "min_audience": 2,
    ...                          "folder": tempfile.mkdtemp()})
    >>> aud.sync("thirties", "drop").added, aud.sync("thirties", "drop").unchanged
    (2, 2)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from aidmp.audiences.destinations import Destination, DestinationStore
from aidmp.audiences.sync import AudienceSync, SyncSummary
from aidmp.campaigns.plans import CampaignPlans
from aidmp.errors import ValidationError

if TYPE_CHECKING:
    from aidmp.engine.base import Engine


class Audiences:
    """Destinations of one installation and the syncs of segments to them.

    Args:
        engine: the store.
        home: the installation's folder (destination files, export state).
    """

    def __init__(self, engine: Engine, home: Path) -> None:
        self.engine = engine
        self.destinations = DestinationStore(engine, Path(home) / "activate" / "destinations")
        self._sync = AudienceSync(engine, home)

    def add_destination(self, config: dict[str, Any] | str | Destination, *,
                        replace: bool = False) -> Destination:
        """Check and save a destination (see :mod:`aidmp.audiences.destinations`)."""
        return self.destinations.add(config, replace=replace)

    def list_destinations(self) -> list[Destination]:
        """Every saved destination."""
        return self.destinations.list()

    def remove_destination(self, name: str) -> None:
        """Delete a saved destination."""
        self.destinations.remove(name)

    def sync(self, segment_id: str, destination: str | Destination, *,
             dry_run: bool = False, campaign: str | None = None) -> SyncSummary:
        """Send a segment to a destination (everyone first, then only the changes).

        With ``campaign`` (a defined campaign targeting this segment), its holdout share of
        the members is left out, drawn as its report draws them.

        Raises:
            NotFoundError: unknown segment, destination or campaign.
            ValidationError: audience below the destination's minimum size, or a campaign
                that targets another segment.
        """
        dest = self.destinations.get(destination) if isinstance(destination, str) \
            else destination
        holdout = None
        if campaign is not None:
            plan = CampaignPlans(self.engine).get(campaign)
            if plan["audience"] != segment_id:
                raise ValidationError(f"campaign {campaign!r} targets {plan['audience']!r}, not "
                                      f"{segment_id!r}", field="campaign")
            if plan["holdout_share"]:
                holdout = (campaign, float(plan["holdout_share"]))
        return self._sync.sync(segment_id, dest, dry_run=dry_run, holdout=holdout)

    def history(self, segment_id: str | None = None) -> list[dict[str, Any]]:
        """Past syncs, newest first."""
        return self._sync.history(segment_id)


__all__ = ["Audiences"]
