"""The web dashboard: server-rendered pages (Jinja2 + htmx, charts by ECharts) at ``/``.

It is served by ``aidmp serve`` beside the REST API and calls the same DMP namespaces; every
asset is vendored in ``static/`` so nothing is fetched from the network. Sign in with an API key;
pages follow the key's role (:mod:`aidmp.dashboard.access`). English and Simplified Chinese.

Example:
    >>> from aidmp.dashboard.pages import routers
    >>> sorted({r.path for r in routers()[0].routes})
    ['/lang', '/login', '/logout']
"""

from __future__ import annotations

from aidmp.dashboard.mount import mount

__all__ = ["mount"]
