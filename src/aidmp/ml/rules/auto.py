"""Thresholds that give every popular item a "bought together" list.

A fixed ``min_support`` is either too high for a big store (the best sellers get no rules: too
few baskets hold any pair) or too low for a small one (millions of itemsets). Here the support
starts high and halves until each of the ``top_items`` most frequent items (all but 5 %) is the
antecedent of at least ``per_item`` rules with lift above 1 (or the support reaches
``min_count`` baskets),
so the threshold adapts to the store's size and its long tail.

Example:
    >>> baskets = [["tea", "milk"], ["tea", "milk"], ["tea", "sugar"], ["bread", "milk"]] * 5
    >>> model, report = adaptive_rules(baskets, top_items=2, per_item=1, min_confidence=0.1)
    >>> report["covered"], report["top_items"]
    (2, 2)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from aidmp.errors import ValidationError
from aidmp.ml.rules.model import AssociationRules

__all__ = ["adaptive_rules"]

START_SUPPORT = 0.05
ALLOWED_UNCOVERED = 0.05


def _coverage(model: AssociationRules, top: list[str], per_item: int) -> list[str]:
    """The top items that are the lone antecedent of fewer than ``per_item`` lifting rules."""
    rules = model.rules_
    single = rules[(rules["antecedents"].map(len) == 1) & (rules["lift"] > 1.0)]
    counts = Counter(a[0] for a in single["antecedents"])
    return [item for item in top if counts.get(item, 0) < per_item]


def adaptive_rules(baskets: Sequence[Sequence[str]], top_items: int = 50, per_item: int = 3,
                   min_confidence: float = 0.05, max_len: int = 3, min_count: int = 2
                   ) -> tuple[AssociationRules, dict[str, Any]]:
    """Rules mined at the highest support that covers the ``top_items`` best sellers.

    Returns:
        The fitted model and a report: the support chosen, every support tried with how many
        top items still lacked ``per_item`` rules, and the items left uncovered at the floor.

    Raises:
        ValidationError: no baskets, or a parameter out of range.
    """
    if not baskets:
        raise ValidationError("no baskets to mine", field="baskets")
    if top_items < 1 or per_item < 1 or min_count < 1:
        raise ValidationError("top_items, per_item and min_count must be >= 1",
                              field="top_items")
    n = len(baskets)
    freq = Counter(item for b in baskets for item in set(b))
    top = [item for item, _ in sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))[:top_items]]
    floor = min_count / n
    support = max(min(START_SUPPORT, 1.0), floor)
    tried: list[dict[str, Any]] = []
    while True:
        model = AssociationRules(min_support=support, min_confidence=min_confidence,
                                 min_len=2, max_len=max_len).fit(baskets)
        missing = _coverage(model, top, per_item)
        tried.append({"min_support": support, "rules": len(model.rules_),
                      "top_items_without_rules": len(missing)})
        # a few best sellers are bought alone (beer, bags): they must not drag the support
        # down to single baskets, so a small share may stay uncovered
        if len(missing) <= int(ALLOWED_UNCOVERED * len(top)) or support <= floor:
            break
        support = max(support / 2, floor)
    return model, {"min_support": support, "min_confidence": min_confidence,
                   "top_items": len(top), "per_item": per_item,
                   "covered": len(top) - len(missing), "uncovered": missing[:20],
                   "tried": tried}
