"""Acknowledgements: an operator marks a red or yellow municipality (or one silent agreement) as known.

The rules of when one holds are pure (`core.ack_is_active`); this module stores them, refuses
the ones that make no sense, and marks ended the ones that no longer hold so that a
municipality that turned green and then red again is not covered by an old note.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from ..models import CutoverAcknowledgement, Municipality
from ..settings import Settings
from . import core
from .queries import gather

NOTE_MAX_CHARS = 1000
ACKNOWLEDGEABLE = ("red", "yellow")


class AckRefused(ValueError):
    """The acknowledgement cannot be given; the message names the reason (a code for the page)."""

    def __init__(self, code: str, **numbers: Any) -> None:
        super().__init__(code)
        self.code = code
        self.numbers = numbers


def _municipality_doc(session: Session, settings: Settings, code: str, now: dt.datetime) -> dict[str, Any]:
    inputs, observed = gather(session, settings, now)
    doc = core.evaluate(inputs, settings.cutover, observed)
    municipalities: list[dict[str, Any]] = doc["municipalities"]
    for m in municipalities:
        if m["code"] == code:
            return m
    raise AckRefused("unknown_municipality")


def acknowledge(session: Session, settings: Settings, now: dt.datetime, *, municipality: str,
                agreement: str | None, note: str, operator: str) -> CutoverAcknowledgement:
    """Store an acknowledgement given at `now`, or raise AckRefused with a reason code.

    Refused: an unknown municipality, one that is not red or yellow, an agreement that is not
    one of its silent agreements, an empty note or one longer than NOTE_MAX_CHARS.
    """
    code = (municipality or "").strip().lstrip("0").rjust(3, "0")
    if not code.isdigit() or len(code) != 3 or session.get(Municipality, code) is None:
        raise AckRefused("unknown_municipality")
    note = (note or "").strip()
    if not note:
        raise AckRefused("empty_note")
    if len(note) > NOTE_MAX_CHARS:
        raise AckRefused("note_too_long", max=NOTE_MAX_CHARS)
    m = _municipality_doc(session, settings, code, now)
    if m["status"] not in ACKNOWLEDGEABLE:
        raise AckRefused("not_red_or_yellow", status=m["status"])
    agreement = (agreement or "").strip() or None
    if agreement is not None and agreement not in {a["agreement_uuid"] for a in m["silent_agreements"]}:
        raise AckRefused("not_silent")
    row = CutoverAcknowledgement(municipality_code=code, agreement_uuid=agreement, note=note,
                                 operator=operator, status=m["status"], created_at=now)
    session.add(row)
    session.flush()
    return row


def end_stale(session: Session, settings: Settings, now: dt.datetime) -> int:
    """Mark ended every acknowledgement that no longer holds at `now`; returns how many."""
    inputs, observed = gather(session, settings, now)
    doc = core.evaluate(inputs, settings.cutover, observed)
    ids = core.ending_acknowledgements(inputs, settings.cutover, doc)
    if ids:
        session.execute(update(CutoverAcknowledgement).where(CutoverAcknowledgement.id.in_(ids))
                        .values(ended_at=now))
    return len(ids)


def end_stale_job(engine: Engine, settings: Settings, now: dt.datetime | None = None) -> None:
    """The scheduler's job: `end_stale` at the current time, in its own transaction.

    Without an acknowledgement still open it costs one indexed query, not a document.
    """
    now = now or dt.datetime.now(dt.UTC)
    since = now - dt.timedelta(hours=settings.cutover.ack_hours)
    with Session(engine) as session, session.begin():
        open_one = session.scalar(select(CutoverAcknowledgement.id).where(
            CutoverAcknowledgement.ended_at.is_(None), CutoverAcknowledgement.created_at > since).limit(1))
        if open_one is not None:
            end_stale(session, settings, now)

