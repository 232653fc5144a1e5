"""Campaign measurement: touchpoints, ROI / ROAS, multi-touch attribution and experiments.

Example:
    >>> from aidmp.campaigns import sample_size
    >>> sample_size(0.05, 0.2, relative=True)
    8158
"""

from aidmp.campaigns.attribution import MODELS, Attribution
from aidmp.campaigns.experiments import (
    TwoModelUplift,
    assign,
    conversion_test,
    revenue_test,
    sample_size,
)
from aidmp.campaigns.markov import MarkovAttribution
from aidmp.campaigns.service import Campaigns
from aidmp.campaigns.touchpoints import conversions, import_costs, touchpoints

__all__ = [
    "MODELS",
    "Attribution",
    "Campaigns",
    "MarkovAttribution",
    "TwoModelUplift",
    "assign",
    "conversion_test",
    "conversions",
    "import_costs",
    "revenue_test",
    "sample_size",
    "touchpoints",
]
