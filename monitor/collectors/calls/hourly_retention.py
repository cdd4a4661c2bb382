"""Retention of hourly call counts: `[retention] hourly_days`.

Hourly counts of Copenhagen days older than `hourly_days` before today are rolled into daily
counts and deleted, one day per transaction, so the table stops growing and no single
transaction holds a year of rows. A day's calls stay what the rating reads ("the daily count
when one exists, else the sum of that day's hours"): where a daily count exists it is kept as
it is, and where none exists the day's hours become one, their sum. Rolling a day and deleting
its hours commit together, so a day is rolled up exactly once, and a day is only ever taken
whole. Hours of an agreement that does not exist are left alone for `monitor db check` to report.
The day's rows in `agreement_days` are brought up to date in the same transaction (their calls
do not change: the new daily counts are the sums they already held).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import Engine, and_, delete, exists, func, insert, select
from sqlalchemy.orm import Session

from ... import daytable
from ...db import session_factory, session_scope, utcnow
from ...localtime import CPH
from ...models import Agreement, DailyCallCount, HourlyCallCount
from ...settings import Settings

log = logging.getLogger(__name__)


@dataclass
class RetentionResult:
    """What one pass did: the days taken, the daily counts made, the hourly rows deleted."""

    cutoff: dt.date
    days: int = 0
    daily_rows: int = 0
    hourly_rows: int = 0


def cutoff_day(settings: Settings, now: dt.datetime) -> dt.date:
    """The first Copenhagen day whose hours are kept: `hourly_days` before today."""
    return now.astimezone(CPH).date() - dt.timedelta(days=settings.retention.hourly_days)


def roll_up_day(session: Session, day: dt.date) -> tuple[int, int]:
    """Roll one day's hours into daily counts where none exists, and delete them; (made, deleted)."""
    known = exists().where(Agreement.id == HourlyCallCount.agreement_id)
    has_daily = exists().where(DailyCallCount.agreement_id == HourlyCallCount.agreement_id,
                               DailyCallCount.day == HourlyCallCount.day)
    sums = (select(HourlyCallCount.agreement_id, HourlyCallCount.day, func.sum(HourlyCallCount.calls),
                   func.sum(HourlyCallCount.errors))
            .where(HourlyCallCount.day == day, known, ~has_daily)
            .group_by(HourlyCallCount.agreement_id, HourlyCallCount.day))
    conn = session.connection()  # Core statements: their row counts, not the ORM's bulk paths
    # RETURNING: psycopg gives no row count for INSERT … SELECT through SQLAlchemy's insert().
    made = len(conn.execute(insert(DailyCallCount).from_select(["agreement_id", "day", "calls", "errors"], sums)
                            .returning(DailyCallCount.agreement_id)).all())
    deleted = conn.execute(delete(HourlyCallCount).where(and_(HourlyCallCount.day == day, known))).rowcount
    daytable.refresh_days(session, day, day)  # the same calls as before, now from the daily counts
    return made, max(deleted, 0)


def apply_hourly_retention(engine: Engine, settings: Settings, now: dt.datetime | None = None) -> RetentionResult:
    """The scheduler's job: roll up and delete every whole day of hours older than the retention."""
    result = RetentionResult(cutoff_day(settings, now or utcnow()))
    factory = session_factory(engine)
    with factory() as session:
        days = list(session.scalars(select(HourlyCallCount.day).where(HourlyCallCount.day < result.cutoff)
                                    .distinct().order_by(HourlyCallCount.day)))
    for day in days:  # one day per transaction: a batch of at most agreements × 25 hours
        with session_scope(factory) as session:
            made, deleted = roll_up_day(session, day)
        result.days += 1
        result.daily_rows += made
        result.hourly_rows += deleted
    if days:
        log.info("hourly counts before %s: %d day(s) rolled up into %d daily count(s), %d hourly row(s) deleted",
                 result.cutoff, result.days, result.daily_rows, result.hourly_rows)
    return result
