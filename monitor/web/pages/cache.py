"""The web process's cache of computed documents and rendered pages, shared by the pages and the API.

One `PageCache` per app, bounded in entries and bytes (`[web] cache_bytes`). Keys carry the
fingerprint of the data they were computed from (documents.versions), so nothing is ever
invalidated by hand: a changed fingerprint makes a new key and the old entry ages out.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

from flask import Flask, current_app

from ..state import state

T = TypeVar("T")


def approximate_size(value: Any) -> int:
    """Bytes a cached value holds, near enough: its objects' sizes, each shared object counted once."""
    seen: set[int] = set()
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
    return total


class PageCache:
    """A small thread-safe LRU of computed documents and rendered pages, bounded in entries and bytes.

    An entry larger than a quarter of the byte budget is returned but not kept, so that one
    huge answer cannot push out everything else.
    """

    def __init__(self, size: int = 512, max_bytes: int = 64_000_000) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}

    def __len__(self) -> int:
        return len(self._items)

    def _get(self, key: Hashable) -> tuple[bool, Any]:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return True, self._items[key][0]
            return False, None

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value cached under `key`, computing and keeping it when absent.

        One thread computes a missing key while the others asking for it wait for its result:
        under load, a cold cache must not start the same expensive computation in every thread.
        """
        found, kept = self._get(key)
        if found:  # kept under this key by a compute of the same key, so of the same type
            return cast(T, kept)
        with self._lock:
            key_lock = self._computing.setdefault(key, threading.Lock())
        with key_lock:
            found, kept = self._get(key)
            if found:
                return cast(T, kept)
            try:
                value = compute()
                self._keep(key, value)
            finally:
                with self._lock:
                    self._computing.pop(key, None)
        return value

    def _keep(self, key: Hashable, value: Any) -> None:
        size = approximate_size(key) + approximate_size(value)
        if size > self.max_bytes // 4:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            self._items[key] = (value, size)
            self.bytes += size
            while self._items and (len(self._items) > self.size or self.bytes > self.max_bytes):
                _, (_, dropped) = self._items.popitem(last=False)
                self.bytes -= dropped

    def clear(self) -> None:
        """Forget everything (tests)."""
        with self._lock:
            self._items.clear()
            self.bytes = 0


def cache_of(app: Flask) -> PageCache:
    """The page cache of `app`, bounded by `[web] cache_bytes` (made on first use)."""
    found = app.extensions.get("monitor_page_cache")
    if found is None:
        found = app.extensions.setdefault("monitor_page_cache", PageCache(max_bytes=state(app).settings.web.cache_bytes))
    assert isinstance(found, PageCache)
    return found


def cache() -> PageCache:
    """The current app's page cache."""
    return cache_of(current_app)
