"""Budget optimiser: concave response curves per channel (``curves``), the allocation as a
linear programme (``lp``), the estimator that ties them together (``model``) and its chart
(``plot``)."""

from aidmp.campaigns.optimiser.allocation import AllocationResult, ChannelAllocation
from aidmp.campaigns.optimiser.model import BudgetOptimiser

__all__ = ["AllocationResult", "BudgetOptimiser", "ChannelAllocation"]
