"""The delivery outbox (filled in by the subscriptions issue)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..models import NoticeUpdate


def enqueue_for_update(session: Session, update: NoticeUpdate) -> int:
    """Queue one delivery per matching confirmed subscriber for a new notice update.

    Called by the notice collector inside the transaction that stores `update` (never for
    backfilled updates); returns the number of deliveries queued.
    """
    return 0
