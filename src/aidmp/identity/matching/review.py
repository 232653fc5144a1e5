"""What a reviewer sees of a scored pair: both records' values and each comparison's verdict.

Example:
    >>> levels = {"surname": [{"label": "Exact match", "match_weight": 6.1},
    ...                       {"label": "All other", "match_weight": -4.2}]}
    >>> row = {"surname_l": "lee", "surname_r": "lee", "gamma_surname": 1,
    ...        "match_probability": 0.97, "match_weight": 5.0, "profile_l": "p1",
    ...        "profile_r": "p2", "record_id_l": "p1:a", "record_id_r": "p2:b"}
    >>> pair_evidence(row, levels, ["surname"])["comparisons"]["surname"]
    {'left': 'lee', 'right': 'lee', 'level': 'Exact match', 'match_weight': 6.1}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def _value(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    try:
        import pandas as pd

        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


def pair_evidence(row: Mapping[str, Any], levels: Mapping[str, list[dict[str, Any]]],
                  fields: list[str]) -> dict[str, Any]:
    """Evidence of one scored pair (a row of Splink's predictions).

    Returns:
        ``match_probability``, ``match_weight``, ``profiles``, ``records`` and, per compared
        field, ``left`` / ``right`` values, the ``level`` label and its ``match_weight``
        (``level`` "missing" when one side has no value: the comparison then counts for
        nothing).
    """
    comps: dict[str, dict[str, Any]] = {}
    for name in fields:
        gamma = _value(row.get(f"gamma_{name}"))
        left, right = _value(row.get(f"{name}_l")), _value(row.get(f"{name}_r"))
        lv = levels.get(name, [])
        if gamma is None or int(gamma) < 0 or not lv:
            comps[name] = {"left": left, "right": right, "level": "missing",
                           "match_weight": 0.0}
            continue
        idx = min(max(len(lv) - 1 - int(gamma), 0), len(lv) - 1)
        weight = lv[idx].get("match_weight")
        mw = _value(row.get(f"mw_{name}"))  # Splink's own weight, term frequencies added
        if mw is not None:
            weight = float(mw) + float(_value(row.get(f"mw_tf_adj_{name}")) or 0.0)
        comps[name] = {"left": left, "right": right, "level": lv[idx]["label"],
                       "match_weight": None if weight is None else round(float(weight), 4)}
    return {"match_probability": round(float(row["match_probability"]), 6),
            "match_weight": round(float(row["match_weight"]), 4),
            "profiles": [row.get("profile_l"), row.get("profile_r")],
            "records": [row.get("record_id_l"), row.get("record_id_r")],
            "comparisons": comps}


__all__ = ["pair_evidence"]
