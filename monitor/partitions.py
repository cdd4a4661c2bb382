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

Only the owner of `hourly_calls` may attach a partition. The scheduler's `partitions` job (and
`monitor db partitions`) makes this and next month's in advance (`ensure_ahead`), so that a
service user that owns no table never needs to; when one would and may not, the writer gets
`PartitionsNotAllowed`, whose message says what the operator should run.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from . import runs
from .db import is_postgres, session_factory
from .settings import Settings

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

    @property
    def next(self) -> Month:
        """The month after this one."""
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @classmethod
    def parse(cls, value: str) -> Month:
        """A month written YYYY-MM, from 2000-01 to 9999-12; ValueError saying so otherwise."""
        found = re.fullmatch(r"([0-9]{4})-([0-9]{2})", value.strip())
        if found is None or int(found[1]) < 2000 or not 1 <= int(found[2]) <= 12:
            raise ValueError(f"{value[:40]!r} is not a month written YYYY-MM (2000-01 to 9999-12)")
        return cls(int(found[1]), int(found[2]))


# PostgreSQL's SQLSTATE for "must be owner of table" and other refused privileges.
INSUFFICIENT_PRIVILEGE = "42501"


class PartitionsNotAllowed(Exception):
    """Months without a partition that this database user may not make (it does not own `hourly_calls`)."""

    def __init__(self, months: Iterable[Month], user: str = "", owner: str = "") -> None:
        self.months = sorted(months)
        self.user, self.owner = user, owner
        who = f"the database user {user}" if user else "this database user"
        by = f" ({owner})" if owner else ""
        super().__init__(
            f"hourly_calls has no partition for {', '.join(map(str, self.months))}, and {who} may not make one: "
            f"only the owner of hourly_calls{by} can. Run `{command(self.months)}` as the owner "
            f"(MONITOR_DATABASE_URL set to the owner's connection); run as the owner, the scheduler's partitions "
            f"job makes this and next month's partitions in advance")


def command(months: Iterable[Month]) -> str:
    """The command that makes `months` (besides this and next month's)."""
    return " ".join(["monitor db partitions", *(f"--month {m}" for m in sorted(months))])


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
            _create_all(conn, missing)
    else:
        _create_all(session.connection(), missing)
    return missing


def _create_all(conn: Connection, months: list[Month]) -> None:
    """Make `months`; a refused privilege becomes `PartitionsNotAllowed` (the transaction is then aborted)."""
    user, owner = conn.execute(text("SELECT current_user, pg_get_userbyid(relowner) FROM pg_class "
                                    "WHERE oid = CAST(:parent AS regclass)"), {"parent": PARENT}).one()
    try:
        for month in months:
            create(conn, month)
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != INSUFFICIENT_PRIVILEGE:
            raise
        raise PartitionsNotAllowed(months, user, owner) from exc


def months_ahead(now: dt.datetime) -> list[Month]:
    """The months a writer may need soon: the UTC month of `now` and the next one."""
    this = Month.of(now)
    return [this, this.next]


def ensure_ahead(engine: Engine, settings: Settings | None = None, now: dt.datetime | None = None,
                 months: Iterable[Month] = ()) -> list[Month]:
    """The scheduler's `partitions` job: make this and next month's partitions where missing, and
    `months` (`monitor db partitions --month`: an older month that a catch-up import needs).

    Returns the months made. On SQLite nothing, and no run is recorded. On PostgreSQL the run
    is recorded (job `partitions`); a user that may not make them fails the run with
    `PartitionsNotAllowed`, whose message says what to run instead.
    """
    if not is_postgres(engine):
        return []
    sessions = session_factory(engine)
    with runs.recorded_run(sessions, "partitions", now) as run:
        wanted = sorted(set(months_ahead(run.started_at)) | set(months))
        with sessions() as session:
            made = ensure_hourly(session, [m.start for m in wanted])
            months = sorted(existing(session))
        run.report(True, f"made {', '.join(map(str, made)) or 'none'}; partitions for "
                         f"{', '.join(map(str, months))}",
                   runs.PartitionsDetails(made=[str(m) for m in made], months=[str(m) for m in months]))
    return made


@dataclass(frozen=True)
class Overview:
    """The monthly partitions as /drift shows them: every month that has one, and those of the
    current and next month that are missing."""

    months: list[Month]
    missing_ahead: list[Month]


def overview(session: Session, now: dt.datetime) -> Overview | None:
    """The partitions and what is missing ahead of `now`; None on SQLite (no partitions)."""
    if not is_postgres(session):
        return None
    months = sorted(existing(session))
    return Overview(months, [m for m in months_ahead(now) if m not in months])


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
