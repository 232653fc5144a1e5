"""Probabilistic matching parts: configuration, recognised fields, records, defaults, the
Splink model, link selection and review evidence (the facade is
:class:`aidmp.identity.probabilistic.ProbabilisticMatcher`)."""

from aidmp.identity.matching.config import ComparisonSpec, MatchingConfig, load_config

__all__ = ["ComparisonSpec", "MatchingConfig", "load_config"]
