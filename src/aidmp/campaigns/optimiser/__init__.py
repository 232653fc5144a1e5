"""Budget optimiser: concave response curves per channel (``curves``), the allocation as a
linear programme (``lp``), the estimator that ties them together (``model``) and its chart
(``plot``)."""

from aidmp.campaigns.optimiser.model import AllocationResult, BudgetOptimiser, ChannelAllocation

__all__ = ["AllocationResult", "BudgetOptimiser", "ChannelAllocation"]
