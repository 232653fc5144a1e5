"""Probabilistic identity matching: link profiles that share no identifier (Splink, Fellegi-Sunter).

Deterministic resolution joins profiles only through a shared, normalised identifier. Two lists
of the same people (a CRM export, a shop's customers) without a common key stay apart. This
module compares what the profiles *say* about the person instead: every recognised name,
address, date and contact field the sources carry (or the comparisons a
:class:`~aidmp.identity.matching.config.MatchingConfig` names), with the m and u probabilities
Splink estimates (u from random pairs, m by EM over several blocking passes, the prior from
deterministic rules over a random sample).

Records are one row per profile and *side* (a source, or a group of sources). Pairs scoring at
least ``threshold`` become active ``identity_links`` (``rule='probabilistic'``) between the two
profiles' anchors (their strongest identifier), unless the one-to-one constraint or an
identifier limit says otherwise (:mod:`aidmp.identity.matching.links`); the next
``dmp.identity.resolve()`` merges them. Pairs between ``review_threshold`` and ``threshold``
are stored with ``status='review'`` for a person to :meth:`~ProbabilisticMatcher.accept` or
:meth:`~ProbabilisticMatcher.reject`. Each fitted model is registered as a version of the model
``identity_match`` (m and u per level, prior).

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> summary = ProbabilisticMatcher(dmp.engine, dmp.settings.identity).match()
    >>> summary.linked, summary.warnings[0][:40]
    (0, 'nothing resolved yet: run `aidmp identit')
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import pandas as pd
import pyarrow as pa

from aidmp.engine.base import Engine
from aidmp.errors import NotFoundError, ValidationError
from aidmp.identity.matching.config import MatchingConfig
from aidmp.identity.matching.defaults import Plan, choose_blocking, make_plan
from aidmp.identity.matching.links import Candidate, select
from aidmp.identity.matching.records import available, eligible, read_records
from aidmp.identity.service import EVENT_PROFILES
from aidmp.spec.identity import IdentityRules

if TYPE_CHECKING:
    from aidmp.identity.matching.model import Fitted

LINKS = "identity_links"
MODEL_NAME = "identity_match"
MATCH_STAGES = ("blocking", "training", "predicting", "linking", "resolving")
"""The stages of a matching run as its progress reports them (resolving: the identity
graph brought up to date with the new links, by the caller)."""
StageProgress = Callable[[str, int, int], None]


def _quiet(stage: str, done: int, total: int) -> None:
    """No progress reporting."""


def stage(progress: StageProgress, name: str) -> None:
    """Report that the matching run enters stage ``name`` (of :data:`MATCH_STAGES`)."""
    progress(name, MATCH_STAGES.index(name), len(MATCH_STAGES))


@dataclass
class MatchSummary:
    """What a matching run found; ``warnings`` say why a run linked nothing it could have."""

    records: int = 0
    records_left_out: int = 0
    sides: dict[str, list[str]] = field(default_factory=dict)
    compared: list[str] = field(default_factory=list)
    blocking: list[str] = field(default_factory=list)
    pairs_compared: int = 0
    linked: int = 0
    for_review: int = 0
    already_decided: int = 0
    conflicting: int = 0
    prior: float | None = None
    prior_method: str = ""
    model_version: int | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for JSON output)."""
        return asdict(self)


def _link_id(a: str, b: str) -> str:
    # the same pair of anchors always gets the same id, so a rerun never duplicates a decision
    lo, hi = sorted((a, b))
    return "l_" + hashlib.sha256(f"{lo}\x1f{hi}".encode()).hexdigest()[:16]


class ProbabilisticMatcher:
    """Fellegi-Sunter matching of profiles that share no identifier, estimated with Splink.

    Args:
        engine: the store.
        rules: identity rules (anchor priorities, limit-1 types, phone region).
        config: sources, comparisons, blocking, thresholds (defaults from the data).
        models: folder of the model registry; the fitted model is registered there.

    Attributes (after :meth:`fit`):
        plan_: the resolved sources, fields, comparisons and blocking rules.
        records_: the compared records (pandas, one row per profile and side).
        fitted_: the trained model (:class:`~aidmp.identity.matching.model.Fitted`).
    """

    def __init__(self, engine: Engine, rules: IdentityRules, config: MatchingConfig | None = None,
                 *, models: Path | None = None, id_key: str = "") -> None:
        self.engine = engine
        self.rules = rules
        self.config = config or MatchingConfig()
        self.models = models
        self.id_key = id_key

    # -- estimation ------------------------------------------------------------------------------
    def _resolved(self) -> bool:
        return self.engine.has_table(EVENT_PROFILES) and self.engine.count("identities") > 0

    def plan(self) -> Plan:
        """The sources, sides and comparisons this configuration resolves to on the data.

        Raises:
            ValidationError: an unknown source or field (the message lists the valid ones).
        """
        return make_plan(self.config, available(self.engine))

    def fit(self, summary: MatchSummary | None = None,
            progress: StageProgress = _quiet) -> ProbabilisticMatcher:
        """Read the records, choose the blocking rules (stage ``blocking``), estimate the model
        (``training``).

        Leaves ``fitted_`` at None (with a warning in ``summary``) when nothing can be compared.
        """
        from aidmp.identity.matching.model import train

        summary = summary or MatchSummary()
        stage(progress, "blocking")
        self.fitted_: Fitted | None = None
        plan = self.plan_ = self.plan()
        summary.sides = {side: sorted(s for s, v in plan.sides.items() if v == side)
                         for side in sorted(set(plan.sides.values()))}
        summary.compared = plan.fields
        if not plan.comparisons:
            summary.warnings.append(
                "no field to compare: no recognised name, address, date or contact trait is on"
                f" two sides; sources read: {', '.join(plan.sides) or 'none'}. Name fields with"
                " `comparisons` (aidmp identity match --compare FIELD:TYPE)")
            self.records_ = pd.DataFrame()
            return self
        records = read_records(self.engine, plan.sides, plan.keys, self.rules.default_region)
        ok = eligible(records, plan.fields)
        summary.records_left_out = int((~ok).sum())
        records = self.records_ = records[ok].reset_index(drop=True)
        summary.records = len(records)
        sides = records["side"].nunique() if len(records) else 0
        if len(records) < 2 or (plan.mode == "link_only" and sides < 2):
            summary.warnings.append(
                f"too few records to compare ({len(records)} with two or more of "
                f"{', '.join(plan.fields)}, on {sides} side(s)); check the sources and fields")
            return self
        choose_blocking(records, plan, self.config)
        summary.blocking = ["+".join(r) for r in plan.blocking]
        if not plan.blocking:
            summary.warnings.append(
                "no blocking rule generates pairs within max_block_pairs; give `blocking` "
                "rules or raise max_block_pairs")
            return self
        stage(progress, "training")
        ml = self.engine.in_engine_ml()
        # on a distributed engine Splink pairs, estimates and scores there (SparkAPI)
        self.fitted_ = train(records, plan, self.config,
                             db=ml.splink_api if ml is not None else None)
        summary.prior = self.fitted_.prior
        summary.prior_method = self.fitted_.prior_method
        return self

    def model(self) -> dict[str, Any]:
        """The fitted model: prior (and how it was estimated), m / u / weight per level,
        blocking and training passes."""
        fitted = getattr(self, "fitted_", None)
        if fitted is None:
            raise ValidationError("no model fitted: nothing was compared; run match first",
                                  field="model")
        return {"prior": fitted.prior, "prior_method": fitted.prior_method,
                "comparisons": fitted.levels(), "blocking": self.plan_.block_pairs,
                "training_passes": fitted.training, "mode": self.plan_.mode}

    # -- writing ---------------------------------------------------------------------------------
    def match(self, progress: StageProgress = _quiet) -> MatchSummary:
        """Fit, score (stage ``predicting``), and store links (active) and near misses
        (review; ``linking``), reporting each stage of :data:`MATCH_STAGES` to ``progress``
        as it starts.

        Links take effect at the next ``dmp.identity.resolve()``. A run that cannot compare
        anything returns at once with a warning saying why (and what to do).
        """
        from aidmp.identity.matching.model import score

        summary = MatchSummary()
        if not self._resolved():
            summary.warnings.append("nothing resolved yet: run `aidmp identity resolve` (or "
                                    "`aidmp build`) before matching")
            return summary
        self.fit(summary, progress)
        if self.fitted_ is None:
            return summary
        stage(progress, "predicting")
        scored = score(self.fitted_)
        summary.pairs_compared = len(scored)
        if not len(scored):
            summary.warnings.append("no pair was compared: the blocking rules found no two "
                                    "records that agree; try other `blocking` rules")
        stage(progress, "linking")
        rows = self._link_rows(scored, summary)
        if rows:
            inserted = self.engine.append(LINKS, pa.Table.from_pylist(rows))
            summary.already_decided = len(rows) - inserted
            # the rows this run added (a pair decided before keeps its earlier row)
            t = self.engine.table(LINKS)
            t = t.filter(t.created_at == rows[0]["created_at"])
            counts = self.engine.execute(t.group_by("status").aggregate(n=t.count()))
            added = dict(zip(counts.column("status").to_pylist(), counts.column("n").to_pylist(),
                             strict=True))
            summary.linked = int(added.get("active", 0))
            summary.for_review = int(added.get("review", 0))
        if summary.conflicting and not summary.linked:
            summary.warnings.append(
                f"{summary.conflicting} pairs above the threshold were not linked: each would "
                "put two values of a limit-1 identifier in one profile (see the review list)")
        summary.model_version = self._register(summary)
        return summary

    def _register(self, summary: MatchSummary) -> int | None:
        if self.models is None or self.fitted_ is None:
            return None
        from aidmp.ml.registry import ModelRegistry

        return ModelRegistry(self.engine, self.models).register(
            MODEL_NAME, self.fitted_.model, kind="identity_match",
            params={**self.model(), "config": self.config.model_dump()},
            metrics={"pairs_compared": summary.pairs_compared, "linked": summary.linked,
                     "for_review": summary.for_review},
            data_window={"records": summary.records, "sides": summary.sides})

    def _anchors(self) -> dict[str, tuple[str, str]]:
        """profile_id -> (id_type, id_value) of its strongest, earliest-seen identifier."""
        t = self.engine.table("identities")
        t = t.filter(t.status != "blocked")
        prio = t.id_type.cases(*[(k.name, k.priority) for k in self.rules.types], else_=99)
        rank = ibis.row_number().over(group_by=t.profile_id,
                                      order_by=[prio, t.first_seen, t.id_type, t.id_value])
        best = t.mutate(rn=rank).filter(ibis._.rn == 0).select("profile_id", "id_type",
                                                                 "id_value")
        return {r["profile_id"]: (r["id_type"], r["id_value"])
                for r in self.engine.execute(best).to_pylist()}

    def _limited(self, profiles: set[str]) -> dict[str, dict[str, set[str]]]:
        """profile -> limit-1 identifier type -> its values (of the given profiles)."""
        one = [k.name for k in self.rules.types if k.limit == 1]
        if not one or not profiles:
            return {}
        t = self.engine.table("identities")
        t = t.filter([t.status != "blocked", t.id_type.isin(one)])
        out: dict[str, dict[str, set[str]]] = {}
        for r in self.engine.execute(t.select("profile_id", "id_type", "id_value")).to_pylist():
            if r["profile_id"] in profiles:
                out.setdefault(r["profile_id"], {}).setdefault(r["id_type"], set()).add(
                    r["id_value"])
        return out

    def _link_rows(self, scored: pd.DataFrame, summary: MatchSummary) -> list[dict[str, Any]]:
        from aidmp.identity.matching.review import pair_evidence

        assert self.fitted_ is not None
        cfg = self.config
        near = scored[(scored["match_probability"] >= cfg.review_threshold)
                      & (scored["profile_l"] != scored["profile_r"])]
        if near.empty:
            return []
        rows = near.to_dict("records")
        cands = [Candidate(r["profile_l"], r["profile_r"], r["side_l"], r["side_r"],
                           float(r["match_probability"])) for r in rows]
        by_key = {(c.profile_l, c.profile_r, c.side_l, c.side_r): r
                  for c, r in zip(cands, rows, strict=True)}
        profiles = {c.profile_l for c in cands} | {c.profile_r for c in cands}
        chosen = select(cands, self._limited(profiles), cfg.threshold,
                        one_to_one=cfg.one_to_one)
        anchors = self._anchors()
        levels = self.fitted_.levels()
        now = datetime.now(UTC)
        best: dict[str, dict[str, Any]] = {}
        for c in chosen:
            a, b = anchors.get(c.profile_l), anchors.get(c.profile_r)
            if a is None or b is None:
                continue
            if c.reason and c.reason.startswith("conflict"):
                summary.conflicting += 1
            link_id = _link_id(f"{a[0]}:{a[1]}", f"{b[0]}:{b[1]}")
            if link_id in best:
                continue  # (ordered best first)
            row = by_key[(c.profile_l, c.profile_r, c.side_l, c.side_r)]
            evidence = pair_evidence(row, levels, self.plan_.fields)
            if c.reason:
                evidence["reason"] = c.reason
            best[link_id] = {
                "id": link_id, "kind": "link", "id_type": a[0], "id_value": a[1],
                "other_type": b[0], "other_value": b[1], "rule": "probabilistic",
                "score": c.score, "evidence": json.dumps(evidence), "status": c.status,
                "created_at": now}
        return list(best.values())

    # -- decisions -------------------------------------------------------------------------------
    def links(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Probabilistic links, best score first (optionally of one status)."""
        t = self.engine.table(LINKS)
        t = t.filter([t.kind == "link", t.rule == "probabilistic"])
        if status is not None:
            t = t.filter(t.status == status)
        rows = self.engine.execute(t.order_by([ibis.desc("score"), "id"]).limit(limit))
        return [{**r, "evidence": json.loads(r["evidence"] or "{}")} for r in rows.to_pylist()]

    def review_list(self, limit: int = 100) -> list[dict[str, Any]]:
        """Pairs waiting for a decision, best score first: both records' field values, each
        comparison's level and match weight, and why a pair above the threshold was held."""
        return self.links("review", limit)

    def _decide(self, link_id: str, status: str, resolve: bool) -> dict[str, Any]:
        t = self.engine.table(LINKS)
        rows = self.engine.execute(t.filter([t.id == link_id, t.kind == "link"])).to_pylist()
        if not rows:
            raise NotFoundError(f"no link {link_id!r}; `aidmp identity review` lists them")
        link = rows[0]
        if link["status"] == status:
            raise ValidationError(f"link {link_id} is already {status}", field="link_id")
        was_active = link["status"] == "active"
        self.engine.upsert(LINKS, pa.Table.from_pylist([{**link, "status": status}]))
        if resolve and (was_active or status == "active"):
            from aidmp.identity.service import IdentityGraph

            IdentityGraph(self.engine, self.rules, id_key=self.id_key).resolve()
        return {**link, "status": status, "evidence": json.loads(link["evidence"] or "{}")}

    def accept(self, link_id: str, *, resolve: bool = True) -> dict[str, Any]:
        """Make a link active (and re-resolve, so the two profiles merge).

        Raises:
            NotFoundError: unknown link id.
            ValidationError: the link is already active.
        """
        return self._decide(link_id, "active", resolve)

    def reject(self, link_id: str, *, resolve: bool = True) -> dict[str, Any]:
        """Mark a link rejected; a rerun of :meth:`match` never proposes it again.

        Rejecting an active link re-resolves, so its merge is undone.

        Raises:
            NotFoundError: unknown link id.
            ValidationError: the link is already rejected.
        """
        return self._decide(link_id, "rejected", resolve)


__all__ = ["MODEL_NAME", "MatchSummary", "ProbabilisticMatcher"]
