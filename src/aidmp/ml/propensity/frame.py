"""Feature frames of propensity models: profile attributes, event aggregates, or both.

A propensity model reads one row per person. Its columns come from two places:

- **attributes**: the person's traits (what a customer table or ``identify`` calls carried:
  ``age``, ``job``, ``balance``...), numbers as numbers and the rest as categories (one-hot
  encoded by the model);
- **events**: behaviour aggregated from the events up to a time
  (:func:`~aidmp.ml.propensity.data.history_features`: counts, active days, recency, tenure,
  value sums and means).

``features="auto"`` takes every usable attribute and the event aggregates; ``"attributes"``,
``"events"`` and ``"all"`` choose a side; a list names the columns (trait keys or event
aggregate names). Identifiers, earlier model outputs, near-unique texts and constant columns
are left out of the automatic choices (:func:`usable_attributes`).

The outcome is either an event in a window after a cut-off (the caller's labels) or a column
of yes/no values (:func:`binary_target`).

Example:
    >>> import pandas as pd
    >>> binary_target(pd.Series(["yes", "no", None, "yes"]), None, "y").tolist()
    [1.0, 0.0, nan, 1.0]
    >>> parse_features("age, job")
    ('list', ['age', 'job'])
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from aidmp.engine.base import Engine
from aidmp.errors import ValidationError
from aidmp.profiles.common import pivot
from aidmp.profiles.traits import trait_columns

__all__ = ["EVENT_FEATURES", "FEATURE_MODES", "attribute_table", "binary_target",
           "parse_features", "usable_attributes"]

FEATURE_MODES = ("auto", "attributes", "events", "all")
EVENT_FEATURES = ("n_events", "n_days", "recency_days", "tenure_days", "value_sum",
                  "value_mean")
# Texts read as the positive outcome when a yes/no column is not told which value is "yes".
_POSITIVE = frozenset({"yes", "y", "true", "t", "1", "1.0", "positive", "pos"})
# Columns that identify a person or hold an earlier model's output: never features.
_ID_NAMES = frozenset({"id", "email", "phone", "user_id", "anonymous_id", "profile_id",
                       "customer_id", "name", "first_name", "last_name", "address"})
_OUTPUT = re.compile(r"^(cluster|p|clv|segment|lookalike|score|pred|prediction)(_|$)")
# A text column with more levels than this is an identifier or free text, not a category.
MAX_LEVELS = 100


def parse_features(features: object) -> tuple[str, list[str] | None]:
    """``(mode, columns)``: one of :data:`FEATURE_MODES` and ``None``, or ``"list"`` and the
    named columns (a list or a comma-separated text).

    Raises:
        ValidationError: an unknown mode or an empty list (field ``features``).
    """
    if isinstance(features, str) and features.strip() in FEATURE_MODES:
        return features.strip(), None
    names: list[str]
    if isinstance(features, str):
        names = [n.strip() for n in features.split(",") if n.strip()]
        if len(names) == 1 and "," not in features:
            raise ValidationError(f"unknown feature choice {features!r}; valid: "
                                  f"{', '.join(FEATURE_MODES)}, or a comma-separated list of "
                                  "columns (e.g. 'age,job,balance')", field="features")
    elif isinstance(features, list | tuple) and all(isinstance(n, str) for n in features):
        names = [n.strip() for n in features if n.strip()]
    else:
        raise ValidationError(f"must be one of {', '.join(FEATURE_MODES)} or a list of column "
                              f"names, got {features!r}", field="features")
    if not names:
        raise ValidationError("the list of feature columns is empty", field="features")
    return "list", list(dict.fromkeys(names))


def attribute_table(engine: Engine, keys: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per profile with traits: ``profile_id`` and one column per trait key (float64
    for keys whose every value is a number, text otherwise).

    Args:
        engine: the store (``traits`` is written by ``aidmp build``).
        keys: only these trait keys (every key when ``None``).

    Raises:
        ValidationError: a named key is not a trait (the message lists the traits).
    """
    kinds = dict(trait_columns(engine))
    if keys is None:
        wanted = list(kinds)
    else:
        unknown = [k for k in keys if k not in kinds]
        if unknown:
            shown = ", ".join(sorted(kinds)[:30]) or "none (import a customer table and build)"
            raise ValidationError(f"not a profile attribute; attributes: {shown}",
                                  field=unknown[0])
        wanted = list(keys)
    if not wanted:
        return pd.DataFrame({"profile_id": pd.Series([], dtype=object)})
    # Conditional aggregation in the engine: one row per person comes back, not one per trait.
    safe = [f"c{i}" for i in range(len(wanted))]
    wide = pivot(engine.table("traits"), wanted, "key", "value", safe)
    frame = engine.execute(wide.order_by("profile_id")).to_pandas()
    out: dict[str, Any] = {"profile_id": frame["profile_id"].astype(object)}
    for key, col in zip(wanted, safe, strict=True):
        values = frame[col]
        out[key] = (pd.to_numeric(values, errors="coerce").astype("float64") if kinds[key]
                    else values.astype(object).where(values.notna(), None))
    return pd.DataFrame(out)


def usable_attributes(frame: pd.DataFrame, exclude: Sequence[str] = ()) -> list[str]:
    """The attribute columns an automatic choice keeps: not an identifier or an earlier model
    output (by name), not a near-unique text, not constant, not in ``exclude``."""
    kept = []
    n = max(len(frame), 1)
    for col in frame.columns:
        if col == "profile_id" or col in exclude:
            continue
        low = col.lower()
        if low in _ID_NAMES or low.endswith("_id") or _OUTPUT.match(low):
            continue
        values = frame[col]
        levels = values.nunique(dropna=True)
        if levels <= 1:
            continue
        if not pd.api.types.is_numeric_dtype(values) and (
                levels > MAX_LEVELS or (n > 20 and levels > 0.5 * n)):
            continue
        kept.append(col)
    return kept


def binary_target(values: pd.Series, positive: str | None, field: str) -> pd.Series:
    """A yes/no column as 1.0 / 0.0 (NaN where missing).

    Booleans and 0/1 numbers read as they are; texts need two distinct values, one of them
    ``positive`` (when given) or a usual "yes" (yes, y, true, 1...).

    Raises:
        ValidationError: more than two values, a single value, or no way to tell which one is
            positive (field ``field``, or ``positive`` when that value never occurs).
    """
    present = values.dropna()
    if present.empty:
        raise ValidationError("the outcome column has no values", field=field)
    text = present.map(lambda v: str(v).strip())
    if pd.api.types.is_numeric_dtype(values) and positive is None:
        levels = set(pd.to_numeric(present).unique().tolist())
        if not levels <= {0, 1}:
            raise ValidationError(f"a yes/no outcome must be 0/1, got values "
                                  f"{sorted(levels)[:5]}; pass positive=<value>", field=field)
        hit = pd.to_numeric(present) == 1
    else:
        levels_text = sorted(set(text.tolist()))
        if len(levels_text) > 2:
            raise ValidationError(f"a yes/no outcome has two values, this one has "
                                  f"{len(levels_text)} ({', '.join(levels_text[:5])}...)",
                                  field=field)
        if positive is not None:
            if positive not in levels_text:
                raise ValidationError(f"{positive!r} never occurs in the outcome column; its "
                                      f"values: {', '.join(levels_text)}", field="positive")
            hit = text == positive
        else:
            yes = [v for v in levels_text if v.lower() in _POSITIVE]
            if len(yes) != 1:
                raise ValidationError(f"cannot tell which of {', '.join(levels_text)} is the "
                                      "positive outcome; pass positive=<value> "
                                      "(--positive on the command line)", field="positive")
            hit = text == yes[0]
    out = pd.Series(np.nan, index=values.index, dtype="float64")
    out[present.index] = hit.astype("float64").to_numpy()
    return out
