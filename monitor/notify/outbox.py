"""Notice deliveries: queue one per (update, subscriber), and `deliver_due`, the one run that empties the outbox.

Queueing happens in the notice collector's transaction (`enqueue_for_update`), so an update
is never stored without its deliveries, and the unique (update, subscriber) key makes a
second enqueue a no-op. `deliver_due` sends the whole outbox (queue.py): the `mails` table
first (mailqueue.py), then the summaries of the hourly cap (mailcap.py), then the deliveries,
each claimed, sent, marked, retried and counted by queue.py. A process that dies between
sending and marking leaves the row "sending"; when the lease has run out the next run sends
it again (once, and logs it); the mail keeps its Message-ID so a receiver can tell.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Engine, and_, exists, func, literal, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from .. import links, runs
from ..db import UTCDateTime, dialect_insert, session_factory, utcnow
from ..models import (
    Component,
    Delivery,
    Mail,
    Notice,
    NoticeComponent,
    NoticeUpdate,
    Subscriber,
    Subscription,
)
from ..settings import Settings
from . import mailcap, queue
from .mail import Rendered, message_id, notice_mail, subscriber_links
from .mailqueue import send_due_mails
from .marks import SentMarker
from .queue import KINDS, DeliveryReport, Sender, Tally
from .subscriptions import is_active, purge_unsubscribed
from .transport import FileMailer, SmtpMailer, open_mailer
from .webhook import WebhookSender
from .wire import WireMessage

log = logging.getLogger(__name__)

__all__ = ["DeliveryReport", "deliver_due", "enqueue_for_update", "purge_unsubscribed", "queue_summary"]


def enqueue_for_update(session: Session, update: NoticeUpdate) -> int:
    """Queue one delivery per matching confirmed subscriber for a new notice update.

    Called by the notice collector inside the transaction that stores `update` (never for
    backfilled updates); returns the number of deliveries queued. A subscriber matches when
    they follow all components or share one with the notice; a notice that names no
    component goes to those who follow all. Calling it again for the same update queues nothing.
    """
    if update.id is None:
        session.flush()
    # A new update of a notice first seen in the backfill is news; only a backfilled update is not.
    if update.backfilled:
        return 0
    notice_slugs = select(NoticeComponent.component_slug).where(NoticeComponent.notice_id == update.notice_id)
    shares_component = exists().where(Subscription.subscriber_id == Subscriber.id,
                                      Subscription.component_slug.in_(notice_slugs))
    now = utcnow()
    matching = select(
        literal(update.id), Subscriber.id, Subscriber.channel, literal("queued"), literal(0),
        literal(now, UTCDateTime()), literal(now, UTCDateTime()),
    ).where(Subscriber.confirmed_at.is_not(None), Subscriber.unsubscribed_at.is_(None),
            or_(Subscriber.all_components.is_(True), shares_component))
    insert = dialect_insert(session)
    stmt = insert(Delivery).from_select(
        ["update_id", "subscriber_id", "channel", "status", "attempts", "next_attempt_at", "created_at"], matching,
    ).on_conflict_do_nothing(index_elements=["update_id", "subscriber_id"]).returning(Delivery.id)
    queued = len(session.execute(stmt).all())
    if queued:
        log.info("queued %d deliveries for notice %s update %s", queued, update.notice_id, update.id)
    return queued


def _due(horizon: int, now: dt.datetime) -> ColumnElement[bool]:
    """Deliveries a run may claim: queued and due (or never tried, up to `horizon`), or "sending" whose lease ran out.

    Rows never tried are taken up to `horizon`, the newest the hourly cap has looked at; the
    rows of summary mails are the cap's (`mailcap`). A delivery never tried is due whatever the
    clock says (its queue time is only a hint).
    """
    return and_(Delivery.summary_id.is_(None), or_(
        and_(Delivery.status == "queued", or_(and_(Delivery.attempts == 0, Delivery.id <= horizon),
                                              and_(Delivery.attempts > 0, Delivery.next_attempt_at <= now))),
        and_(Delivery.status == "sending", Delivery.next_attempt_at <= now)))


@dataclass(frozen=True)
class Recipient:
    """What sending needs of a subscriber, read as a plain row (a `mail.Reader`)."""

    id: int
    address: str
    language: str
    token_version: int
    link_key: str | None


@dataclass(frozen=True)
class Work:
    """One claimed delivery with what its message needs."""

    delivery_id: int
    channel: str
    subscriber: Recipient
    notice: Notice
    update: NoticeUpdate
    components: list[str]  # component names, in the configured order


Notices = dict[int, tuple[NoticeUpdate, list[str]]]  # update id → the update (its notice loaded), component names


def _load(sessions: sessionmaker[Session], ids: list[int], report: DeliveryReport, notices: Notices) -> list[Work]:
    """The claimed deliveries `ids` with their subscribers and notices; those whose subscriber left are cancelled.

    Deliveries with their subscribers are read as plain rows, in one query (a batch is a
    hundred); the updates and notices, which rendering and webhooks take as objects, once per
    run into `notices` (a run renders each update once anyway).
    """
    with sessions() as session, session.begin():
        rows = session.execute(
            select(Delivery.id, Delivery.channel, Delivery.update_id, Subscriber.id.label("subscriber_id"),
                   Subscriber.address, Subscriber.language, Subscriber.token_version, Subscriber.link_key,
                   Subscriber.confirmed_at, Subscriber.unsubscribed_at)
            .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.id.in_(ids)).order_by(Delivery.id)).all()
        new = {r.update_id for r in rows} - notices.keys()
        if new:
            known = session.execute(select(Component.slug, Component.name).order_by(Component.position)).all()
            names, order = dict(known), {slug: i for i, (slug, _name) in enumerate(known)}
            for upd in session.scalars(select(NoticeUpdate).where(NoticeUpdate.id.in_(new))):
                slugs = sorted((c.component_slug for c in upd.notice.components),
                               key=lambda s: order.get(s, len(order)))
                notices[upd.id] = upd, [names.get(s, s) for s in slugs]
        work: list[Work] = []
        gone: list[int] = []
        for row in rows:
            found = notices.get(row.update_id)
            if row.subscriber_id is None or not is_active(row) or found is None:
                gone.append(row.id)
                report.add("cancelled")
                continue
            upd, components = found
            recipient = Recipient(row.subscriber_id, row.address, row.language, row.token_version or 0, row.link_key)
            work.append(Work(row.id, row.channel, recipient, upd.notice, upd, list(components)))
        if gone:
            session.execute(update(Delivery).where(Delivery.id.in_(gone))
                            .values(status="cancelled", last_error="subscriber no longer active"))
    return work


class _Deliveries:
    """Sends claimed deliveries: notice mails rendered once per (update, language), webhooks as JSON.

    The next mail is built while the server takes the message before it (the mailer's
    `meanwhile`, between writing a message and reading the server's answer): building is pure,
    so nothing about when a mail is sent or marked changes, only when its bytes are made.
    """

    def __init__(self, settings: Settings, secret: str, webhook: WebhookSender, now: dt.datetime,
                 install: str) -> None:
        self.settings, self.secret, self.webhook, self.now = settings, secret, webhook, now
        self.install = install  # the namespace of Message-IDs (signing.install_id)
        self.rendered: dict[tuple[int, str], Rendered] = {}  # links filled in per mail
        self.built: tuple[int, WireMessage | Exception] | None = None  # the next delivery's mail, built ahead

    def send_batch(self, sessions: sessionmaker[Session], sender: Sender, work: list[Work]) -> None:
        """Send and mark each delivery; counted once per batch (a crash loses at most a batch of counts, never a mail)."""
        try:
            with open_mailer(self.settings) as mailer:
                for item, after in zip(work, [*work[1:], None], strict=True):
                    name = f"delivery {item.delivery_id} to subscriber {item.subscriber.id}"
                    sender.attempt(Delivery, item.delivery_id, item.channel, "notice", name,
                                   functools.partial(self._send, mailer, item, after), self.now)
        finally:
            self.built = None
            sender.flush()

    def _send(self, mailer: FileMailer | SmtpMailer, item: Work, after: Work | None, begin: Callable[[], None],
              ready: Callable[[], None]) -> None:
        if item.channel == "webhook":
            ready()
            self.webhook.send(self.settings, item.subscriber, item.notice, item.update, item.components,
                              item.delivery_id)
            return
        built, self.built = self.built, None
        if built is not None and built[0] == item.delivery_id:
            if isinstance(built[1], Exception):
                raise built[1]
            message = built[1]
        else:
            message = self._message(item)
        mailer.send(message, begin, ready, functools.partial(self._build_ahead, after))

    def _build_ahead(self, item: Work | None) -> None:
        """Build `item`'s mail now; what building raises is raised when it is sent."""
        if item is None or item.channel != "email":
            return
        try:
            self.built = item.delivery_id, self._message(item)
        except Exception as exc:
            self.built = item.delivery_id, exc

    def _message(self, item: Work) -> WireMessage:
        sub, upd = item.subscriber, item.update
        key = (upd.id, sub.language)
        if key not in self.rendered:
            self.rendered[key] = notice_mail(self.settings, sub.language, item.notice, upd, item.components)
        return self.rendered[key].message(
            sub.address, subscriber_links(self.settings, self.secret, sub),
            message_id(self.settings, self.install, f"delivery-{item.delivery_id}.update-{upd.id}"), now=self.now)


def _secret(settings: Settings, sessions: sessionmaker[Session]) -> str:
    from ..signing import secret_key

    return secret_key(settings, sessions)


def _install_id(sessions: sessionmaker[Session]) -> str:
    from ..signing import install_id

    return install_id(sessions)


def deliver_due(engine: Engine, settings: Settings, now: dt.datetime | None = None,
                webhook: WebhookSender | None = None) -> DeliveryReport:
    """Send every delivery that is due, once; the scheduler calls it every ~30 s. Never raises.

    Each delivery is marked in its own transaction; the run record is finished after the last.
    """
    sessions = session_factory(engine)
    report = DeliveryReport()
    try:
        with runs.recorded_run(sessions, "notify", now) as run:
            try:
                _deliver(engine, settings, sessions, run.started_at, report, webhook or WebhookSender())
            except Exception as exc:
                log.exception("delivering notifications failed")
                report.error = f"{type(exc).__name__}: {exc}"
            run.report(not report.error, report.summary(), report.details())
    except Exception as exc:  # the run could not even be recorded: the database is away
        log.exception("delivering notifications failed")
        report.error = report.error or f"{type(exc).__name__}: {exc}"
    return report


def _deliver(engine: Engine, settings: Settings, sessions: sessionmaker[Session], now: dt.datetime,
             report: DeliveryReport, webhook: WebhookSender) -> None:
    """The `mails` table first, then the capped summaries, then the deliveries batch by batch, into `report`."""
    secret = _secret(settings, sessions)
    install = _install_id(sessions)
    settings = links.with_recorded(settings, sessions)
    marker = SentMarker(engine)
    sender = Sender(sessions, settings, marker, report, Tally())
    try:
        send_due_mails(sessions, settings, secret, now, sender, install)
        capped = mailcap.plan(sessions, settings, now)
        if capped.summaries:
            with open_mailer(settings) as mailer:
                mailcap.send_summaries(sessions, settings, secret, mailer, capped, now, sender, install)
            sender.flush()
        deliveries = _Deliveries(settings, secret, webhook, now, install)
        notices: Notices = {}
        seen: set[int] = set()
        while True:
            taken = queue.claim(sessions, Delivery, _due(capped.horizon, now), now)
            for delivery_id in taken.resumed:
                log.warning("delivery %s was interrupted while sending; sending it again (it may arrive twice)",
                            delivery_id)
            ids = [i for i in taken.ids if i not in seen]
            if not ids:
                break
            seen.update(ids)
            deliveries.send_batch(sessions, sender, _load(sessions, ids, report, notices))
    finally:
        marker.close()


# How /drift names the queue's kinds: deliveries by channel, the mails table by kind.
QUEUE_KINDS = ("notice", "webhook", *KINDS)
WAITING = ("queued", "waiting", "sending")


def queue_summary(session: Session) -> dict[str, object]:
    """The outbox by status, its depth per kind, and the newest permanent failures, for the service-health page."""
    counts = dict(session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all())
    failures = session.execute(
        select(Delivery.id, Delivery.channel, Delivery.attempts, Delivery.last_error, Delivery.next_attempt_at)
        .where(Delivery.status == "failed").order_by(Delivery.id.desc()).limit(20)).mappings().all()
    mails = dict(session.execute(select(Mail.status, func.count()).group_by(Mail.status)).all())
    by_kind: Counter[str] = Counter()
    for channel, n in session.execute(select(Delivery.channel, func.count()).where(Delivery.status.in_(WAITING))
                                      .group_by(Delivery.channel)):
        by_kind["notice" if channel == "email" else channel] += n
    for kind, n in session.execute(select(Mail.kind, func.count()).where(Mail.status.in_(WAITING))
                                   .group_by(Mail.kind)):
        by_kind[kind] += n
    depth = sum(by_kind.values())
    kinds = [(kind, by_kind.get(kind, 0)) for kind in QUEUE_KINDS]
    return {"counts": counts, "mails": mails, "depth": depth, "kinds": kinds, "failures": [dict(f) for f in failures]}
