"""Association rules ("bought together"): basket encoding (``encode``), FP-growth / Apriori
mining (``mining``), the estimator (``model``) and the store-facing fit (``service``)."""

from aidmp.ml.rules.model import AssociationRules, baskets_from_long

__all__ = ["AssociationRules", "baskets_from_long"]
