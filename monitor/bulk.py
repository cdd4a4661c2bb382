"""Bulk writes that skip the ORM: COPY on PostgreSQL, one executemany on SQLite.

On PostgreSQL, `foreign_keys_checked_after` has a large COPY's foreign keys checked in one join.

Values must already be in storage form: instants as naive UTC datetimes, days as dates.
On SQLite they are written in the exact text form SQLAlchemy itself writes, so that
comparisons with bound parameters stay correct.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection

from .db import is_postgres


def _sqlite_value(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.UTC).replace(tzinfo=None)
        return v.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def storage_text(v: dt.datetime | dt.date) -> str:
    """The text SQLAlchemy stores for an instant (naive UTC) or a day; PostgreSQL's COPY reads it too."""
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.UTC).replace(tzinfo=None)
        return v.strftime("%Y-%m-%d %H:%M:%S.%f")
    return v.isoformat()


def bulk_insert(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
                *, prepared: bool = False) -> int:
    """Insert `rows` (tuples in `columns` order) into `table`; returns the number written.

    With `prepared`, the rows hold only numbers, strings (see `storage_text`) and None, and are
    written as they are: the fast path for millions of rows.
    """
    raw = conn.connection.driver_connection
    cols = ", ".join(columns)
    n = 0
    if is_postgres(conn):
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:  # type: ignore[union-attr]
            for row in rows:
                if prepared:
                    copy.write_row(row)
                    n += 1
                    continue
                copy.write_row([v.astimezone(dt.UTC).replace(tzinfo=None)
                                if isinstance(v, dt.datetime) and v.tzinfo else v for v in row])
                n += 1
        return n
    marks = ", ".join("?" for _ in columns)
    cur = raw.cursor()  # type: ignore[union-attr]
    batch: list[Sequence[Any]] = []
    for row in rows:
        batch.append(row if prepared else tuple(_sqlite_value(v) for v in row))
        if len(batch) >= 50_000:
            cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", batch)
            n += len(batch)
            batch.clear()
    if batch:
        cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", batch)
        n += len(batch)
    cur.close()
    return n


@contextmanager
def foreign_keys_checked_after(cur: Any, table: str, lock_timeout: str = "2s") -> Iterator[bool]:
    """PostgreSQL: `table`'s foreign keys dropped for the block and added back after it, checking every row.

    PostgreSQL checks a foreign key with one look-up per inserted row; adding one checks every
    row of the table in one join, a fraction of the cost for a large COPY. All of it happens in
    the caller's transaction (`cur`'s), so a rollback restores the constraints as they were.
    Dropping a foreign key locks the table and the one it refers to exclusively until the commit.

    Yields whether they were dropped: False when their locks did not come within `lock_timeout`
    (a long read of either table), waiting for them would deadlock, or the database user does
    not own the table, and the block's rows are then checked one by one as usual. Either way
    every row is checked before the commit, and the constraints afterwards are the ones before,
    by name and definition.
    """
    from psycopg.errors import (  # installed with PostgreSQL only
        DeadlockDetected,
        InsufficientPrivilege,
        LockNotAvailable,
    )

    cur.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname", (table,))
    keys: list[tuple[str, str]] = cur.fetchall()
    cur.execute("SELECT current_setting('lock_timeout')")
    before = cur.fetchone()[0]
    cur.execute("SAVEPOINT bulk_foreign_keys")
    cur.execute("SELECT set_config('lock_timeout', %s, true)", (lock_timeout,))
    try:
        for name, _ in keys:
            cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    except (LockNotAvailable, DeadlockDetected, InsufficientPrivilege):
        cur.execute("ROLLBACK TO SAVEPOINT bulk_foreign_keys")  # also takes the lock_timeout back
        yield False
        return
    cur.execute("RELEASE SAVEPOINT bulk_foreign_keys")
    cur.execute("SELECT set_config('lock_timeout', %s, true)", (before,))
    yield True
    for name, definition in keys:
        cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
