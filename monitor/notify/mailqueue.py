"""The `mails` table of the outbox: one row per mail that is not a notice update.

Confirmations, "manage" mails, invitations and sign-in links, and the kinds later parts add
(`queue.KINDS`: reminders, digests, cut-over reports, alerts, method-input confirmations). A
web request (or a command, or a job) writes a row with `queue_mail` in its own transaction and
answers at once; the same runs that deliver notices (`outbox.deliver_due`) send them, first,
through the outbox's one claim, retry policy and count (queue.py). So a mail server that is
down delays a confirmation, never loses or doubles it, and the form never waits for it.

Confirmations and other mails are due at once (whatever the clock of the run says);
invitations are due at the time they were given when queued, spread at
`[mail] invitations_per_minute`. Links are signed when the mail is sent.

What a row says is decided when it is sent, by the composer registered for its kind
(`register_composer`): it returns the message, or the reason the mail must not go any more
(the row is then cancelled with it). A kind with no composer in the sending process fails its
attempt like a refused mail, and is retried with the same backoff until `[mail] max_attempts`.

A sign-in request (`queue_sign_in`) queues a "login" mail for any well-formed address, known
or not, holding only the address's hash: the request does the same work whoever asks, and
never waits for the mail server. The run that sends it looks for an operator with that hash,
issues the single-use link then and sends it, or cancels the mail when there is none.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from .. import users
from ..db import utcnow
from ..models import Mail, MethodInput, MunicipalityContact, Subscriber, User
from ..settings import Settings
from . import contactmail, queue
from .mail import (
    Rendered,
    confirmation_mail,
    invitation_mail,
    mail_link,
    manage_mail,
    message_id,
    method_answer_mail,
    method_input_mail,
    sign_in_mail,
    subscriber_links,
)
from .privacy import address_hash, suppression
from .queue import KINDS, Sender
from .subscriptions import is_active
from .tokens import make_invitation_token, make_token
from .transport import FileMailer, SmtpMailer, open_mailer
from .wire import WireMessage

log = logging.getLogger(__name__)

__all__ = ["KINDS", "MailContext", "queue_mail", "queue_sign_in", "register_composer", "send_due_mails"]


def queue_mail(session: Session, kind: str, address: str, language: str, *, subscriber: Subscriber | None = None,
               campaign: str | None = None, components: list[str] | None = None,
               at: dt.datetime | None = None, payload: dict[str, object] | None = None,
               contact: MunicipalityContact | None = None) -> Mail:
    """Add one mail to the outbox in the caller's transaction (the caller commits).

    `kind` is one of `queue.KINDS`; `payload` is what its composer needs besides the address
    (plain JSON values, never another address); `at` delays it (an invitation's slot). A mail
    to a municipality's mailbox names its `contact` and carries what it says in `payload`.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown mail kind {kind!r}")
    now = utcnow()
    mail = Mail(kind=kind, subscriber_id=subscriber.id if subscriber is not None else None, address=address,
                address_hash=address_hash(address), language=language, campaign=campaign,
                components=list(components or []), payload=payload, status="queued", attempts=0,
                next_attempt_at=at or now, created_at=now, contact_id=contact.id if contact is not None else None)
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


@dataclass
class MailContext:
    """What a composer gets besides the row: the run's settings, key, clock, and a render cache."""

    settings: Settings
    secret: str
    now: dt.datetime
    install: str  # the installation's UUID (signing.install_id), the namespace of its Message-IDs
    cache: dict[tuple[object, ...], Rendered] = field(default_factory=dict)

    def once(self, key: tuple[object, ...], make: Callable[[], Rendered]) -> Rendered:
        """`make()` the first time `key` is asked for in this run, the same result after."""
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def message_id(self, mail: Mail) -> str:
        """The mail's Message-ID, the same on every attempt."""
        return message_id(self.settings, self.install, f"mail-{mail.id}")


# A composer makes the message of one row (in the sending run's transaction, which it may write
# in: a sign-in link is issued there), or says why it must not be sent any more.
Composer = Callable[[MailContext, Session, Mail], WireMessage | str]
COMPOSERS: dict[str, Composer] = {}


def register_composer(kind: str) -> Callable[[Composer], Composer]:
    """Decorator: the composer of the mails of `kind` (one of `queue.KINDS`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown mail kind {kind!r}")

    def register(compose: Composer) -> Composer:
        COMPOSERS[kind] = compose
        return compose
    return register


def _operator_by_hash(session: Session, key: str) -> User | None:
    # Operators are few: hashing each address beats storing the one a stranger typed.
    return next((u for u in users.list_users(session) if address_hash(u.email) == key), None)


@register_composer("login")
def _sign_in(ctx: MailContext, session: Session, mail: Mail) -> WireMessage | str:
    user = _operator_by_hash(session, mail.address_hash)
    if user is None:
        return "no operator with this address"
    minutes = ctx.settings.web.login_link_minutes
    token = users.issue_link(session, ctx.secret, user, minutes, ctx.now)
    users.audit(session, user.email, "sign_in_link", "", ctx.now)
    return sign_in_mail(ctx.settings, mail_link(ctx.settings, f"/login/{token}", mail.language), user.email,
                        minutes, mail.language, ctx.message_id(mail))


@register_composer("invitation")
def _invitation(ctx: MailContext, session: Session, mail: Mail) -> WireMessage | str:
    assert mail.address is not None
    reason = suppression(session, mail.address)
    if reason:
        return f"address {reason} since it was queued"
    sub = session.scalars(select(Subscriber).where(Subscriber.address == mail.address)).one_or_none()
    if is_active(sub):
        return "address subscribed since it was queued"
    token = make_invitation_token(ctx.secret, mail.address, list(mail.components), mail.language, mail.campaign or "")
    links = {"accept": mail_link(ctx.settings, f"/invitation/{token}", mail.language),
             "optout": mail_link(ctx.settings, f"/invitation/{token}/nej", mail.language)}
    rendered = ctx.once(("invitation", mail.language), lambda: invitation_mail(ctx.settings, mail.language))
    return rendered.message(mail.address, links, ctx.message_id(mail))


def _subscriber(session: Session, mail: Mail) -> Subscriber | None:
    sub = session.get(Subscriber, mail.subscriber_id) if mail.subscriber_id is not None else None
    return None if sub is None or sub.unsubscribed_at is not None or mail.address is None else sub


@register_composer("manage")
def _manage(ctx: MailContext, session: Session, mail: Mail) -> WireMessage | str:
    sub = _subscriber(session, mail)
    if sub is None or mail.address is None:
        return "subscriber no longer there"
    if not is_active(sub):
        return "subscriber no longer active"
    rendered = ctx.once(("manage", sub.language), lambda: manage_mail(ctx.settings, sub.language))
    return rendered.message(mail.address, subscriber_links(ctx.settings, ctx.secret, sub), ctx.message_id(mail))


@register_composer("confirm")
def _confirm(ctx: MailContext, session: Session, mail: Mail) -> WireMessage | str:
    sub = _subscriber(session, mail)
    if sub is None or mail.address is None:
        return "subscriber no longer there"
    change = mail.address != sub.address
    token = make_token(ctx.secret, "confirm", sub, address=mail.address if change else None)
    links = {**subscriber_links(ctx.settings, ctx.secret, sub),
             "confirm": mail_link(ctx.settings, f"/confirm/{token}", sub.language)}
    hours = ctx.settings.web.confirm_max_age_hours
    rendered = ctx.once(("confirm", sub.language, change),
                        lambda: confirmation_mail(ctx.settings, sub.language, hours, change))
    return rendered.message(mail.address, links, ctx.message_id(mail))


def _to_mailbox(ctx: MailContext, session: Session, mail: Mail) -> WireMessage | str:
    # Reminders, digests, cut-over reports and alerts are rendered from their payload (contactmail.py).
    return contactmail.message(session, ctx.settings, ctx.secret, mail, ctx.message_id(mail), ctx.now)


for _kind in contactmail.RENDERERS:
    register_composer(_kind)(_to_mailbox)


@register_composer("method_input")
def _method_input(ctx: MailContext, session: Session, mail: Mail) -> WireMessage | str:
    # The input names its mail; the link carries the input's own key, never its id.
    row = session.scalars(select(MethodInput).where(MethodInput.mail_id == mail.id)).one_or_none()
    if row is None or mail.address is None:
        return "input no longer there"
    if row.confirmed_at is not None:
        return "input already confirmed"
    hours = ctx.settings.web.confirm_max_age_hours
    rendered = ctx.once(("method_input", mail.language),
                        lambda: method_input_mail(ctx.settings, mail.language, hours))
    link = mail_link(ctx.settings, f"/metode/input/{row.key}", mail.language)
    return rendered.message(mail.address, {"confirm": link}, ctx.message_id(mail))


@register_composer("method_answer")
def _method_answer(ctx: MailContext, session: Session, mail: Mail) -> WireMessage | str:
    # The payload names the input by its own key, never its id; the answer is read as it is now.
    key = str((mail.payload or {}).get("input", ""))
    row = session.scalars(select(MethodInput).where(MethodInput.key == key)).one_or_none() if key else None
    if row is None or mail.address is None or row.address != mail.address:
        return "input no longer there"
    if row.answer is None:
        return "input not answered"
    path = f"/kommune/{row.municipality_code}" if row.municipality_code else "/metode"
    rendered = method_answer_mail(ctx.settings, mail.language, row.text, row.answer, row.published)
    return rendered.message(mail.address, {"page": mail_link(ctx.settings, path, mail.language) + "#svar"},
                            ctx.message_id(mail))


class NoComposer(LookupError):
    """A mail of a kind no composer is registered for in this process (retried like any failure)."""


def _compose(ctx: MailContext, session: Session, mail: Mail) -> WireMessage | str:
    compose = COMPOSERS.get(mail.kind)
    if compose is None:
        raise NoComposer(f"no composer for {mail.kind!r} mails in this process")
    return compose(ctx, session, mail)


def _due(now: dt.datetime) -> ColumnElement[bool]:
    # A mail never tried is due whatever the clock says; an invitation waits for its slot.
    fresh = and_(Mail.status == "queued", or_(Mail.next_attempt_at <= now,
                                              and_(Mail.attempts == 0, Mail.kind != "invitation")))
    return or_(fresh, and_(Mail.status == "sending", Mail.next_attempt_at <= now))


def send_due_mails(sessions: sessionmaker[Session], settings: Settings, secret: str, now: dt.datetime,
                   sender: Sender, install: str) -> None:
    """Send every mail of the `mails` table that is due, once, through `sender`. Raises only when the database fails."""
    ctx = MailContext(settings, secret, now, install)
    seen: set[int] = set()
    try:
        while ids := [i for i in queue.claim(sessions, Mail, _due(now), now).ids if i not in seen]:
            seen.update(ids)
            with open_mailer(settings) as mailer:
                for mail_id in ids:
                    _send_one(sessions, ctx, sender, mailer, mail_id)
    finally:
        sender.flush()


def _made(sessions: sessionmaker[Session], ctx: MailContext, mail_id: int) -> tuple[str, WireMessage | str | Exception]:
    """The row's kind and its message, the reason not to send it, or the composer's error (its writes undone)."""
    kind = ""
    try:
        with sessions() as session, session.begin():  # a sign-in link is issued here
            mail = session.get(Mail, mail_id)
            if mail is None:
                return "", "gone"
            kind = mail.kind
            return kind, _compose(ctx, session, mail)
    except NoComposer as exc:
        return kind, exc
    except Exception as exc:  # a composer's fault fails the attempt, not the run
        log.exception("composing mail %s failed", mail_id)
        return kind, exc


def _send_one(sessions: sessionmaker[Session], ctx: MailContext, sender: Sender, mailer: FileMailer | SmtpMailer,
              mail_id: int) -> None:
    kind, made = _made(sessions, ctx, mail_id)
    if isinstance(made, str):
        queue.cancel(sessions, Mail, mail_id, made)
        sender.report.add("cancelled")
        return

    def send(begin: Callable[[], None], ready: Callable[[], None]) -> None:
        if isinstance(made, Exception):
            raise made
        mailer.send(made, begin, ready)

    sender.attempt(Mail, mail_id, "email", kind, f"{kind} mail {mail_id}", send, ctx.now)
