"""What a model card draws, read from a registered version: lift, calibration, importance.

Propensity and churn models keep these in their metrics since they were fitted
(:func:`aidmp.ml.propensity.service.fit_propensity`); versions registered before that carry
them only inside ``params["model_card"]``, where they are read from instead. Models of other
kinds have none of the three, and get empty lists.

Example:
    >>> row = {"metrics": {"lift": [{"decile": 1, "lift": 2.5, "cumulative_gains_pct": 25.0}]},
    ...        "params": {"model_card": {"importances": [{"feature": "orders", "importance": 0.1}],
    ...                                  "metrics": {"calibration": [{"decile": 1,
    ...                                  "mean_predicted": 0.4, "observed_rate": 0.5}]}}}}
    >>> got = card_charts(row)
    >>> got["lift"][0]["lift"], got["calibration"][0]["observed_rate"], got["importances"][0]
    (2.5, 0.5, {'feature': 'orders', 'importance': 0.1, 'std': None})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["card_charts"]

_LIFT = ("decile", "lift", "cumulative_gains_pct")
_CALIBRATION = ("decile", "mean_predicted", "observed_rate")


def _rows(value: object, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """The rows of a stored table that have every key in ``keys`` (others are skipped)."""
    if not isinstance(value, list):
        return []
    return [{k: r[k] for k in keys} for r in value
            if isinstance(r, Mapping) and all(k in r for k in keys)]


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def card_charts(row: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The lift table (deciles, best first), the calibration table (predicted against observed
    rate per decile) and the feature importances (largest first) of one registry row.

    Args:
        row: a version as :meth:`aidmp.ml.registry.ModelRegistry.show` returns it (``params``
            and ``metrics`` parsed).
    """
    metrics: Mapping[str, Any] = _mapping(row.get("metrics"))
    card = _mapping(_mapping(row.get("params")).get("model_card"))
    card_metrics = _mapping(card.get("metrics"))
    lift = _rows(metrics.get("lift"), _LIFT) or _rows(card_metrics.get("lift"), _LIFT)
    calibration = (_rows(metrics.get("calibration"), _CALIBRATION)
                   or _rows(card_metrics.get("calibration"), _CALIBRATION))
    stored = metrics.get("importances") or card.get("importances") or []
    importances: list[dict[str, Any]] = [
        {"feature": str(r["feature"]), "importance": float(r["importance"]),
         "std": None if r.get("std") is None else float(r["std"])}
        for r in stored if isinstance(r, Mapping)
        and r.get("feature") is not None and r.get("importance") is not None]
    importances.sort(key=lambda r: -float(r["importance"]))
    return {"lift": sorted(lift, key=lambda r: r["decile"]),
            "calibration": sorted(calibration, key=lambda r: r["decile"]),
            "importances": importances}
