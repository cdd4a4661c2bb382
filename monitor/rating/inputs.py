"""Leads' input on the method and objections to a result ("dit input?"), and operators' answers.

An input is stored unconfirmed; the mailed link carries the row's own `key`, and only a
POST on it confirms. Operators see every input on /drift, confirmed or not, and may answer;
a published answer is shown with the question's text, never with the sender's address.
The caller owns the session and commits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from ..models import MethodInput, Municipality
from .method import PARTS

METHOD_PART = "method"  # the method in general, not one part
INPUT_PARTS = (*PARTS, METHOD_PART)
MAX_TEXT = 2000
MAX_ANSWER = 4000
KEY_MAX = 64  # a link's key longer than this names no row without a look-up
LIST_LIMIT = 200


class InputRefused(ValueError):
    """A field of the input is not acceptable; `field` names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


@dataclass(frozen=True)
class Published:
    """A published answer as the pages show it: the question and the answer, no address."""

    municipality_code: str | None
    part: str
    question: str
    answer: str
    answered_at: dt.datetime


def check(session: Session, code: str | None, part: str, text: str) -> tuple[str | None, str, str]:
    """The municipality code (or None), part and text of an input, or `InputRefused` naming the field."""
    code = (code or "").strip() or None
    if code is not None and (len(code) > 3 or session.get(Municipality, code) is None):
        raise InputRefused("municipality", "unknown")
    if part not in INPUT_PARTS:
        raise InputRefused("part", "unknown")
    text = (text or "").strip()
    if not text:
        raise InputRefused("text", "empty")
    if len(text) > MAX_TEXT:
        raise InputRefused("text", "too long")
    return code, part, text


def submit(session: Session, code: str | None, part: str, text: str, address: str, language: str,
           now: dt.datetime) -> MethodInput:
    """Store an unconfirmed input (fields already checked, address normalised)."""
    row = MethodInput(municipality_code=code, part=part, text=text, address=address, language=language,
                      created_at=now, published=False)
    session.add(row)
    session.flush()
    return row


def by_key(session: Session, key: str) -> MethodInput | None:
    """The input whose confirmation link carries `key`, or None."""
    if not key or len(key) > KEY_MAX:
        return None
    return session.scalars(select(MethodInput).where(MethodInput.key == key)).one_or_none()


def confirm(row: MethodInput, now: dt.datetime) -> bool:
    """Mark the input confirmed; False when it already was (the first confirmation's time stays)."""
    if row.confirmed_at is not None:
        return False
    row.confirmed_at = now
    return True


def answer(row: MethodInput, text: str, publish: bool, operator: str, now: dt.datetime) -> bool:
    """Record the operator's answer, published or not (`InputRefused` for an empty or too long one).

    Returns whether the asker should hear of it: a confirmed input whose answer is new or changed
    (publishing an answer already sent, or saving it unchanged, mails nobody again).
    """
    text = (text or "").strip()
    if not text:
        raise InputRefused("answer", "empty")
    if len(text) > MAX_ANSWER:
        raise InputRefused("answer", "too long")
    news = row.confirmed_at is not None and row.answer != text
    row.answer, row.answered_at, row.answered_by, row.published = text, now, operator, publish
    return news


def purge_unconfirmed(session: Session, max_age: dt.timedelta, now: dt.datetime) -> int:
    """Delete the inputs never confirmed whose link expired a day ago or more; returns how many.

    Nobody vouched for them, so their text and address are kept no longer than the link that
    could have confirmed them (and a day, so an operator can still see one that just expired).
    """
    cutoff = now - max_age - dt.timedelta(days=1)
    stale = delete(MethodInput).where(MethodInput.confirmed_at.is_(None), MethodInput.created_at < cutoff)
    return int(cast(CursorResult[Any], session.execute(stale)).rowcount or 0)


def recent(session: Session, limit: int = LIST_LIMIT) -> list[MethodInput]:
    """The newest inputs, for operators (confirmed or not)."""
    return list(session.scalars(select(MethodInput).order_by(MethodInput.created_at.desc(), MethodInput.id.desc())
                                .limit(limit)))


def published(session: Session, code: str | None) -> list[Published]:
    """The published answers on a municipality (`code`) or on the method in general (None), newest first."""
    where = MethodInput.municipality_code == code if code is not None else MethodInput.municipality_code.is_(None)
    rows = session.scalars(select(MethodInput).where(where, MethodInput.published.is_(True),
                                                     MethodInput.confirmed_at.is_not(None),
                                                     MethodInput.answer.is_not(None))
                           .order_by(MethodInput.answered_at.desc(), MethodInput.id.desc()).limit(LIST_LIMIT))
    return [Published(r.municipality_code, r.part, r.text, r.answer or "", r.answered_at or r.created_at)
            for r in rows]


def for_address(session: Session, address: str) -> list[MethodInput]:
    """Every input sent from `address` (GDPR export and erasure)."""
    return list(session.scalars(select(MethodInput).where(MethodInput.address == address)
                                .order_by(MethodInput.id)))
