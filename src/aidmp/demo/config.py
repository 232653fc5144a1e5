"""What the demo generator makes: :class:`DemoConfig` (sizes, rates, seed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["DEFAULT_END", "DemoConfig", "recent_end"]

DEFAULT_END = datetime(2026, 11, 1, tzinfo=UTC)
"""The fixed end of the event window (a seed's data are the same on every day they are made)."""


def recent_end(now: datetime | None = None) -> datetime:
    """:data:`DEFAULT_END` moved on by whole weeks to the last such day not after ``now``
    (default: the wall clock): the demo's events then end within the last week, on the same
    weekdays as with the fixed end, so the shop's windows (``orders_90d``, engagement, RFM
    recency) read at the wall clock are full.

    Example:
        >>> recent_end(datetime(2026, 12, 7, 22, 0, tzinfo=UTC)).isoformat()
        '2026-12-06T00:00:00+00:00'
        >>> recent_end(datetime(2026, 11, 1, tzinfo=UTC)) == DEFAULT_END
        True
    """
    now = now or datetime.now(UTC)
    weeks = max(0, (now - DEFAULT_END) // timedelta(weeks=1))
    return DEFAULT_END + timedelta(weeks=weeks)


@dataclass(frozen=True)
class DemoConfig:
    """What to generate. Every field has a realistic default; ``seed`` fixes the output.

    Args:
        people: persons in the ground truth (web visitors and store-only CRM customers).
        seed: the single source of randomness.
        days: length of the event window, ending at ``end``.
        end: end of the event window (UTC).
        anonymous_only_share: online people who never log in.
        crm_share: share of the logged-in people who are also in the CRM.
        crm_only_share: people who only exist in the CRM (no web activity).
        sessions_per_person: mean sessions of an online person over the window.
        views_per_session: mean product pages per session.
        add_to_cart_rate: Product Added per Product Viewed (on average).
        checkout_rate: Checkout Started per Product Added (roughly).
        purchase_rate: Order Completed per Checkout Started (on average).
        products: catalog size (16-3840).
        batched_share: sessions whose messages are sent late in one batch (offline queue).
        skewed_device_share: devices whose clock is off by minutes to hours.
        crm_email_dirt_rate: CRM e-mails with different case or surrounding spaces.
        crm_phone_format_rate: CRM phones in another format than the national one.
        crm_typo_rate: CRM rows with a typo in the first or last name.
        crm_missing_email_rate: CRM rows without e-mail.
        crm_missing_phone_rate: CRM rows without phone.
        crm_duplicate_rate: CRM rows exported twice (exact duplicates).
        chunk_people: people simulated together; part of the seed's meaning (keep it fixed).

    Example:
        >>> DemoConfig(people=10).days
        180
    """

    people: int = 1000
    seed: int = 42
    days: int = 180
    end: datetime = DEFAULT_END
    anonymous_only_share: float = 0.3
    crm_share: float = 0.6
    crm_only_share: float = 0.05
    sessions_per_person: float = 5.5
    views_per_session: float = 2.5
    add_to_cart_rate: float = 0.30
    checkout_rate: float = 0.40
    purchase_rate: float = 0.70
    products: int = 480
    batched_share: float = 0.05
    skewed_device_share: float = 0.02
    crm_email_dirt_rate: float = 0.10
    crm_phone_format_rate: float = 0.15
    crm_typo_rate: float = 0.03
    crm_missing_email_rate: float = 0.02
    crm_missing_phone_rate: float = 0.05
    crm_duplicate_rate: float = 0.01
    chunk_people: int = 1000

    def __post_init__(self) -> None:
        if self.people < 1:
            raise ValueError("people must be at least 1")
        if self.days < 7:
            raise ValueError("days must be at least 7")
        if self.end.tzinfo is None:
            raise ValueError("end must be timezone-aware")
        if not 16 <= self.products <= 8 * 480:
            raise ValueError("products must be between 16 and 3840")
        if self.sessions_per_person < 1 or self.views_per_session <= 0:
            raise ValueError("sessions_per_person must be >= 1 and views_per_session > 0")
        if self.chunk_people < 1:
            raise ValueError("chunk_people must be at least 1")
        for name in ("anonymous_only_share", "crm_share", "crm_only_share", "add_to_cart_rate",
                     "checkout_rate", "purchase_rate", "batched_share", "skewed_device_share",
                     "crm_email_dirt_rate", "crm_phone_format_rate", "crm_typo_rate",
                     "crm_missing_email_rate", "crm_missing_phone_rate", "crm_duplicate_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
