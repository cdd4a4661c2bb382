"""Corrections of a rating an operator agreed to: an agreement wrongly counted as unused.

The smallest model that covers the case the leads raise: a correction names one agreement
of one municipality and says it is in use, with a reason. The next rating (`service.rate`,
which `monitor rate`, the daily run and the what-if share) never counts it as unused; it can
still be a duplicate. A stored run is never changed: the revisions before the correction
keep the score without it, and each result that used one names it with the score it would
have had without. The caller owns the session and commits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Agreement, RatingCorrection

MAX_REASON = 1000
UUID_MAX = 36


class CorrectionRefused(ValueError):
    """The agreement is not one of the municipality's, or the reason is empty or too long."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


@dataclass(frozen=True)
class InForce:
    """A correction the next rating applies."""

    agreement_uuid: str
    reason: str
    recorded_at: dt.datetime


def record(session: Session, code: str, agreement_uuid: str, reason: str, operator: str, now: dt.datetime,
           input_id: int | None = None) -> RatingCorrection:
    """Record that `agreement_uuid` of municipality `code` is in use, with a reason (`CorrectionRefused`)."""
    agreement_uuid = (agreement_uuid or "").strip()
    known = (len(agreement_uuid) <= UUID_MAX and session.scalar(
        select(Agreement.id).where(Agreement.uuid == agreement_uuid, Agreement.municipality_code == code)))
    if not known:
        raise CorrectionRefused("agreement")
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise CorrectionRefused("reason")
    row = RatingCorrection(municipality_code=code, agreement_uuid=agreement_uuid, reason=reason, input_id=input_id,
                           created_at=now, created_by=operator)
    session.add(row)
    session.flush()
    return row


class WithdrawRefused(LookupError):
    """No such correction (`reason` "unknown"), or it was withdrawn already ("withdrawn")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def withdraw(session: Session, correction_id: int, now: dt.datetime) -> RatingCorrection:
    """Withdraw a correction: the next rating counts the agreement as before. The row is kept.

    Ratings stored while it was in force keep naming it; `WithdrawRefused` for an unknown or an
    already withdrawn correction, so a second click changes nothing.
    """
    row = session.get(RatingCorrection, correction_id) if 0 < correction_id < 2**31 else None
    if row is None:
        raise WithdrawRefused("unknown")
    if row.withdrawn_at is not None:
        raise WithdrawRefused("withdrawn")
    row.withdrawn_at = now
    session.flush()
    return row


def listing(session: Session, include_withdrawn: bool = False) -> list[RatingCorrection]:
    """The corrections, in force first by default, oldest first (for `monitor corrections list`)."""
    query = select(RatingCorrection).order_by(RatingCorrection.created_at, RatingCorrection.id)
    if not include_withdrawn:
        query = query.where(RatingCorrection.withdrawn_at.is_(None))
    return list(session.scalars(query))


def in_force(session: Session) -> dict[str, list[InForce]]:
    """Per municipality code: the corrections not withdrawn, oldest first."""
    out: dict[str, list[InForce]] = {}
    for c in session.scalars(select(RatingCorrection).where(RatingCorrection.withdrawn_at.is_(None))
                             .order_by(RatingCorrection.created_at, RatingCorrection.id)):
        out.setdefault(c.municipality_code, []).append(InForce(c.agreement_uuid, c.reason, c.created_at))
    return out


def for_inputs(session: Session, input_ids: list[int]) -> dict[int, list[RatingCorrection]]:
    """The corrections recorded from each of `input_ids` (for /drift)."""
    out: dict[int, list[RatingCorrection]] = {}
    if not input_ids:
        return out
    for c in session.scalars(select(RatingCorrection).where(RatingCorrection.input_id.in_(input_ids))
                             .order_by(RatingCorrection.id)):
        out.setdefault(c.input_id or 0, []).append(c)
    return out
