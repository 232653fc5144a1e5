"""The matching parts on their own (no store): recognised names, configuration errors, every
comparison type through Splink, blocking choice, link selection."""

from __future__ import annotations

import pandas as pd
import pytest

from aidmp.demo.people_records import RecordsConfig, people_records
from aidmp.errors import ValidationError
from aidmp.identity.matching.config import COMPARISON_TYPES, MatchingConfig, parse_config
from aidmp.identity.matching.defaults import (
    choose_blocking,
    make_plan,
    pairs_for,
    training_rules,
)
from aidmp.identity.matching.fields import canonical, clean_values, kind_of
from aidmp.identity.matching.links import Candidate, select
from aidmp.identity.matching.model import score, train


@pytest.mark.parametrize(("name", "field"), [
    ("given_name", "first_name"), ("firstName", "first_name"), ("fname", "first_name"),
    ("surname", "last_name"), ("family_name", "last_name"), ("street_number", "street_number"),
    ("house_number", "street_number"), ("address_1", "address"), ("street", "address"),
    ("suburb", "city"), ("town", "city"), ("zip", "postcode"), ("postal_code", "postcode"),
    ("address_city", "city"), ("state", "state"), ("date_of_birth", "birth_date"),
    ("dob", "birth_date"), ("birthday", "birth_date"), ("email", "email"),
    ("mobile", "phone"), ("phone_number", "phone")])
def test_common_names_are_recognised(name: str, field: str) -> None:
    assert canonical(name) == field


def test_values_are_cleaned_by_kind() -> None:
    assert clean_values("date", ["1980-2-1", "1980-02-01T10:00:00Z", "19800201"]) \
        == ["19800201"] * 3
    assert clean_values("postcode", ["0812", " sw1a 1aa", ""]) == ["0812", "SW1A1AA", None]
    assert clean_values("text", ["12 High St.", None]) == ["12 high st", None]
    assert kind_of("shoe_size") == "code"


def test_configuration_errors_name_the_field() -> None:
    with pytest.raises(ValidationError, match=r"^comparisons\.0\.thresholds: similarities"):
        parse_config({"comparisons": [{"field": "surname", "type": "jaro_winkler",
                                       "thresholds": [1.5]}]})
    with pytest.raises(ValidationError, match=r"^left: .*not among sources"):
        parse_config({"sources": ["a", "b"], "left": ["c"]})
    with pytest.raises(ValidationError, match=r"^blocking: each blocking rule"):
        parse_config({"blocking": [[]]})
    avail = {"a": ["surname", "dob"], "b": ["last_name", "birth_date"]}
    with pytest.raises(ValidationError, match="link_only needs two sides; sources chosen: a"):
        make_plan(MatchingConfig(sources=["a"], mode="link_only"), avail)
    with pytest.raises(ValidationError, match="one_to_one needs exactly two sides, got 3"):
        make_plan(MatchingConfig(one_to_one=True), {**avail, "c": ["surname"]})
    plan = make_plan(MatchingConfig(), avail)
    with pytest.raises(ValidationError, match=r"unknown blocking field 'zip'; compared "
                                              r"fields: birth_date, last_name"):
        choose_blocking(pd.DataFrame(columns=["side", *plan.fields]), plan,
                        MatchingConfig(blocking=[["zip"]]))


def _records() -> pd.DataFrame:
    left, right, _ = people_records(RecordsConfig(people=150, seed=3))
    frames = []
    for side, frame in (("l", left), ("r", right)):
        df = frame.to_pandas()
        out = pd.DataFrame({"record_id": df["record_id"], "profile_id": df["record_id"],
                            "side": side})
        for col in df.columns[1:]:
            name = canonical(col)
            if name in ("first_name", "last_name", "birth_date", "postcode", "street_number",
                        "city", "address"):
                out[name] = clean_values(kind_of(name), df[col].tolist())
        frames.append(out)
    return pd.concat(frames, ignore_index=True)


def test_every_comparison_type_runs_in_splink() -> None:
    records = _records()
    by_type = {"exact": "city", "name": "first_name", "jaro_winkler": "last_name",
               "levenshtein": "address", "damerau_levenshtein": "street_number",
               "date": "birth_date", "postcode": "postcode", "numeric": "street_number"}
    assert set(by_type) | {"email"} == set(COMPARISON_TYPES)
    cols = ["first_name", "last_name", "birth_date", "postcode", "street_number", "city",
            "address"]
    avail = {"l": cols, "r": cols}
    specs = [{"field": f, "type": t} for t, f in by_type.items() if t != "numeric"]
    plan = make_plan(MatchingConfig.model_validate({"comparisons": specs}), avail)
    # numeric compares text as numbers: house numbers within 1
    records["house"] = records["street_number"]
    plan.comparisons.append(plan.comparisons[0].model_copy(
        update={"field": "house", "type": "numeric", "thresholds": [1.0]}))
    cfg = MatchingConfig(max_pairs=20_000)
    choose_blocking(records, plan, cfg)
    assert plan.blocking and all(0 < n <= 10_000 for n in plan.block_pairs.values())
    assert set(plan.fields) - {f for r in training_rules(plan) for f in r} or \
        len(training_rules(plan)) >= 2
    fitted = train(records, plan, cfg)
    levels = fitted.levels()
    assert levels["postcode"][-2]["label"] == "postcode first 3 characters"
    assert levels["house"][1]["label"] == "house within 1"
    assert [lv["label"] for lv in levels["birth_date"]][:2] == [
        "Exact match on date of birth", "Levenshtein distance <= 1"]
    scored = score(fitted)
    assert len(scored) == sum(1 for _ in scored.itertuples())
    assert {"gamma_house", "gamma_postcode", "mw_birth_date"} <= set(scored.columns)
    # each left record's best right partner is (nearly always) its own person
    top = scored[scored["match_probability"] >= 0.95]
    same = (top["record_id_l"].str[1:] == top["record_id_r"].str[1:]).mean()
    assert same >= 0.98 and len(top) >= 100


def test_pairs_for_counts_exactly() -> None:
    df = pd.DataFrame({"side": ["l", "l", "r", "r", "r"], "k": ["a", "a", "a", "b", None]})
    assert pairs_for(df, ["k"], "link_only") == 2
    assert pairs_for(df, ["k"], "dedupe_only") == 3


def test_one_to_one_keeps_the_best_partner_and_says_why() -> None:
    cands = [Candidate("a1", "b1", "a", "b", 0.97), Candidate("a1", "b2", "a", "b", 0.99),
             Candidate("a2", "b2", "a", "b", 0.96), Candidate("a3", "b3", "a", "b", 0.9)]
    out = {(c.profile_l, c.profile_r): c for c in select(cands, {}, 0.95, one_to_one=True)}
    assert out[("a1", "b2")].status == "active"
    assert out[("a1", "b1")].status == "review"
    assert out[("a1", "b1")].reason == ("one-to-one: a record already links to a better "
                                        "partner (p=0.99)")
    assert out[("a2", "b2")].status == "review"
    assert out[("a3", "b3")].status == "review" and out[("a3", "b3")].reason is None
    # without the constraint only identifier limits hold a pair back
    free = select(cands, {}, 0.95, one_to_one=False)
    assert sum(c.status == "active" for c in free) == 3
