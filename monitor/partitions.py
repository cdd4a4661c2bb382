"""The monthly partitions of `hourly_calls` on PostgreSQL (SQLite keeps one plain table).

A month's partition is `hourly_calls_YYYY_MM`, for the UTC hours from the first of the month to
the first of the next. There is no DEFAULT partition: every writer makes the months it writes
first (`ensure_hourly`), and a row of a month without one is refused rather than parked where
retention could not drop it by the month.

A missing month is made as a table of its own and then attached: attaching takes only a SHARE
UPDATE EXCLUSIVE lock on `hourly_calls`, which readers and writers pass, and the exclusive lock
on the new, empty table that nobody reads yet (`CREATE TABLE … PARTITION OF` would lock the
whole parent exclusively). Made in a short transaction of its own before the writer's, so an
import never holds a lock on the table for its whole length.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from .db import is_postgres

PARENT = "hourly_calls"


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month of UTC hours."""

    year: int
    month: int

    @classmethod
    def of(cls, instant: dt.datetime | dt.date) -> Month:
        """The month of a UTC instant (aware or naive UTC) or of a date."""
        if isinstance(instant, dt.datetime) and instant.tzinfo is not None:
            instant = instant.astimezone(dt.UTC)
        return cls(instant.year, instant.month)

    @property
    def start(self) -> dt.datetime:
        """The month's first hour (naive UTC, as stored)."""
        return dt.datetime(self.year, self.month, 1)

    @property
    def end(self) -> dt.datetime:
        """The next month's first hour (naive UTC): the partition's exclusive bound."""
        return dt.datetime(self.year + self.month // 12, self.month % 12 + 1, 1)

    @property
    def name(self) -> str:
        """The partition's table name."""
        return f"{PARENT}_{self.year:04d}_{self.month:02d}"


def months_of(hours: Iterable[dt.datetime]) -> set[Month]:
    """The distinct months of `hours`."""
    return {Month.of(h) for h in hours}


def existing(conn: Connection | Session) -> dict[Month, str]:
    """The attached monthly partitions of `hourly_calls`, by month."""
    rows = conn.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = CAST(:parent AS regclass)"), {"parent": PARENT}).scalars()
    found = {}
    for name in rows:
        year, month = name.removeprefix(f"{PARENT}_").split("_")
        found[Month(int(year), int(month))] = name
    return found


def create(conn: Connection, month: Month) -> None:
    """Make `month`'s partition, if it is missing, without an exclusive lock on `hourly_calls`."""
    conn.execute(text(f"CREATE TABLE IF NOT EXISTS {month.name} "
                      f"(LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"))
    attached = conn.execute(text("SELECT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = CAST(:t AS regclass))"),
                            {"t": month.name}).scalar()
    if not attached:
        # Attaching takes SHARE UPDATE EXCLUSIVE on the parent: readers and writers go on.
        conn.execute(text(f"ALTER TABLE {PARENT} ATTACH PARTITION {month.name} "
                          f"FOR VALUES FROM ('{month.start.isoformat(' ')}') TO ('{month.end.isoformat(' ')}')"))


def ensure_hourly(session: Session, hours: Iterable[dt.datetime]) -> list[Month]:
    """Make the partitions that `hours` need and that are missing; returns the months made.

    On SQLite nothing. On PostgreSQL, when the session is bound to an engine, the partitions are
    made and committed in a transaction of their own (an empty partition outlives a writer that
    then fails, which is harmless); bound to a connection, they are made in its transaction.
    """
    if not is_postgres(session):
        return []
    missing = sorted(months_of(hours) - set(existing(session)))
    if not missing:
        return []
    bind = session.get_bind()
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            for month in missing:
                create(conn, month)
    else:
        conn = session.connection()
        for month in missing:
            create(conn, month)
    return missing


def rows_in(engine: Engine, month: Month) -> int:
    """The rows of `month`'s partition (0 when it does not exist)."""
    with engine.connect() as conn:
        if conn.execute(text("SELECT to_regclass(:t)"), {"t": month.name}).scalar() is None:
            return 0
        return int(conn.execute(text(f"SELECT count(*) FROM {month.name}")).scalar() or 0)


def drop(engine: Engine, month: Month) -> None:
    """Detach `month`'s partition concurrently and drop it, with its rows.

    `DETACH … CONCURRENTLY` takes only SHARE UPDATE EXCLUSIVE on `hourly_calls` and waits for the
    transactions that may still read the partition, so no reader waits for it; the detached
    table is read by nobody and dropped. It cannot run inside a transaction, hence the engine.
    A detach interrupted earlier (left pending) is finished first.
    """
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        pending = conn.execute(text("SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = to_regclass(:t)"),
                               {"t": month.name}).scalar()
        if pending is True:
            conn.execute(text(f"ALTER TABLE {PARENT} DETACH PARTITION {month.name} FINALIZE"))
        elif pending is False:
            conn.execute(text(f"ALTER TABLE {PARENT} DETACH PARTITION {month.name} CONCURRENTLY"))
        conn.execute(text(f"DROP TABLE IF EXISTS {month.name}"))
