"""Who may see and do what in the dashboard: permissions per role, in one table.

A key's role (``collect``, ``analyst``, ``marketer``, ``engineer``, ``privacy``, ``admin``, or
the older ``write`` / ``read``) grants API permissions (:data:`aidmp.privacy.keys.GRANTS`);
each dashboard permission names the API permission it needs, so pages follow the same table
as the REST API. Pages and actions name permissions, never roles.

Example:
    >>> allowed("read", "personal_data")
    True
    >>> allowed("analyst", "personal_data"), allowed("analyst", "aggregates")
    (False, True)
    >>> allowed("nobody", "aggregates")
    False
"""

from __future__ import annotations

from typing import Literal

from aidmp.privacy.keys import GRANTS

Permission = Literal[
    "aggregates",     # counts, sums, charts: no person can be told apart
    "personal_data",  # one person's profile, timeline, identifiers; segment member lists
    "segments_edit",  # create and delete segments
    "campaigns_plan",  # run the budget optimiser, define campaigns
    "models_run",     # fit and score models, start builds (as jobs)
    "sources_manage",  # imports, quarantine replay
    "identity_manage",  # unmerge profiles
    "keys_manage",    # create and revoke API keys
    "audit_read",     # the audit log
]

_ALL: frozenset[Permission] = frozenset(Permission.__args__)  # type: ignore[attr-defined]

# what each dashboard permission needs of the API's permissions (aidmp.privacy.keys.GRANTS is
# the one table of roles; the dashboard only names what its pages and actions need)
_NEEDS: dict[Permission, str] = {
    "aggregates": "aggregate", "personal_data": "personal", "segments_edit": "audiences",
    "campaigns_plan": "audiences", "models_run": "operate", "sources_manage": "operate",
    "identity_manage": "operate", "keys_manage": "admin", "audit_read": "privacy",
}

ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    role: frozenset(p for p in _ALL if _NEEDS[p] in grants) for role, grants in GRANTS.items()
}


def allowed(role: str, permission: Permission) -> bool:
    """Whether ``role`` holds ``permission`` (an unknown role holds nothing)."""
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


def role_of(key: object) -> str:
    """The role of an API key: its ``role`` when keys have one, else its scope."""
    role = getattr(key, "role", None)
    return str(role) if role else str(getattr(key, "scope", ""))
