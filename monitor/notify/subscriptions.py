"""Subscribers and their preferences: subscribe, confirm, manage, unsubscribe, purge.

No Flask here: the web views and the `monitor webhooks` commands call these with a
session they own. Nothing in this module sends mail; callers decide what to mail from the
returned outcome (so that the response never depends on whether an address was known).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Engine, delete, or_, select
from sqlalchemy.orm import Session

from ..db import dialect_insert, utcnow
from ..models import Component, Delivery, Subscriber, Subscription, new_link_key
from ..settings import Settings
from .tokens import TokenError, TokenPayload

log = logging.getLogger(__name__)

LANGUAGES = ("da", "en")
MAX_ADDRESS_LENGTH = 254  # RFC 5321 path limit


class AddressError(ValueError):
    """An address that is not a usable email address (or webhook URL)."""


def normalise_email(text: str) -> str:
    """Validate an email address and return its normalised, lower-cased form.

    The whole address is lower-cased: the local part is case sensitive in theory only, and
    one mailbox must be one subscriber.
    """
    text = (text or "").strip()
    if not text:
        raise AddressError("empty")
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise AddressError(str(exc)) from None
    address = result.normalized.lower()
    if len(address) > MAX_ADDRESS_LENGTH:
        raise AddressError("too long")
    return address


def normalise_webhook_url(text: str) -> str:
    """Validate a webhook URL: http(s) with a host, no credentials in it."""
    url = (text or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressError(f"not an http(s) URL: {url!r}")
    if parts.username or parts.password:
        raise AddressError("credentials in the URL are not accepted; use a secret path or token")
    if len(url) > 500:
        raise AddressError("too long")
    return url


def known_components(session: Session) -> list[Component]:
    """The components in their configured order."""
    return list(session.scalars(select(Component).order_by(Component.position, Component.slug)))


def check_components(session: Session, slugs: Iterable[str]) -> list[str]:
    """The distinct slugs, in configured order; `ValueError` naming any unknown slug."""
    wanted = list(dict.fromkeys(s.strip() for s in slugs if s and s.strip()))
    order = [c.slug for c in known_components(session)]
    unknown = [s for s in wanted if s not in order]
    if unknown:
        raise ValueError(", ".join(unknown))
    return [s for s in order if s in wanted]


def set_preferences(subscriber: Subscriber, components: list[str], language: str) -> None:
    """Replace the subscriber's components (empty: all) and language."""
    if language not in LANGUAGES:
        raise ValueError(f"language: expected da or en, got {language!r}")
    subscriber.language = language
    subscriber.all_components = not components
    have = {s.component_slug: s for s in subscriber.subscriptions}
    subscriber.subscriptions[:] = [have.get(slug) or Subscription(component_slug=slug) for slug in components]


class Confirmable(Protocol):
    """A subscriber's two instants, on a row object or a plain row."""

    @property
    def confirmed_at(self) -> dt.datetime | None: ...
    @property
    def unsubscribed_at(self) -> dt.datetime | None: ...


def is_active(subscriber: Confirmable | None) -> bool:
    """Confirmed and not unsubscribed: receives notices."""
    return subscriber is not None and subscriber.confirmed_at is not None and subscriber.unsubscribed_at is None


@dataclass(frozen=True)
class SubscribeOutcome:
    """What a subscribe request did; `mail` is "confirm" (new or pending) or "manage" (already active)."""

    subscriber: Subscriber
    mail: str


def subscribe(session: Session, address: str, components: list[str], language: str,
              now: dt.datetime | None = None) -> SubscribeOutcome:
    """Record a subscription request for a normalised address; nothing is confirmed here.

    An active subscriber's preferences are left alone (anyone can type any address into
    the form); they get a mail with a link to manage them instead. Concurrent requests for
    the same new address make one row between them (see `locked_row`).
    """
    now = now or utcnow()
    sub = locked_row(session, address, now)
    if is_active(sub):
        return SubscribeOutcome(sub, "manage")
    if sub.unsubscribed_at is not None:
        # Subscribing again after unsubscribing: start over as a pending request.
        sub.unsubscribed_at = None
        sub.confirmed_at = None
        sub.created_at = now
    set_preferences(sub, components, language)
    session.flush()
    return SubscribeOutcome(sub, "confirm")


def locked_row(session: Session, address: str, now: dt.datetime) -> Subscriber:
    """The email subscriber of `address`, inserted as pending when there is none, and locked.

    An INSERT … ON CONFLICT DO NOTHING first, then the row FOR UPDATE: two requests for one
    new address never both insert it (a unique violation), and the second waits for the
    first to commit and then sees its row (PostgreSQL). SQLite writes one at a time; its
    INSERT waits for the other writer, and its transaction starts there.
    """
    insert = dialect_insert(session)
    session.execute(insert(Subscriber).values(
        channel="email", address=address, language="da", all_components=True, created_at=now,
        token_version=0, link_key=new_link_key()).on_conflict_do_nothing(index_elements=["address"]))
    return session.scalars(select(Subscriber).where(Subscriber.address == address)
                           .with_for_update().execution_options(populate_existing=True)).one()


def subscriber_for(session: Session, payload: TokenPayload) -> Subscriber:
    """The subscriber a token names, if the token is still current.

    `TokenError("gone")` when the row is no longer there (a row with the same id but another
    key is someone else's), `TokenError("invalid")` when the link was voided.
    """
    sub = session.get(Subscriber, payload.subscriber_id)
    if not payload.names(sub):
        raise TokenError("gone")  # erased or purged: no row is this link's any more
    assert sub is not None
    if sub.token_version != payload.version:
        raise TokenError("invalid")
    return sub


def confirm(session: Session, payload: TokenPayload, now: dt.datetime | None = None) -> Subscriber:
    """Confirm a pending subscriber, or move an active one to the new address the token carries.

    Confirming twice is harmless. A change of address voids the links sent to the old one.
    """
    now = now or utcnow()
    sub = subscriber_for(session, payload)
    if sub.unsubscribed_at is not None:
        raise TokenError("invalid")
    if payload.address and payload.address != sub.address:
        other = session.scalars(select(Subscriber).where(Subscriber.address == payload.address)).one_or_none()
        if other is not None:
            if is_active(other):
                raise TokenError("taken")
            session.delete(other)  # a pending or unsubscribed leftover of the same mailbox
            session.flush()
        sub.address = payload.address
        sub.token_version += 1
    if sub.confirmed_at is None:
        sub.confirmed_at = now
    session.flush()
    return sub


def unsubscribe(session: Session, sub: Subscriber, now: dt.datetime | None = None) -> None:
    """Stop all mail now: mark unsubscribed, void every link, drop what is still queued."""
    sub.unsubscribed_at = now or utcnow()
    sub.token_version += 1
    session.execute(delete(Delivery).where(Delivery.subscriber_id == sub.id,
                                           Delivery.status.in_(("queued", "waiting", "sending"))))
    session.flush()


def purge_unsubscribed(engine: Engine, settings: Settings, now: dt.datetime | None = None) -> int:
    """Delete subscribers unsubscribed, or never confirmed, more than the grace period ago.

    Their deliveries and component choices go with them (foreign keys cascade). Called daily
    by the scheduler; logs instead of raising. Returns the number deleted.
    """
    now = now or utcnow()
    cutoff = now - dt.timedelta(days=settings.web.unsubscribe_grace_days)
    try:
        with Session(engine) as session, session.begin():
            ids = list(session.scalars(select(Subscriber.id).where(or_(
                Subscriber.unsubscribed_at < cutoff,
                (Subscriber.confirmed_at.is_(None)) & (Subscriber.created_at < cutoff)))))
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                session.execute(delete(Delivery).where(Delivery.subscriber_id.in_(chunk)))
                session.execute(delete(Subscription).where(Subscription.subscriber_id.in_(chunk)))
                session.execute(delete(Subscriber).where(Subscriber.id.in_(chunk)))
    except Exception:
        log.exception("purging unsubscribed subscribers failed")
        return 0
    if ids:
        log.info("deleted %d unsubscribed or unconfirmed subscribers", len(ids))
    return len(ids)


def add_webhook(session: Session, url: str, components: list[str], language: str = "da",
                now: dt.datetime | None = None) -> Subscriber:
    """Register (or update) a webhook subscriber; the operator adds it, so it is confirmed at once."""
    now = now or utcnow()
    url = normalise_webhook_url(url)
    components = check_components(session, components)
    sub = session.scalars(select(Subscriber).where(Subscriber.address == url)).one_or_none()
    if sub is None:
        sub = Subscriber(channel="webhook", address=url, token_version=0, created_at=now)
        session.add(sub)
    sub.unsubscribed_at = None
    sub.confirmed_at = sub.confirmed_at or now
    set_preferences(sub, components, language)
    session.flush()
    return sub


def remove_webhook(session: Session, url: str, now: dt.datetime | None = None) -> bool:
    """Unsubscribe a webhook (deleted after the grace period like any subscriber); False if unknown."""
    sub = session.scalars(select(Subscriber).where(Subscriber.address == url.strip(),
                                                   Subscriber.channel == "webhook")).one_or_none()
    if sub is None or sub.unsubscribed_at is not None:
        return False
    unsubscribe(session, sub, now)
    return True
