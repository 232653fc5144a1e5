"""Unified profiles: trait merge, computed traits, RFM, engagement, interests, lookups."""
