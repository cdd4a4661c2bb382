"""Each agreement's calls per week (`agreement_weeks`), the sums of its day rows, for the rating.

The rating sums every agreement's day rows over a span of 90 days (`monitor.rating.queries`).
Whole weeks of that span are read here instead, one row per agreement and week in place of
seven, and only the days at the span's edges from `agreement_days`: about a third of the rows.

A week is seven days from a Monday, numbered from Monday 1 January 1900 (week 0). A week's row
is trusted only while the week is not stale. Every write to `agreement_days` (any writer: the
imports, the day rows of hours, the retention, the demo) marks the weeks of the rows it wrote
stale in `agreement_weeks_stale`, by a trigger, in the writer's own transaction; a reader then
reads that week's day rows instead. `refresh(session)` recomputes the stale weeks and clears
their marks: the daily rating run calls it first (`rating.service.store_snapshot`), as do the
demo loader and `monitor db check`. Whether it ran changes no result, only how many rows the
rating reads. docs/performance.md ("Rating", "Whole weeks") has the measurements, docs/operations.md the design.

On PostgreSQL the marks are set by statement triggers over the rows a statement wrote (its
transition table), so a COPY of a million rows marks its weeks once, not per row; SQLite marks
per row. A refresh takes the marks not held by a writer still running (`FOR UPDATE SKIP
LOCKED`), so it never waits for an import, and an import marking a week that a refresh is
recomputing waits for that refresh's commit, then marks it again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import BindParameter, Date, bindparam, text
from sqlalchemy.orm import Session

from .db import is_postgres

EPOCH = dt.date(1900, 1, 1)  # a Monday: week 0
WEEK_DAYS = 7

# A day column's week number, in each database's SQL (the day is on or after EPOCH: the
# difference is not negative, so integer division and truncation agree with Python's).
PG_WEEK = "(({day}) - DATE '1900-01-01') / 7"
SQLITE_WEEK = "CAST((julianday({day}) - 2415020.5) / 7 AS INTEGER)"  # julianday('1900-01-01')

REFRESH_LOCK = 0x6d6f6e77  # the PostgreSQL advisory lock of a refresh: one at a time


def week_of(day: dt.date) -> int:
    """The number of the week `day` is in.

    Before EPOCH the division truncates toward week 0, as the databases' does, so those numbers
    are not whole weeks: `plan` never reads a week before EPOCH as one.
    """
    return int((day - EPOCH).days / WEEK_DAYS)


def week_start(week: int) -> dt.date:
    """The Monday that begins `week`."""
    return EPOCH + dt.timedelta(days=WEEK_DAYS * week)


def week_sql(session: Session, day: str = "day") -> str:
    """The SQL of the week number of the date column `day`, for the session's database."""
    return (PG_WEEK if is_postgres(session) else SQLITE_WEEK).format(day=day)


@dataclass(frozen=True)
class Plan:
    """How to read a span's calls: whole `weeks` from `agreement_weeks`, the other `days` from
    `agreement_days`, and the first week at or after each boundary (for the window and the
    redundancy period)."""

    weeks: list[int]
    days: list[dt.date]
    window_week: int
    recent_week: int


def plan(stale: set[int], start: dt.date, window_start: dt.date, recent_start: dt.date, end: dt.date) -> Plan:
    """The weeks and days to read for the days from `start` to `end` (inclusive).

    A week is read as one row when all seven days lie in the span, it is not stale, and neither
    boundary (`window_start`, `recent_start`) falls inside it: then its calls count for the
    window exactly when its Monday does. Every other day of the span is read as itself.
    """
    weeks: list[int] = []
    days: list[dt.date] = []
    day = start
    one_week = dt.timedelta(days=WEEK_DAYS - 1)
    while day <= end:
        week = week_of(day)
        monday, sunday = week_start(week), week_start(week) + one_week
        whole = (day >= EPOCH and monday == day and sunday <= end and week not in stale
                 and not monday < window_start <= sunday and not monday < recent_start <= sunday)
        if whole:
            weeks.append(week)
            day = sunday + dt.timedelta(days=1)
        else:
            days.append(day)
            day += dt.timedelta(days=1)
    return Plan(weeks, days, _first_week_from(window_start), _first_week_from(recent_start))


def _first_week_from(day: dt.date) -> int:
    week = week_of(day)
    return week if week_start(week) >= day else week + 1


STALE_IN = text("SELECT week FROM agreement_weeks_stale WHERE week BETWEEN :first AND :last")


def stale_weeks(session: Session, start: dt.date, end: dt.date) -> set[int]:
    """The stale weeks among those of the days from `start` to `end`."""
    return set(session.connection().execute(STALE_IN, {"first": week_of(start), "last": week_of(end)}).scalars())


def span_plan(session: Session, start: dt.date, window_start: dt.date, recent_start: dt.date, end: dt.date
              ) -> Plan:
    """`plan` with the span's stale weeks read from the database."""
    return plan(stale_weeks(session, start, end), start, window_start, recent_start, end)


def _recompute(session: Session, weeks: list[int]) -> None:
    # The weeks' rows made again from their day rows (a week without day rows keeps none).
    conn = session.connection()
    week = week_sql(session)
    chosen: BindParameter[int] = bindparam("weeks", expanding=True)
    some_days = bindparam("days", expanding=True, type_=Date())
    conn.execute(text("DELETE FROM agreement_weeks WHERE week IN :weeks").bindparams(chosen), {"weeks": weeks})
    for first in range(0, len(weeks), 100):
        part = weeks[first:first + 100]
        days = [week_start(w) + dt.timedelta(days=i) for w in part for i in range(WEEK_DAYS)]
        conn.execute(text(f"INSERT INTO agreement_weeks (week, agreement_id, calls) "
                          f"SELECT {week}, agreement_id, sum(calls) FROM agreement_days WHERE day IN :days "
                          f"GROUP BY {week}, agreement_id").bindparams(some_days),
                     {"days": days})


def refresh(session: Session) -> list[int]:
    """Recompute the stale weeks not being written right now and clear their marks; returns them.

    On PostgreSQL the marks are taken first (deleted, locked by this transaction), skipping those
    an unfinished writer holds; the weeks are then read in statements that see every write
    committed before them. One refresh at a time (an advisory lock). The caller commits.
    """
    conn = session.connection()
    if is_postgres(session):
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": REFRESH_LOCK})
        weeks = sorted(conn.execute(text(
            "DELETE FROM agreement_weeks_stale WHERE week IN "
            "(SELECT week FROM agreement_weeks_stale FOR UPDATE SKIP LOCKED) RETURNING week")).scalars())
    else:
        weeks = sorted(conn.execute(text("DELETE FROM agreement_weeks_stale RETURNING week")).scalars())
    if weeks:
        _recompute(session, [w for w in weeks if w >= 0])
    return weeks


def mismatches(session: Session) -> int:
    """How many (week, agreement) rows of weeks not stale differ from their day rows' sums (0 when kept).

    For `monitor db check`; reads both tables whole.
    """
    week = week_sql(session)
    fresh = "week NOT IN (SELECT week FROM agreement_weeks_stale)"
    stored = f"SELECT week, agreement_id, calls FROM agreement_weeks WHERE {fresh}"
    definition = (f"SELECT week, agreement_id, calls FROM (SELECT {week} AS week, agreement_id, sum(calls) AS calls "
                  f"FROM agreement_days WHERE day >= :epoch GROUP BY {week}, agreement_id) AS sums WHERE {fresh}")
    count = text(f"SELECT count(*) FROM (SELECT week, agreement_id FROM ({stored} EXCEPT {definition}) AS extra "
                 f"UNION ALL SELECT week, agreement_id FROM ({definition} EXCEPT {stored}) AS missing) AS differing"
                 ).bindparams(bindparam("epoch", type_=Date()))
    return int(session.connection().execute(count, {"epoch": EPOCH}).scalar_one())
