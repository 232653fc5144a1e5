"""Association rules checked against R arules' published Groceries figures and hand counts."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from aidmp.demo.datasets import default_datasets_dir
from aidmp.errors import ValidationError
from aidmp.ml.rules.model import AssociationRules, baskets_from_long

N_GROCERIES = 9835


def _read_groceries() -> list[list[str]]:
    path = Path(default_datasets_dir()) / "groceries" / "groceries.csv"
    # Only the line break is removed: two labels end with a space in the original data.
    return [line.split(",") for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def groceries() -> list[list[str]]:
    return _read_groceries()


@pytest.fixture(scope="module")
def default_fit(groceries: list[list[str]]) -> AssociationRules:
    return AssociationRules(min_support=0.001, min_confidence=0.8).fit(groceries)


@pytest.fixture(scope="module")
def half_fit(groceries: list[list[str]]) -> AssociationRules:
    return AssociationRules(min_support=0.001, min_confidence=0.5).fit(groceries)


def _lengths(model: AssociationRules) -> dict[int, int]:
    sizes = Counter(len(a) + len(c) for a, c in zip(model.rules_["antecedents"],
                                                    model.rules_["consequents"], strict=True))
    return dict(sorted(sizes.items()))


def _rule_set(model: AssociationRules) -> set[tuple[tuple[str, ...], tuple[str, ...]]]:
    return set(zip(model.rules_["antecedents"], model.rules_["consequents"], strict=True))


# --- the data, as arules summarises it --------------------------------------------------------

def test_groceries_item_supports_match_arules_summary(default_fit: AssociationRules) -> None:
    assert default_fit.n_baskets_ == N_GROCERIES
    assert len(default_fit.items_) == 169
    assert default_fit.min_count_ == 10  # ceil(0.001 * 9835)
    top = default_fit.itemsets_.head(6)
    assert [t[0] for t in top["items"]] == ["whole milk", "other vegetables", "rolls/buns",
                                           "soda", "yogurt", "bottled water"]
    assert top["count"].tolist() == [2513, 1903, 1809, 1715, 1372, 1087]
    np.testing.assert_allclose(top["support"], [0.2555, 0.1935, 0.1839, 0.1744, 0.1395, 0.1105],
                               atol=5e-5)


# --- published rule counts --------------------------------------------------------------------

def test_410_rules_at_support_001_confidence_08(default_fit: AssociationRules) -> None:
    assert len(default_fit.rules_) == 410
    assert _lengths(default_fit) == {3: 29, 4: 229, 5: 140, 6: 12}


def test_5668_rules_at_support_001_confidence_05(half_fit: AssociationRules) -> None:
    assert len(half_fit.rules_) == 5668
    assert _lengths(half_fit) == {2: 11, 3: 1461, 4: 3211, 5: 939, 6: 46}


def test_lantz_463_rules_with_minlen_2(groceries: list[list[str]]) -> None:
    model = AssociationRules(min_support=0.006, min_confidence=0.25, min_len=2).fit(groceries)
    assert model.min_count_ == 60
    assert len(model.rules_) == 463
    assert _lengths(model) == {2: 150, 3: 297, 4: 16}


def test_120_rules_at_support_005_confidence_05(groceries: list[list[str]]) -> None:
    model = AssociationRules(min_support=0.005, min_confidence=0.5).fit(groceries)
    assert len(model.rules_) == 120


def test_top_rule_by_lift_matches_published_values(default_fit: AssociationRules) -> None:
    top = default_fit.rules_.iloc[0]
    assert top["antecedents"] == ("liquor", "red/blush wine")
    assert top["consequents"] == ("bottled beer",)
    assert top["support"] == pytest.approx(0.001931876, abs=1e-9)
    assert top["confidence"] == pytest.approx(0.9047619, abs=1e-7)
    assert top["lift"] == pytest.approx(11.2, abs=0.05)
    assert top["count"] == 19


def test_arules_redundancy_count(default_fit: AssociationRules) -> None:
    # is.redundant(): a more general rule in the set (same RHS, LHS a proper subset) is at
    # least as confident. arules flags 18 of the 410.
    conf = {(frozenset(a), c): f for a, c, f in zip(default_fit.rules_["antecedents"],
                                                    default_fit.rules_["consequents"],
                                                    default_fit.rules_["confidence"],
                                                    strict=True)}
    redundant = sum(
        any(c2 == c and a2 < a and f2 >= f for (a2, c2), f2 in conf.items())
        for (a, c), f in conf.items())
    assert redundant == 18


def test_apriori_and_fpgrowth_agree(groceries: list[list[str]],
                                    half_fit: AssociationRules) -> None:
    other = AssociationRules(min_support=0.001, min_confidence=0.5,
                             algorithm="apriori").fit(groceries)
    pd.testing.assert_frame_equal(other.rules_, half_fit.rules_)
    pd.testing.assert_frame_equal(other.itemsets_, half_fit.itemsets_)


def test_rule_length_counts_whole_rule(groceries: list[list[str]]) -> None:
    pairs = AssociationRules(min_support=0.001, min_confidence=0.5, max_len=2).fit(groceries)
    assert len(pairs.rules_) == 11  # the length-2 rules of the 5,668
    assert pairs.itemsets_["items"].map(len).max() == 2
    triples = AssociationRules(min_support=0.001, min_confidence=0.5, min_len=3,
                               max_len=3).fit(groceries)
    assert len(triples.rules_) == 1461


def test_empty_antecedent_rules_when_support_allows(groceries: list[list[str]]) -> None:
    model = AssociationRules(min_support=0.01, min_confidence=0.25).fit(groceries)
    empty = model.rules_[model.rules_["antecedents"].map(len) == 0]
    assert empty["consequents"].tolist() == [("whole milk",)]  # the only item above 25 %
    row = empty.iloc[0]
    assert row["confidence"] == row["support"] == pytest.approx(2513 / N_GROCERIES)
    assert row["lift"] == pytest.approx(1.0)
    assert row["leverage"] == pytest.approx(0.0, abs=1e-15)
    assert row["conviction"] == pytest.approx(1.0)


# --- invariants -------------------------------------------------------------------------------

def test_metric_invariants(half_fit: AssociationRules) -> None:
    counts = dict(zip(half_fit.itemsets_["items"], half_fit.itemsets_["count"], strict=True))
    n = half_fit.n_baskets_
    rules = half_fit.rules_
    for a, c, s, conf, lift, lev, conv, k in rules.itertuples(index=False):
        assert len(c) == 1 and c[0] not in a
        assert list(a) == sorted(a)
        full = tuple(sorted((*a, *c)))
        assert k == counts[full] >= 10
        lhs = counts[a] if a else n
        rhs = counts[c]
        assert s == pytest.approx(k / n)
        assert conf == pytest.approx(k / lhs) and conf >= 0.5
        assert lift == pytest.approx(conf / (rhs / n))
        assert lev == pytest.approx(s - (lhs / n) * (rhs / n))
        assert conv == (math.inf if k == lhs else pytest.approx((1 - rhs / n) / (1 - conf)))
    keys = list(zip(-rules["lift"], -rules["confidence"], -rules["support"], strict=True))
    assert keys == sorted(keys)


def test_input_forms_give_the_same_rules(groceries: list[list[str]]) -> None:
    ids = [b for b, basket in enumerate(groceries) for _ in basket]
    items = [i for basket in groceries for i in basket]
    long_pd = pd.DataFrame({"order": ids, "product": items})
    def lantz() -> AssociationRules:
        return AssociationRules(min_support=0.006, min_confidence=0.25, min_len=2)

    expected = lantz().fit(groceries).rules_
    frames = [long_pd, pl.from_pandas(long_pd), pl.from_pandas(long_pd).lazy(),
              pa.Table.from_pandas(long_pd), long_pd.astype({"product": "category"})]
    for frame in frames:
        got = lantz().fit(frame, basket_col="order", item_col="product")
        pd.testing.assert_frame_equal(got.rules_, expected)
    assert baskets_from_long(long_pd, "order", "product")[:2] == [
        sorted(groceries[0]), sorted(groceries[1])]


# --- hand-computed example --------------------------------------------------------------------

def test_tiny_example_by_hand() -> None:
    baskets = [["a", "b"], ["a", "b", "c"], ["a", "c"], ["a"], ["b", "b", "c"], []]
    # n = 6; counts a4 b3 c3, ab2 ac2 bc2, abc1. min count = ceil(6 * 0.3) = 2.
    model = AssociationRules(min_support=0.3, min_confidence=0.6).fit(baskets)
    assert model.min_count_ == 2
    rows = [(r.antecedents, r.consequents, r.count, round(r.confidence, 6), round(r.lift, 6))
            for r in model.rules_.itertuples()]
    assert rows == [
        (("b",), ("c",), 2, round(2 / 3, 6), round((2 / 3) / (3 / 6), 6)),
        (("c",), ("b",), 2, round(2 / 3, 6), round((2 / 3) / (3 / 6), 6)),
        # Equal lift (1) and confidence (2/3): the higher support goes first.
        ((), ("a",), 4, round(4 / 6, 6), 1.0),
        (("b",), ("a",), 2, round(2 / 3, 6), 1.0),
        (("c",), ("a",), 2, round(2 / 3, 6), 1.0),
    ]
    assert model.itemsets_["items"].tolist() == [("a",), ("b",), ("c",), ("a", "b"),
                                                 ("a", "c"), ("b", "c")]
    assert model.bought_together(["b"])["item"].tolist() == ["c", "a"]
    assert model.bought_together("a").empty  # nothing predicts b or c from a at 60 %


def test_thresholds_on_counts_like_arules() -> None:
    # 16 of 20 is exactly 0.8; as a ratio of supports (16/9835)/(20/9835) it is 0.79999...
    baskets = [["x", "y"]] * 16 + [["x"]] * 4 + [["z"]] * (N_GROCERIES - 20)
    assert (16 / N_GROCERIES) / (20 / N_GROCERIES) < 0.8
    model = AssociationRules(min_support=0.001, min_confidence=0.8, min_len=2).fit(baskets)
    assert _rule_set(model) == {(("x",), ("y",)), (("y",), ("x",))}
    # arules computes the count threshold as (int)ceil(n * supp) in doubles: 100 * 0.07 is
    # 7.000000000000001, so 8 baskets are needed, and a pair bought 7 times is not frequent.
    assert AssociationRules(min_support=0.07, min_confidence=0.5).fit(
        [["p", "q"]] * 7 + [["r"]] * 93).min_count_ == 8


# --- bought together --------------------------------------------------------------------------

def test_bought_together_uses_matching_rules(groceries: list[list[str]]) -> None:
    model = AssociationRules(min_support=0.006, min_confidence=0.25, min_len=2).fit(groceries)
    basket = ["whole milk", "yogurt", "tropical fruit"]
    got = model.bought_together(basket, n=10)
    assert got["item"].tolist() == ["root vegetables", "other vegetables", "rolls/buns"]
    rules = model.rules_
    fits = rules[rules["antecedents"].map(lambda a: set(a) <= set(basket))
                 & rules["consequents"].map(lambda c: c[0] not in basket)]
    best = fits.drop_duplicates(subset="consequents").head(10).reset_index(drop=True)
    pd.testing.assert_frame_equal(got.drop(columns="item"), best)
    assert got["lift"].is_monotonic_decreasing
    pd.testing.assert_frame_equal(model.bought_together(basket, n=2), got.head(2))


def test_bought_together_top_pick(default_fit: AssociationRules) -> None:
    got = default_fit.bought_together(["liquor", "red/blush wine", "unknown thing"], n=3)
    assert got["item"].tolist() == ["bottled beer"]
    assert got.loc[0, "confidence"] == pytest.approx(19 / 21)


# --- validation -------------------------------------------------------------------------------

@pytest.mark.parametrize(("params", "field"), [
    ({"min_support": 0.0}, "min_support"),
    ({"min_support": 1.5}, "min_support"),
    ({"min_support": "0.1"}, "min_support"),
    ({"min_confidence": -0.1}, "min_confidence"),
    ({"min_len": 0}, "min_len"),
    ({"min_len": 3, "max_len": 2}, "max_len"),
    ({"algorithm": "eclat"}, "algorithm"),
])
def test_bad_parameters_name_the_field(params: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        AssociationRules(**params).fit([["a", "b"]])  # type: ignore[arg-type]
    assert err.value.field == field


@pytest.mark.parametrize("baskets", [[], [[], []], ["ab", "cd"], [["a", None]], [["a", 1]]])
def test_bad_baskets_are_rejected(baskets: list[object]) -> None:
    with pytest.raises(ValidationError) as err:
        AssociationRules().fit(baskets)
    assert err.value.field == "baskets"


def test_bad_long_frames_and_unfitted_use() -> None:
    frame = pd.DataFrame({"basket_id": [1, 1], "sku": ["a", None]})
    with pytest.raises(ValidationError) as err:
        AssociationRules().fit(frame)
    assert err.value.field == "item_col" and "'item'" in str(err.value)
    with pytest.raises(ValidationError) as err:
        AssociationRules().fit(frame, item_col="sku")
    assert err.value.field == "item_col" and "missing" in str(err.value)
    with pytest.raises(ValidationError) as err:
        AssociationRules().bought_together(["a"])
    assert err.value.field == "fit"
    model = AssociationRules(min_support=0.5, min_confidence=0.5).fit([["a", "b"]] * 2)
    with pytest.raises(ValidationError) as err:
        model.bought_together(["a"], n=0)
    assert err.value.field == "n"


def test_nothing_frequent_gives_empty_results() -> None:
    model = AssociationRules(min_support=1.0).fit([["a", "b"], ["a"], ["c"]])
    assert model.min_count_ == 3
    assert model.itemsets_.empty and model.rules_.empty
    assert list(model.rules_.columns) == ["antecedents", "consequents", "support", "confidence",
                                          "lift", "leverage", "conviction", "count"]
    assert model.bought_together(["a"]).empty
