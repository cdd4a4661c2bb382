"""Maintenance reminders: subscribers of a component hear `[notices] reminders_hours` (24 and 1 by
default) before a planned maintenance starts, and when its scheduled time moves.

The `reminders` job looks at the maintenance notices still "scheduled" (not started, not
completed or cancelled) whose start lies ahead. Each reminder claims (notice, scheduled start,
hours) in `sent_once` with its mails, so it goes out once; a job that runs late sends only the
nearest reminder that is due. Every scheduled start seen is recorded too: a start that differs
from the one recorded last means the time moved, and the subscribers get a mail saying so (the
reminders then follow the new time) — a time moved back to an earlier one too.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import Engine, exists, or_, select
from sqlalchemy.orm import Session

from ..models import Notice, NoticeComponent, SentOnce, Subscriber, Subscription
from ..settings import Settings
from .mailqueue import queue_mail
from .once import claim

log = logging.getLogger(__name__)


def subscribers_of(session: Session, notice: Notice) -> list[Subscriber]:
    """The confirmed email subscribers who follow a component of `notice` (or all of them)."""
    slugs = select(NoticeComponent.component_slug).where(NoticeComponent.notice_id == notice.id)
    shares = exists().where(Subscription.subscriber_id == Subscriber.id, Subscription.component_slug.in_(slugs))
    return list(session.scalars(select(Subscriber).where(
        Subscriber.channel == "email", Subscriber.confirmed_at.is_not(None), Subscriber.unsubscribed_at.is_(None),
        or_(Subscriber.all_components.is_(True), shares)).order_by(Subscriber.id)))


def _queue(session: Session, notice: Notice, what: str, hours: int | None, previous: str | None) -> int:
    assert notice.scheduled_for is not None
    payload = {"notice_id": notice.id, "title": notice.title[:500], "what": what, "hours": hours,
               "start": notice.scheduled_for.isoformat(),
               "end": notice.scheduled_until.isoformat() if notice.scheduled_until else None,
               "previous_start": previous, "components": sorted(c.component_slug for c in notice.components)}
    subscribers = subscribers_of(session, notice)
    for sub in subscribers:
        queue_mail(session, "reminder", sub.address, sub.language, subscriber=sub, payload=payload)
    return len(subscribers)


def _time_change(session: Session, notice: Notice, prefix: str, start: str, now: dt.datetime) -> int:
    """Record `start` when it differs from the start recorded last, and mail the move; the mails queued.

    Each start seen is a row `NOTICE:START`, a later return to a start seen before a row
    `NOTICE:START#N` (N: the rows so far), so a time moved back (A → B → A) is news again. The
    first start seen is recorded without a mail: nothing moved.
    """
    recorded = list(session.scalars(select(SentOnce.key).where(
        SentOnce.kind == "maintenance_time", SentOnce.key.startswith(prefix, autoescape=True))
        .order_by(SentOnce.id)))
    last = recorded[-1][len(prefix):].split("#")[0] if recorded else None
    if last == start:
        return 0
    key = prefix + start if prefix + start not in recorded else f"{prefix}{start}#{len(recorded)}"
    if not claim(session, "maintenance_time", key, now) or last is None:
        return 0  # another run recorded it first, or the first time seen
    return _queue(session, notice, "moved", None, last)


def queue_reminders(session: Session, settings: Settings, now: dt.datetime) -> int:
    """Queue the reminders and time changes due at `now`; the number of mails (the caller commits)."""
    queued = 0
    planned = session.scalars(select(Notice).where(Notice.kind == "maintenance", Notice.status == "scheduled",
                                                   Notice.scheduled_for > now).order_by(Notice.id))
    for notice in planned:
        assert notice.scheduled_for is not None
        start = notice.scheduled_for.astimezone(dt.UTC).isoformat()
        prefix = f"{notice.id}:"
        queued += _time_change(session, notice, prefix, start, now)
        due = sorted(h for h in settings.notices.reminders_hours
                     if notice.scheduled_for - dt.timedelta(hours=h) <= now)
        claimed = [h for h in due if claim(session, "reminder", f"{prefix}{start}:{h}h", now)]
        if claimed and claimed[0] == due[0]:  # only the nearest one that is due; earlier ones are past
            queued += _queue(session, notice, "reminder", claimed[0], None)
    return queued


def run(engine: Engine, settings: Settings, now: dt.datetime | None = None) -> None:
    """The scheduler's job: queue the reminders due now, in one transaction."""
    now = now or dt.datetime.now(dt.UTC)
    with Session(engine) as session, session.begin():
        queued = queue_reminders(session, settings, now)
    if queued:
        log.info("queued %d maintenance reminder mails", queued)
