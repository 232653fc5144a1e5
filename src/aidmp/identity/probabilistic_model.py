"""The Splink side of probabilistic matching: settings, training and scoring.

Splink runs on its own in-memory DuckDB (through ``splink.DuckDBAPI``), fed the records as a
pandas frame; nothing here touches the store. Comparisons are only built for traits that both
sides carry (a trait missing on one side could never agree and would only add noise to the EM).

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"record_id": ["a:l", "b:r"], "profile_id": ["a", "b"],
    ...                    "side": ["l", "r"], "first_name": ["ann", "ann"],
    ...                    "last_name": ["lee", None], "email": [None, None]})
    >>> usable_fields(df, "link_only")
    ['first_name']
"""

from __future__ import annotations

import logging
import math
from typing import Any, Literal

import pandas as pd
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.internals.blocking_rule_creator import BlockingRuleCreator
from splink.internals.comparison_creator import ComparisonCreator

Mode = Literal["link_only", "dedupe_only"]
M_FLOOR = 0.005
Weights = dict[str, dict[int, tuple[str, float]]]

# why these: names are typed by hand (Jaro-Winkler forgives slips), e-mails differ by a typo or
# a provider (Splink's e-mail comparison looks at the user name separately), phones and
# postcodes are normalised upstream so only exact agreement counts.
COMPARED = ("first_name", "last_name", "email", "phone", "postcode", "birth_date")


def _comparison(name: str) -> ComparisonCreator:
    if name in ("first_name", "last_name"):
        return cl.JaroWinklerAtThresholds(name, [0.92, 0.8])
    if name == "email":
        return cl.EmailComparison(name)
    if name == "phone":
        return cl.LevenshteinAtThresholds(name, [1])
    return cl.ExactMatch(name)


def usable_fields(records: pd.DataFrame, mode: Mode) -> list[str]:
    """The compared traits present on both sides (``link_only``) or on two records."""
    out = []
    for name in COMPARED:
        if name not in records.columns:
            continue
        present = records[records[name].notna()]
        ok = present["side"].nunique() == 2 if mode == "link_only" else len(present) >= 2
        if ok:
            out.append(name)
    return out


# blocking rule -> the compared traits its columns derive from
BLOCKS: dict[tuple[str, ...], set[str]] = {
    ("postcode",): {"postcode"},
    ("email_local",): {"email"},
    ("phone",): {"phone"},
    ("last_name_key", "first_name"): {"last_name", "first_name"},
    ("email_domain", "first_name"): {"email", "first_name"},
    ("birth_date", "last_name_key"): {"birth_date", "last_name"},
}


def _blocking(fields: list[str]) -> dict[tuple[str, ...], BlockingRuleCreator]:
    have = set(fields)
    return {cols: block_on(*cols) for cols, needs in BLOCKS.items() if needs <= have}


def _frames(records: pd.DataFrame, mode: Mode) -> list[pd.DataFrame]:
    if mode == "dedupe_only":
        return [records]
    return [records[records["side"] == s].reset_index(drop=True) for s in ("l", "r")]


def train(records: pd.DataFrame, mode: Mode, *, recall: float, max_pairs: float,
          seed: int | None) -> tuple[Linker | None, float | None, Weights]:
    """Build and train a linker; ``(None, None, {})`` when there is nothing to compare."""
    frames = _frames(records, mode)
    fields = usable_fields(records, mode)
    if any(len(f) == 0 for f in frames) or ("first_name" not in fields and "email" not in fields):
        return None, None, {}
    blocking = _blocking(fields)
    if not blocking:
        return None, None, {}
    settings = SettingsCreator(
        link_type=mode, unique_id_column_name="record_id",
        comparisons=[_comparison(f) for f in fields],
        blocking_rules_to_generate_predictions=list(blocking.values()),
        additional_columns_to_retain=["profile_id"],
        retain_intermediate_calculation_columns=True,
    )
    db = DuckDBAPI()
    inputs = [db.register(f) for f in frames]
    linker = Linker(inputs if len(inputs) > 1 else inputs[0], settings, log_level=logging.ERROR)
    # exact e-mail or phone agreement is (almost) always the same person: the share of pairs
    # they find, scaled by their recall, estimates the prior that two records match
    det: list[str | BlockingRuleCreator] = [block_on(c) for c in ("email", "phone")
                                            if c in fields]
    linker.training.estimate_probability_two_random_records_match(
        det or [next(iter(blocking.values()))], recall=recall)
    linker.training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=seed)
    # Two EM passes, each blocked on what the other one estimates, so every comparison's m
    # is learned on pairs it did not select.
    em_keys = [k for k in (("postcode",), ("email_local",), ("last_name_key", "first_name"))
               if k in blocking]
    for key in em_keys[:2]:
        rule = blocking[key]
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, fix_u_probabilities=True)
        except Exception as exc:
            logging.getLogger(__name__).info("EM on %s skipped: %s", rule, exc)
    linker = Linker(inputs if len(inputs) > 1 else inputs[0], _smoothed(_model(linker)),
                    log_level=logging.ERROR)
    return linker, _lambda(linker), _weights(linker)


def _smoothed(model: dict[str, Any]) -> dict[str, Any]:
    """Floor every estimated m probability at ``M_FLOOR`` (renormalised per comparison).

    EM over blocked pairs that are nearly all true matches estimates m ~ 0 for disagreement,
    and a single typo would then veto a pair with a weight of -60 or so; a floor keeps each
    disagreement's weight finite (about -7), as a Laplace prior would.
    """
    for comp in model["comparisons"]:
        levels = [lv for lv in comp["comparison_levels"]
                  if not lv.get("is_null_level") and lv.get("m_probability") is not None]
        if not levels:
            continue
        for lv in levels:
            lv["m_probability"] = max(float(lv["m_probability"]), M_FLOOR)
        total = sum(lv["m_probability"] for lv in levels)
        for lv in levels:
            lv["m_probability"] = lv["m_probability"] / total
    return model


def _model(linker: Linker) -> dict[str, Any]:
    return linker.misc.save_model_to_json()  # type: ignore[no-any-return]


def _lambda(linker: Linker) -> float:
    return float(_model(linker)["probability_two_random_records_match"])


def _weights(linker: Linker) -> Weights:
    """comparison -> gamma -> (level label, match weight)."""
    out: Weights = {}
    for comp in _model(linker)["comparisons"]:
        levels = [lv for lv in comp["comparison_levels"] if not lv.get("is_null_level")]
        per: dict[int, tuple[str, float]] = {}
        for i, lv in enumerate(levels):
            m, u = lv.get("m_probability"), lv.get("u_probability")
            weight = math.log2(m / u) if m and u else 0.0
            per[len(levels) - 1 - i] = (str(lv.get("label_for_charts", "")), weight)
        out[str(comp["output_column_name"])] = per
    return out


def predict(linker: Linker | None, review_threshold: float) -> pd.DataFrame:
    """Scored pairs of *different* profiles at or above ``review_threshold``."""
    cols = ["profile_l", "profile_r", "match_probability", "match_weight"]
    if linker is None:
        return pd.DataFrame(columns=cols)
    df = linker.inference.predict(threshold_match_probability=review_threshold)
    out: pd.DataFrame = df.as_pandas_dataframe()  # type: ignore[no-untyped-call]
    if out.empty:
        return pd.DataFrame(columns=cols)
    out = out.rename(columns={"profile_id_l": "profile_l", "profile_id_r": "profile_r"})
    out = out[out["profile_l"] != out["profile_r"]]
    return out.sort_values("match_probability", ascending=False).reset_index(drop=True)


def count_comparisons(linker: Linker) -> int:
    """Pairs the prediction blocking rules generate (each compared once)."""
    df = linker.inference.predict(threshold_match_probability=None)
    return len(df.as_pandas_dataframe())  # type: ignore[no-untyped-call]


__all__ = ["COMPARED", "count_comparisons", "predict", "train", "usable_fields"]
