"""ECharts options built from rows: the few chart shapes the pages use, one palette.

Example:
    >>> opt = bars(["a", "b"], {"n": [1, 2]})
    >>> opt["series"][0]["data"]
    [1, 2]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

PALETTE = ["#1d4ed8", "#f59e0b", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d",
           "#dc2626", "#475569", "#ea580c"]
_BASE: dict[str, Any] = {
    "color": PALETTE, "animation": False,
    "grid": {"left": 48, "right": 16, "top": 36, "bottom": 32, "containLabel": True},
    "tooltip": {"trigger": "axis"},
    "textStyle": {"fontFamily": "system-ui, sans-serif"},
}


def bars(categories: Sequence[Any], series: Mapping[str, Sequence[Any]], *,
         stacked: bool = False, horizontal: bool = False) -> dict[str, Any]:
    """Bars per category, one series per key of ``series`` (stacked when asked)."""
    cat_axis = {"type": "category", "data": [str(c) for c in categories]}
    val_axis = {"type": "value"}
    return {
        **_BASE,
        "legend": {"show": len(series) > 1, "top": 0, "type": "scroll"},
        "xAxis": val_axis if horizontal else cat_axis,
        "yAxis": cat_axis if horizontal else val_axis,
        "series": [{"name": name, "type": "bar", "data": list(values),
                    **({"stack": "all"} if stacked else {})} for name, values in series.items()],
    }


def lines(categories: Sequence[Any], series: Mapping[str, Sequence[Any]], *,
          area: bool = False) -> dict[str, Any]:
    """Lines over categories (days), one per key of ``series``."""
    return {
        **_BASE,
        "legend": {"show": len(series) > 1, "top": 0, "type": "scroll"},
        "xAxis": {"type": "category", "data": [str(c) for c in categories]},
        "yAxis": {"type": "value"},
        "series": [{"name": name, "type": "line", "data": list(values),
                    "showSymbol": len(categories) < 20, **({"areaStyle": {}} if area else {})}
                   for name, values in series.items()],
    }


def scatter(groups: Mapping[str, Sequence[tuple[float, float]]], x_name: str,
            y_name: str) -> dict[str, Any]:
    """Points in groups (clusters), named axes."""
    return {
        **_BASE, "tooltip": {"trigger": "item"},
        "legend": {"show": len(groups) > 1, "top": 0, "type": "scroll"},
        "xAxis": {"type": "value", "name": x_name, "nameLocation": "middle", "nameGap": 24},
        "yAxis": {"type": "value", "name": y_name},
        "series": [{"name": g, "type": "scatter", "symbolSize": 6,
                    "data": [list(p) for p in pts]} for g, pts in groups.items()],
    }


def pivot(rows: Sequence[Mapping[str, Any]], x: str, key: str,
          value: str) -> tuple[list[Any], dict[str, list[Any]]]:
    """Long rows -> (sorted x values, one series per key with 0 where a pair is missing)."""
    xs = sorted({r[x] for r in rows})
    keys = sorted({str(r[key]) for r in rows})
    at = {x_: i for i, x_ in enumerate(xs)}
    series = {k: [0] * len(xs) for k in keys}
    for r in rows:
        series[str(r[key])][at[r[x]]] = r[value]
    return xs, series
