"""Data cleaning and quality: normalisers, missing values, outliers, de-duplication, reports.

Example:
    >>> from aidmp.quality import normalize_email, normalize_country
    >>> normalize_email(" Ann+promo@Example.org "), normalize_country("UK")
    ('ann+promo@example.org', 'GB')
"""

from aidmp.quality.columns import (
    country_column,
    currency_column,
    email_column,
    normalize_column,
    phone_column,
    timestamp_column,
)
from aidmp.quality.dedupe import (
    DedupeResult,
    DedupeSummary,
    dedupe_events,
    dedupe_rows,
    window_repeats,
)
from aidmp.quality.missing import ColumnFill, MissingPolicy, MissingReport, apply_missing
from aidmp.quality.money import Money, normalize_currency_amount
from aidmp.quality.normalize import (
    Invalid,
    normalize_country,
    normalize_email,
    normalize_phone,
    normalize_timestamp,
)
from aidmp.quality.outliers import OutlierDetector, flag_outliers
from aidmp.quality.report import ColumnQuality, Freshness, QualityReport, profile_source

__all__ = [
    "ColumnFill",
    "ColumnQuality",
    "DedupeResult",
    "DedupeSummary",
    "Freshness",
    "Invalid",
    "MissingPolicy",
    "MissingReport",
    "Money",
    "OutlierDetector",
    "QualityReport",
    "apply_missing",
    "country_column",
    "currency_column",
    "dedupe_events",
    "dedupe_rows",
    "email_column",
    "flag_outliers",
    "normalize_column",
    "normalize_country",
    "normalize_currency_amount",
    "normalize_email",
    "normalize_phone",
    "normalize_timestamp",
    "phone_column",
    "profile_source",
    "timestamp_column",
    "window_repeats",
]
