"""What the pages and the API read: the documents behind the seams, each cached until its data changes.

The rating, cut-over and notice documents come from their modules' seams
(docs/architecture.md). Rendering them is cheap; computing them is not, so each is cached in
the process until its data changes. "Changes" is decided by one small query over indexed
maxima and counts (rating runs, the import ledger, agreements, the newest call bucket,
notice updates, the Copenhagen date): a page never shows a result older than its data, and a
new import or rating run is visible on the next request.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ... import cutover as cutover_seam
from ... import notices as notices_seam
from ...models import (
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
from ...rating import service as rating_service
from .cache import cache
from .format import CPH


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
