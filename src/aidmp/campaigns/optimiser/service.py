"""The budget optimiser run over the store's own history or a history the user supplies.

The CLI, the REST API and the dashboard all call :func:`optimise_budget` (through
``dmp.campaigns.optimise``): fit a response curve per channel, allocate the budget, list the
channels left out for lack of data.

Example:
    >>> import pyarrow as pa
    >>> history = pa.table({"channel": ["a"] * 4 + ["b"] * 4, "period": [1, 2, 3, 4] * 2,
    ...                     "spend": [10.0, 20, 40, 80, 10, 20, 40, 80],
    ...                     "return": [30.0, 50, 80, 110, 12, 22, 40, 70]})
    >>> out = optimise_budget(history, total=100.0)
    >>> sorted(c["channel"] for c in out["channels"]), out["skipped_channels"]
    (['a', 'b'], [])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

import pyarrow as pa

from aidmp.campaigns.optimiser.model import BudgetOptimiser, CurveChoice
from aidmp.errors import ValidationError

__all__ = ["CURVE_MODELS", "optimise_budget", "read_history"]

CURVE_MODELS = ("exp", "hill", "log", "auto")


def read_history(path: Path) -> pa.Table:
    """A spend / return history from a CSV or Parquet file (``channel, [segment], period,
    spend, return``)."""
    import polars as pl

    if not path.exists():
        raise ValidationError(f"{path} not found", field="history")
    frame = pl.read_parquet(path) if path.suffix in (".parquet", ".pq") else pl.read_csv(path)
    return frame.to_arrow()


def optimise_budget(history: pa.Table | Callable[[], pa.Table], *, total: float | None = None,
                    breakpoints: int = 20, model: str = "exp",
                    min_spend: Mapping[str, float] | None = None,
                    max_spend: Mapping[str, float] | None = None,
                    reach_caps: Mapping[str, float] | None = None,
                    current: Mapping[str, float] | None = None, spend_all: bool = False,
                    plot: Path | None = None) -> dict[str, Any]:
    """Fit curves on ``history`` and allocate ``total`` (default: the current total spend).

    Args:
        history: the history table, or a callable reading the store's (its ``skipped``
            metadata lists the channels with too few different spends).
        plot: also write a PNG of the curves and the plan there.

    Raises:
        ValidationError: an unknown curve model, or no channel with enough history.
    """
    if model not in CURVE_MODELS:
        raise ValidationError(f"unknown model {model!r}; valid: {', '.join(CURVE_MODELS)}",
                              field="model")
    table = history() if callable(history) else history
    skipped = [s for s in (table.schema.metadata or {}).get(b"skipped", b"").decode()
               .split(",") if s]
    if table.num_rows == 0:
        raise ValidationError("no channel has 3 different positive spends in the campaign "
                              "costs", field="history")
    opt = BudgetOptimiser(breakpoints=breakpoints, model=cast(CurveChoice, model)).fit(table)
    budget = total if total is not None else sum(opt.current_.values())
    result = opt.allocate(budget, min_spend=min_spend, max_spend=max_spend,
                          reach_caps=reach_caps, current=current, spend_all=spend_all)
    if plot is not None:
        opt.plot(result, plot)
    return {**result.to_dict(), "skipped_channels": skipped}
