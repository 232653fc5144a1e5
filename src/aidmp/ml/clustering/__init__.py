"""Clustering of profiles: feature preparation (``prep``), the clusterer with automatic K
(``model``), plain-language descriptions (``describe``) and 2-D plots (``plot``)."""

from aidmp.ml.clustering.model import ProfileClusterer, knee_index

__all__ = ["ProfileClusterer", "knee_index"]
