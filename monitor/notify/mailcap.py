"""The hourly cap on notice mails to one subscriber, and the summary mail past it.

At most `[notices] max_mails_per_subscriber_hour` notice mails go to one email subscriber in
any hour (a summary counts as one mail). Before each delivery run claims its rows, `plan`
looks at every email subscriber with new deliveries:

- within the allowance, they go out one by one, as always;
- past it, the rest wait (status "waiting", `next_attempt_at` when the oldest mail of the hour
  leaves it);
- once the hour allows another mail, everything waiting for that subscriber goes out together
  as one summary mail ("12 nye opdateringer"), each delivery marked sent with the summary's id
  (`summary_id`, the id of its first delivery, also the summary's Message-ID).

Nothing is dropped on the way: a waiting delivery is the same row, sent once, either alone or
in one summary. Webhooks are not capped. A summary holds at most `SUMMARY_MAX` updates; more
wait for the next one.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from ..models import Component, Delivery, NoticeUpdate, Subscriber
from ..settings import Settings
from .mail import message_id, notice_context, rendered, subscriber_links, translations
from .queue import LEASE, Sender
from .retry import backoff, error_text, gives_up
from .subscriptions import is_active
from .transport import FileMailer, SmtpMailer
from .wire import WireMessage

log = logging.getLogger(__name__)

HOUR = dt.timedelta(hours=1)
SUMMARY_MAX = 200


@dataclass
class Plan:
    """What `plan` decided: the summaries to send now, and the newest delivery it looked at."""

    horizon: int = 0  # fresh deliveries above this id arrived after the plan: the next run caps them
    summaries: dict[int, list[int]] = field(default_factory=dict)  # subscriber id -> delivery ids
    deferred: int = 0


def _chunks(ids: list[int], size: int = 500) -> list[list[int]]:
    """`ids` in slices that stay under the databases' bound-parameter limits."""
    return [ids[start:start + size] for start in range(0, len(ids), size)]


def plan(sessions: sessionmaker[Session], settings: Settings, now: dt.datetime) -> Plan:
    """Hold what is past each subscriber's allowance and claim the summaries that are due (one transaction)."""
    cap = settings.notices.max_mails_per_subscriber_hour
    result = Plan()
    with sessions() as session, session.begin():
        result.horizon = session.scalar(select(func.max(Delivery.id))) or 0
        fresh = and_(Delivery.status == "queued", Delivery.attempts == 0, Delivery.summary_id.is_(None))
        due_waiting = and_(Delivery.status == "waiting", Delivery.next_attempt_at <= now)
        stale_summary = and_(Delivery.status == "sending", Delivery.summary_id.is_not(None),
                             Delivery.next_attempt_at <= now)  # a run that died while sending it
        rows = session.execute(
            select(Delivery.id, Delivery.subscriber_id, Delivery.status)
            .where(Delivery.channel == "email", Delivery.id <= result.horizon, or_(fresh, due_waiting, stale_summary))
            .order_by(Delivery.id)).all()
        if not rows:
            return result
        fresh_ids: dict[int, list[int]] = defaultdict(list)
        waiting_ids: dict[int, list[int]] = defaultdict(list)
        for row in rows:
            (fresh_ids if row.status == "queued" else waiting_ids)[row.subscriber_id].append(row.id)
        wanted = set(fresh_ids) | set(waiting_ids)
        window = dict((sid, (n, oldest)) for sid, n, oldest in session.execute(
            select(Delivery.subscriber_id, func.count(func.distinct(func.coalesce(Delivery.summary_id, Delivery.id))),
                   func.min(Delivery.sent_at))
            .where(Delivery.channel == "email", Delivery.sent_at > now - HOUR).group_by(Delivery.subscriber_id)))
        later = dict(session.execute(
            select(Delivery.subscriber_id, func.min(Delivery.next_attempt_at))
            .where(Delivery.status == "waiting", Delivery.next_attempt_at > now).group_by(Delivery.subscriber_id)).all())
        hold: dict[dt.datetime, list[int]] = defaultdict(list)
        single: list[int] = []
        for sid in sorted(wanted):
            sent, oldest = window.get(sid, (0, None))
            allowance = cap - sent
            free_at = (oldest or now) + HOUR
            new, waiting = fresh_ids.get(sid, []), waiting_ids.get(sid, [])
            if allowance <= 0:
                hold[free_at] += new + waiting
            elif waiting:
                group = sorted(waiting + new)
                if len(group) == 1:
                    single += group
                else:
                    result.summaries[sid] = group[:SUMMARY_MAX]
                    hold[now] += group[SUMMARY_MAX:]
            elif sid in later:  # a summary waits for its retry: the new ones join it
                hold[later[sid]] += new
            elif len(new) > allowance:
                hold[free_at] += new[allowance:]
        for at, ids in hold.items():
            for chunk in _chunks(ids):
                session.execute(update(Delivery).where(Delivery.id.in_(chunk))
                                .values(status="waiting", next_attempt_at=at, summary_id=None))
            result.deferred += len(ids)
        for chunk in _chunks(single):
            session.execute(update(Delivery).where(Delivery.id.in_(chunk))
                            .values(status="queued", next_attempt_at=now, summary_id=None))
        for ids in result.summaries.values():
            for chunk in _chunks(ids):
                session.execute(update(Delivery).where(Delivery.id.in_(chunk))
                                .values(status="sending", summary_id=ids[0], attempts=Delivery.attempts + 1,
                                        next_attempt_at=now + LEASE))
    if result.deferred:
        log.info("%d deliveries wait for their subscriber's hourly mail allowance", result.deferred)
    return result


def summary_mail(session: Session, settings: Settings, secret: str, sub: Subscriber, ids: list[int],
                 now: dt.datetime, install: str) -> WireMessage:
    """The summary mail of the deliveries `ids` to `sub`: each update's title, components, status and link."""
    known = session.execute(select(Component.slug, Component.name).order_by(Component.position)).all()
    names, order = dict(known), {slug: i for i, (slug, _name) in enumerate(known)}
    rows = session.execute(select(Delivery.id, NoticeUpdate).join(NoticeUpdate, NoticeUpdate.id == Delivery.update_id)
                           .where(Delivery.id.in_(ids)).order_by(NoticeUpdate.at, Delivery.id)).all()
    items = []
    for _id, upd in rows:
        slugs = sorted((c.component_slug for c in upd.notice.components), key=lambda s: order.get(s, len(order)))
        items.append(notice_context(settings, upd.notice, upd, [names.get(s, s) for s in slugs], sub.language))
    gettext = translations(sub.language)
    subject = gettext.ngettext("%(num)d ny opdatering", "%(num)d nye opdateringer", len(items)) % {"num": len(items)}
    mail = rendered(settings, "summary", sub.language, subject, items=items, count=len(items),
                    cap=settings.notices.max_mails_per_subscriber_hour)
    return mail.message(sub.address, subscriber_links(settings, secret, sub),
                        message_id(settings, install, f"summary-{ids[0]}"), now=now)


def send_summaries(sessions: sessionmaker[Session], settings: Settings, secret: str, mailer: FileMailer | SmtpMailer,
                   due: Plan, now: dt.datetime, sender: Sender, install: str) -> int:
    """Send the claimed summaries through `sender` (one mail each, kind "summary"); how many updates went out.

    A summary is marked as a whole, with the outbox's one retry policy: sent, back to waiting
    with backoff (the updates that arrive meanwhile join it), or failed.
    """
    updates = 0
    for sid, ids in due.summaries.items():
        with sessions() as session:
            sub = session.get(Subscriber, sid)
            if sub is None or not is_active(sub):
                with session.begin():
                    session.execute(update(Delivery).where(Delivery.id.in_(ids), Delivery.status == "sending")
                                    .values(status="cancelled", last_error="subscriber no longer active"))
                continue
            message = summary_mail(session, settings, secret, sub, ids, now, install)
        error = sender.try_send("email", functools.partial(mailer.send, message))
        name = f"summary mail {ids[0]}"
        with sessions() as session, session.begin():
            mine = and_(Delivery.id.in_(ids), Delivery.status == "sending", Delivery.summary_id == ids[0])
            if error is None:
                session.execute(update(Delivery).where(mine).values(status="sent", sent_at=now, last_error=None))
                updates += len(ids)
                sender.record("sent", "email", "summary", name, None)
                continue
            text = error_text(error)
            attempts = session.scalar(select(func.max(Delivery.attempts)).where(Delivery.id.in_(ids))) or 1
            if gives_up(error, attempts, settings.mail.max_attempts):
                session.execute(update(Delivery).where(mine).values(status="failed", last_error=text))
                log.error("%s failed for good after %d attempts: %s", name, attempts, text)
                sender.record("failed", "email", "summary", name, error)
            else:
                session.execute(update(Delivery).where(mine).values(
                    status="waiting", summary_id=None, next_attempt_at=now + backoff(attempts), last_error=text))
                log.warning("%s attempt %d failed: %s", name, attempts, text)
                sender.record("retry", "email", "summary", name, error)
    return updates
