"""Audience activation: destinations, platform hashing and incremental segment syncs.

Example:
    >>> from aidmp.activate import sha256
    >>> len(sha256("jane@example.com"))
    64
"""

from aidmp.activate.destinations import (
    Destination,
    DestinationStore,
    EmailPlatform,
    FileDestination,
    GoogleCustomerMatch,
    MetaCustomAudience,
    WebhookDestination,
    parse_destination,
)
from aidmp.activate.hashing import sha256
from aidmp.activate.service import Audiences
from aidmp.activate.sync import AudienceSync, SyncSummary

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
