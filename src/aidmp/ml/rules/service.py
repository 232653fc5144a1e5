"""Association rules mined from the store's baskets (the ``rules`` model kind).

Example:
    >>> from aidmp.ml.rules.service import fit_rules
    >>> callable(fit_rules)
    True
"""

from __future__ import annotations

from typing import Any

from aidmp.engine.base import Engine
from aidmp.errors import ValidationError
from aidmp.ml.data import basket_pairs, baskets
from aidmp.ml.rules.auto import adaptive_rules
from aidmp.ml.rules.model import AssociationRules

__all__ = ["fit_rules"]


def fit_rules(engine: Engine, order_event: str = "Order Completed",
              items_property: str = "products", basket_property: str = "order_id",
              item_key: str | None = None, min_support: float | str = "auto",
              min_confidence: float | None = None, min_len: int = 1, max_len: int = 10,
              top_items: int = 50
              ) -> tuple[AssociationRules, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Mine association rules from the baskets of ``order_event`` events.

    ``min_support="auto"`` (the default) adapts the support to the store so that the
    ``top_items`` best sellers each get "bought together" rules (:mod:`aidmp.ml.rules.auto`;
    confidence 0.05 and rules of up to 3 items unless given): a fixed share is either too high
    for a big store or too low for a small one. A number mines as arules' ``apriori`` does
    (confidence 0.8 unless given), e.g. ``0.001`` reproduces arules' published rule counts.

    Raises:
        ValidationError: no baskets, or thresholds out of range.
    """
    ml = engine.in_engine_ml()
    if ml is not None and not isinstance(min_support, str):
        # A distributed engine mines the baskets where they are (Spark MLlib's FP-growth);
        # only the frequent itemsets come back. ``auto`` support probes many supports on the
        # baskets in memory, so it stays on the driver.
        min_confidence = 0.8 if min_confidence is None else min_confidence
        pairs = basket_pairs(engine, order_event, items_property, basket_property, item_key)
        try:
            model = AssociationRules(min_support=min_support, min_confidence=min_confidence,
                                     min_len=min_len, max_len=max_len).fit_in_engine(ml, pairs)
        except ValidationError as exc:
            if exc.field != "baskets":
                raise
            raise ValidationError(f"no {order_event!r} events with items in "
                                  f"{items_property!r}", field="items_property") from None
        return _result(model, order_event, items_property, basket_property, item_key,
                       min_support, min_confidence, min_len, max_len, None)
    data = baskets(engine, order_event, items_property, basket_property, item_key)
    if not data:
        raise ValidationError(f"no {order_event!r} events with items in {items_property!r}",
                              field="items_property")
    adaptive: dict[str, Any] | None = None
    if isinstance(min_support, str):
        if min_support != "auto":
            raise ValidationError(f"must be a share of baskets or 'auto', got {min_support!r}",
                                  field="min_support")
        model, adaptive = adaptive_rules(data, top_items=top_items,
                                         min_confidence=0.05 if min_confidence is None
                                         else min_confidence, max_len=min(max_len, 3))
        min_confidence = adaptive["min_confidence"]
    else:
        min_confidence = 0.8 if min_confidence is None else min_confidence
        model = AssociationRules(min_support=min_support, min_confidence=min_confidence,
                                 min_len=min_len, max_len=max_len).fit(data)
    return _result(model, order_event, items_property, basket_property, item_key, min_support,
                   min_confidence, min_len, max_len, adaptive)


def _result(model: AssociationRules, order_event: str, items_property: str,
            basket_property: str, item_key: str | None, min_support: float | str,
            min_confidence: float | None, min_len: int, max_len: int,
            adaptive: dict[str, Any] | None
            ) -> tuple[AssociationRules, dict[str, Any], dict[str, Any], dict[str, Any]]:
    rules = model.rules_
    top = rules.head(10)
    metrics = {"rules": len(rules), "itemsets": len(model.itemsets_),
               "baskets": model.n_baskets_, "items": len(model.items_),
               "min_count": model.min_count_,
               "top_rules": [{"antecedents": list(r.antecedents),
                              "consequents": list(r.consequents), "support": r.support,
                              "confidence": r.confidence, "lift": r.lift}
                             for r in top.itertuples()]}
    if adaptive is not None:
        metrics["adaptive"] = adaptive
    params = {"order_event": order_event, "items_property": items_property,
              "basket_property": basket_property, "item_key": item_key,
              "min_support": min_support, "min_confidence": min_confidence,
              "min_len": min_len, "max_len": max_len}
    return model, params, metrics, {"baskets": model.n_baskets_}
