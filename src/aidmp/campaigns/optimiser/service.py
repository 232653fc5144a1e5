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

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import pyarrow as pa

from aidmp.campaigns.optimiser.given import curves_from_spec
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


def read_curves(path: Path) -> list[dict[str, Any]]:
    """Curves from a file: JSON or YAML (a list of curve specs, or ``{"curves": [...]}``), or
    a CSV / Parquet spend/return table (``channel, spend, return``), one curve per channel."""
    import json

    import polars as pl
    import yaml

    if not path.exists():
        raise ValidationError(f"{path} not found", field="curves")
    if path.suffix in (".json", ".yaml", ".yml"):
        try:
            data = (json.loads(path.read_text()) if path.suffix == ".json"
                    else yaml.safe_load(path.read_text()))
        except (ValueError, yaml.YAMLError) as exc:
            raise ValidationError(f"{path.name} does not parse: {exc}", field="curves") from None
        specs = data.get("curves") if isinstance(data, dict) else data
        if not isinstance(specs, list) or not all(isinstance(c, dict) for c in specs):
            raise ValidationError("expected a list of curves, each an object with channel and "
                                  "model/params or points", field="curves")
        return specs
    frame = pl.read_parquet(path) if path.suffix in (".parquet", ".pq") else pl.read_csv(path)
    missing = [c for c in ("channel", "spend", "return") if c not in frame.columns]
    if missing:
        raise ValidationError(f"a spend/return table has columns channel, spend, return; "
                              f"{path.name} lacks {', '.join(missing)}", field=missing[0])
    points: dict[str, list[list[float]]] = {}
    for row in frame.iter_rows(named=True):
        points.setdefault(str(row["channel"]), []).append([row["spend"], row["return"]])
    return [{"channel": ch, "points": pts} for ch, pts in points.items()]


def optimise_budget(history: pa.Table | Callable[[], pa.Table], *, total: float | None = None,
                    breakpoints: int = 20, model: str = "exp",
                    min_spend: Mapping[str, float] | None = None,
                    max_spend: Mapping[str, float] | None = None,
                    reach_caps: Mapping[str, float] | None = None,
                    current: Mapping[str, float] | None = None, spend_all: bool = False,
                    plot: Path | None = None,
                    curves: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Fit curves on ``history`` (or take the user's ``curves``) and allocate ``total``
    (default: the current total spend).

    Args:
        history: the history table, or a callable reading the store's (its ``skipped``
            metadata lists the channels with too few different spends); unused with
            ``curves``.
        plot: also write a PNG of the curves and the plan there.
        curves: response curves or spend / return tables per channel
            (:func:`~aidmp.campaigns.optimiser.given.curves_from_spec`); ``total`` is then
            required unless ``current`` says what is spent now.

    Raises:
        ValidationError: an unknown curve model, or no channel with enough history.
    """
    if curves is not None:
        opt = BudgetOptimiser(breakpoints=breakpoints).use(curves_from_spec(curves), current)
        budget = total if total is not None else sum(opt.current_.values())
        if budget <= 0 and total is None:
            raise ValidationError("give the budget to allocate (total), or the current spend "
                                  "per channel", field="total")
        result = opt.allocate(budget, min_spend=min_spend, max_spend=max_spend,
                              reach_caps=reach_caps, current=current, spend_all=spend_all)
        if plot is not None:
            opt.plot(result, plot)
        return {**result.to_dict(), "skipped_channels": [], "curves_from": "user",
                "curves": [c.to_dict() for c in opt.curves_.values()]}
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
