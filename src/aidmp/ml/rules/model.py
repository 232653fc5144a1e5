"""Association rules ("bought together") with the semantics of R arules' ``apriori()``.

:class:`AssociationRules` mines frequent itemsets with mlxtend (FP-growth by default, Apriori on
request; both give the same sets) and turns them into rules the way arules does, so its counts
match the published arules figures (Groceries: 410 rules at support .001 / confidence .8):

- every rule has a single item as consequent; ``min_len`` / ``max_len`` count the items of the
  whole rule (antecedent + consequent); ``min_len=1`` admits ``{} => {x}`` when supp(x) is at
  least the minimum confidence;
- a rule's support is the support of antecedent and consequent together;
- thresholds are applied to counts: an itemset is frequent when bought in at least
  ``ceil(min_support * n_baskets)`` baskets, a rule is kept when
  ``count(rule) / count(antecedent) >= min_confidence`` (with arules' 1e-12 tolerance).
  Like arules, ``ceil`` is taken of the floating-point product, so a product that lands a hair
  above an integer asks for one basket more (100 baskets x 0.07 = 7.000000000000001 -> 8).

Example:
    >>> baskets = [["milk", "bread"], ["milk", "bread", "butter"], ["milk"], ["bread", "butter"]]
    >>> model = AssociationRules(min_support=0.5, min_confidence=0.6, min_len=2).fit(baskets)
    >>> model.rules_[["antecedents", "consequents", "confidence", "lift"]].round(3)
      antecedents consequents  confidence   lift
    0   (butter,)    (bread,)       1.000  1.333
    1    (bread,)   (butter,)       0.667  1.333
    2    (bread,)     (milk,)       0.667  0.889
    3     (milk,)    (bread,)       0.667  0.889
    >>> model.bought_together(["butter"])["item"].tolist()
    ['bread']
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from aidmp.errors import ValidationError
from aidmp.ml.rules.encode import (
    EncodedBaskets,
    Item,
    baskets_from_long,
    encode_lists,
    encode_long,
    is_frame,
    object_array,
)
from aidmp.ml.rules.mining import (
    Algorithm,
    Level,
    frequent_itemsets,
    generate_rules,
    levels_from_itemsets,
    min_count_for,
    rank_order,
    rule_metrics,
)

if TYPE_CHECKING:
    import ibis

    from aidmp.engine.ml import InEngineML

__all__ = ["AssociationRules", "baskets_from_long"]

_ALGORITHMS = ("fpgrowth", "apriori")
RULE_COLUMNS = ("antecedents", "consequents", "support", "confidence", "lift", "leverage",
                "conviction", "count")


def _check_fraction(name: str, value: object, *, allow_zero: bool) -> float:
    low = "[0" if allow_zero else "(0"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValidationError(f"must be a number in {low}, 1], got {value!r}", field=name)
    number = float(value)
    if not (number >= 0.0 if allow_zero else number > 0.0) or number > 1.0:
        raise ValidationError(f"must be in {low}, 1], got {value!r}", field=name)
    return number


def _check_length(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise ValidationError(f"must be an integer >= 1, got {value!r}", field=name)
    return int(value)


# suggestions precomputed per item for one-item lookups (a product page shows far fewer)
INDEXED = 50


class AssociationRules:
    """Frequent itemsets and single-consequent association rules, as in arules ``apriori()``.

    Args:
        min_support: minimum share of baskets, in (0, 1], that hold all items of a rule.
        min_confidence: minimum P(consequent | antecedent), in [0, 1].
        min_len: minimum number of items in a rule, antecedent and consequent together.
        max_len: maximum number of items in a rule (arules' default is 10).
        algorithm: ``"fpgrowth"`` (default) or ``"apriori"`` for the itemset mining.

    Attributes:
        itemsets_: frequent itemsets (up to ``max_len`` items): ``items`` (sorted tuple),
            ``support``, ``count``; most frequent first.
        rules_: ``antecedents`` and ``consequents`` (sorted tuples), ``support``,
            ``confidence``, ``lift``, ``leverage``, ``conviction`` (inf when confidence is 1)
            and ``count``; by lift, confidence and support (descending), then by items.
        items_: the distinct item labels seen by :meth:`fit`, sorted.
        n_baskets_: number of baskets (empty ones included).
        min_count_: the support threshold as a basket count, ``ceil(min_support * n)``.
    """

    def __init__(
        self,
        min_support: float = 0.001,
        min_confidence: float = 0.8,
        min_len: int = 1,
        max_len: int = 10,
        algorithm: Algorithm = "fpgrowth",
    ) -> None:
        self.min_support = min_support
        self.min_confidence = min_confidence
        self.min_len = min_len
        self.max_len = max_len
        self.algorithm = algorithm

    def _check_params(self) -> tuple[float, float, int, int]:
        support = _check_fraction("min_support", self.min_support, allow_zero=False)
        confidence = _check_fraction("min_confidence", self.min_confidence, allow_zero=True)
        min_len = _check_length("min_len", self.min_len)
        max_len = _check_length("max_len", self.max_len)
        if max_len < min_len:
            raise ValidationError(f"must be >= min_len ({min_len}), got {max_len}",
                                  field="max_len")
        if self.algorithm not in _ALGORITHMS:
            raise ValidationError(f"unknown algorithm {self.algorithm!r}; valid: "
                                  f"{', '.join(_ALGORITHMS)}", field="algorithm")
        return support, confidence, min_len, max_len

    def fit(self, baskets: Sequence[Iterable[Item]] | Any, *, basket_col: str = "basket_id",
            item_col: str = "item") -> AssociationRules:
        """Mine itemsets and rules from baskets.

        Args:
            baskets: a list of baskets (each a list of item labels), or a pandas / polars /
                pyarrow frame in long form, one row per (basket, item).
            basket_col: basket column of a long frame.
            item_col: item column of a long frame.

        Returns:
            ``self``, fitted.

        Raises:
            ValidationError: a parameter out of range, or unusable baskets (none, all empty,
                missing items, a long frame without the named columns).
        """
        support, _, _, max_len = self._check_params()
        encoded: EncodedBaskets = (encode_long(baskets, basket_col, item_col)
                                   if is_frame(baskets) else encode_lists(baskets))
        n = encoded.n_baskets
        min_count = min_count_for(support, n)
        levels = frequent_itemsets(encoded.matrix, min_count, max_len, self.algorithm)
        return self._from_levels(levels, list(encoded.items), n, min_count)

    def fit_in_engine(self, ml: InEngineML, pairs: ibis.Table, basket: str = "basket_id",
                      item: str = "item") -> AssociationRules:
        """Like :meth:`fit`, with the itemsets counted inside a distributed engine (Spark
        MLlib's FP-growth over the ``(basket, item)`` rows of ``pairs``): only the frequent
        itemsets come back, and rules are made from them here exactly as :meth:`fit` does,
        so both give the same rules (``algorithm`` is not used: MLlib has FP-growth only).

        Raises:
            ValidationError: a parameter out of range, or no baskets.
        """
        support, _, _, max_len = self._check_params()
        found = ml.frequent_itemsets(pairs, basket, item, support, max_len)
        if found.n_baskets == 0:
            raise ValidationError("no baskets with items to mine", field="baskets")
        min_count = min_count_for(support, found.n_baskets)
        levels = levels_from_itemsets(found.itemsets, found.items, min_count, max_len)
        return self._from_levels(levels, list(found.items), found.n_baskets, min_count)

    def _from_levels(self, levels: dict[int, Level], items: list[Item], n: int,
                     min_count: int) -> AssociationRules:
        _, confidence, min_len, max_len = self._check_params()
        rules = generate_rules(levels, n, confidence, min_len, max_len)
        metrics = rule_metrics(rules, n)
        order = rank_order(metrics, rules.antecedents, rules.consequents)

        labels = object_array(items)
        self.items_: list[Item] = list(items)
        self.n_baskets_: int = n
        self.min_count_: int = min_count
        self._ante = rules.antecedents[order]
        self._cons = rules.consequents[order]
        self.itemsets_: pd.DataFrame = self._itemset_frame(levels, labels, n)
        frame = pd.DataFrame({
            "antecedents": pd.Series([tuple(labels[row[row >= 0]]) for row in self._ante],
                                     dtype=object),
            "consequents": pd.Series([(labels[c],) for c in self._cons], dtype=object),
            **{name: values[order] for name, values in metrics.items()},
            "count": rules.counts[order],
        })
        self.rules_: pd.DataFrame = frame.loc[:, list(RULE_COLUMNS)]
        self._index_one_item()
        return self

    def _index_one_item(self) -> None:
        """Precompute the answer for every one-item basket (a product page's "bought
        together"): its first :data:`INDEXED` suggestions, as rule rows in rank order."""
        self.one_item_index_: dict[Item, np.ndarray] = {}
        empty = (self._ante < 0).all(axis=1)
        single = (self._ante[:, 1:] < 0).all(axis=1) & ~empty if self._ante.shape[1] else empty
        first = self._ante[:, 0] if self._ante.shape[1] else np.full(len(self._cons), -1)
        general = np.flatnonzero(empty)
        for i, label in enumerate(self.items_):
            rows = np.union1d(np.flatnonzero(single & (first == i)), general)
            rows = rows[self._cons[rows] != i]
            _, keep = np.unique(self._cons[rows], return_index=True)
            self.one_item_index_[label] = rows[np.sort(keep)][:INDEXED]

    @staticmethod
    def _itemset_frame(levels: dict[int, Level], labels: np.ndarray, n: int) -> pd.DataFrame:
        sets: list[tuple[Item, ...]] = []
        counts: list[np.ndarray] = []
        width = max(levels, default=0)
        padded: list[np.ndarray] = []
        for k in sorted(levels):
            lv = levels[k]
            sets.extend(tuple(labels[row]) for row in lv.ids)
            counts.append(lv.counts)
            pad = np.full((lv.counts.size, width), -1, dtype=np.int64)
            pad[:, :k] = lv.ids
            padded.append(pad)
        if not sets:
            return pd.DataFrame({"items": pd.Series([], dtype=object),
                                 "support": pd.Series([], dtype=float),
                                 "count": pd.Series([], dtype=np.int64)})
        count = np.concatenate(counts)
        ids = np.concatenate(padded)
        order = np.lexsort((*ids.T[::-1], -count))
        return pd.DataFrame({"items": [sets[i] for i in order], "support": count[order] / n,
                             "count": count[order]})

    def _fitted(self) -> pd.DataFrame:
        if not hasattr(self, "rules_"):
            raise ValidationError("AssociationRules is not fitted; call fit() first",
                                  field="fit")
        return self.rules_

    def bought_together(self, items: Iterable[Item] | Item, n: int = 10) -> pd.DataFrame:
        """Items to suggest beside a basket: the "frequently bought together" list.

        Uses the rules whose antecedent is contained in ``items`` and whose consequent is not;
        each suggested item appears once, with its best rule (by lift, then confidence, then
        support). Unknown items are ignored. Rules with an empty antecedent (plain
        popularity) qualify for every basket, as they do in arules.

        Args:
            items: the basket (a lone string or int label is taken as a one-item basket).
            n: how many items to suggest at most.

        Returns:
            One row per suggested item: ``item`` then the columns of :attr:`rules_`.
        """
        rules = self._fitted()
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or int(n) < 1:
            raise ValidationError(f"must be an integer >= 1, got {n!r}", field="n")
        basket = [items] if isinstance(items, str | int) else list(items)
        index = getattr(self, "one_item_index_", None)  # versions saved before the index: None
        if index is not None and len(set(basket)) == 1 and basket[0] in index \
                and int(n) <= INDEXED:
            out = rules.iloc[index[basket[0]][: int(n)]].reset_index(drop=True)
            out.insert(0, "item", [c[0] for c in out["consequents"]])
            return out
        index = {label: i for i, label in enumerate(self.items_)}
        # One extra slot: the -1 padding of short antecedents reads it, and it is always True.
        held = np.zeros(len(self.items_) + 1, dtype=bool)
        held[[index[i] for i in basket if i in index]] = True
        held[-1] = True
        ok = held[self._ante].all(axis=1) & ~held[self._cons]
        candidates = np.flatnonzero(ok)  # already in rank order
        _, first = np.unique(self._cons[candidates], return_index=True)
        chosen = candidates[np.sort(first)][: int(n)]
        out = rules.iloc[chosen].reset_index(drop=True)
        out.insert(0, "item", [c[0] for c in out["consequents"]])
        return out
