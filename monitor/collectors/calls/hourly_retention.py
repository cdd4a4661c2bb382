"""Retention of hourly call counts: `[retention] hourly_days`.

Hourly counts of Copenhagen days older than `hourly_days` before today are rolled into daily
counts and deleted, one day per transaction, so the table stops growing and no single
transaction holds a year of rows. A day's calls stay what the rating reads ("the daily count
when one exists, else the sum of that day's hours"): where a daily count exists it is kept as
it is, and where none exists the day's row in `agreement_days` becomes one, the sum of its
hours and their errors (its calls do not change: the row already held that sum). Rolling a day
and deleting its hours commit together, so a day is rolled up exactly once, and a day is only
ever taken whole. Hours of an agreement that does not exist are left alone for `monitor db
check` to report.

On PostgreSQL `hourly_calls` is partitioned by month (`monitor.partitions`): the days whose hours
all lie in months wholly before the cut-off are rolled up without deleting, one per transaction,
and then those months' partitions are detached concurrently and dropped, which frees their
space at once and costs no reader a wait. A drop that fails leaves its month for the next pass,
whose roll-up then finds the daily counts made and makes none. The rest of the days before the
cut-off (the cut-off's own month) are deleted day by day as on SQLite. A dropped partition takes
the hours of agreements that do not exist with it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import Engine, and_, delete, exists, func, select, true
from sqlalchemy.orm import Session

from ... import daytable, partitions
from ...db import dialect_insert, is_postgres, session_factory, session_scope, utcnow
from ...localtime import CPH
from ...models import Agreement, AgreementDay, HourlyCallCount
from ...settings import Settings

log = logging.getLogger(__name__)


@dataclass
class RetentionResult:
    """What one pass did: the days taken, the daily counts made, the hourly rows deleted (by the
    day or with their month's partition), the partitions dropped."""

    cutoff: dt.date
    days: int = 0
    daily_rows: int = 0
    hourly_rows: int = 0
    partitions: int = 0


def cutoff_day(settings: Settings, now: dt.datetime) -> dt.date:
    """The first Copenhagen day whose hours are kept: `hourly_days` before today."""
    return now.astimezone(CPH).date() - dt.timedelta(days=settings.retention.hourly_days)


def roll_up_day(session: Session, day: dt.date, *, delete_hours: bool = True) -> tuple[int, int]:
    """Roll one day's hours into daily counts where none exists, and delete them; (made, deleted).

    Without `delete_hours` the hours stay, for their partition to be dropped whole.
    """
    known = exists().where(Agreement.id == HourlyCallCount.agreement_id)
    has_daily = exists().where(AgreementDay.agreement_id == HourlyCallCount.agreement_id,
                               AgreementDay.day == HourlyCallCount.day, AgreementDay.daily)
    sums = (select(HourlyCallCount.agreement_id, HourlyCallCount.day, func.sum(HourlyCallCount.calls),
                   func.sum(HourlyCallCount.errors), true())
            .where(HourlyCallCount.day == day, known, ~has_daily)
            .group_by(HourlyCallCount.agreement_id, HourlyCallCount.day))
    stmt = dialect_insert(session)(AgreementDay).from_select(["agreement_id", "day", "calls", "errors", "daily"], sums)
    stmt = stmt.on_conflict_do_update(
        index_elements=["day", "agreement_id"],
        set_={"calls": stmt.excluded.calls, "errors": stmt.excluded.errors, "daily": stmt.excluded.daily},
        where=~AgreementDay.daily)
    conn = session.connection()  # Core statements: their row counts, not the ORM's bulk paths
    # RETURNING: psycopg gives no row count for INSERT … SELECT through SQLAlchemy's insert().
    made = len(conn.execute(stmt.returning(AgreementDay.agreement_id)).all())
    deleted = 0
    if delete_hours:
        deleted = conn.execute(delete(HourlyCallCount).where(and_(HourlyCallCount.day == day, known))).rowcount
    daytable.refresh_days(session, day, day)  # hours of unknown agreements, if any, keep their row
    return made, max(deleted, 0)


def droppable_months(session: Session, cutoff: dt.date) -> list[partitions.Month]:
    """PostgreSQL: the partitions whose every hour lies before the cut-off day's first hour."""
    if not is_postgres(session):
        return []
    first_kept = daytable.day_span(cutoff)[0].astimezone(dt.UTC).replace(tzinfo=None)
    return sorted(m for m in partitions.existing(session) if m.end <= first_kept)


def apply_hourly_retention(engine: Engine, settings: Settings, now: dt.datetime | None = None) -> RetentionResult:
    """The scheduler's job: roll up every whole day of hours older than the retention, and delete
    them: by the day, or on PostgreSQL by dropping the months wholly before the cut-off."""
    result = RetentionResult(cutoff_day(settings, now or utcnow()))
    factory = session_factory(engine)
    with factory() as session:
        days = list(session.scalars(select(HourlyCallCount.day).where(HourlyCallCount.day < result.cutoff)
                                    .distinct().order_by(HourlyCallCount.day)))
        dropping = droppable_months(session, result.cutoff)
    # Days whose every hour is in a partition that is dropped below are only rolled up.
    dropped_until = dropping[-1].end.replace(tzinfo=dt.UTC) if dropping else None
    for day in days:  # one day per transaction: a batch of at most agreements × 25 hours
        whole = dropped_until is not None and daytable.day_span(day)[1] <= dropped_until
        with session_scope(factory) as session:
            made, deleted = roll_up_day(session, day, delete_hours=not whole)
        result.days += 1
        result.daily_rows += made
        result.hourly_rows += deleted
    for month in dropping:  # every day in it is rolled up and committed
        rows = partitions.rows_in(engine, month)
        partitions.drop(engine, month)
        result.partitions += 1
        result.hourly_rows += rows
    if days or dropping:
        log.info("hourly counts before %s: %d day(s) rolled up into %d daily count(s), %d hourly row(s) deleted, "
                 "%d monthly partition(s) dropped", result.cutoff, result.days, result.daily_rows,
                 result.hourly_rows, result.partitions)
    return result
