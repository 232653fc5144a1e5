"""The REST API and the Segment-compatible collector (FastAPI)."""

from aidmp.api.app import create_app

__all__ = ["create_app"]
