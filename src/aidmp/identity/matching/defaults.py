"""Automatic choices: which sources form the sides, which fields are compared and how, which
blocking rules generate the candidate pairs, and which of them train the model.

Example:
    >>> plan = make_plan(MatchingConfig(), {"a": ["given_name", "surname", "dob", "colour"],
    ...                                     "b": ["first_name", "last_name", "dob"]})
    >>> plan.mode, plan.sides
    ('link_only', {'a': 'a', 'b': 'b'})
    >>> [(c.field, c.type) for c in plan.comparisons]
    [('birth_date', 'date'), ('first_name', 'name'), ('last_name', 'name')]
    >>> make_plan(MatchingConfig(sources=["crm"]), {"a": ["surname"]})
    Traceback (most recent call last):
    ...
    aidmp.errors.ValidationError: sources: unknown source 'crm'; sources with person traits: a
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Literal

import pandas as pd

from aidmp.errors import ValidationError
from aidmp.identity.matching.config import ComparisonSpec, MatchingConfig
from aidmp.identity.matching.fields import canonical, kind_of

RunMode = Literal["link_only", "dedupe_only", "link_and_dedupe"]

# the comparison each kind of field gets by default (why: names and free text are typed by
# hand, so similarity levels forgive slips; codes either agree or not, but a house number or a
# phone also has a one-key typo level; dates get Splink's date-of-birth levels)
_BY_KIND: dict[str, ComparisonSpec] = {
    "name": ComparisonSpec(field="-", type="name"),
    "text": ComparisonSpec(field="-", type="jaro_winkler", thresholds=[0.9, 0.7]),
    "code": ComparisonSpec(field="-", type="exact"),
    "postcode": ComparisonSpec(field="-", type="postcode"),
    "date": ComparisonSpec(field="-", type="date"),
    "email": ComparisonSpec(field="-", type="email"),
    "phone": ComparisonSpec(field="-", type="damerau_levenshtein", thresholds=[1]),
    "number": ComparisonSpec(field="-", type="numeric"),
}
_SPECIAL = {"street_number": ComparisonSpec(field="-", type="damerau_levenshtein",
                                            thresholds=[1])}
# conjunctions that (nearly) only the same person agrees on: they count the matches in a
# random sample of pairs, which estimates the prior
_DETERMINISTIC = (("email",), ("phone",), ("first_name", "last_name", "birth_date"),
                  ("last_name", "birth_date", "postcode"), ("first_name", "birth_date",
                                                            "postcode"),
                  ("first_name", "last_name", "postcode", "street_number"))


@dataclass
class Plan:
    """A run's resolved choices (``defaults`` filled in, every name checked)."""

    mode: RunMode
    sides: dict[str, str]
    keys: dict[str, str]
    comparisons: list[ComparisonSpec]
    blocking: list[list[str]] = field(default_factory=list)
    block_pairs: dict[str, int] = field(default_factory=dict)

    @property
    def fields(self) -> list[str]:
        """The compared fields (record columns), in comparison order."""
        return [c.field for c in self.comparisons]


def _list(names: list[str]) -> str:
    return ", ".join(names) or "none (run `aidmp identity resolve` after importing records)"


def _sides(config: MatchingConfig, available: Mapping[str, list[str]]) -> dict[str, str]:
    known = sorted(available)
    for key in ("sources", "left"):
        for s in getattr(config, key) or []:
            if s not in available:
                raise ValidationError(f"unknown source {s!r}; sources with person traits: "
                                      f"{_list(known)}", field=key)
    chosen = config.sources or known
    if config.left:
        return {s: ("left" if s in config.left else "right") for s in chosen}
    return {s: s for s in chosen}


def _mode(config: MatchingConfig, sides: dict[str, str]) -> RunMode:
    n = len(set(sides.values()))
    if config.mode not in ("auto", "dedupe_only") and n < 2:
        raise ValidationError(f"{config.mode} needs two sides; sources chosen: "
                              f"{_list(sorted(sides))} (give two sources or `left`)",
                              field="mode")
    if config.one_to_one and n != 2:
        raise ValidationError(f"one_to_one needs exactly two sides, got {n} (give `left`)",
                              field="one_to_one")
    if config.mode == "auto":
        return "link_only" if n >= 2 else "dedupe_only"
    return config.mode


def _spec_for(name: str, spec: ComparisonSpec | None = None) -> ComparisonSpec:
    if spec is not None:
        return spec.model_copy(update={"field": name})
    base = _SPECIAL.get(name) or _BY_KIND[kind_of(name)]
    return base.model_copy(update={"field": name})


def make_plan(config: MatchingConfig, available: Mapping[str, list[str]]) -> Plan:
    """Sides, mode, trait keys and comparisons of a run (blocking comes with the records).

    Raises:
        ValidationError: an unknown source or field (the message lists the valid ones).
    """
    sides = _sides(config, available)
    mode = _mode(config, sides)
    # field -> the keys filling it, and on how many sides it appears
    keys: dict[str, str] = {}
    seen: dict[str, set[str]] = {}
    for source, side in sides.items():
        for key in available.get(source, []):
            name = canonical(key)
            if name is not None:
                keys[key] = name
                seen.setdefault(name, set()).add(side)
    need = 2 if mode == "link_only" else 1
    auto = sorted(f for f, s in seen.items() if len(s) >= need)

    def resolve(spec: ComparisonSpec) -> ComparisonSpec:
        name = spec.field if spec.field in seen else canonical(spec.field) or spec.field
        if name in seen:
            return _spec_for(name, spec)
        raw = {k for s in sides for k in available.get(s, [])}
        if spec.field in raw:  # a trait the defaults do not recognise: compared as it is
            keys[spec.field] = spec.field
            return _spec_for(spec.field, spec)
        valid = sorted(raw | set(seen))
        raise ValidationError(f"unknown field {spec.field!r}; fields in sources "
                              f"{_list(sorted(sides))}: {_list(valid)}", field="comparisons")

    if config.comparisons is not None:
        specs = [resolve(c) for c in config.comparisons]
    else:
        specs = [_spec_for(f) for f in auto]
    specs += [resolve(c) for c in config.extra_comparisons]
    unique = {c.field: c for c in specs}
    comparisons = list(unique.values())
    compared = set(unique)
    keys = {k: f for k, f in keys.items() if f in compared}
    return Plan(mode=mode, sides=sides, keys=keys, comparisons=comparisons)


def pairs_for(records: pd.DataFrame, rule: list[str], mode: RunMode) -> int:
    """How many pairs a blocking rule generates (exact, from the value counts per side)."""
    sub = records.dropna(subset=rule)
    if sub.empty:
        return 0
    counts = sub.groupby([*rule, "side"], sort=False).size().unstack("side", fill_value=0)
    total = counts.sum(axis=1)
    within = int((total * (total - 1) // 2).sum())
    same = int((counts * (counts - 1) // 2).sum().sum())
    if mode == "dedupe_only":
        return within
    if mode == "link_only":
        return within - same
    return within


def choose_blocking(records: pd.DataFrame, plan: Plan, config: MatchingConfig) -> None:
    """Fill ``plan.blocking``: the configured rules, or every single field and pair of fields
    whose exact agreement generates at most ``max_block_pairs`` pairs (default five per record;
    a single field that fits makes the pairs containing it redundant). A true pair is then
    missed only when at most one of its fields agrees exactly."""
    fields = plan.fields
    budget = config.max_block_pairs or max(10_000, 5 * len(records))
    if config.blocking is not None:
        rules = []
        for rule in config.blocking:
            cols = []
            for name in rule:
                col = name if name in fields else canonical(name)
                if col not in fields:
                    raise ValidationError(f"unknown blocking field {name!r}; compared fields: "
                                          f"{_list(fields)}", field="blocking")
                cols.append(col)
            rules.append(cols)
        plan.blocking = rules
        plan.block_pairs = {"+".join(r): pairs_for(records, r, plan.mode) for r in rules}
        return
    # (phones and e-mails block well on their own; dates and names in pairs)
    singles = [[f] for f in fields]
    kept: list[list[str]] = []
    cost: dict[str, int] = {}
    for rule in singles:
        n = pairs_for(records, rule, plan.mode)
        if 0 < n <= budget:
            kept.append(rule)
            cost["+".join(rule)] = n
    alone = {r[0] for r in kept}
    for a, b in combinations(fields, 2):
        if a in alone or b in alone:
            continue
        n = pairs_for(records, [a, b], plan.mode)
        if 0 < n <= budget:
            kept.append([a, b])
            cost[f"{a}+{b}"] = n
    kept.sort(key=lambda r: cost["+".join(r)])
    plan.blocking = kept
    plan.block_pairs = {"+".join(r): cost["+".join(r)] for r in kept}


def training_rules(plan: Plan) -> list[list[str]]:
    """Blocking passes for the EM: every comparison is left out of at least one pass (so its
    m probabilities are learned on pairs it did not select), strict rules first (pairs of
    fields: mostly true matches), at most four passes."""
    todo = set(plan.fields)
    pool = sorted(plan.blocking, key=lambda r: (-len(r), plan.block_pairs["+".join(r)]))
    passes: list[list[str]] = []
    while todo and len(passes) < 4:
        best = max(pool, key=lambda r: len(todo - set(r)), default=None)
        if best is None or not todo - set(best):
            break
        passes.append(best)
        todo -= todo - set(best)
        pool.remove(best)
    return passes


def deterministic_rules(plan: Plan) -> list[list[str]]:
    """The strict conjunctions present among the compared fields (for the prior)."""
    have = set(plan.fields)
    return [list(r) for r in _DETERMINISTIC if set(r) <= have]


__all__ = ["Plan", "choose_blocking", "deterministic_rules", "make_plan", "pairs_for",
           "training_rules"]
