"""The web process's document cache (`monitor.doccache`), one per app, holding rendered pages too.

Bounded in entries and bytes by `[web] cache_bytes`; the API and the metrics collector served by
this process share it (web/scrape.py), so a page and a scrape compute a document once.
"""

from __future__ import annotations

from flask import Flask, current_app

from ...doccache import DocumentCache
from ..state import state


def cache_of(app: Flask) -> DocumentCache:
    """The page cache of `app`, bounded by `[web] cache_bytes` (made on first use)."""
    found = app.extensions.get("monitor_page_cache")
    if found is None:
        found = app.extensions.setdefault("monitor_page_cache", DocumentCache(max_bytes=state(app).settings.web.cache_bytes))
    assert isinstance(found, DocumentCache)
    return found


def cache() -> DocumentCache:
    """The current app's page cache."""
    return cache_of(current_app)
