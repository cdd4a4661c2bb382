"""Bulk writes that skip the ORM: COPY on PostgreSQL, one executemany on SQLite.

Values must already be in storage form: instants as naive UTC datetimes, days as dates.
On SQLite they are written in the exact text form SQLAlchemy itself writes, so that
comparisons with bound parameters stay correct.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
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
