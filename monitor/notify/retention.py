"""Personal data that outlives its use: old delivery rows and spent sign-in links.

A delivery row names its recipient only through its subscriber (deleted with the subscriber
after the unsubscribe grace period, see `purge_unsubscribed`) and in the text of its last
error, where a mail server's refusal quotes the address. After `[mail] retention_days` the
addresses in that text are masked (``r…1@example.dk``), so the row still tells what happened
but no longer who it happened to. Sign-in links and operator sessions are deleted a day after
they expire (or a session ended). Inputs on the method that were never confirmed are deleted a
day after their link expired (`rating.inputs.purge_unconfirmed`).
The scheduler runs this daily; it logs instead of raising.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..models import Delivery
from ..privacy import ADDRESS, mask_addresses
from ..rating.inputs import purge_unconfirmed
from ..settings import Settings
from ..users import purge_links, purge_sessions

log = logging.getLogger(__name__)
BATCH = 500


def forget_delivery_addresses(session: Session, settings: Settings, now: dt.datetime) -> int:
    """Mask the addresses in the errors of deliveries older than the retention; returns rows changed."""
    cutoff = now - dt.timedelta(days=settings.mail.retention_days)
    changed = 0
    last_id = 0
    while True:
        rows = session.scalars(select(Delivery).where(Delivery.created_at < cutoff, Delivery.last_error.is_not(None),
                                                      Delivery.last_error.contains("@"), Delivery.id > last_id)
                               .order_by(Delivery.id).limit(BATCH)).all()
        if not rows:
            return changed
        for row in rows:
            if row.last_error and ADDRESS.search(row.last_error):
                masked = mask_addresses(row.last_error)
                if masked != row.last_error:
                    row.last_error = masked
                    changed += 1
        last_id = rows[-1].id
        session.flush()


def apply_retention(engine: Engine, settings: Settings, now: dt.datetime | None = None) -> int:
    """The daily job: old delivery rows lose their addresses; spent sign-in links and unconfirmed inputs go."""
    now = now or utcnow()
    try:
        with Session(engine) as session, session.begin():
            changed = forget_delivery_addresses(session, settings, now)
            links = purge_links(session, now) + purge_sessions(session, now)
            inputs = purge_unconfirmed(session, dt.timedelta(hours=settings.web.confirm_max_age_hours), now)
    except Exception:
        log.exception("applying the retention rules failed")
        return 0
    if changed or links or inputs:
        log.info("retention: %d delivery rows lost their address, %d sign-in links and sessions deleted, "
                 "%d unconfirmed inputs deleted", changed, links, inputs)
    return changed
