"""Consent that follows the person: captured per identifier, resolved per profile at each build.

Where decisions come from:

* any event's ``context.consent.categoryPreferences`` (Segment's consent object, e.g.
  ``{"Advertising": true, "Analytics": false}``; the ``Segment Consent Preference Updated``
  event carries it too), its categories mapped to purposes by ``privacy.categories``;
* identify traits ``consent.<purpose>`` (``{"traits": {"consent": {"email": true}}}``);
* the API and the CLI (:meth:`ConsentLedger.record`), stored in ``consent_records`` for the
  identifier they name.

A decision belongs to an identifier (an event's user id, else its anonymous id; a record's
type:value), never to a profile id, so it follows the person through merges and unmerges. At
each build the ``consents`` table is derived: per profile and purpose the latest decision of
each of the profile's identifiers, and the most restrictive of those (one withdrawal wins).

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> _ = dmp.events.ingest([{"type": "identify", "userId": "u1", "messageId": "m1",
    ...     "context": {"consent": {"categoryPreferences": {"Advertising": True}}}},
    ...     {"type": "identify", "userId": "u1", "messageId": "m2",
    ...      "traits": {"email": "ann@x.com", "consent": {"email": False}}}], source="web")
    >>> _ = dmp.build()
    >>> sorted((r["purpose"], r["granted"]) for r in dmp.privacy.consent.of("user_id", "u1"))
    [('advertising', True), ('email', False)]
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from aidmp.engine.base import Engine, arrow_schema
from aidmp.errors import ValidationError
from aidmp.store.schema import TABLES

if TYPE_CHECKING:
    from aidmp.config import PrivacyConfig
    from aidmp.identity.service import IdentityGraph

TRAINING_PURPOSE = "analytics"
"""People who withdrew this purpose are left out of every model's training data."""
SCORING_PURPOSE = "personalisation"
"""People who withdrew this purpose get no stored score and no personal recommendation."""
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


def _decision(text: ir.StringValue) -> ir.BooleanValue:
    low = text.lower()
    return ibis.cases((low.isin(_TRUE), True), (low.isin(_FALSE), False),
                      else_=ibis.null("boolean"))


def refused(engine: Engine, purpose: str) -> ir.Table:
    """Profiles that withdrew ``purpose`` (one column, ``profile_id``)."""
    c = engine.table("consents")
    return c.filter([c.purpose == purpose, c.granted == ibis.literal(False)]).select(
        "profile_id")


class ConsentLedger:
    """Consent decisions per identifier and their resolution per profile.

    Args:
        engine: the store.
        config: purposes and category names.
        identity: the identity graph (normalises identifiers, finds their profile).
    """

    def __init__(self, engine: Engine, config: PrivacyConfig, identity: IdentityGraph) -> None:
        self.engine = engine
        self.config = config
        self.identity = identity

    def check_purpose(self, purpose: str) -> str:
        """``purpose`` if configured.

        Raises:
            ValidationError: an unknown purpose (the message lists the valid ones).
        """
        if purpose not in self.config.purposes:
            raise ValidationError(f"unknown purpose {purpose!r}; purposes: "
                                  f"{', '.join(self.config.purposes)}", field="purpose")
        return purpose

    # -- capture ------------------------------------------------------------------------------
    def record(self, id_type: str, id_value: str, purpose: str, granted: bool, *,
               source: str = "api", actor: str = "cli", at: datetime | None = None
               ) -> dict[str, Any]:
        """Store one decision for one identifier (it reaches ``consents`` at the next build,
        and at once for the identifier's current profile)."""
        self.check_purpose(purpose)
        value = self.identity.normalise(id_type, id_value)
        row = {"id": uuid.uuid4().hex, "id_type": id_type, "id_value": value,
               "purpose": purpose, "granted": bool(granted), "at": at or datetime.now(UTC),
               "source": source, "actor": actor}
        self.engine.append("consent_records", pa.Table.from_pylist(
            [row], schema=arrow_schema(TABLES["consent_records"])))
        if self.engine.has_table("identities"):
            self.derive()
        return {k: v for k, v in row.items() if k != "id_value"}

    # -- resolution ---------------------------------------------------------------------------
    def _aliases(self, purpose: str) -> list[str]:
        names = [c for c, p in self.config.categories.items() if p == purpose]
        return [purpose, *names]

    def _from_events(self, profile: str | None = None) -> ir.Table | None:
        if not self.engine.has_table("event_profiles"):
            return None
        ev, ep = self.engine.table("events"), self.engine.table("event_profiles")
        if profile is not None:  # one person: their events first, then the JSON reads
            ep = ep.filter(ep.profile_id == profile)
            ev = ev.semi_join(ep, "message_id")
        parts = []
        for purpose in self.config.purposes:
            found = [self.engine.json_text(ev.context,
                                           f"$.consent.categoryPreferences.{alias}")
                     for alias in self._aliases(purpose)]
            found.append(self.engine.json_text(ev.traits, f"$.consent.{purpose}"))
            text = ibis.coalesce(*found)
            parts.append(ev.select(
                "message_id", who=ibis.coalesce(ev.user_id, ev.anonymous_id),
                purpose=ibis.literal(purpose), granted=_decision(text), at=ev.timestamp,
                source=ev.source))
        decided = ibis.union(*parts, distinct=False) if len(parts) > 1 else parts[0]
        decided = decided.filter(decided.granted.notnull())
        joined = decided.join(ep, "message_id")
        return joined.select("profile_id", "who", "purpose", "granted", "at", "source")

    def _from_records(self, profile: str | None = None) -> ir.Table | None:
        if not self.engine.count("consent_records") or not self.engine.has_table("identities"):
            return None
        r, ids = self.engine.table("consent_records"), self.engine.table("identities")
        if profile is not None:
            ids = ids.filter(ids.profile_id == profile)
        joined = r.join(ids, [r.id_type == ids.id_type, r.id_value == ids.id_value])
        return joined.select(ids.profile_id, who=r.id_type.concat(":", r.id_value),
                             purpose=r.purpose, granted=r.granted, at=r.at, source=r.source)

    def decisions(self, profile: str | None = None) -> ir.Table | None:
        """Every decision (of one profile's identifiers, when given) with the profile its
        identifier belongs to now."""
        parts = [p for p in (self._from_events(profile), self._from_records(profile))
                 if p is not None]
        if not parts:
            return None
        return ibis.union(*parts, distinct=False) if len(parts) > 1 else parts[0]

    def resolved(self) -> ir.Table | None:
        """Per profile and purpose: the most restrictive of its identifiers' latest answers."""
        d = self.decisions()
        if d is None:
            return None
        w = ibis.window(group_by=[d.profile_id, d.purpose, d.who], order_by=d.at.desc())
        latest = d.mutate(rn=ibis.row_number().over(w)).filter(lambda t: t.rn == 0)
        return latest.group_by("profile_id", "purpose").aggregate(
            granted=latest.granted.all(), updated_at=latest.at.max(),
            source=latest.source.arbitrary())

    def derive(self) -> int:
        """Rewrite ``consents`` for every profile with a decision; return the rows written.

        Rows of profiles without any decision (written directly by earlier versions or by
        tests) are kept as they are."""
        resolved = self.resolved()
        if resolved is None:
            return 0
        if self.engine.has_table("profiles"):  # profiles merged away take their rows along
            c, p = self.engine.table("consents"), self.engine.table("profiles")
            self.engine.delete_rows("consents", c.anti_join(p, "profile_id").select(
                "profile_id"))
        rows = self.engine.execute(resolved)
        if rows.num_rows == 0:
            return 0
        rows = rows.select([f.name for f in arrow_schema(TABLES["consents"])]).cast(
            arrow_schema(TABLES["consents"]))
        return self.engine.upsert("consents", rows)

    # -- reading ------------------------------------------------------------------------------
    def of(self, id_type: str, id_value: str) -> list[dict[str, Any]]:
        """The resolved consents of the person an identifier belongs to."""
        profile = self.identity.profile_of(id_type, id_value)
        c = self.engine.table("consents")
        return self.engine.execute(c.filter(c.profile_id == profile).order_by("purpose")
                                   ).to_pylist()

    def history(self, id_type: str, id_value: str) -> list[dict[str, Any]]:
        """Every decision of the person (all their identifiers), oldest first; identifiers
        shown as their type only."""
        profile = self.identity.profile_of(id_type, id_value)
        d = self.decisions(profile)
        if d is None:
            return []
        mine = d.order_by("at")
        rows = self.engine.execute(mine.select("purpose", "granted", "at", "source",
                                               kind=mine.who.split(":")[0])).to_pylist()
        return rows

    def report(self) -> list[dict[str, Any]]:
        """Per purpose: people who granted, withdrew, said nothing; how many each purpose
        excludes from what (exports, training, scoring)."""
        profiles = self.engine.count("profiles") if self.engine.has_table("profiles") else 0
        c = self.engine.table("consents")
        counts = self.engine.execute(c.group_by("purpose").aggregate(
            granted=c.granted.sum(), withdrawn=(~c.granted).sum())).to_pylist()
        by = {r["purpose"]: r for r in counts}
        uses = {TRAINING_PURPOSE: "model training",
                SCORING_PURPOSE: "scores and recommendations",
                "advertising": "ad-platform audiences (opt-in)", "email": "e-mail audiences"}
        out = []
        for purpose in self.config.purposes:
            r = by.get(purpose, {})
            granted, withdrawn = int(r.get("granted") or 0), int(r.get("withdrawn") or 0)
            out.append({"purpose": purpose, "granted": granted, "withdrawn": withdrawn,
                        "unknown": max(profiles - granted - withdrawn, 0),
                        "excludes_from": uses.get(purpose, "segments using consent()")})
        return out
