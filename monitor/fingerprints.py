"""Has the data changed? One small query answers it for every document the web and /metrics show.

`versions(session, settings, now)` reads indexed maxima and counts (rating runs, the import
ledger, agreements, the newest call buckets, cut-over tasks and acknowledgements, notice
updates) in one SELECT and returns a fingerprint per document. Two calls with the same
fingerprint give the same document, so it is computed once and kept under that key: by the
web cache for the pages and the API, and for the cut-over document by the metrics collector
too (with the web's cache when it has one, so /skift and /metrics compute it once between them).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from .cutover import core as cutover_core
from .cutover.queries import window_from
from .localtime import CPH
from .models import (
    Agreement,
    AgreementDay,
    AgreementService,
    CutoverAcknowledgement,
    CutoverTask,
    HourlyCallCount,
    ImportedFile,
    Meta,
    MethodInput,
    Municipality,
    Notice,
    NoticeSource,
    NoticeUpdate,
    RatingRun,
)
from .settings import Settings


def _statement() -> Select[Any]:
    """One SELECT of indexed maxima and small counts; built once, it is compiled once too."""
    sq = {
        "runs": select(func.max(RatingRun.id)),
        "run_count": select(func.count()).select_from(RatingRun),
        "files": select(func.max(ImportedFile.id)),
        "file_count": select(func.count()).select_from(ImportedFile),
        "agreements": select(func.max(Agreement.changed_at)),
        "agreement_count": select(func.count()).select_from(Agreement),
        "services": select(func.count()).select_from(AgreementService),
        "day": select(func.max(AgreementDay.day)),
        "hour": select(func.max(HourlyCallCount.hour)),
        # The newest hour that had ended an hour before `now`: what the cut-over watermark is made of.
        "complete_hour": select(func.max(HourlyCallCount.hour))
        .where(HourlyCallCount.hour <= bindparam("complete_before", type_=HourlyCallCount.hour.type)),
        "municipalities": select(func.sum(Municipality.population)),
        "municipality_count": select(func.count()).select_from(Municipality),
        "demo": select(Meta.value).where(Meta.key == "demo"),
        "tasks": select(func.max(CutoverTask.updated_at)),
        "task_count": select(func.count()).select_from(CutoverTask),
        "acks": select(func.max(CutoverAcknowledgement.id)),
        "acks_ended": select(func.max(CutoverAcknowledgement.ended_at)),
        "updates": select(func.max(NoticeUpdate.id)),
        "update_count": select(func.count()).select_from(NoticeUpdate),
        "notices": select(func.max(Notice.updated_at)),
        "notice_count": select(func.count()).select_from(Notice),
        "polled": select(func.max(NoticeSource.last_success_at)),
        # The published answers to inputs on the method, which a municipality's page shows.
        "answers": select(func.count()).select_from(MethodInput).where(MethodInput.published.is_(True)),
        "answered": select(func.max(MethodInput.answered_at)).where(MethodInput.published.is_(True)),
    }
    return select(*[q.scalar_subquery().label(k) for k, q in sq.items()])


STATEMENT = _statement()


def versions(session: Session, settings: Settings, now: dt.datetime) -> dict[str, tuple[Any, ...]]:
    """Fingerprints of the data behind the documents: "ratings", "notices", "cutover" and "answers".

    The cut-over one holds the window, the watermark and the phase rather than the newest
    call bucket (an hour still being filled changes nothing): two instants with the same
    fingerprint give the same statuses and counts, only the document's "now" differs. With
    any acknowledgement stored it holds the minute too, because acknowledgements expire by the clock.
    """
    # Core, not the ORM: the statement selects no entities, and this runs on every request.
    row = session.connection().execute(STATEMENT, {"complete_before": now - cutover_core.HOUR}).one()._mapping
    today = now.astimezone(CPH).date()
    data = (today, row["runs"], row["run_count"], row["files"], row["file_count"], row["agreements"],
            row["agreement_count"], row["services"], row["day"], row["hour"], row["municipalities"],
            row["municipality_count"])
    notices = (row["updates"], row["update_count"], row["notices"], row["notice_count"], row["polled"])
    window = window_from(settings, row["demo"])
    wm = cutover_core.watermark(row["complete_hour"], now)
    phase = (window.in_window(now), cutover_core.is_pending(window, now, wm),
             window.end is not None and now >= window.end)
    cutover = (window, wm, phase, row["files"], row["file_count"], row["agreements"], row["agreement_count"],
               row["services"], row["municipalities"], row["tasks"], row["task_count"], row["acks"],
               row["acks_ended"], now.replace(second=0, microsecond=0) if row["acks"] is not None else None)
    answers = (row["answers"], row["answered"])
    return {"ratings": data, "notices": notices, "cutover": cutover, "answers": answers}
