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
from aidmp.ml.data import baskets
from aidmp.ml.rules.model import AssociationRules

__all__ = ["fit_rules"]


def fit_rules(engine: Engine, order_event: str = "Order Completed",
              items_property: str = "products", basket_property: str = "order_id",
              item_key: str | None = None, min_support: float = 0.001,
              min_confidence: float = 0.8, min_len: int = 1, max_len: int = 10
              ) -> tuple[AssociationRules, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Mine association rules from the baskets of ``order_event`` events.

    Raises:
        ValidationError: no baskets, or thresholds out of range.
    """
    data = baskets(engine, order_event, items_property, basket_property, item_key)
    if not data:
        raise ValidationError(f"no {order_event!r} events with items in {items_property!r}",
                              field="items_property")
    model = AssociationRules(min_support=min_support, min_confidence=min_confidence,
                             min_len=min_len, max_len=max_len).fit(data)
    rules = model.rules_
    top = rules.head(10)
    metrics = {"rules": len(rules), "itemsets": len(model.itemsets_),
               "baskets": model.n_baskets_, "items": len(model.items_),
               "min_count": model.min_count_,
               "top_rules": [{"antecedents": list(r.antecedents),
                              "consequents": list(r.consequents), "support": r.support,
                              "confidence": r.confidence, "lift": r.lift}
                             for r in top.itertuples()]}
    params = {"order_event": order_event, "items_property": items_property,
              "basket_property": basket_property, "item_key": item_key,
              "min_support": min_support, "min_confidence": min_confidence,
              "min_len": min_len, "max_len": max_len}
    return model, params, metrics, {"baskets": model.n_baskets_}
