"""Audience activation: destinations, platform hashing and incremental segment syncs.

Example:
    >>> from aidmp.audiences import sha256
    >>> len(sha256("jane@example.com"))
    64
"""

from aidmp.audiences.destinations import (
    Destination,
    DestinationStore,
    EmailPlatform,
    FileDestination,
    GoogleCustomerMatch,
    MetaCustomAudience,
    WebhookDestination,
    parse_destination,
)
from aidmp.audiences.hashing import sha256
from aidmp.audiences.service import Audiences
from aidmp.audiences.sync import AudienceSync, SyncSummary

__all__ = [
    "AudienceSync",
    "Audiences",
    "Destination",
    "DestinationStore",
    "EmailPlatform",
    "FileDestination",
    "GoogleCustomerMatch",
    "MetaCustomAudience",
    "SyncSummary",
    "WebhookDestination",
    "parse_destination",
    "sha256",
]
