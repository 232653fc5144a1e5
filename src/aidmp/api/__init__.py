"""The REST API and the Segment-compatible collector (FastAPI)."""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Imported when first used: a collector-only process (aidmp.api.collector_app) needs the
    # Segment routes, not every route's dependencies (scipy, scikit-learn...), and starts ~4x
    # faster without them.
    if name == "create_app":
        from aidmp.api.app import create_app

        return create_app
    raise AttributeError(name)
