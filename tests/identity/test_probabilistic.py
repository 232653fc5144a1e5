"""Probabilistic matching on the demo's ground truth: what it links, what it must not, decisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from aidmp import DMP
from aidmp.demo.generator import DemoConfig, DemoGenerator
from aidmp.demo.ingest import run_demo
from aidmp.errors import NotFoundError, ValidationError
from aidmp.identity.evaluate import evaluate
from aidmp.identity.matching.config import MatchingConfig, parse_config
from aidmp.identity.probabilistic import ProbabilisticMatcher
from aidmp.spec.imports import ImportMapping

CONFIG = DemoConfig(people=300, seed=42)
CRM = ImportMapping(source="crm", type="identify", identifiers={"crm_id": "crm_id"},
                    traits="*")


def matcher(dmp: DMP, **kw: Any) -> ProbabilisticMatcher:
    return dmp.matching_with(MatchingConfig(**kw))


def split_persons(dmp: DMP, truth: pl.DataFrame) -> set[str]:
    """Persons whose CRM id and web user id sit in different profiles."""
    ids = pl.from_arrow(dmp.engine.execute(dmp.engine.table("identities").select(
        "id_type", "id_value", "profile_id")))
    assert isinstance(ids, pl.DataFrame)
    keyed = truth.filter(pl.col("id_type").is_in(["crm_id", "user_id"])).join(
        ids, on=["id_type", "id_value"])
    per = keyed.group_by("person_id").agg(pl.col("profile_id").n_unique().alias("n"),
                                          pl.col("id_type").n_unique().alias("types"))
    return set(per.filter((pl.col("types") == 2) & (pl.col("n") > 1))["person_id"].to_list())


def test_demo_links_crm_rows_without_email_and_keeps_precision(dmp: DMP) -> None:
    run_demo(dmp, people=CONFIG.people, seed=CONFIG.seed)
    truth = DemoGenerator(CONFIG).truth()
    dmp.identity.resolve()
    before = evaluate(dmp.identity, truth)
    missed = split_persons(dmp, truth)
    # the generator's CRM rows without e-mail, whose web identify has no phone either
    assert len(missed) == 2

    summary = matcher(dmp).match()
    assert summary.linked == 2 and summary.for_review <= 2
    assert summary.pairs_compared > 100 and summary.records > 300
    assert 0 < (summary.prior or 0) < 0.05
    dmp.identity.resolve()
    after = evaluate(dmp.identity, truth)
    assert after["precision"] >= 0.99
    assert after["recall"] > before["recall"]
    assert after["recall_linked"] >= before["recall_linked"]
    assert after["true_positive_pairs"] - before["true_positive_pairs"] >= 4
    assert split_persons(dmp, truth) == set()

    links = matcher(dmp).links("active")
    assert len(links) == 2
    for link in links:
        assert link["rule"] == "probabilistic" and link["score"] >= 0.95
        assert {link["id_type"], link["other_type"]} == {"crm_id", "user_id"}
        comps = link["evidence"]["comparisons"]
        assert comps["first_name"]["level"] == "Exact match on first_name"
        assert comps["first_name"]["match_weight"] > 3
        assert link["evidence"]["match_weight"] > 5
    # the merges name the probabilistic rule as their cause
    rules = {m["rule"] for m in dmp.identity.merges()}
    assert "probabilistic" in rules
    # once merged, the pairs fall within one profile: a rerun proposes nothing new
    again = matcher(dmp).match()
    assert again.linked == 0 and again.for_review == 0


def _typo(email: str, rng: np.random.Generator) -> str:
    """Swap two neighbouring letters of the user name (never the first one)."""
    local, _, domain = email.strip().partition("@")
    i = int(rng.integers(1, max(2, len(local) - 1)))
    if i + 1 >= len(local) or local[i] == local[i + 1]:
        local = local[:i] + local[i + 1:]
    else:
        local = local[:i] + local[i + 1] + local[i] + local[i + 2:]
    return f"{local}@{domain}"


def _load_with_email_typos(dmp: DMP, tmp_path: Path, share: float) -> tuple[pl.DataFrame, set]:
    """The demo's web events, and its CRM export with a typo in ``share`` of the e-mails."""
    gen = DemoGenerator(CONFIG)
    for batch in gen.event_batches(5_000):
        for m in batch:
            m.pop("sentAt", None)
        dmp.events.ingest(batch, source="web")
    crm = gen.crm()
    rng = np.random.default_rng(7)
    hit = (rng.random(crm.height) < share) & crm["email"].is_not_null().to_numpy()
    emails = [(_typo(e, rng) if h else e) for e, h in zip(crm["email"].to_list(), hit,
                                                          strict=True)]
    crm = crm.with_columns(pl.Series("email", emails))
    crm.write_csv(tmp_path / "crm.csv")
    dmp.imports.file(tmp_path / "crm.csv", CRM)
    truth = gen.truth()
    crm_person = truth.filter(pl.col("id_type") == "crm_id").select(
        pl.col("id_value").alias("crm_id"), "person_id")
    typo_rows = crm.filter(pl.Series(hit)).join(crm_person, on="crm_id")
    extra = typo_rows.select(pl.lit("email").alias("id_type"), pl.col("email").alias("id_value"),
                             "person_id")
    return pl.concat([truth, extra]).unique(), set(typo_rows["person_id"].to_list())


def test_crm_rows_with_an_email_typo_join_their_web_profile(dmp: DMP, tmp_path: Path) -> None:
    truth, typo_persons = _load_with_email_typos(dmp, tmp_path, share=0.15)
    dmp.identity.resolve()
    before = evaluate(dmp.identity, truth)
    missed = split_persons(dmp, truth)
    typo_missed = missed & typo_persons
    # a typo leaves a person apart unless the CRM phone still joins them
    assert len(typo_missed) >= 8

    summary = matcher(dmp).match()
    dmp.identity.resolve()
    after = evaluate(dmp.identity, truth)
    still = split_persons(dmp, truth)
    linked_typos = typo_missed - still
    assert len(linked_typos) >= 0.8 * len(typo_missed)
    assert after["precision"] >= 0.99
    assert after["recall"] > before["recall"]
    assert after["recall_linked"] >= before["recall_linked"]
    assert summary.linked >= len(linked_typos)


def test_near_misses_wait_for_review_then_accept_and_reject(dmp: DMP, tmp_path: Path) -> None:
    run_demo(dmp, people=CONFIG.people, seed=CONFIG.seed)
    truth = DemoGenerator(CONFIG).truth()
    dmp.identity.resolve()
    # a threshold no pair reaches: everything above 0.5 is listed, nothing applied
    m = matcher(dmp, threshold=1.0, review_threshold=0.5)
    summary = m.match()
    assert summary.linked == 0 and summary.for_review >= 2
    review = m.review_list()
    assert len(review) == summary.for_review
    assert [r["score"] for r in review] == sorted((r["score"] for r in review), reverse=True)
    profiles_before = dmp.identity.resolve().profiles
    assert split_persons(dmp, truth)  # review links change nothing

    best, other = review[0], review[1]
    accepted = m.accept(best["id"])
    assert accepted["status"] == "active"
    profiles_after = len({r["profile_id"] for r in dmp.engine.execute(
        dmp.engine.table("identities").select("profile_id")).to_pylist()})
    assert profiles_after == profiles_before - 1

    rejected = m.reject(other["id"])
    assert rejected["status"] == "rejected"
    # a rerun never brings a rejected pair back to the list
    matcher(dmp, threshold=1.0, review_threshold=0.5).match()
    stored = m.links("rejected")
    assert [r["id"] for r in stored] == [other["id"]]
    assert other["id"] not in {r["id"] for r in m.review_list()}

    with pytest.raises(ValidationError, match="already active"):
        m.accept(best["id"])
    with pytest.raises(NotFoundError, match="no link"):
        m.reject("l_nope")


def test_bad_settings_say_what_is_valid(dmp: DMP) -> None:
    with pytest.raises(ValidationError, match="review_threshold: must be at most threshold"):
        parse_config({"threshold": 0.7, "review_threshold": 0.9})
    with pytest.raises(ValidationError, match="'link_only', 'dedupe_only' or 'link_and_dedupe'"):
        parse_config({"mode": "both"})
    # an empty store has nothing to compare, and says why
    summary = matcher(dmp).match()
    assert summary.pairs_compared == 0
    assert summary.warnings == ["nothing resolved yet: run `aidmp identity resolve` (or "
                                "`aidmp build`) before matching"]
