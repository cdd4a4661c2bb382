"""Direct queries for what the pages show beside the rating document.

A day's calls follow SPEC: the daily count when one exists, otherwise the sum of that
Copenhagen day's hour buckets — never both.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from ...models import Agreement, DailyCallCount, HourlyCallCount, Municipality, RatingResult, RatingRun

DAILY = DailyCallCount.__table__
HOURLY = HourlyCallCount.__table__


def municipality_codes(session: Session) -> frozenset[str]:
    """The codes of the known municipalities."""
    return frozenset(session.connection().scalars(select(Municipality.code)))


def _per(session: Session, code: str, first: dt.date, last: dt.date, key: str) -> dict[Any, int]:
    """Calls of the municipality's agreements from first to last, summed per agreement or per day."""
    out: dict[Any, int] = defaultdict(int)
    ids = select(Agreement.id).where(Agreement.municipality_code == code)
    for table, skip_daily in ((DAILY, False), (HOURLY, True)):
        group = table.c.agreement_id if key == "agreement" else table.c.day
        q = (select(group, func.sum(table.c.calls))
             .where(table.c.day.between(first, last), table.c.agreement_id.in_(ids))
             .group_by(group))
        if skip_daily:
            q = q.where(~exists().where(DAILY.c.agreement_id == table.c.agreement_id, DAILY.c.day == table.c.day))
        for k, calls in session.execute(q):
            out[k] += int(calls or 0)
    return out


def daily_calls(session: Session, code: str, first: dt.date, last: dt.date) -> list[tuple[dt.date, int]]:
    """(day, calls) for every day from first to last; days without data count 0."""
    per_day = _per(session, code, first, last, "day")
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    return [(d, per_day.get(d, 0)) for d in days]


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
