"""Mail events that happen once: claim a (kind, key) in the transaction that queues the mails."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from ..db import dialect_insert
from ..models import SentOnce


def claim(session: Session, kind: str, key: str, now: dt.datetime) -> bool:
    """Claim (kind, key); False when it was claimed before (by this or any other process).

    The unique key decides, so two runs at once cannot both win; the caller queues its mails
    in the same transaction and commits, or rolls back and leaves the key free.
    """
    stmt = (dialect_insert(session)(SentOnce).values(kind=kind, key=key[:200], created_at=now)
            .on_conflict_do_nothing(index_elements=["kind", "key"]).returning(SentOnce.id))
    return session.execute(stmt).first() is not None
