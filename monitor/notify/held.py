"""Notice updates held because one poll brought more than `[notices] max_new_per_poll` of them.

A flood from upstream (a status page that republished its history, a feed that changed its
ids) would otherwise mail every subscriber hundreds of times. Held updates are stored and
shown like any other, but nothing is mailed for them until an operator decides on /drift:
released, each is queued for its subscribers as if it had just arrived (and the hourly cap
still applies); discarded, nobody is mailed for it. The caller commits and writes the audit log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import Notice, NoticeSource, NoticeUpdate
from .outbox import enqueue_for_update


@dataclass(frozen=True)
class HeldGroup:
    """The held updates of one source."""

    source_id: int
    source: str
    updates: int
    first_seen_at: dt.datetime


def held_groups(session: Session) -> list[HeldGroup]:
    """The held updates per source, oldest first."""
    rows = session.execute(
        select(NoticeSource.id, NoticeSource.name, func.count(NoticeUpdate.id), func.min(NoticeUpdate.first_seen_at))
        .join(Notice, Notice.id == NoticeUpdate.notice_id).join(NoticeSource, NoticeSource.id == Notice.source_id)
        .where(NoticeUpdate.held.is_(True)).group_by(NoticeSource.id, NoticeSource.name)
        .order_by(func.min(NoticeUpdate.first_seen_at), NoticeSource.name)).all()
    return [HeldGroup(*row) for row in rows]


def held_count(session: Session) -> int:
    """How many updates wait for an operator (the metric fki_notices_held)."""
    return session.scalar(select(func.count()).select_from(NoticeUpdate).where(NoticeUpdate.held.is_(True))) or 0


def _held(session: Session, source_id: int) -> list[NoticeUpdate]:
    return list(session.scalars(
        select(NoticeUpdate).join(Notice, Notice.id == NoticeUpdate.notice_id)
        .where(NoticeUpdate.held.is_(True), Notice.source_id == source_id).order_by(NoticeUpdate.id)))


def release(session: Session, source_id: int) -> tuple[int, int]:
    """Queue the held updates of a source for their subscribers; (updates released, deliveries queued)."""
    updates = _held(session, source_id)
    queued = 0
    for update in updates:
        update.held = False
        queued += enqueue_for_update(session, update)
    session.flush()
    return len(updates), queued


def discard(session: Session, source_id: int) -> int:
    """Mail nobody about the held updates of a source (they stay on the pages); how many there were."""
    updates = _held(session, source_id)
    for update in updates:
        update.held = False
    session.flush()
    return len(updates)
