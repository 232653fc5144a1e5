"""Propensity, churn and conversion models: labels and features from the store (``data``),
estimators (``estimators``), the calibrated model with explanations (``model``, ``explain``)
and the store-facing fit / score steps (``service``)."""

from aidmp.ml.propensity.model import ModelCard, PropensityModel

__all__ = ["ModelCard", "PropensityModel"]
