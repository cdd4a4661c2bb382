"""Acknowledgements: an operator marks a red or yellow municipality (or one silent agreement) as known.

The rules of when one holds are pure (`core.ack_is_active`); this module stores them, refuses
the ones that make no sense, marks ended the ones that no longer hold so that a
municipality that turned green and then red again is not covered by an old note, and lets an
operator withdraw one (it is marked ended at once; who did it is in the audit trail).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from ..models import CutoverAcknowledgement, Municipality
from ..settings import Settings
from . import core
from .documents import MunicipalityStatus
from .queries import gather, municipality_status

NOTE_MAX_CHARS = 1000
# One form acknowledges the whole municipality or some of its silent agreements; never more than this.
MAX_AGREEMENTS = 200
ACKNOWLEDGEABLE = ("red", "yellow")


class AckRefused(ValueError):
    """The acknowledgement cannot be given; the message names the reason (a code for the page)."""

    def __init__(self, code: str, **numbers: Any) -> None:
        super().__init__(code)
        self.code = code
        self.numbers = numbers


def _municipality_doc(session: Session, settings: Settings, code: str, now: dt.datetime) -> MunicipalityStatus:
    found = municipality_status(session, settings, now, code)  # its own rows, not the country's
    if found is None:
        raise AckRefused("unknown_municipality")
    return found


def _code(municipality: str) -> str:
    code = (municipality or "").strip()[:8].lstrip("0").rjust(3, "0")
    if not code.isdigit() or len(code) != 3:
        raise AckRefused("unknown_municipality")
    return code


def acknowledge(session: Session, settings: Settings, now: dt.datetime, *, municipality: str,
                agreement: str | None, note: str, operator: str) -> CutoverAcknowledgement:
    """Store an acknowledgement given at `now`, or raise AckRefused with a reason code.

    Refused: an unknown municipality, one that is not red or yellow, an agreement that is not
    one of its silent agreements, an empty note or one longer than NOTE_MAX_CHARS.
    """
    agreements = [agreement] if agreement and agreement.strip() else []
    return acknowledge_many(session, settings, now, municipality=municipality, agreements=agreements,
                            note=note, operator=operator)[0]


def acknowledge_many(session: Session, settings: Settings, now: dt.datetime, *, municipality: str,
                     agreements: Sequence[str], note: str, operator: str) -> list[CutoverAcknowledgement]:
    """Acknowledge the municipality (no `agreements`) or each of the given silent agreements, all or none.

    The rules are `acknowledge`'s; one refused agreement refuses them all, so a form never half
    succeeds.
    """
    code = _code(municipality)
    if session.get(Municipality, code) is None:
        raise AckRefused("unknown_municipality")
    note = (note or "").strip()
    if not note:
        raise AckRefused("empty_note")
    if len(note) > NOTE_MAX_CHARS:
        raise AckRefused("note_too_long", max=NOTE_MAX_CHARS)
    chosen = list(dict.fromkeys(a.strip() for a in agreements if a and a.strip()))
    if len(chosen) > MAX_AGREEMENTS:
        raise AckRefused("not_silent")
    m = _municipality_doc(session, settings, code, now)
    if m["status"] not in ACKNOWLEDGEABLE:
        raise AckRefused("not_red_or_yellow", status=m["status"])
    silent = {a["agreement_uuid"] for a in m["silent_agreements"]}
    if any(a not in silent for a in chosen):
        raise AckRefused("not_silent")
    targets: list[str | None] = list(chosen) or [None]  # None: the whole municipality
    rows = [CutoverAcknowledgement(municipality_code=code, agreement_uuid=a, note=note, operator=operator,
                                   status=m["status"], created_at=now) for a in targets]
    session.add_all(rows)
    session.flush()
    return rows


def withdraw(session: Session, settings: Settings, now: dt.datetime, *, municipality: str, agreement: str | None
             ) -> list[CutoverAcknowledgement]:
    """End at `now` the acknowledgements that hold for the municipality (or for one of its agreements).

    Only those not ended and given within the last `ack_hours` can still hold; the caller
    records who withdrew them in the audit trail. Raises AckRefused("nothing_to_withdraw")
    when there is none.
    """
    code = _code(municipality)
    agreement = (agreement or "").strip() or None
    match = (CutoverAcknowledgement.agreement_uuid.is_(None) if agreement is None
             else CutoverAcknowledgement.agreement_uuid == agreement)
    rows = list(session.scalars(select(CutoverAcknowledgement).where(
        CutoverAcknowledgement.municipality_code == code, match, CutoverAcknowledgement.ended_at.is_(None),
        CutoverAcknowledgement.created_at <= now,
        CutoverAcknowledgement.created_at > now - dt.timedelta(hours=settings.cutover.ack_hours)).order_by(CutoverAcknowledgement.id)))
    if not rows:
        raise AckRefused("nothing_to_withdraw")
    for row in rows:
        row.ended_at = now
    session.flush()
    return rows


# Up to this many municipalities with an open acknowledgement are judged one by one, from their
# own rows; more, and the whole country's document is cheaper than that many reads.
ONE_BY_ONE = 10


def end_stale(session: Session, settings: Settings, now: dt.datetime) -> int:
    """Mark ended every acknowledgement that no longer holds at `now`; returns how many."""
    codes = list(session.scalars(select(CutoverAcknowledgement.municipality_code)
                                 .where(CutoverAcknowledgement.ended_at.is_(None)).distinct()))
    ids: list[int] = []
    if len(codes) <= ONE_BY_ONE:
        for code in codes:
            inputs, _ = gather(session, settings, now, code)
            status = core.evaluate_municipality(inputs, settings.cutover, code)
            if status is not None:
                ids += core.ending_in_municipality(inputs, settings.cutover, status)
    else:
        inputs, observed = gather(session, settings, now)
        ids = core.ending_acknowledgements(inputs, settings.cutover, core.evaluate(inputs, settings.cutover, observed))
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

