"""What is held on a person, and erasing it: GDPR access and erasure, and the suppression list.

One function gathers everything held on an address (`export_data`) and one erases it now
(`erase`); the manage page and `monitor subscribers export|delete` both call them. An erased
or unsubscribed address is kept only as a hash in `suppressed_addresses`, so that an
invitation campaign never mails it again without holding the address itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session

from ..db import utcnow
from ..models import (
    Delivery,
    Mail,
    MethodInput,
    MunicipalityContact,
    Notice,
    NoticeUpdate,
    RatingCorrection,
    Subscriber,
    Subscription,
    SuppressedAddress,
)


def address_hash(address: str) -> str:
    """A stable hash of a normalised address (SHA-256, hex); the address cannot be read back from it."""
    return hashlib.sha256(b"fki-address:" + address.strip().lower().encode("utf-8")).hexdigest()


def suppress(session: Session, address: str, reason: str, now: dt.datetime | None = None) -> None:
    """Never invite `address` again (idempotent; the first reason is kept)."""
    key = address_hash(address)
    if session.get(SuppressedAddress, key) is None:
        session.add(SuppressedAddress(address_hash=key, reason=reason, created_at=now or utcnow()))
        session.flush()


def unsuppress(session: Session, address: str) -> None:
    """The person subscribed again of their own accord."""
    session.execute(delete(SuppressedAddress).where(SuppressedAddress.address_hash == address_hash(address)))


def suppression(session: Session, address: str) -> str | None:
    """Why `address` must not be invited, or None."""
    row = session.get(SuppressedAddress, address_hash(address))
    return row.reason if row is not None else None


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def export_data(session: Session, address: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything held on `address` (normalised), as a JSON-ready document."""
    sub = session.scalars(select(Subscriber).where(Subscriber.address == address)).one_or_none()
    document: dict[str, Any] = {"address": address, "exported_at": _iso(now or utcnow()), "subscriber": None,
                                "deliveries": [], "mails": [], "suppressed": suppression(session, address)}
    if sub is not None:
        document["subscriber"] = {
            "channel": sub.channel, "language": sub.language, "all_components": sub.all_components,
            "components": sorted(s.component_slug for s in sub.subscriptions),
            "created_at": _iso(sub.created_at), "confirmed_at": _iso(sub.confirmed_at),
            "unsubscribed_at": _iso(sub.unsubscribed_at)}
        rows = session.execute(
            select(Delivery, NoticeUpdate.status, Notice.title)
            .join(NoticeUpdate, NoticeUpdate.id == Delivery.update_id).join(Notice, Notice.id == NoticeUpdate.notice_id)
            .where(Delivery.subscriber_id == sub.id).order_by(Delivery.id)).all()
        document["deliveries"] = [
            {"notice": title, "update_status": status, "status": d.status, "attempts": d.attempts,
             "created_at": _iso(d.created_at), "sent_at": _iso(d.sent_at)} for d, status, title in rows]
    document["mailboxes"] = [
        {"municipality": c.municipality_code, "language": c.language, "stopped": list(c.stopped or []),
         "created_at": _iso(c.created_at)}
        for c in session.scalars(select(MunicipalityContact).where(MunicipalityContact.address == address)
                                 .order_by(MunicipalityContact.id))]
    mails = session.scalars(select(Mail).where(Mail.address_hash == address_hash(address)).order_by(Mail.id))
    document["mails"] = [{"kind": m.kind, "campaign": m.campaign, "language": m.language, "status": m.status,
                          "created_at": _iso(m.created_at), "sent_at": _iso(m.sent_at)} for m in mails]
    inputs = session.scalars(select(MethodInput).where(MethodInput.address == address).order_by(MethodInput.id))
    document["method_inputs"] = [
        {"municipality": i.municipality_code, "part": i.part, "text": i.text, "language": i.language,
         "created_at": _iso(i.created_at), "confirmed_at": _iso(i.confirmed_at), "answer": i.answer,
         "answered_at": _iso(i.answered_at), "published": i.published} for i in inputs]
    return document


def erase(session: Session, address: str, now: dt.datetime | None = None) -> bool:
    """Delete everything held on `address` now, and keep its hash so it is never invited again.

    Returns whether anything was held. The caller commits.
    """
    sub = session.scalars(select(Subscriber).where(Subscriber.address == address)).one_or_none()
    held = sub is not None
    if sub is not None:
        session.execute(delete(Delivery).where(Delivery.subscriber_id == sub.id))
        session.execute(delete(Mail).where(Mail.subscriber_id == sub.id))
        session.execute(delete(Subscription).where(Subscription.subscriber_id == sub.id))
        session.execute(delete(Subscriber).where(Subscriber.id == sub.id))
    boxes = cast(CursorResult[Any], session.execute(
        delete(MunicipalityContact).where(MunicipalityContact.address == address)))
    held = held or bool(boxes.rowcount)
    # A DML statement's result is a CursorResult (Session.execute is typed more widely).
    gone = cast(CursorResult[Any], session.execute(delete(Mail).where(Mail.address_hash == address_hash(address))))
    held = held or bool(gone.rowcount)
    # Inputs on the method go with their text and any answer; a correction made from one stays, unlinked.
    input_ids = select(MethodInput.id).where(MethodInput.address == address)
    session.execute(update(RatingCorrection).where(RatingCorrection.input_id.in_(input_ids)).values(input_id=None))
    gone = cast(CursorResult[Any], session.execute(delete(MethodInput).where(MethodInput.address == address)))
    held = held or bool(gone.rowcount)
    session.expire_all()
    suppress(session, address, "erased", now)
    return held
