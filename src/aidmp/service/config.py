"""Settings of the service: schedules in ``aidmp.yaml``, delivery retries, the scheduler's tick.

Example ``<home>/aidmp.yaml``::

    service:
      schedules:
        - name: nightly-build
          cron: "0 3 * * *"
          kind: build
        - name: refit-clv
          cron: "0 4 * * 1"
          kind: models.fit
          params: {kind: clv}
      deliveries:
        retry_for_hours: 12
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ScheduleConfig(BaseModel):
    """One schedule: a job kind submitted at the times a cron expression names."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    """Schedule name (letters, digits, ``_ . -``)."""
    cron: str = Field(min_length=1, max_length=100)
    """Cron expression, five fields, UTC (``0 3 * * *``: every day at 03:00)."""
    kind: str = Field(min_length=1, max_length=64)
    """Job kind (``build``, ``segments.refresh``, ``audiences.sync``, ``models.fit``,
    ``quality.report``...)."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Parameters of the job."""


class DeliveryConfig(BaseModel):
    """How the outbox retries webhook and audience deliveries."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    retry_for_hours: float = Field(24.0, gt=0, le=24 * 14)
    """Give up (dead-letter) a delivery this long after it was queued."""
    first_retry_s: float = Field(1.0, gt=0, le=3600)
    """Wait before the first retry; doubled after each failure."""
    max_retry_s: float = Field(1800.0, gt=0, le=86400)
    """Longest wait between two attempts."""
    timeout_s: float = Field(10.0, gt=0, le=120)
    """How long one attempt may take."""
    allow_insecure_http: bool = False
    """Allow plain ``http://`` to hosts other than this machine (off: only ``https://``, or
    ``http://`` to localhost)."""


class ServiceConfig(BaseModel):
    """What ``aidmp serve`` runs besides the API."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    schedules: list[ScheduleConfig] = Field(default_factory=list)
    """Schedules loaded at start (they join those added with ``aidmp schedules add``)."""
    scheduler_tick_s: float = Field(15.0, gt=0, le=3600)
    """How often the scheduler looks for due schedules."""
    deliveries: DeliveryConfig = DeliveryConfig()
    """Retries of the delivery outbox."""


__all__ = ["DeliveryConfig", "ScheduleConfig", "ServiceConfig"]
