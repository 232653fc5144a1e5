"""What the budget optimiser returns: the optimum per channel and for the whole budget."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = ["AllocationResult", "ChannelAllocation"]


@dataclass(frozen=True)
class ChannelAllocation:
    """The optimum for one channel (or channel x segment).

    Attributes:
        unit: ``channel`` or ``channel/segment``.
        channel: The channel.
        segment: The segment, when the history had one.
        spend: Optimal spend.
        current_spend: Spend under the current allocation.
        expected_return: Fitted-curve return at ``spend``.
        current_return: Fitted-curve return at ``current_spend``.
        marginal_roi: The curve's derivative at ``spend`` (return of the next unit spent).
        slope_left: Slope of the LP piece just below ``spend`` (nan at zero spend).
        slope_right: Slope of the LP piece just above ``spend`` (nan at the upper bound).
        min_spend: Lower bound used.
        max_spend: Upper bound used (the smaller of max spend and reach cap).
        binding: ``min_spend``, ``max_spend``, ``reach_cap`` or None.
        shadow_price: LP dual of the binding bound: d(total return)/d(bound) (negative for a
            minimum that forces money in, positive for a cap holding it back; 0 when free).
        r2: Goodness of fit of the curve.
    """

    unit: str
    channel: str
    segment: str | None
    spend: float
    current_spend: float
    expected_return: float
    current_return: float
    marginal_roi: float
    slope_left: float
    slope_right: float
    min_spend: float
    max_spend: float
    binding: str | None
    shadow_price: float
    r2: float


@dataclass(frozen=True)
class AllocationResult:
    """An allocation of ``total`` and how it compares with the current one (JSON-ready).

    ``budget_marginal_roi`` is the LP's dual value of the budget: the return one more unit of
    budget would buy, which every unconstrained channel's marginal ROI matches within the
    breakpoint resolution. When every free channel sits exactly on a breakpoint the dual is
    not unique: any value between the pieces either side is a valid price.
    """

    total: float
    allocated: float
    unallocated: float
    expected_return: float
    current_spend: float
    current_return: float
    uplift: float
    uplift_pct: float | None
    budget_marginal_roi: float
    lp_return: float
    breakpoints: int
    binding: list[str]
    channels: list[ChannelAllocation]

    def to_dict(self) -> dict[str, object]:
        """Plain dicts, lists and floats (nan becomes None) for ``json.dumps``."""

        def clean(value: object) -> object:
            if isinstance(value, float) and not math.isfinite(value):
                return None
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            if isinstance(value, list):
                return [clean(v) for v in value]
            return value

        out = clean(asdict(self))
        assert isinstance(out, dict)
        return out
