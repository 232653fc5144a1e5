"""Probabilistic identity matching: link profiles that share no identifier (Splink, Fellegi-Sunter).

Deterministic resolution joins profiles only through a shared, normalised identifier. A CRM row
exported without its e-mail (or with a typo in it) stays apart from the same person's web
profile. This module compares what the profiles *say* about the person instead: names
(Jaro-Winkler), e-mail (exact, then user name / Jaro-Winkler), phone, postcode and birth date,
and lets Splink estimate how much each agreement is worth (m and u probabilities: u by random
sampling, m by expectation maximisation).

Records are one row per profile and *side*: the traits a profile got from the ``left`` sources
(the CRM by default) and those it got from every other source. A profile the deterministic rules
already built from both sides gives a matching pair for free, which is what lets the EM see
enough true matches on a small shop; pairs within one profile are never proposed as links.

Pairs scoring at least ``threshold`` become active ``identity_links`` (``rule='probabilistic'``)
between the two profiles' anchors (their strongest identifier); the next
``dmp.identity.resolve()`` merges them. Pairs between ``review_threshold`` and ``threshold`` are
stored with ``status='review'`` for a person to :meth:`~ProbabilisticMatcher.accept` or
:meth:`~ProbabilisticMatcher.reject`.

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> matcher = ProbabilisticMatcher(dmp.engine, dmp.settings.identity, threshold=0.9)
    >>> matcher.match().to_dict()["linked"]   # nothing resolved yet: nothing to link
    0
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import ibis
import pandas as pd
import pyarrow as pa

from aidmp.engine.base import Engine
from aidmp.errors import NotFoundError, ValidationError
from aidmp.identity.probabilistic_records import FIELDS, profile_records
from aidmp.spec.identity import IdentityRules

LINKS = "identity_links"
Mode = Literal["link_only", "dedupe_only"]


@dataclass
class MatchSummary:
    """What a matching run found."""

    records: int = 0
    pairs_compared: int = 0
    linked: int = 0
    for_review: int = 0
    already_decided: int = 0
    conflicting: int = 0
    lambda_: float | None = None

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
        rules: identity rules (anchor priorities, limit-1 types).
        threshold: match probability from which a pair becomes an active link.
        review_threshold: match probability from which a pair is listed for review.
        left_sources: sources on the left of a ``link_only`` run (the rest are the right).
        mode: ``link_only`` (left vs right sides) or ``dedupe_only`` (every profile vs every
            other, one record per profile).
        recall: expected recall of the deterministic training rules, used to estimate the
            prior probability that two records match.
        max_pairs: random pairs sampled to estimate u probabilities.
        seed: seed of that sampling.

    Attributes (after :meth:`fit`):
        records_: the compared records (pandas).
        linker_: the trained Splink linker.
        lambda_: estimated prior probability that two random records match.
        match_weights_: comparison -> level label -> match weight (log2 Bayes factor).
    """

    def __init__(self, engine: Engine, rules: IdentityRules, threshold: float = 0.95,
                 review_threshold: float = 0.80, *, left_sources: Sequence[str] = ("crm",),
                 mode: Mode = "link_only", recall: float = 0.8, max_pairs: float = 1e6,
                 seed: int | None = 42) -> None:
        self.engine = engine
        self.rules = rules
        self.threshold = threshold
        self.review_threshold = review_threshold
        self.left_sources = tuple(left_sources)
        self.mode = mode
        self.recall = recall
        self.max_pairs = max_pairs
        self.seed = seed

    # -- estimation ------------------------------------------------------------------------------
    def _check(self) -> None:
        if not 0.0 < self.review_threshold <= self.threshold <= 1.0:
            raise ValidationError(
                f"thresholds must satisfy 0 < review_threshold <= threshold <= 1, got "
                f"review_threshold={self.review_threshold}, threshold={self.threshold}",
                field="threshold")
        if self.mode not in ("link_only", "dedupe_only"):
            raise ValidationError(f"unknown mode {self.mode!r}; valid: link_only, dedupe_only",
                                  field="mode")
        if self.mode == "link_only" and not self.left_sources:
            raise ValidationError("link_only needs at least one left source, e.g. ['crm']",
                                  field="left_sources")

    def fit(self) -> ProbabilisticMatcher:
        """Read the profiles' records and estimate the model's m and u probabilities."""
        from aidmp.identity.probabilistic_model import train

        self._check()
        records = profile_records(self.engine, self.rules, self.left_sources, self.mode)
        self.records_ = records
        self.linker_, self.lambda_, self.match_weights_ = train(
            records, self.mode, recall=self.recall, max_pairs=self.max_pairs, seed=self.seed)
        return self

    def _fitted(self) -> bool:
        return hasattr(self, "linker_")

    def predict(self) -> pd.DataFrame:
        """Scored candidate pairs of different profiles at or above ``review_threshold``.

        Columns: ``profile_l``, ``profile_r``, ``match_probability``, ``match_weight`` and, per
        comparison, ``gamma_<name>`` (level) and ``bf_<name>`` (Bayes factor).
        """
        from aidmp.identity.probabilistic_model import predict

        if not self._fitted():
            self.fit()
        return predict(self.linker_, self.review_threshold)

    # -- writing ---------------------------------------------------------------------------------
    def match(self) -> MatchSummary:
        """Fit (if needed), score, and store links (active) and near misses (review).

        Links take effect at the next ``dmp.identity.resolve()``.
        """
        self._check()
        if self.engine.count("identities") == 0:
            return MatchSummary()
        if not self._fitted():
            self.fit()
        summary = MatchSummary(records=len(self.records_), lambda_=self.lambda_)
        if self.linker_ is None:
            return summary
        from aidmp.identity.probabilistic_model import count_comparisons

        summary.pairs_compared = count_comparisons(self.linker_)
        scored = self.predict()
        rows = self._link_rows(scored, summary)
        if rows:
            inserted = self.engine.append(LINKS, pa.Table.from_pylist(rows))
            summary.already_decided += len(rows) - inserted
            new = {r["id"] for r in rows}
            stored = self._links_by_id(new)
            summary.linked = sum(1 for r in stored if r["status"] == "active"
                                 and r["created_at"] == rows[0]["created_at"])
            summary.for_review = sum(1 for r in stored if r["status"] == "review"
                                     and r["created_at"] == rows[0]["created_at"])
        return summary

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

    def _link_rows(self, scored: pd.DataFrame, summary: MatchSummary) -> list[dict[str, Any]]:
        anchors = self._anchors()
        limit_one = {k.name for k in self.rules.types if k.limit == 1}
        now = datetime.now(UTC)
        best: dict[str, dict[str, Any]] = {}
        for r in scored.to_dict("records"):
            a, b = anchors.get(r["profile_l"]), anchors.get(r["profile_r"])
            if a is None or b is None or r["profile_l"] == r["profile_r"]:
                continue
            if a[0] == b[0] and a[0] in limit_one:
                # two user ids (or CRM ids) in one profile would be split again by resolve
                summary.conflicting += 1
                continue
            p = float(r["match_probability"])
            link_id = _link_id(f"{a[0]}:{a[1]}", f"{b[0]}:{b[1]}")
            if link_id in best and best[link_id]["score"] >= p:
                continue
            evidence = {"match_probability": round(p, 6),
                        "match_weight": round(float(r["match_weight"]), 4),
                        "comparisons": _levels(r, self.match_weights_),
                        "profiles": [r["profile_l"], r["profile_r"]]}
            best[link_id] = {
                "id": link_id, "kind": "link", "id_type": a[0], "id_value": a[1],
                "other_type": b[0], "other_value": b[1], "rule": "probabilistic", "score": p,
                "evidence": json.dumps(evidence),
                "status": "active" if p >= self.threshold else "review", "created_at": now}
        return list(best.values())

    # -- decisions -------------------------------------------------------------------------------
    def _links_by_id(self, ids: set[str]) -> list[dict[str, Any]]:
        t = self.engine.table(LINKS)
        rows = self.engine.execute(t.filter(t.id.isin(sorted(ids)))).to_pylist()
        return [{**r, "evidence": json.loads(r["evidence"] or "{}")} for r in rows]

    def links(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Probabilistic links, best score first (optionally of one status)."""
        t = self.engine.table(LINKS)
        t = t.filter([t.kind == "link", t.rule == "probabilistic"])
        if status is not None:
            t = t.filter(t.status == status)
        rows = self.engine.execute(t.order_by([ibis.desc("score"), "id"]).limit(limit))
        return [{**r, "evidence": json.loads(r["evidence"] or "{}")} for r in rows.to_pylist()]

    def review_list(self, limit: int = 100) -> list[dict[str, Any]]:
        """Pairs waiting for a decision (between the two thresholds), best score first."""
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

            IdentityGraph(self.engine, self.rules).resolve()
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


def _levels(row: dict[str, Any], weights: dict[str, dict[int, tuple[str, float]]]
            ) -> dict[str, dict[str, Any]]:
    """Each comparison's level label and match weight for one scored pair."""
    out: dict[str, dict[str, Any]] = {}
    for name, levels in weights.items():
        gamma = row.get(f"gamma_{name}")
        if gamma is None or pd.isna(gamma):
            continue
        label, weight = levels.get(int(gamma), ("", 0.0))
        out[name] = {"level": label, "match_weight": round(weight, 4)}
    return out


__all__ = ["FIELDS", "MatchSummary", "ProbabilisticMatcher"]
