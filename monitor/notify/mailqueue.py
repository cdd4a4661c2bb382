"""The outbox of single mails: confirmations, "manage" mails, invitations and sign-in links.

A web request (or `monitor subscribers invite`) writes a `mails` row in its own transaction
and answers at once; the same runs that deliver notices (`deliver_due`) send these, claimed
with a lease, marked one by one, retried with backoff like deliveries. So a mail server that
is down delays a confirmation, never loses or doubles it, and the form never waits for it.

Confirmations and "manage" mails are due at once (whatever the clock of the run says);
invitations are due at the time they were given when queued, spread at
`[mail] invitations_per_minute`. Links are signed when the mail is sent.

A sign-in request (`queue_sign_in`) queues a "login" mail for any well-formed address, known
or not, holding only the address's hash: the request does the same work whoever asks, and
never waits for the mail server. The run that sends it looks for an operator with that hash,
issues the single-use link then and sends it, or cancels the mail when there is none.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from .. import runs, users
from ..db import utcnow
from ..models import Mail, MunicipalityContact, Subscriber, User
from ..settings import Settings
from . import contactmail
from .mail import (
    Rendered,
    base_url,
    confirmation_mail,
    invitation_mail,
    manage_mail,
    message_id,
    sign_in_mail,
    subscriber_links,
)
from .privacy import address_hash, suppression
from .retry import SMTP_DOWN, backoff
from .subscriptions import is_active
from .tokens import make_invitation_token, make_token
from .transport import PermanentError, open_mailer
from .wire import WireMessage

log = logging.getLogger(__name__)

KINDS = ("confirm", "manage", "invitation", "login", "reminder", "digest", "cutover_report", "alert")
LEASE = dt.timedelta(minutes=15)
BATCH = 100


def queue_mail(session: Session, kind: str, address: str, language: str, *, subscriber: Subscriber | None = None,
               campaign: str | None = None, components: list[str] | None = None,
               at: dt.datetime | None = None, contact: MunicipalityContact | None = None,
               payload: dict[str, Any] | None = None) -> Mail:
    """Add one mail to the outbox in the caller's transaction (the caller commits).

    A mail to a municipality's mailbox names its `contact` and carries what it says in
    `payload` (JSON), rendered when it is sent.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown mail kind {kind!r}")
    now = utcnow()
    mail = Mail(kind=kind, subscriber_id=subscriber.id if subscriber is not None else None, address=address,
                address_hash=address_hash(address), language=language, campaign=campaign,
                components=list(components or []), status="queued", attempts=0,
                next_attempt_at=at or now, created_at=now,
                contact_id=contact.id if contact is not None else None, payload=payload)
    session.add(mail)
    session.flush()
    return mail


def queue_sign_in(session: Session, address: str, language: str, now: dt.datetime, window_seconds: int) -> bool:
    """Queue a sign-in mail to `address` (normalised) unless one was queued within `window_seconds`.

    The same statements run for an operator's address and a stranger's; the row keeps only the
    address's hash. Returns whether a mail was queued (the caller commits).
    """
    key = address_hash(address)
    recent = session.scalar(select(Mail.id).where(
        Mail.kind == "login", Mail.address_hash == key,
        Mail.created_at > now - dt.timedelta(seconds=window_seconds)).limit(1))
    if recent is not None:
        return False
    session.add(Mail(kind="login", subscriber_id=None, address=None, address_hash=key, language=language,
                     campaign=None, components=[], status="queued", attempts=0, next_attempt_at=now,
                     created_at=now))
    return True


def _operator_by_hash(session: Session, key: str) -> User | None:
    # Operators are few: hashing each address beats storing the one a stranger typed.
    return next((u for u in users.list_users(session) if address_hash(u.email) == key), None)


@dataclass
class MailReport:
    """What one run did with the single mails."""

    sent: int = 0
    retry: int = 0
    failed: int = 0
    cancelled: int = 0
    failures: list[str] = field(default_factory=list)


def _due(now: dt.datetime) -> ColumnElement[bool]:
    # A confirmation never tried is due whatever the clock says; an invitation waits for its slot.
    fresh = and_(Mail.status == "queued", or_(Mail.next_attempt_at <= now,
                                              and_(Mail.attempts == 0, Mail.kind != "invitation")))
    return or_(fresh, and_(Mail.status == "sending", Mail.next_attempt_at <= now))


def _claim(sessions: sessionmaker[Session], now: dt.datetime) -> list[int]:
    with sessions() as session, session.begin():
        ids = list(session.scalars(select(Mail.id).where(_due(now)).order_by(Mail.next_attempt_at, Mail.id)
                                   .limit(BATCH)))
        if not ids:
            return []
        return sorted(session.scalars(
            update(Mail).where(Mail.id.in_(ids), _due(now))
            .values(status="sending", attempts=Mail.attempts + 1, next_attempt_at=now + LEASE)
            .returning(Mail.id)))


class _Composer:
    """Renders each (kind, language) once per run and fills in each mail's links."""

    def __init__(self, settings: Settings, secret: str) -> None:
        self.settings, self.secret = settings, secret
        self.cache: dict[tuple[object, ...], Rendered] = {}

    def _once(self, key: tuple[object, ...], make: Callable[[], Rendered]) -> Rendered:
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def message(self, session: Session, mail: Mail, now: dt.datetime) -> WireMessage | str:
        """The message for `mail`, or the reason it must not be sent any more (in `session`'s transaction)."""
        s = self.settings
        msg_id = message_id(s, f"mail-{mail.id}")
        root = base_url(s)
        if mail.kind in contactmail.RENDERERS:
            return contactmail.message(session, s, self.secret, mail, msg_id, now)
        if mail.kind == "login":
            user = _operator_by_hash(session, mail.address_hash)
            if user is None:
                return "no operator with this address"
            minutes = s.web.login_link_minutes
            token = users.issue_link(session, self.secret, user, minutes, now)
            users.audit(session, user.email, "sign_in_link", "", now)
            return sign_in_mail(s, f"{root}/login/{token}", user.email, minutes, mail.language, msg_id)
        if mail.kind == "invitation":
            assert mail.address is not None
            reason = suppression(session, mail.address)
            if reason:
                return f"address {reason} since it was queued"
            sub = session.scalars(select(Subscriber).where(Subscriber.address == mail.address)).one_or_none()
            if is_active(sub):
                return "address subscribed since it was queued"
            token = make_invitation_token(self.secret, mail.address, list(mail.components), mail.language,
                                          mail.campaign or "")
            links = {"accept": f"{root}/invitation/{token}", "optout": f"{root}/invitation/{token}/nej"}
            rendered = self._once(("invitation", mail.language), lambda: invitation_mail(s, mail.language))
            return rendered.message(mail.address, links, msg_id)
        sub = session.get(Subscriber, mail.subscriber_id) if mail.subscriber_id is not None else None
        if sub is None or sub.unsubscribed_at is not None or mail.address is None:
            return "subscriber no longer there"
        links = subscriber_links(s, self.secret, sub)
        if mail.kind == "manage":
            if not is_active(sub):
                return "subscriber no longer active"
            rendered = self._once(("manage", sub.language), lambda: manage_mail(s, sub.language))
            return rendered.message(mail.address, links, msg_id)
        change = mail.address != sub.address
        token = make_token(self.secret, "confirm", sub, address=mail.address if change else None)
        links["confirm"] = f"{root}/confirm/{token}"
        hours = s.web.confirm_max_age_hours
        rendered = self._once(("confirm", sub.language, change),
                              lambda: confirmation_mail(s, sub.language, hours, change))
        return rendered.message(mail.address, links, msg_id)


def _mark(sessions: sessionmaker[Session], settings: Settings, mail_id: int, now: dt.datetime,
          error: BaseException | None, report: MailReport) -> str:
    with sessions() as session, session.begin():
        row = session.get(Mail, mail_id)
        if row is None:
            return "cancelled"
        if error is None:
            row.status, row.sent_at, row.last_error = "sent", now, None
            report.sent += 1
            return "sent"
        row.last_error = f"{type(error).__name__}: {error}"[:2000]
        if isinstance(error, PermanentError) or row.attempts >= settings.mail.max_attempts:
            row.status = "failed"
            report.failed += 1
            report.failures.append(f"{row.kind} mail {row.id}: {row.last_error}")
            log.error("%s mail %s failed for good after %d attempts: %s", row.kind, row.id, row.attempts,
                      row.last_error)
            return "failed"
        row.status, row.next_attempt_at = "queued", now + backoff(row.attempts)
        report.retry += 1
        log.warning("%s mail %s attempt %d failed, next at %s: %s", row.kind, row.id, row.attempts,
                    row.next_attempt_at.isoformat(), row.last_error)
        return "retry"


def send_due_mails(sessions: sessionmaker[Session], settings: Settings, secret: str,
                   now: dt.datetime) -> MailReport:
    """Send every single mail that is due, once. Raises only when the database fails."""
    report = MailReport()
    composer = _Composer(settings, secret)
    outcomes: Counter[str] = Counter()
    seen: set[int] = set()
    try:
        while ids := [i for i in _claim(sessions, now) if i not in seen]:
            seen.update(ids)
            down: BaseException | None = None
            with open_mailer(settings) as mailer:
                for mail_id in ids:
                    error: BaseException | None = None
                    with sessions() as session, session.begin():  # a sign-in link is issued here
                        mail = session.get(Mail, mail_id)
                        message = composer.message(session, mail, now) if mail is not None else "gone"
                    if isinstance(message, str):
                        with sessions() as session, session.begin():
                            session.execute(update(Mail).where(Mail.id == mail_id)
                                            .values(status="cancelled", last_error=message))
                        report.cancelled += 1
                        continue
                    if down is not None:
                        error = down
                    else:
                        try:
                            mailer.send(message)
                        except SMTP_DOWN as exc:
                            error = down = exc
                        except Exception as exc:
                            error = exc
                    outcome = _mark(sessions, settings, mail_id, now, error, report)
                    if outcome != "cancelled":
                        outcomes[outcome] += 1
    finally:
        with sessions() as session, session.begin():
            for outcome, amount in sorted(outcomes.items()):
                runs.increment(session, "notifications_total", {"channel": "email", "outcome": outcome}, amount)
    return report
