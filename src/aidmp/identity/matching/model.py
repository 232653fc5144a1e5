"""The Splink side of matching: comparisons, settings, estimation and scoring.

Splink runs on its own in-memory DuckDB (``splink.DuckDBAPI``), or, when the store's engine is
Spark, on Splink's Spark backend (``SparkAPI``, from ``engine.in_engine_ml().splink_api``), fed
the cleaned records as pandas frames (one per side in a link); nothing here touches the store.

Estimation follows the Fellegi-Sunter recipe Splink documents: the prior (the probability that
two random records match) from deterministic rules counted over a random sample of pairs (or a
given value; never more than a one-to-one link of two sides allows), the u probabilities from
random pairs (seeded), and the m probabilities by expectation maximisation over several
blocking passes, each leaving some comparisons free to be estimated.

Example:
    >>> from aidmp.identity.matching.config import ComparisonSpec
    >>> comparison(ComparisonSpec(field="postcode", type="postcode")).get_comparison(
    ...     "duckdb").comparison_levels[-2].label_for_charts
    'postcode first 3 characters'
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import ColumnExpression, DuckDBAPI, Linker, SettingsCreator, block_on
from splink.internals.comparison_creator import ComparisonCreator

from aidmp.identity.matching.config import ComparisonSpec, MatchingConfig
from aidmp.identity.matching.defaults import Plan, deterministic_rules, training_rules

log = logging.getLogger(__name__)
M_FLOOR = 0.001
# level -> (label, m, u, match weight)
Level = dict[str, Any]


def _postcode(name: str, prefixes: list[int]) -> ComparisonCreator:
    levels: list[Any] = [cll.NullLevel(name), cll.ExactMatchLevel(name),
                         cll.DamerauLevenshteinLevel(name, 1)]
    for k in sorted(prefixes, reverse=True):
        levels.append(cll.ExactMatchLevel(ColumnExpression(name).substr(1, k)).configure(
            label_for_charts=f"{name} first {k} characters"))
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(levels, output_column_name=name)


def _numeric(name: str, diffs: list[float]) -> ComparisonCreator:
    levels: list[Any] = [cll.NullLevel(name), cll.ExactMatchLevel(name)]
    for d in sorted(diffs):
        # the values are text (leading zeros kept): compared as numbers here
        levels.append(cll.CustomLevel(
            f'abs(try_cast("{name}_l" as double) - try_cast("{name}_r" as double)) <= {d}',
            label_for_charts=f"{name} within {d:g}"))
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(levels, output_column_name=name)


def comparison(spec: ComparisonSpec, dialect: str = "duckdb") -> ComparisonCreator:
    """The Splink comparison a :class:`ComparisonSpec` describes, for a Splink SQL dialect
    (``duckdb`` or ``spark``: date patterns are written differently)."""
    name, ts = spec.field, spec.thresholds
    out: ComparisonCreator
    if spec.type == "exact":
        out = cl.ExactMatch(name)
    elif spec.type in ("name", "jaro_winkler"):
        default = [0.92, 0.88, 0.7] if spec.type == "name" else [0.9, 0.7]
        out = cl.JaroWinklerAtThresholds(name, ts or default)
    elif spec.type == "levenshtein":
        out = cl.LevenshteinAtThresholds(name, [int(t) for t in ts or [1, 2]])
    elif spec.type == "damerau_levenshtein":
        out = cl.DamerauLevenshteinAtThresholds(name, [int(t) for t in ts or [1]])
    elif spec.type == "date":
        # dates are cleaned to YYYYMMDD text; invalid ones keep their digits, so they can
        # still agree exactly or within one edit
        years = ts or [1, 10]
        metrics: list[Literal["month", "year"]] = ["month"]
        metrics += ["year"] * len(years)
        out = cl.DateOfBirthComparison(
            name, input_is_string=True,
            datetime_format="yyyyMMdd" if dialect == "spark" else "%Y%m%d",
            invalid_dates_as_null=False,
            datetime_thresholds=[1, *years], datetime_metrics=metrics)  # type: ignore[arg-type]  # (list is invariant)
    elif spec.type == "numeric":
        return _numeric(name, ts or [1.0])
    elif spec.type == "postcode":
        return _postcode(name, [int(t) for t in ts or [3]])
    else:
        out = cl.EmailComparison(name)
    if spec.term_frequency:
        out = out.configure(term_frequency_adjustments=True)
    return out


@dataclass
class Fitted:
    """A trained model: the linker, its settings as JSON, and what was estimated how."""

    linker: Linker
    model: dict[str, Any]
    prior: float
    prior_method: str
    training: list[str] = field(default_factory=list)

    def levels(self) -> dict[str, list[Level]]:
        """comparison -> its levels, most similar first: label, m, u, match weight."""
        out: dict[str, list[Level]] = {}
        for comp in self.model["comparisons"]:
            rows = []
            for lv in comp["comparison_levels"]:
                if lv.get("is_null_level"):
                    continue
                m, u = lv.get("m_probability"), lv.get("u_probability")
                weight = math.log2(m / u) if m and u else None
                rows.append({"label": str(lv.get("label_for_charts", "")),
                             "m": None if m is None else round(float(m), 6),
                             "u": None if u is None else round(float(u), 8),
                             "match_weight": None if weight is None else round(weight, 4)})
            out[str(comp["output_column_name"])] = rows
        return out


def frames(records: pd.DataFrame, plan: Plan) -> list[pd.DataFrame]:
    """The input tables: one per side in a link, the whole set in a dedupe."""
    cols = ["record_id", "profile_id", "side", *plan.fields]
    if plan.mode == "dedupe_only":
        return [records[cols].reset_index(drop=True)]
    return [g[cols].reset_index(drop=True) for _, g in records.groupby("side", sort=True)]


DatabaseFactory = Callable[[], Any]
"""Makes the Splink database API a linker runs on (``DuckDBAPI`` when none is given)."""


def _api(db: DatabaseFactory | None) -> Any:
    return db() if db is not None else DuckDBAPI()


def _linker(inputs: list[pd.DataFrame], settings: SettingsCreator | dict[str, Any],
            api: Any) -> Linker:
    tables = [api.register(f) for f in inputs]
    return Linker(tables if len(tables) > 1 else tables[0], settings, log_level=logging.ERROR)


def _settings(plan: Plan, prior: float | None, dialect: str) -> SettingsCreator:
    return SettingsCreator(
        link_type=plan.mode, unique_id_column_name="record_id",
        comparisons=[comparison(c, dialect) for c in plan.comparisons],
        blocking_rules_to_generate_predictions=[block_on(*r) for r in plan.blocking],
        additional_columns_to_retain=["profile_id", "side"],
        retain_intermediate_calculation_columns=True,
        probability_two_random_records_match=prior or 0.0001,
    )


def _total_pairs(inputs: list[pd.DataFrame], plan: Plan) -> int:
    sizes = [len(f) for f in inputs]
    n = sum(sizes)
    if plan.mode == "link_only":
        return (n * n - sum(s * s for s in sizes)) // 2
    return n * (n - 1) // 2


def _prior(linker: Linker) -> float:
    return float(linker.misc.save_model_to_json()["probability_two_random_records_match"])


def train(records: pd.DataFrame, plan: Plan, config: MatchingConfig,
          db: DatabaseFactory | None = None) -> Fitted:
    """Build a linker on the records and estimate its prior, u and m probabilities.

    ``db`` makes the Splink backend (a distributed engine's, e.g. ``SparkAPI``); Splink's
    own in-memory DuckDB otherwise.
    """
    inputs = frames(records, plan)
    # one linker trains and scores (each costs a second or two to set up)
    api = _api(db)
    linker = _linker(inputs, _settings(plan, config.prior, api.sql_dialect.sql_dialect_str),
                     api)
    method = "given"
    if config.prior is None:
        rules = deterministic_rules(plan) or [r for r in plan.blocking if len(r) > 1][:1] \
            or plan.blocking[:1]
        linker.training.estimate_probability_two_random_records_match(
            [block_on(*r) for r in rules], recall=0.8)
        method = "deterministic rules " + "; ".join("+".join(r) for r in rules) + \
            " (recall 0.8)"
    prior = _prior(linker)
    linker.training.estimate_u_using_random_sampling(max_pairs=config.max_pairs,
                                                     seed=config.seed)
    done = []
    for rule in training_rules(plan):
        try:
            # each pass estimates its own share of matches among its blocked pairs (far more
            # than the prior); the prior itself stays as estimated above
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on(*rule), fix_u_probabilities=True)
            done.append("+".join(rule))
        except Exception as exc:  # a pass with too few pairs: the others still estimate
            log.info("EM pass on %s skipped: %s", "+".join(rule), type(exc).__name__)
    model: dict[str, Any] = linker.misc.save_model_to_json()
    changed = _smoothed(model)
    if config.one_to_one and plan.mode == "link_only":
        # two lists of one record per person: at most min(n_left, n_right) pairs match
        cap = min(len(f) for f in inputs) / max(_total_pairs(inputs, plan), 1)
        if prior > cap:
            prior, method = cap, f"one-to-one bound ({method} gave more)"
            model["probability_two_random_records_match"] = prior
            changed = True
    if changed:
        linker = _linker(inputs, model, _api(db))
    return Fitted(linker=linker, model=model, prior=prior, prior_method=method, training=done)


def _smoothed(model: dict[str, Any]) -> bool:
    """Floor every estimated m probability at ``M_FLOOR`` (renormalised per comparison);
    whether anything changed.

    EM over blocked pairs that are nearly all true matches puts m at (almost) 0 for the levels
    a true pair seldom reaches, and one typo would then veto a pair with a weight of -50 or
    less; a floor keeps each disagreement's weight finite, as a pseudo-count would.
    """
    changed = False
    for comp in model["comparisons"]:
        levels = [lv for lv in comp["comparison_levels"]
                  if not lv.get("is_null_level") and lv.get("m_probability") is not None]
        if not levels or all(float(lv["m_probability"]) >= M_FLOOR for lv in levels):
            continue
        changed = True
        for lv in levels:
            lv["m_probability"] = max(float(lv["m_probability"]), M_FLOOR)
        total = sum(lv["m_probability"] for lv in levels)
        for lv in levels:
            lv["m_probability"] = lv["m_probability"] / total
    return changed


def score(fitted: Fitted) -> pd.DataFrame:
    """Every candidate pair the blocking rules generate, scored (gamma and Bayes factor per
    comparison), best first."""
    df = fitted.linker.inference.predict(threshold_match_probability=None)
    out: pd.DataFrame = df.as_pandas_dataframe()  # type: ignore[no-untyped-call]
    out = out.rename(columns={"profile_id_l": "profile_l", "profile_id_r": "profile_r"})
    return out.sort_values(["match_probability", "record_id_l", "record_id_r"],
                           ascending=[False, True, True]).reset_index(drop=True)


__all__ = ["DatabaseFactory", "Fitted", "comparison", "frames", "score", "train"]
