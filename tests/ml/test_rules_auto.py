"""Adaptive support for "bought together" lists and the one-item index (issue 18), on the
Groceries baskets (9,835 baskets, 169 items)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aidmp.ml.rules.auto import adaptive_rules
from aidmp.ml.rules.model import AssociationRules


@pytest.fixture(scope="module")
def groceries(datasets: Path) -> list[list[str]]:
    text = (datasets / "groceries" / "groceries.csv").read_text()
    return [line.split(",") for line in text.splitlines() if line]


def test_every_best_seller_but_beer_gets_rules(groceries: list[list[str]]) -> None:
    model, report = adaptive_rules(groceries, top_items=50, per_item=3)
    assert len(groceries) == 9835
    # halving from 5 %: 49 of the 50 best sellers have 3+ lifting rules at 0.3125 %;
    # canned beer is bought alone (no rule with lift > 1 at any support tried)
    assert report["min_support"] == pytest.approx(0.003125)
    assert report["covered"] == 49 and report["uncovered"] == ["canned beer"]
    assert [t["top_items_without_rules"] for t in report["tried"]] == [49, 42, 24, 5, 1]
    milk = model.bought_together("whole milk", n=5)
    assert list(milk["item"]) == ["butter", "curd", "domestic eggs", "whipped/sour cream",
                                  "root vegetables"]
    assert (milk["lift"] > 1.7).all()


def test_one_item_index_answers_as_the_full_scan(groceries: list[list[str]]) -> None:
    model = AssociationRules(min_support=0.001, min_confidence=0.5).fit(groceries)
    assert len(model.rules_) == 5668  # arules' figure at .001 / .5
    index = model.one_item_index_
    for item in ("whole milk", "yogurt", "root vegetables", "soda", "unknown"):
        fast = model.bought_together(item, n=10)
        del model.one_item_index_
        slow = model.bought_together(item, n=10)
        model.one_item_index_ = index
        assert fast.equals(slow), item
