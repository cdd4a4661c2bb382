"""What the pages and the API read: the documents behind the seams, each cached until its data changes.

The rating, cut-over and notice documents come from their modules' seams
(docs/architecture.md). Rendering them is cheap; computing them is not, so each is cached in
the process until its data changes. "Changes" is decided by one small query over indexed
maxima and counts (`monitor.fingerprints`, which the metrics collector uses too): a page
never shows a result older than its data, and a new import or rating run is visible on the
next request.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from ... import doccache, fingerprints
from ... import noticeview as notices_seam
from ...cutover.documents import CutoverDocument, MunicipalityStatus
from ...noticeview import ComponentView, NoticeView
from ...rating.documents import MunicipalityDocument, RatingsDocument
from ..state import state
from .cache import cache


def versions(session: Session, now: dt.datetime | None = None) -> dict[str, tuple[Any, ...]]:
    """Fingerprints of the data behind the pages at `now` (default: the current time), see `monitor.fingerprints`."""
    return fingerprints.versions(session, state().settings, now or dt.datetime.now(dt.UTC))


def ratings_document(session: Session, settings: Any, version: tuple[Any, ...],
                     as_of: dt.date | None = None) -> RatingsDocument:
    """The document of GET /api/v1/ratings, cached per data version."""
    return doccache.ratings(cache(), session, settings, version, as_of)


def municipality_document(session: Session, settings: Any, code: str,
                          version: tuple[Any, ...]) -> MunicipalityDocument | None:
    """The document of GET /api/v1/municipalities/CODE, cached per data version; None for an unknown code."""
    return doccache.municipality(cache(), session, settings, code, version)


def cutover_document(session: Session, settings: Any, now: dt.datetime,
                     version: tuple[Any, ...]) -> CutoverDocument:
    """The document of GET /api/v1/cutover, cached per fingerprint (the key the metrics collector uses too)."""
    return doccache.cutover(cache(), session, settings, now, version)


def cutover_municipality(session: Session, settings: Any, now: dt.datetime, code: str,
                         version: tuple[Any, ...]) -> MunicipalityStatus | None:
    """One municipality's element of the cut-over document: from the cached document when there
    is one, else from its own rows, cached per code and fingerprint."""
    return doccache.cutover_municipality(cache(), session, settings, now, code, version)


def notices(session: Session, status: str, component: str | None,
            version: tuple[Any, ...]) -> list[NoticeView]:
    """The notices of GET /api/v1/notices (`noticeview.notices`), cached per notice version."""
    fn = notices_seam.notices
    return cache().get_or_compute(("notices", status, component, version),
                                  lambda: fn(session, status, component))


def components(session: Session, now: dt.datetime, version: tuple[Any, ...]) -> list[ComponentView]:
    """The components and their status (`noticeview.components`), cached per notice version and minute."""
    fn = notices_seam.components
    minute = now.replace(second=0, microsecond=0)  # maintenance starts and ends by the clock
    return cache().get_or_compute(("components", version, minute), lambda: fn(session, now))


def closed_notices_page(session: Session, page: int, size: int,
                        version: tuple[Any, ...]) -> tuple[list[NoticeView], bool]:
    """One page of the notice history (`noticeview.closed_notices_page`), cached per page and notice version."""
    fn = notices_seam.closed_notices_page
    return cache().get_or_compute(("closed_notices", page, size, version), lambda: fn(session, page, size))
