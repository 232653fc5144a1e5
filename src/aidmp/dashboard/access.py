"""Who may see and do what in the dashboard: permissions per role, in one table.

A key's role is its scope today (``write``, ``read``, ``admin``); the privacy roles
(``collect``, ``analyst``, ``marketer``, ``engineer``, ``privacy``) are already listed so that a
key that carries one of them works the moment keys do. Adding a role or moving a permission is
a change to :data:`ROLE_PERMISSIONS` only: pages and actions name permissions, never roles.

Example:
    >>> allowed("read", "personal_data")
    True
    >>> allowed("write", "personal_data"), allowed("write", "aggregates")
    (False, True)
    >>> allowed("nobody", "aggregates")
    False
"""

from __future__ import annotations

from typing import Literal

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

ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    # scopes of today's keys
    "admin": _ALL,
    "read": frozenset({"aggregates", "personal_data"}),
    "write": frozenset({"aggregates"}),
    # roles of the privacy work (keys will carry them)
    "collect": frozenset({"aggregates"}),
    "analyst": frozenset({"aggregates", "segments_edit", "models_run"}),
    "marketer": frozenset({"aggregates", "segments_edit", "campaigns_plan"}),
    "engineer": frozenset({"aggregates", "sources_manage", "models_run"}),
    "privacy": frozenset({"aggregates", "personal_data", "identity_manage", "audit_read"}),
}


def allowed(role: str, permission: Permission) -> bool:
    """Whether ``role`` holds ``permission`` (an unknown role holds nothing)."""
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


def role_of(key: object) -> str:
    """The role of an API key: its ``role`` when keys have one, else its scope."""
    role = getattr(key, "role", None)
    return str(role) if role else str(getattr(key, "scope", ""))
