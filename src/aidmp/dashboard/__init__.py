"""The web dashboard: server-rendered pages (Jinja2 + htmx, charts by ECharts) at ``/``.

It is served by ``aidmp serve`` beside the REST API and calls the same DMP namespaces; every
asset is vendored in ``static/`` so nothing is fetched from the network. Sign in with an API key;
pages follow the key's role (:mod:`aidmp.dashboard.access`). English and Simplified Chinese.

Example:
    >>> import tempfile
    >>> from aidmp import DMP
    >>> from aidmp.api.app import create_app
    >>> app = create_app(DMP(home=tempfile.mkdtemp()))
    >>> any(getattr(r, "path", "") == "/login" for r in app.routes)
    True
"""

from __future__ import annotations

from aidmp.dashboard.mount import mount

__all__ = ["mount"]
