"""What the pages read: the documents behind the seams, a few direct queries, and a cache.

The rating, cut-over and notice documents come from their modules' seams
(docs/architecture.md). Rendering them is cheap; computing them is not, so each is cached in
the process until its data changes. "Changes" is decided by one small query over indexed
maxima and counts (rating runs, the import ledger, agreements, the newest call bucket,
notice updates, the Copenhagen date): a page never shows a result older than its data, and a
new import or rating run is visible on the next request.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from flask import current_app
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from .. import cutover as cutover_seam
from .. import notices as notices_seam
from ..models import (
    Agreement,
    AgreementService,
    CutoverAcknowledgement,
    CutoverTask,
    DailyCallCount,
    HourlyCallCount,
    ImportedFile,
    Municipality,
    Notice,
    NoticeSource,
    NoticeUpdate,
    RatingRun,
)
from ..rating import service as rating_service
from .pages_format import CPH


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

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value cached under `key`, computing and keeping it when absent.

        One thread computes a missing key while the others asking for it wait for its result:
        under load, a cold cache must not start the same expensive computation in every thread.
        """
        found, value = self._get(key)
        if found:
            return value
        with self._lock:
            key_lock = self._computing.setdefault(key, threading.Lock())
        with key_lock:
            found, value = self._get(key)
            if found:
                return value
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


def cache() -> PageCache:
    """The current app's page cache, bounded by `[web] cache_bytes`."""
    extensions = current_app.extensions
    found = extensions.get("monitor_page_cache")
    if found is None:
        from .state import state

        found = extensions.setdefault("monitor_page_cache", PageCache(max_bytes=state().settings.web.cache_bytes))
    return found


def today_cph(now: dt.datetime | None = None) -> dt.date:
    """Today's date in Copenhagen."""
    return (now or dt.datetime.now(dt.UTC)).astimezone(CPH).date()


def _fingerprint_statement() -> Select[Any]:
    """One SELECT of indexed maxima and small counts; built once, it is compiled once too."""
    sq = {
        "runs": select(func.max(RatingRun.id)),
        "run_count": select(func.count()).select_from(RatingRun),
        "files": select(func.max(ImportedFile.id)),
        "file_count": select(func.count()).select_from(ImportedFile),
        "agreements": select(func.max(Agreement.changed_at)),
        "agreement_count": select(func.count()).select_from(Agreement),
        "services": select(func.count()).select_from(AgreementService),
        "day": select(func.max(DailyCallCount.day)),
        "hour": select(func.max(HourlyCallCount.hour)),
        "municipalities": select(func.sum(Municipality.population)),
        "tasks": select(func.max(CutoverTask.updated_at)),
        "acks": select(func.max(CutoverAcknowledgement.id)),
        "acks_ended": select(func.max(CutoverAcknowledgement.ended_at)),
        "updates": select(func.max(NoticeUpdate.id)),
        "update_count": select(func.count()).select_from(NoticeUpdate),
        "notices": select(func.max(Notice.updated_at)),
        "notice_count": select(func.count()).select_from(Notice),
        "polled": select(func.max(NoticeSource.last_success_at)),
    }
    return select(*[q.scalar_subquery().label(k) for k, q in sq.items()])


FINGERPRINT = _fingerprint_statement()


def versions(session: Session, now: dt.datetime | None = None) -> dict[str, tuple[Any, ...]]:
    """Fingerprints of the data behind the pages, from one query over indexed columns."""
    row = session.execute(FINGERPRINT).one()._mapping
    today = today_cph(now)
    data = (today, row["runs"], row["run_count"], row["files"], row["file_count"], row["agreements"],
            row["agreement_count"], row["services"], row["day"], row["hour"], row["municipalities"])
    notices = (row["updates"], row["update_count"], row["notices"], row["notice_count"], row["polled"])
    minute = (now or dt.datetime.now(dt.UTC)).replace(second=0, microsecond=0)
    return {"ratings": data, "notices": notices,
            "cutover": (*data, row["tasks"], row["acks"], row["acks_ended"], minute)}


def ratings_document(session: Session, settings: Any, version: tuple[Any, ...],
                     as_of: dt.date | None = None) -> dict[str, Any] | None:
    """The document of GET /api/v1/ratings, cached per data version."""
    fn = rating_service.ratings_document
    return cache().get_or_compute(("ratings", as_of, version), lambda: fn(session, settings, as_of=as_of))


def municipality_document(session: Session, settings: Any, code: str,
                          version: tuple[Any, ...]) -> dict[str, Any] | None:
    """The document of GET /api/v1/municipalities/CODE, cached per data version; None for an unknown code."""
    fn = rating_service.municipality_document

    def compute() -> dict[str, Any] | None:
        try:
            return fn(session, settings, code)
        except LookupError:
            return None

    return cache().get_or_compute(("municipality", code, version), compute)


def cutover_document(session: Session, settings: Any, now: dt.datetime,
                     version: tuple[Any, ...]) -> dict[str, Any] | None:
    """The document of GET /api/v1/cutover, cached per data version and minute."""
    fn = cutover_seam.cutover_document
    return cache().get_or_compute(("cutover", version), lambda: fn(session, settings, now))


def notices_document(session: Session, status: str, component: str | None,
                     version: tuple[Any, ...]) -> dict[str, Any]:
    """The document of GET /api/v1/notices, cached per notice version."""
    fn = notices_seam.notices_document
    return cache().get_or_compute(("notices", status, component, version),
                                  lambda: fn(session, status, component))


def components_document(session: Session, now: dt.datetime, version: tuple[Any, ...]) -> dict[str, Any] | None:
    """The document of GET /api/v1/components, cached per notice version and minute."""
    fn = notices_seam.components_document
    minute = now.replace(second=0, microsecond=0)  # maintenance starts and ends by the clock
    return cache().get_or_compute(("components", version, minute), lambda: fn(session, now))
