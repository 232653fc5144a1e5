"""aidmp: an open-source AI data management platform for data-driven marketing.

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> dmp = DMP(home=tempfile.mkdtemp())
    >>> dmp.events.count()
    0
    >>> dmp.close()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["DMP", "ImportMapping", "SegmentMessage", "Settings", "__version__"]

if TYPE_CHECKING:
    from aidmp.config import Settings
    from aidmp.dmp import DMP
    from aidmp.spec.events import SegmentMessage
    from aidmp.spec.imports import ImportMapping

_LAZY = {
    "DMP": "aidmp.dmp",
    "Settings": "aidmp.config",
    "SegmentMessage": "aidmp.spec.events",
    "ImportMapping": "aidmp.spec.imports",
}


def __getattr__(name: str) -> Any:
    # Lazy so `import aidmp` stays cheap and never starts an engine by itself.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'aidmp' has no attribute {name!r}")
