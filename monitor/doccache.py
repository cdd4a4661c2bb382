"""The process's cache of computed documents, shared by the pages, the API and the metrics collector.

Computing the rating, cut-over and notice documents is the expensive part of a page or a
scrape; each is kept here under a key that carries the fingerprint of the data it was computed
from (`monitor.fingerprints`), so nothing is ever invalidated by hand: a changed fingerprint
makes a new key and the old entry ages out. The keyed readers below (`cutover`,
`cutover_municipality`, `ratings`, `municipality`) are the one place a key is spelled, so a page
and a scrape in the same minute compute a document once. The web keeps its rendered pages in the same cache
(`monitor.web.pages.cache`), bounded by `[web] cache_bytes`.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

from sqlalchemy.orm import Session

from . import availability as av
from .cutover import cutover_document, municipality_status
from .cutover.documents import CutoverDocument, MunicipalityStatus
from .rating import service as rating_service
from .rating.documents import MunicipalityDocument, RatingsDocument
from .settings import Settings

T = TypeVar("T")
Version = tuple[Any, ...]


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


class DocumentCache:
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

    def peek(self, key: Hashable) -> tuple[bool, Any]:
        """(True, the value) when `key` is cached, else (False, None); computes nothing."""
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
        found, kept = self.peek(key)
        if found:  # kept under this key by a compute of the same key, so of the same type
            return cast(T, kept)
        with self._lock:
            key_lock = self._computing.setdefault(key, threading.Lock())
        with key_lock:
            found, kept = self.peek(key)
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


def cutover(cache: DocumentCache, session: Session, settings: Settings, now: dt.datetime,
            version: Version) -> CutoverDocument:
    """The GET /api/v1/cutover document, computed once per cut-over fingerprint `version`."""
    return cache.get_or_compute(("cutover", version), lambda: cutover_document(session, settings, now))


def cutover_municipality(cache: DocumentCache, session: Session, settings: Settings, now: dt.datetime, code: str,
                         version: Version) -> MunicipalityStatus | None:
    """The municipality `code`'s element of the cut-over document per fingerprint `version`; None for an unknown code.

    Taken from the whole document when that is cached already; else computed from the
    municipality's own rows (`municipality_status`, a fraction of the country's) and kept per
    code: a page about one municipality does not pay for the other 97.
    """
    found, doc = cache.peek(("cutover", version))
    if found:
        whole: CutoverDocument = doc
        return next((m for m in whole["municipalities"] if m["code"] == code), None)
    return cache.get_or_compute(("cutover", version, code),
                                lambda: municipality_status(session, settings, now, code))


def ratings(cache: DocumentCache, session: Session, settings: Settings, version: Version,
            as_of: dt.date | None = None) -> RatingsDocument:
    """The GET /api/v1/ratings document, computed once per ratings fingerprint `version`."""
    fn = rating_service.ratings_document
    return cache.get_or_compute(("ratings", as_of, version), lambda: fn(session, settings, as_of=as_of))


def municipality(cache: DocumentCache, session: Session, settings: Settings, code: str,
                 version: Version) -> MunicipalityDocument | None:
    """The GET /api/v1/municipalities/CODE document per ratings fingerprint; None for an unknown code."""
    fn = rating_service.municipality_document

    def compute() -> MunicipalityDocument | None:
        try:
            return fn(session, settings, code)
        except LookupError:
            return None

    return cache.get_or_compute(("municipality", code, version), compute)


def component_records(cache: DocumentCache, session: Session, settings: Settings, now: dt.datetime, days: int,
                      version: Version) -> list[av.ComponentRecord]:
    """Every component's last `days` days, per notice fingerprint `version` and minute (maintenance starts by the clock)."""
    minute = now.replace(second=0, microsecond=0)
    return cache.get_or_compute(("availability", days, version, minute),
                                lambda: av.component_records(session, settings, now, days))
