"""Direct queries for what the pages show beside the rating document.

Calls per day are the rating's to define: the pages read them through `monitor.rating.queries`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...models import Municipality, RatingResult, RatingRun


def municipality_codes(session: Session) -> frozenset[str]:
    """The codes of the known municipalities."""
    return frozenset(session.connection().scalars(select(Municipality.code)))


def scores_last_month(session: Session, as_of: dt.date, days: int = 30, slack: int = 14) -> dict[str, float | None]:
    """Per municipality, the score of the newest stored run between `days`+`slack` and `days` before as_of.

    The same comparison the municipality document makes, for all 98 in one query.
    """
    target = as_of - dt.timedelta(days=days)
    run_id = session.scalar(
        select(RatingRun.id).where(RatingRun.as_of.between(target - dt.timedelta(days=slack), target))
        .order_by(RatingRun.as_of.desc(), RatingRun.revision.desc()).limit(1))
    if run_id is None:
        return {}
    rows = session.execute(select(RatingResult.municipality_code, RatingResult.score)
                           .where(RatingResult.run_id == run_id))
    return {code: score for code, score in rows}
