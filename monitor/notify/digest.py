"""The weekly digest: one mail to each municipality's mailboxes on `[digest] weekday` at `hour`
(Copenhagen time), with its score and the change since last week, its IT systems without
calls, the hints with the points they would add, and the maintenance planned in the coming week.

Scores are read from stored rating snapshots (the daily job's), never computed here: this
week's is the newest of the last 7 days, last week's the newest 7 to 14 days before it. A
mailbox gets nothing when its score is unchanged (to one decimal) and no maintenance is
planned. Each mail claims (mailbox, ISO week in Copenhagen) in `sent_once`, so a second run
in the same week, by the job or by `monitor digest`, sends nothing again.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ..localtime import CPH
from ..models import MunicipalityContact, Notice
from ..rating.documents import RatingDoc, RatingsDocument
from ..rating.service import stored_document
from ..settings import Settings
from .mailqueue import queue_mail
from .once import claim

log = logging.getLogger(__name__)
MAX_LISTED = 50  # IT systems and hints listed in one mail


def iso_week(now: dt.datetime) -> str:
    """The ISO week of `now` in Copenhagen, e.g. "2026-W44"."""
    year, week, _ = now.astimezone(CPH).isocalendar()
    return f"{year}-W{week:02d}"


@dataclass
class DigestReport:
    """What one run did."""

    week: str
    queued: int = 0
    unchanged: int = 0
    already: int = 0

    def line(self) -> str:
        """One line for the command line and the log."""
        return (f"digest {self.week}: {self.queued} mails queued, {self.unchanged} mailboxes with nothing new, "
                f"{self.already} already sent this week")


def _scores(doc: RatingsDocument | None) -> dict[str, RatingDoc]:
    return {r["municipality"]["code"]: r for r in (doc["ratings"] if doc else [])}


def _planned(session: Session, now: dt.datetime) -> list[dict[str, Any]]:
    rows = session.scalars(select(Notice).where(
        Notice.kind == "maintenance", Notice.status == "scheduled", Notice.scheduled_for >= now,
        Notice.scheduled_for < now + dt.timedelta(days=7)).order_by(Notice.scheduled_for, Notice.id).limit(MAX_LISTED))
    return [{"title": n.title[:300], "start": n.scheduled_for.isoformat() if n.scheduled_for else None,
             "end": n.scheduled_until.isoformat() if n.scheduled_until else None} for n in rows]


def _changed(score: float | None, previous: float | None) -> bool:
    if score is None or previous is None:
        return (score is None) != (previous is None)
    return round(score, 1) != round(previous, 1)


def queue_digests(session: Session, settings: Settings, now: dt.datetime) -> DigestReport:
    """Queue this week's digests that are due and not yet sent (the caller commits)."""
    report = DigestReport(iso_week(now))
    day = now.astimezone(CPH).date()
    current = stored_document(session, day, day - dt.timedelta(days=6))
    before = (stored_document(session, dt.date.fromisoformat(current["as_of"]) - dt.timedelta(days=7),
                              dt.date.fromisoformat(current["as_of"]) - dt.timedelta(days=14))
              if current else None)
    now_scores, last_scores = _scores(current), _scores(before)
    planned = _planned(session, now)
    contacts = session.scalars(select(MunicipalityContact).order_by(MunicipalityContact.municipality_code,
                                                                     MunicipalityContact.id))
    for contact in contacts:
        if "digest" in (contact.stopped or []):
            continue
        rating = now_scores.get(contact.municipality_code)
        score = rating["score"] if rating else None
        earlier = last_scores.get(contact.municipality_code)
        previous = earlier["score"] if earlier else None
        if not _changed(score, previous) and not planned:
            report.unchanged += 1
            continue
        if not claim(session, "digest", f"{contact.id}:{report.week}", now):
            report.already += 1
            continue
        part = rating["parts"].get("it_systems_with_calls") if rating else None
        inputs = part["inputs"] if part else {}
        payload: dict[str, object] = {
            "code": contact.municipality_code, "name": rating["municipality"]["name"] if rating else "",
            "week": report.week, "score": score, "previous": previous,
            "as_of": current["as_of"] if current else None,
            "silent_it_systems": [{"name": s.get("name") or s.get("uuid"), "supplier": s.get("supplier")}
                                  for s in inputs.get("silent_it_systems", [])[:MAX_LISTED]],
            "hints": [{"text_da": h.get("text_da"), "text_en": h.get("text_en"), "gain": h.get("gain")}
                      for h in (rating["hints"] if rating else [])[:MAX_LISTED]],
            "maintenance": planned}
        queue_mail(session, "digest", contact.address, contact.language, contact=contact, payload=payload)
        report.queued += 1
    return report


def run(engine: Engine, settings: Settings, now: dt.datetime | None = None) -> DigestReport:
    """The scheduler's job and `monitor digest`: this week's digests, in one transaction."""
    now = now or dt.datetime.now(dt.UTC)
    with Session(engine) as session, session.begin():
        report = queue_digests(session, settings, now)
    log.info("%s", report.line())
    return report
