"""One row per agreement and Copenhagen day (`agreement_days`), kept in the writer's transaction.

A day's calls under an agreement are its daily count when one exists, else the sum of its
hourly counts that Copenhagen day, never both (SPEC, "Input formats"). The rating, the
municipality charts and the probes for missing days read that from `agreement_days` instead of
computing it from the counts on every read: a year of hourly rows then costs them what a month
does.

A daily count is written once, as its day row (`daily` true, with its errors): the import of
daily counts writes `agreement_days` and nothing else, and an hour of that day changes nothing.
The rows of days without a daily count (`daily` false) are the sums of their hours; every
writer of hourly counts calls one of these in its own transaction, after writing them:

- `refresh(session, hours)`: the (agreement, day) keys of the hours it wrote (the importer, the
  HTTP import, held counts released, the live demo's files through the inbox);
- `refresh_days(session, first, last)`: every key of a span of days, set-based (the demo loader,
  the hourly retention); with no span, the whole table.

`mismatches(session)` counts the keys where the table and its definition differ, for
`monitor db check`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Date, TextClause, bindparam, text
from sqlalchemy.orm import Session

from .bulk import storage_text
from .db import is_postgres
from .localtime import CPH

STAGE = "agreement_days_stage"

# A day row that is a daily count stays what it is, whatever the hours say.
KEEP_DAILY = "NOT agreement_days.daily AND agreement_days.calls <> excluded.calls"

# The keys' fresh sums of hours, upserted where no daily count holds the key (the hourly key's
# range: one probe each). MATERIALIZED: each key's sum is computed once, not again for the WHERE.
_UPSERT_STAGED = f"""
WITH fresh AS MATERIALIZED (
    SELECT k.day AS day, k.agreement_id AS agreement_id,
           (SELECT sum(h.calls) FROM hourly_calls h
            WHERE h.agreement_id = k.agreement_id AND h.hour >= k.lo AND h.hour < k.hi) AS calls
    FROM {STAGE} k
    WHERE NOT EXISTS (SELECT 1 FROM agreement_days d
                      WHERE d.day = k.day AND d.agreement_id = k.agreement_id AND d.daily))
INSERT INTO agreement_days (day, agreement_id, calls)
SELECT day, agreement_id, calls FROM fresh WHERE calls IS NOT NULL
ON CONFLICT (day, agreement_id) DO UPDATE SET calls = excluded.calls
WHERE {KEEP_DAILY}
"""


def _hour_sums(where_hourly: str = "") -> str:
    """The day rows of days without a daily count, as the hours define them: (day, agreement_id, calls)."""
    return ("SELECT h.day AS day, h.agreement_id AS agreement_id, sum(h.calls) AS calls FROM hourly_calls h WHERE "
            + (f"{where_hourly} AND " if where_hourly else "")
            + "NOT EXISTS (SELECT 1 FROM agreement_days d WHERE d.day = h.day AND d.agreement_id = h.agreement_id "
              "AND d.daily) GROUP BY h.day, h.agreement_id")


def day_span(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants of the Copenhagen day's first midnight and the next (23, 24 or 25 hours apart)."""
    start = dt.datetime.combine(day, dt.time(), CPH).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), CPH).astimezone(dt.UTC)
    return start, end


def refresh(session: Session, hours: Iterable[tuple[int, dt.date]]) -> int:
    """Bring the day rows of the hours just written up to date; returns the number of keys.

    `hours` are the (agreement id, Copenhagen day) of the hourly counts the caller wrote. A key
    whose day row is a daily count is left as it is; any other becomes the sum of its stored
    hours. Counts are only ever added or replaced, so every key touched has hours and keeps a row.
    """
    keys = set(hours)
    if not keys:
        return 0
    spans = {day: day_span(day) for day in {day for _, day in keys}}
    if is_postgres(session):
        _refresh_postgres(session, keys, spans)
    else:
        _refresh_sqlite(session, keys, spans)
    return len(keys)


def _refresh_postgres(session: Session, keys: set[tuple[int, dt.date]],
                      spans: dict[dt.date, tuple[dt.datetime, dt.datetime]]) -> None:
    raw = session.connection().connection.driver_connection  # psycopg's own connection: COPY
    assert raw is not None
    texts = {day: f"{day.isoformat()}\t{storage_text(lo)}\t{storage_text(hi)}" for day, (lo, hi) in spans.items()}
    with raw.cursor() as cur:
        cur.execute(f"CREATE TEMP TABLE {STAGE} (agreement_id integer, day date, lo timestamp, hi timestamp) "
                    "ON COMMIT DROP")
        with cur.copy(f"COPY {STAGE} (agreement_id, day, lo, hi) FROM STDIN") as copy:
            items = list(keys)
            for start in range(0, len(items), 10_000):
                copy.write("".join([f"{a}\t{texts[d]}\n" for a, d in items[start:start + 10_000]]))
        cur.execute(f"ANALYZE {STAGE}")  # a plan for its real size, not the default guess
        cur.execute(_UPSERT_STAGED)
        cur.execute(f"DROP TABLE {STAGE}")


def _refresh_sqlite(session: Session, keys: set[tuple[int, dt.date]],
                    spans: dict[dt.date, tuple[dt.datetime, dt.datetime]]) -> None:
    conn = session.connection()
    # TEXT columns: the values are compared with the count tables' stored text as they are.
    conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} (agreement_id INTEGER, day TEXT, lo TEXT, "
                         "hi TEXT)")
    conn.exec_driver_sql(f"DELETE FROM {STAGE}")
    texts = {day: (day.isoformat(), storage_text(lo), storage_text(hi)) for day, (lo, hi) in spans.items()}
    rows: list[tuple[Any, ...]] = [(a, *texts[d]) for a, d in keys]
    conn.exec_driver_sql(f"INSERT INTO {STAGE} (agreement_id, day, lo, hi) VALUES (?, ?, ?, ?)", rows)
    conn.exec_driver_sql(_UPSERT_STAGED)
    conn.exec_driver_sql(f"DELETE FROM {STAGE}")


def refresh_days(session: Session, first: dt.date | None = None, last: dt.date | None = None) -> None:
    """Make the day rows from `first` to `last` (inclusive; None: unbounded) of days without a
    daily count the sums of their stored hours.

    Set-based: one upsert of the span's sums, then the span's rows of hours with no hour left deleted.
    """
    bounds = [("{t}day >= :first", first), ("{t}day <= :last", last)]
    where = " AND ".join(condition for condition, value in bounds if value is not None)
    params = {name: value for name, value in (("first", first), ("last", last)) if value is not None}
    binds = [bindparam(name, type_=Date()) for name in params]
    conn = session.connection()
    conn.execute(text(
        f"INSERT INTO agreement_days (day, agreement_id, calls) SELECT day, agreement_id, calls "
        f"FROM ({_hour_sums(where.format(t='h.'))}) AS fresh WHERE true "
        f"ON CONFLICT (day, agreement_id) DO UPDATE SET calls = excluded.calls WHERE {KEEP_DAILY}")
        .bindparams(*binds), params)
    conn.execute(text(
        "DELETE FROM agreement_days WHERE " + (f"{where.format(t='')} AND " if where else "") + "NOT daily "
        # Correlated, not a row-value NOT IN over the hourly table: SQLite ran that per row.
        "AND NOT EXISTS (SELECT 1 FROM hourly_calls h WHERE h.day = agreement_days.day "
        "AND h.agreement_id = agreement_days.agreement_id)").bindparams(*binds), params)


def _mismatch_count() -> TextClause:
    definition = f"SELECT day, agreement_id, calls FROM ({_hour_sums()}) AS definition"
    stored = "SELECT day, agreement_id, calls FROM agreement_days WHERE NOT daily"
    return text(f"SELECT count(*) FROM (SELECT day, agreement_id FROM ({stored} EXCEPT {definition}) AS extra "
                f"UNION SELECT day, agreement_id FROM ({definition} EXCEPT {stored}) AS missing) AS differing")


# How many (agreement, day) keys without a daily count the table holds otherwise than their hours
# define them: a row with another sum, a row with no hour behind it, or hours with no row. Reads
# both tables whole.
MISMATCH_COUNT = _mismatch_count()


def mismatches(session: Session) -> int:
    """The number of keys `agreement_days` holds otherwise than their hours define them (0 when kept)."""
    return int(session.connection().execute(MISMATCH_COUNT).scalar_one())
