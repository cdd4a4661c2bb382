"""The delivery outbox: queue one delivery per (update, subscriber), then send them.

Queueing happens in the notice collector's transaction (`enqueue_for_update`), so an update
is never stored without its deliveries, and the unique (update, subscriber) key makes a
second enqueue a no-op. Sending (`deliver_due`) claims rows first: a claimed row is
"sending" with a lease in `next_attempt_at`. A process that dies between sending and marking
leaves the row "sending"; when the lease has run out the next run sends it again (once, and
logs it) — the mail keeps its Message-ID so a receiver can tell. A failed attempt goes back
to "queued" with exponential backoff, and after `[mail] max_attempts` becomes "failed".
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Engine, and_, bindparam, exists, func, literal, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from .. import runs
from ..db import UTCDateTime, dialect_insert, is_postgres, session_factory, utcnow
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
from . import mailcap
from .mail import Rendered, message_id, notice_mail, subscriber_links
from .mailqueue import send_due_mails
from .retry import SMTP_DOWN, backoff
from .subscriptions import is_active, purge_unsubscribed
from .transport import FileMailer, PermanentError, SmtpMailer, open_mailer
from .webhook import WebhookSender

log = logging.getLogger(__name__)

__all__ = ["deliver_due", "enqueue_for_update", "purge_unsubscribed", "queue_summary"]

LEASE = dt.timedelta(minutes=15)  # longer than a batch can take, shorter than anyone waits for mail
BATCH = 100
# One delivery to send: (delivery id, channel, subscriber, notice, update, component names in order).
Work = tuple[int, str, Subscriber, Notice, NoticeUpdate, list[str]]


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


@dataclass
class DeliveryReport:
    """What one run did."""

    sent: int = 0
    retry: int = 0
    failed: int = 0
    cancelled: int = 0
    error: str = ""
    failures: list[str] = field(default_factory=list)

    def details(self) -> dict[str, int]:
        """The counts for the run record, which the service-health page words."""
        return {"sent": self.sent, "retry": self.retry, "failed": self.failed, "cancelled": self.cancelled,
                "error": 1 if self.error else 0}

    def summary(self) -> str:
        """One line for logs, the CLI and the run record."""
        text = f"sent {self.sent}, retry {self.retry}, failed {self.failed}"
        if self.cancelled:
            text += f", cancelled {self.cancelled}"
        return text + (f"; error: {self.error}" if self.error else "")


def _claim(sessions: sessionmaker[Session], now: dt.datetime, horizon: int) -> list[int]:
    """Claim up to BATCH due rows: queued and due (or never tried), or "sending" whose lease ran out.

    Rows never tried are taken up to `horizon`, the newest the hourly cap has looked at; the
    rows of summary mails are the cap's (`mailcap`).
    """
    # A delivery never tried is due whatever the clock says (its queue time is only a hint).
    due = and_(Delivery.summary_id.is_(None), or_(
        and_(Delivery.status == "queued", or_(and_(Delivery.attempts == 0, Delivery.id <= horizon),
                                              and_(Delivery.attempts > 0, Delivery.next_attempt_at <= now))),
        and_(Delivery.status == "sending", Delivery.next_attempt_at <= now)))
    with sessions() as session, session.begin():
        query = select(Delivery.id, Delivery.status).where(due).order_by(Delivery.next_attempt_at, Delivery.id)
        rows = session.execute(query.limit(BATCH)).all()
        if not rows:
            return []
        # The same condition again in the UPDATE: a concurrent run that claimed a row first has
        # moved its lease into the future, so the row is skipped here (PostgreSQL re-checks
        # the condition after waiting for the row lock; SQLite writes one at a time).
        claimed = list(session.scalars(
            update(Delivery).where(Delivery.id.in_([r.id for r in rows]), due)
            .values(status="sending", attempts=Delivery.attempts + 1, next_attempt_at=now + LEASE)
            .returning(Delivery.id)))
    for row in rows:
        if row.status == "sending" and row.id in claimed:
            log.warning("delivery %s was interrupted while sending; sending it again (it may arrive twice)", row.id)
    return sorted(claimed)


def _mark(sessions: sessionmaker[Session], settings: Settings, delivery_id: int, now: dt.datetime,
          error: BaseException | None, report: DeliveryReport) -> str | None:
    """Record one attempt's result in its own transaction; returns the outcome (None if the row is gone)."""
    with sessions() as session, session.begin():
        if error is None:
            done = session.execute(update(Delivery).where(Delivery.id == delivery_id, Delivery.status == "sending")
                                   .values(status="sent", sent_at=now, last_error=None).returning(Delivery.id))
            if done.first() is None:  # deleted meanwhile (unsubscribed and purged)
                return None
            report.sent += 1
            return "sent"
        row = session.get(Delivery, delivery_id)
        if row is None:
            return None
        row.last_error = f"{type(error).__name__}: {error}"[:2000]
        if isinstance(error, PermanentError) or row.attempts >= settings.mail.max_attempts:
            row.status = "failed"
            report.failed += 1
            report.failures.append(f"delivery {row.id} to subscriber {row.subscriber_id}: {row.last_error}")
            log.error("delivery %s failed for good after %d attempts: %s", row.id, row.attempts, row.last_error)
            return "failed"
        row.status, row.next_attempt_at = "queued", now + backoff(row.attempts)
        report.retry += 1
        log.warning("delivery %s attempt %d failed, next at %s: %s", row.id, row.attempts,
                    row.next_attempt_at.isoformat(), row.last_error)
        return "retry"


class _SentMarker:
    """Marks a sent delivery at once, with one prepared UPDATE on one autocommit connection.

    This is the per-mail cost that keeps a crash from doubling more than the one mail in
    flight, so it is kept to one round trip: no ORM, no BEGIN/COMMIT of its own (each UPDATE
    is its own transaction). On PostgreSQL these commits do not wait for the WAL flush
    (`synchronous_commit = off` on this connection only): a database crash may forget the
    last marks, and those mails are then sent once more, as after a process crash, with their
    Message-ID unchanged.
    """

    def __init__(self, engine: Engine) -> None:
        self.conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        table = Delivery.__table__
        self.stmt = (update(table).where(table.c.id == bindparam("delivery_id"), table.c.status == "sending")
                     .values(status="sent", sent_at=bindparam("sent_at", type_=UTCDateTime()), last_error=None))
        self.postgres = is_postgres(engine)
        if self.postgres:
            self.conn.exec_driver_sql("SET synchronous_commit = off")

    def sent(self, delivery_id: int, now: dt.datetime) -> bool:
        """Mark one delivery sent; False when the row is gone (unsubscribed and purged meanwhile)."""
        return self.conn.execute(self.stmt, {"delivery_id": delivery_id, "sent_at": now}).rowcount == 1

    def close(self) -> None:
        """Give the connection back as it was found."""
        try:
            if self.postgres:
                self.conn.exec_driver_sql("RESET synchronous_commit")
        finally:
            self.conn.close()


def _send_batch(sessions: sessionmaker[Session], settings: Settings, secret: str, ids: list[int],
                now: dt.datetime, report: DeliveryReport, webhook: WebhookSender,
                marker: _SentMarker, rendered: dict[tuple[int, str], Rendered]) -> None:
    with sessions() as session:
        rows = list(session.scalars(select(Delivery).where(Delivery.id.in_(ids)).order_by(Delivery.id)))
        known = session.execute(select(Component.slug, Component.name).order_by(Component.position)).all()
        names, order = dict(known), {slug: i for i, (slug, _name) in enumerate(known)}
        subscribers = {s.id: s for s in session.scalars(
            select(Subscriber).where(Subscriber.id.in_({r.subscriber_id for r in rows})))}
        updates = {u.id: u for u in session.scalars(
            select(NoticeUpdate).where(NoticeUpdate.id.in_({r.update_id for r in rows})))}
        work: list[Work] = []
        for row in rows:
            sub, upd = subscribers.get(row.subscriber_id), updates.get(row.update_id)
            if not is_active(sub) or upd is None:
                row.status, row.last_error = "cancelled", "subscriber no longer active"
                report.cancelled += 1
                continue
            assert sub is not None
            notice = upd.notice
            slugs = sorted((c.component_slug for c in notice.components), key=lambda s: order.get(s, len(order)))
            components = [names.get(s, s) for s in slugs]
            work.append((row.id, row.channel, sub, notice, upd, components))
        session.commit()
    mailer = open_mailer(settings)
    outcomes: Counter[tuple[str, str]] = Counter()
    try:
        _send_work(mailer, work, settings, secret, sessions, now, report, webhook, outcomes, marker, rendered)
    finally:
        # Counted once per batch: a crash mid-batch loses at most a batch of counts, never a mail.
        with sessions() as session, session.begin():
            for (channel, outcome), amount in sorted(outcomes.items()):
                runs.increment(session, "notifications_total", {"channel": channel, "outcome": outcome}, amount)


def _send_work(mailer: FileMailer | SmtpMailer, work: list[Work], settings: Settings, secret: str,
               sessions: sessionmaker[Session], now: dt.datetime, report: DeliveryReport,
               webhook: WebhookSender, outcomes: Counter[tuple[str, str]], marker: _SentMarker,
               rendered: dict[tuple[int, str], Rendered]) -> None:
    smtp_down: BaseException | None = None
    with mailer:
        for delivery_id, channel, sub, notice, upd, components in work:
            error: BaseException | None = None
            if channel == "webhook":
                try:
                    webhook.send(settings, sub, notice, upd, components, delivery_id)
                except Exception as exc:
                    error = exc
            elif smtp_down is not None:
                error = smtp_down  # don't wait for a dead server once per mail
            else:
                try:
                    key = (upd.id, sub.language)
                    if key not in rendered:
                        rendered[key] = notice_mail(settings, sub.language, notice, upd, components)
                    mailer.send(rendered[key].message(
                        sub.address, subscriber_links(settings, secret, sub),
                        message_id(settings, f"delivery-{delivery_id}.update-{upd.id}"), now=now))
                except SMTP_DOWN as exc:
                    error = smtp_down = exc
                except Exception as exc:
                    error = exc
            if error is None:
                outcome: str | None = "sent" if marker.sent(delivery_id, now) else None
                report.sent += outcome is not None
            else:
                outcome = _mark(sessions, settings, delivery_id, now, error, report)
            if outcome:
                outcomes[(channel, outcome)] += 1


def _secret(settings: Settings, sessions: sessionmaker[Session]) -> str:
    from ..signing import secret_key

    return secret_key(settings, sessions)


SERVE_BASE_URL = "serve_base_url"  # meta key: where `monitor serve` last listened


def remember_serve_base_url(engine: Engine, settings: Settings) -> None:
    """Record where `monitor serve` links to, for `monitor notify` on the same database (never raises)."""
    from ..models import Meta

    try:
        with session_factory(engine)() as session, session.begin():
            row = session.get(Meta, SERVE_BASE_URL)
            if row is None:
                session.add(Meta(key=SERVE_BASE_URL, value=settings.web.base_url))
            else:
                row.value = settings.web.base_url
    except Exception:
        log.exception("could not record the served address")


def with_link_base(settings: Settings, sessions: sessionmaker[Session]) -> Settings:
    """Settings whose `[web] base_url` is set: the configured one, else where `monitor serve` listens.

    `monitor serve` records its address in the database at start, so `monitor notify` and
    `monitor scheduler` on the same database link to it too.
    """
    if settings.web.base_url:
        return settings
    import dataclasses

    from ..models import Meta

    with sessions() as session:
        row = session.get(Meta, SERVE_BASE_URL)
    if row is None or not isinstance(row.value, str):
        return settings
    return dataclasses.replace(settings, web=dataclasses.replace(settings.web, base_url=row.value))


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
    """Single mails first, then the deliveries, batch by batch, into `report`."""
    secret = _secret(settings, sessions)
    settings = with_link_base(settings, sessions)
    mails = send_due_mails(sessions, settings, secret, now)
    report.sent, report.retry, report.failed = mails.sent, mails.retry, mails.failed
    report.cancelled, report.failures = mails.cancelled, list(mails.failures)
    capped = mailcap.plan(sessions, settings, now)
    if capped.summaries:
        with open_mailer(settings) as mailer:
            sent, _updates, retry, failed = mailcap.send_summaries(sessions, settings, secret, mailer, capped, now)
        report.sent, report.retry, report.failed = report.sent + sent, report.retry + retry, report.failed + failed
        with sessions() as session, session.begin():
            for outcome, amount in (("sent", sent), ("retry", retry), ("failed", failed)):
                if amount:
                    runs.increment(session, "notifications_total", {"channel": "email", "outcome": outcome}, amount)
    seen: set[int] = set()
    rendered: dict[tuple[int, str], Rendered] = {}  # once per (update, language); links filled in per mail
    marker = _SentMarker(engine)
    try:
        while ids := [i for i in _claim(sessions, now, capped.horizon) if i not in seen]:
            seen.update(ids)
            _send_batch(sessions, settings, secret, ids, now, report, webhook, marker, rendered)
    finally:
        marker.close()


def queue_summary(session: Session) -> dict[str, object]:
    """Deliveries by status and the newest permanent failures, for the service-health page."""
    counts = dict(session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all())
    failures = session.execute(
        select(Delivery.id, Delivery.channel, Delivery.attempts, Delivery.last_error, Delivery.next_attempt_at)
        .where(Delivery.status == "failed").order_by(Delivery.id.desc()).limit(20)).mappings().all()
    mails = dict(session.execute(select(Mail.status, func.count()).group_by(Mail.status)).all())
    depth = sum(c.get("queued", 0) + c.get("waiting", 0) + c.get("sending", 0) for c in (counts, mails))
    return {"counts": counts, "mails": mails, "depth": depth, "failures": [dict(f) for f in failures]}
