"""Writing checked records to the database in bulk, inside the caller's transaction.

Call counts never become ORM objects: on SQLite they go in through one ``executemany`` of
``INSERT … ON CONFLICT DO UPDATE``; on PostgreSQL through ``COPY`` (binary, made from pyarrow
columns, for a large file of daily counts; text otherwise). When no stored count lies in
the file's range of periods (the usual case: yesterday's daily file, the last hour's hourly
file), every bucket is new and ``COPY`` writes straight into the table; otherwise it goes into
a temporary staging table and one set-based upsert. Both skip rows whose stored value is
already the same, so a corrected file rewrites only what changed. The foreign key, the keys
and the checks are the same on both paths, and both run inside the caller's transaction.

The count tables have no foreign key: a key checked per row costs three times writing the row,
and dropping it for a large file locked the tables that every page reads. Agreements are never
deleted (a trigger refuses it), so `check_agreements` checks a file's agreement ids against
them in one query before anything is written; `monitor db check` counts orphans. On PostgreSQL
the monthly partitions of the hours written are made first (`partitions.ensure_hourly`), in a
short transaction of their own; nothing here takes an exclusive lock on a table that is read.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from operator import itemgetter
from typing import Any

from sqlalchemy import case, delete, func, select, text, update
from sqlalchemy.orm import Session

from ... import daytable, partitions, weektable
from ...db import dialect_insert, is_postgres
from ...localtime import CPH
from ...models import (
    Agreement,
    AgreementDay,
    AgreementEvent,
    AgreementService,
    CutoverTask,
    HeldCallCount,
    HourlyCallCount,
    ItSystem,
    Municipality,
    Service,
)
from .records import AgreementFile, CallCounts, MunicipalityRecord

COPY_CHUNK_ROWS = 10_000
COPY_BINARY_CHUNK_ROWS = 20_000
first = itemgetter(0)

# (agreement id, day, calls, errors) and (agreement id, UTC hour, Copenhagen day, calls, errors)
DailyRow = tuple[int, dt.date, int, int | None]
HourlyRow = tuple[int, dt.datetime, dt.date, int, int | None]


def known_municipalities(session: Session) -> set[str]:
    """The municipality codes in the database."""
    return set(session.scalars(select(Municipality.code)))


def agreement_ids(session: Session) -> dict[str, int]:
    """Agreement UUID (lower case) → id, for every agreement."""
    return {uuid.lower(): id_ for uuid, id_ in session.execute(select(Agreement.uuid, Agreement.id))}


# --- call counts --------------------------------------------------------------------------

def split_counts(counts: CallCounts, ids: dict[str, int]) -> tuple[Daily, list[HourlyRow], list[dict[str, Any]]]:
    """Rows for the count tables, and the held rows of agreements not known yet.

    The daily rows of a file kept in columns stay a pyarrow table (`DailyTable`), in key order.
    """
    daily: list[DailyRow] = []
    hourly: list[HourlyRow] = []
    held: list[dict[str, Any]] = []
    days: dict[dt.datetime, dt.date] = {}
    if counts.columns is not None:
        table, unknown = counts.columns.split(ids)
        held = [{"agreement_uuid": uuid, "granularity": "day", "period_start": day.isoformat(), "calls": calls,
                 "errors": errors} for uuid, day, calls, errors in unknown]
        return DailyTable(table), hourly, held
    for (uuid, day), (calls, errors, _) in counts.daily.items():
        aid = ids.get(uuid)
        if aid is None:
            held.append({"agreement_uuid": uuid, "granularity": "day", "period_start": day.isoformat(),
                         "calls": calls, "errors": errors})
        else:
            daily.append((aid, day, calls, errors))
    for (uuid, hour), (calls, errors, _) in counts.hourly.items():
        aid = ids.get(uuid)
        if aid is None:
            held.append({"agreement_uuid": uuid, "granularity": "hour", "period_start": hour.isoformat(),
                         "calls": calls, "errors": errors})
            continue
        local_day = days.get(hour)
        if local_day is None:
            local_day = days[hour] = hour.astimezone(CPH).date()
        hourly.append((aid, hour, local_day, calls, errors))
    return daily, hourly, held


class DailyTable:
    """Daily rows as a pyarrow table (agreement_id int32, day date32, calls and errors int64), in
    `agreement_days`' key order (day, agreement_id): a large file's rows, never a Python object each."""

    def __init__(self, table: Any):
        self.table = table

    def __len__(self) -> int:
        return int(self.table.num_rows)

    def agreement_ids(self) -> set[int]:
        import pyarrow.compute as pc

        return set(pc.unique(self.table["agreement_id"]).to_pylist())

    def span(self) -> tuple[dt.date, dt.date]:
        import pyarrow.compute as pc

        bounds = pc.min_max(self.table["day"]).as_py()
        return bounds["min"], bounds["max"]

    def sqlite_rows(self) -> list[tuple[int, str, int, int | None]]:
        """(agreement_id, day as SQLite stores it, calls, errors), in key order."""
        import pyarrow as pa
        import pyarrow.compute as pc

        t = self.table
        return list(zip(t["agreement_id"].to_pylist(), pc.cast(t["day"], pa.string()).to_pylist(),
                        t["calls"].to_pylist(), t["errors"].to_pylist(), strict=True))


# The daily rows of a file: tuples, or a large file's columns.
Daily = list[DailyRow] | DailyTable


class UnknownAgreements(Exception):
    """Counts name agreement ids that do not exist (a bug: ids come from the agreements table)."""

    def __init__(self, ids: list[int]):
        super().__init__(f"no agreement with id {', '.join(map(str, ids[:10]))}")
        self.ids = ids


def check_agreements(session: Session, ids: set[int]) -> list[int]:
    """The ids among `ids` that name no agreement, in one query joining them with `agreements`."""
    if not ids:
        return []
    if is_postgres(session):
        query = text("SELECT x.id FROM unnest(CAST(:ids AS integer[])) AS x(id) "
                     "WHERE NOT EXISTS (SELECT 1 FROM agreements a WHERE a.id = x.id) ORDER BY x.id")
        return list(session.scalars(query, {"ids": sorted(ids)}))
    query = text("SELECT x.value FROM json_each(:ids) AS x "
                 "WHERE NOT EXISTS (SELECT 1 FROM agreements a WHERE a.id = x.value) ORDER BY x.value")
    return list(session.scalars(query, {"ids": json.dumps(sorted(ids))}))


def store_counts(session: Session, daily: Daily, hourly: list[HourlyRow]) -> None:
    """Upsert counts by (agreement, bucket): a later value for the same bucket replaces the earlier.

    A daily count is written as its day row (`agreement_days`, marked daily); the day rows of the
    hours written follow in the same transaction.
    Raises `UnknownAgreements` (and writes nothing) when a row's agreement id does not exist.
    """
    named = daily.agreement_ids() if isinstance(daily, DailyTable) else {row[0] for row in daily}
    missing = check_agreements(session, named | {row[0] for row in hourly})
    if missing:
        raise UnknownAgreements(missing)
    partitions.ensure_hourly(session, {row[1] for row in hourly})
    if is_postgres(session):
        _copy_upsert(session, daily, hourly)
    else:
        _sqlite_upsert(session, daily, hourly)
    # An hour's day is its daily count when one is stored (the file's own included), else the sum
    # of its stored hours.
    assert not (isinstance(daily, DailyTable) and hourly)  # a file in columns holds daily counts only
    written = {(a, d) for a, d, _, _ in daily} if daily and hourly and isinstance(daily, list) else set()
    daytable.refresh(session, ((a, d) for a, _, d, _, _ in hourly if (a, d) not in written))


SQLITE_IMPORT_CACHE_KIB = 65_536
SQLITE_DEFAULT_CACHE_KIB = 2_000


def _sqlite_upsert(session: Session, daily: Daily, hourly: list[HourlyRow]) -> None:
    conn = session.connection()
    big = len(daily) + len(hourly) > 50_000
    if big:  # the indexes of a large file outgrow SQLite's default 2 MB page cache
        conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_IMPORT_CACHE_KIB}")
    try:
        _sqlite_executemany(conn, daily, hourly)
    finally:
        if big:  # the connection goes back to the pool: give the memory back
            conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_DEFAULT_CACHE_KIB}")


def _sqlite_executemany(conn: Any, daily: Daily, hourly: list[HourlyRow]) -> None:
    dialect = conn.dialect
    # Values become what SQLAlchemy itself would store, computed once per distinct value; rows go
    # in sorted by key, which keeps the primary-key index appends local.
    to_day = AgreementDay.__table__.c.day.type.dialect_impl(dialect).bind_processor(dialect) or (lambda v: v)
    to_hour = HourlyCallCount.__table__.c.hour.type.dialect_impl(dialect).bind_processor(dialect) or (lambda v: v)
    if isinstance(daily, DailyTable):
        rows: list[tuple[Any, ...]] = daily.sqlite_rows()
    elif daily:
        days = {d: to_day(d) for d in {row[1] for row in daily}}
        rows = in_daily_key_order([(a, days[d], c, e) for a, d, c, e in daily])
    if daily:
        # A daily count is its day's row, whatever the hours said; an unchanged one is not written.
        conn.exec_driver_sql(
            "INSERT INTO agreement_days (agreement_id, day, calls, errors, daily) VALUES (?, ?, ?, ?, 1) "
            "ON CONFLICT (day, agreement_id) DO UPDATE SET calls = excluded.calls, errors = excluded.errors, daily = 1 "
            "WHERE NOT agreement_days.daily OR agreement_days.calls IS NOT excluded.calls "
            "OR agreement_days.errors IS NOT excluded.errors", rows)
    if hourly:
        hours = {h: to_hour(h) for h in {row[1] for row in hourly}}
        days = {d: to_day(d) for d in {row[2] for row in hourly}}
        rows = [(a, hours[h], days[d], c, e) for a, h, d, c, e in hourly]
        rows.sort()
        conn.exec_driver_sql(
            "INSERT INTO hourly_calls (agreement_id, hour, day, calls, errors) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (agreement_id, hour) DO UPDATE SET day = excluded.day, calls = excluded.calls, "
            "errors = excluded.errors WHERE calls IS NOT excluded.calls OR errors IS NOT excluded.errors",
            rows)


def in_daily_key_order(rows: list[Any]) -> list[Any]:
    """(agreement_id, day, …) rows in `agreement_days`' key order, (day, agreement_id): rows written in
    it are appended at the right edge of the B-tree. Grouped by day, then each day's rows sorted by
    agreement id: several times faster than one sort by a Python key function."""
    by_day: dict[Any, list[Any]] = {}
    for row in rows:
        group = by_day.get(row[1])
        if group is None:
            group = by_day[row[1]] = []
        group.append(row)
    ordered: list[Any] = []
    for day in sorted(by_day):
        group = by_day[day]
        group.sort(key=first)
        ordered += group
    return ordered


def _copy_upsert(session: Session, daily: Daily, hourly: list[HourlyRow]) -> None:
    dbapi = session.connection().connection.driver_connection  # psycopg's own connection
    assert dbapi is not None
    with dbapi.cursor() as cur:
        if daily:
            if isinstance(daily, DailyTable):
                chunks, span, binary = _daily_binary(daily), daily.span(), True
            else:
                chunks, span, binary = _daily_text(daily), (min(r[1] for r in daily), max(r[1] for r in daily)), False
            _copy_then_upsert(cur, "agreement_days", ("agreement_id", "day", "calls", "errors", "daily"),
                              ("integer", "date", "bigint", "bigint", "boolean"), ("day", "agreement_id"),
                              chunks, "day", span, binary)
        if hourly:
            first, last = (h.astimezone(dt.UTC).replace(tzinfo=None)  # stored as naive UTC
                           for h in (min(row[1] for row in hourly), max(row[1] for row in hourly)))
            _copy_then_upsert(cur, "hourly_calls", ("agreement_id", "hour", "day", "calls", "errors"),
                              ("integer", "timestamp", "date", "bigint", "bigint"), ("agreement_id", "hour"),
                              _hourly_text(hourly), "hour", (first, last))


NULL = r"\N"


# The COPY text of a table's rows, made a chunk at a time each time it is called: the server
# takes in one chunk while the next is formatted.
Chunks = Callable[[], Iterator[Any]]  # str, or bytes-like (pyarrow buffers)


def _in_chunks(rows: list[Any], text_of: Callable[[list[Any]], str]) -> Chunks:
    """`rows` as COPY text, `COPY_CHUNK_ROWS` at a time, each chunk made by `text_of`."""
    def chunks() -> Iterator[str]:
        for start in range(0, len(rows), COPY_CHUNK_ROWS):
            yield text_of(rows[start:start + COPY_CHUNK_ROWS])
    return chunks


def _daily_text(rows: list[DailyRow]) -> Chunks:
    """COPY text, in key order (day, agreement), which keeps the key's inserts local."""
    days = {d: d.isoformat() for d in {row[1] for row in rows}}
    rows = in_daily_key_order(rows)
    return _in_chunks(rows, lambda part: "".join([f"{a}\t{days[d]}\t{c}\t{NULL if e is None else e}\tt\n"
                                                  for a, d, c, e in part]))


def _daily_binary(daily: DailyTable) -> Chunks:
    """Binary COPY data of (agreement_id, day, calls, errors, daily), made by numpy a chunk at a time;
    `daily` is in key order."""
    from .columnar import binary_chunks

    return lambda: binary_chunks(daily.table, COPY_BINARY_CHUNK_ROWS)


def _hourly_text(rows: list[HourlyRow]) -> Chunks:
    """COPY text; an hour is written as naive UTC, as `UTCDateTime` stores it."""
    hours = {h: h.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ") for h in {row[1] for row in rows}}
    days = {d: d.isoformat() for d in {row[2] for row in rows}}
    rows.sort()
    return _in_chunks(rows, lambda part: "".join([f"{a}\t{hours[h]}\t{days[d]}\t{c}\t{NULL if e is None else e}\n"
                                                  for a, h, d, c, e in part]))


def _copy_then_upsert(cur: Any, table: str, columns: tuple[str, ...], types: tuple[str, ...], key: tuple[str, ...],
                      text: Chunks, period: str, span: tuple[Any, Any], binary: bool = False) -> None:
    cols = ", ".join(columns)
    if _copy_if_all_new(cur, table, cols, text, period, span, binary):
        return  # every row of the span is the file's (or, should a writer commit meanwhile, as new as it)
    stage = f"import_{table}"
    cur.execute(f"CREATE TEMP TABLE {stage} ({', '.join(f'{c} {t}' for c, t in zip(columns, types, strict=True))})"
                " ON COMMIT DROP")
    _copy(cur, stage, cols, text, binary=binary)
    values = [c for c in columns if c not in key]
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in values)
    changed = " OR ".join(f"{table}.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in values)
    cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} "
                f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates} WHERE {changed}")  # unchanged: not written
    cur.execute(f"DROP TABLE {stage}")


def _copy(cur: Any, table: str, cols: str, text: Chunks, *, binary: bool = False) -> None:
    with cur.copy(f"COPY {table} ({cols}) FROM STDIN" + (" WITH (FORMAT binary)" if binary else "")) as copy:
        for chunk in text():
            copy.write(chunk)


def _stored_between(cur: Any, table: str, period: str, span: tuple[Any, Any]) -> bool:
    """Whether `table` holds any count from span[0] to span[1] (one probe of the period's index)."""
    cur.execute(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE {period} BETWEEN %s AND %s)", span)
    return bool(cur.fetchone()[0])


def _copy_if_all_new(cur: Any, table: str, cols: str, text: Chunks, period: str,
                     span: tuple[Any, Any], binary: bool = False) -> bool:
    """COPY straight into `table` when no stored count lies in the file's periods; False when one does.

    The range probe is one look-up in the period's index. A writer that commits counts of the
    same periods meanwhile makes the COPY fail on the primary key: the savepoint takes it back
    and the caller upserts instead, so the outcome is the same either way.
    """
    from psycopg.errors import UniqueViolation  # psycopg is installed with PostgreSQL only

    if _stored_between(cur, table, period, span):
        return False
    cur.execute("SAVEPOINT import_copy")
    marks_itself = binary and table == "agreement_days" and _may_alter(cur, table)
    try:
        if marks_itself:
            _mark_weeks_quietly(cur, span)
        _copy(cur, table, cols, text, binary=binary)
        if marks_itself:
            cur.execute(f"ALTER TABLE agreement_days ENABLE TRIGGER {DAYS_INSERTED_TRIGGER}")
    except UniqueViolation:
        cur.execute("ROLLBACK TO SAVEPOINT import_copy")  # the trigger's state and the marks with it
        return False
    cur.execute("RELEASE SAVEPOINT import_copy")
    return True


DAYS_INSERTED_TRIGGER = "agreement_days_inserted"  # migration 0026: marks the written weeks stale


def _may_alter(cur: Any, table: str) -> bool:
    """Whether this user may ALTER `table` (it owns it, or is a member of its owner or a superuser)."""
    cur.execute("SELECT pg_has_role(relowner, 'USAGE') FROM pg_class WHERE oid = %s::regclass", (table,))
    return bool(cur.fetchone()[0])


def _mark_weeks_quietly(cur: Any, span: tuple[dt.date, dt.date]) -> None:
    """Mark every week of `span` stale, then switch off the insert trigger of `agreement_days`
    until the caller switches it on again, in this transaction.

    For the large COPY of new day rows: the trigger would first capture every row the COPY
    writes (a transition table, 15 % of the import at a million rows) only to find the weeks
    the span names. The ALTER takes a SHARE ROW EXCLUSIVE lock until the commit, which readers
    do not wait for (other writers of the table do), and no other session ever sees the trigger
    off: the catalog change is this transaction's, undone before it ends.
    """
    week = weektable.PG_WEEK
    cur.execute(f"INSERT INTO agreement_weeks_stale (week) SELECT generate_series({week.format(day='%s::date')}, "
                f"{week.format(day='%s::date')}) ON CONFLICT (week) DO UPDATE SET week = excluded.week", span)
    cur.execute(f"ALTER TABLE agreement_days DISABLE TRIGGER {DAYS_INSERTED_TRIGGER}")


def hold_counts(session: Session, held: list[dict[str, Any]], file_id: int, now: dt.datetime) -> None:
    """Keep counts of agreements not known yet, upserted by (agreement UUID, granularity, period)."""
    if not held:
        return
    stmt = dialect_insert(session)(HeldCallCount)
    stmt = stmt.on_conflict_do_update(
        index_elements=["agreement_uuid", "granularity", "period_start"],
        set_={"calls": stmt.excluded.calls, "errors": stmt.excluded.errors,
              "imported_file_id": stmt.excluded.imported_file_id, "held_at": stmt.excluded.held_at})
    for start in range(0, len(held), 10_000):
        session.execute(stmt, [dict(h, imported_file_id=file_id, held_at=now) for h in held[start:start + 10_000]])


def release_held(session: Session, ids: dict[str, int] | None = None) -> tuple[int, int]:
    """Move held counts whose agreement now exists into the count tables; (rows, agreements) moved."""
    held = session.execute(select(HeldCallCount.id, HeldCallCount.agreement_uuid, HeldCallCount.granularity,
                                  HeldCallCount.period_start, HeldCallCount.calls, HeldCallCount.errors)).all()
    if not held:
        return 0, 0
    ids = agreement_ids(session) if ids is None else ids
    daily: list[DailyRow] = []
    hourly: list[HourlyRow] = []
    moved: list[int] = []
    agreements = set()
    for id_, uuid, granularity, period, calls, errors in held:
        aid = ids.get(uuid.lower())
        if aid is None:
            continue
        if granularity == "day":
            daily.append((aid, dt.date.fromisoformat(period), calls, errors))
        else:
            hour = dt.datetime.fromisoformat(period).astimezone(dt.UTC)
            hourly.append((aid, hour, hour.astimezone(CPH).date(), calls, errors))
        moved.append(id_)
        agreements.add(aid)
    store_counts(session, daily, hourly)
    for start in range(0, len(moved), 10_000):
        session.execute(delete(HeldCallCount).where(HeldCallCount.id.in_(moved[start:start + 10_000])))
    return len(moved), len(agreements)


# --- agreements, municipalities, tasks ----------------------------------------------------

def store_agreements(session: Session, parsed: AgreementFile, now: dt.datetime, file_id: int) -> dict[str, int]:
    """Upsert IT systems, services and agreements; keep history when status, services or validity change.

    Returns counts: created, changed, unchanged.
    """
    insert = dialect_insert(session)
    if parsed.it_systems:
        stmt = insert(ItSystem)
        stmt = stmt.on_conflict_do_update(index_elements=["uuid"], set_={
            "name": func.coalesce(stmt.excluded.name, ItSystem.name),
            "supplier": func.coalesce(stmt.excluded.supplier, ItSystem.supplier)})
        session.execute(stmt, [{"uuid": u, "name": n, "supplier": s} for u, (n, s) in parsed.it_systems.items()])
    if parsed.services:
        stmt = insert(Service)
        stmt = stmt.on_conflict_do_update(index_elements=["id"], set_={"name": func.coalesce(stmt.excluded.name,
                                                                                              Service.name)})
        session.execute(stmt, [{"id": i, "name": n} for i, n in parsed.services.items()])

    existing = {row.uuid.lower(): row for row in session.execute(select(
        Agreement.id, Agreement.uuid, Agreement.municipality_code, Agreement.it_system_uuid, Agreement.status,
        Agreement.valid_from, Agreement.valid_to))}
    services: dict[int, set[str]] = {}
    for aid, sid in session.execute(select(AgreementService.agreement_id, AgreementService.service_id)):
        services.setdefault(aid, set()).add(sid)

    new = [r for u, r in parsed.agreements.items() if u not in existing]
    if new:
        session.execute(Agreement.__table__.insert(), [
            {"uuid": r.uuid, "municipality_code": r.municipality_code, "it_system_uuid": r.it_system_uuid,
             "status": r.status, "valid_from": r.valid_from, "valid_to": r.valid_to,
             "first_seen_at": now, "changed_at": now, "last_seen_at": now} for r in new])
    created: dict[str, int] = {}
    for start in range(0, len(new), 10_000):
        created.update(session.execute(select(Agreement.uuid, Agreement.id).where(
            Agreement.uuid.in_([r.uuid for r in new[start:start + 10_000]]))).all())

    updates: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    add_services: list[dict[str, Any]] = []
    drop_services: list[tuple[int, str]] = []
    changed = 0
    for uuid, record in parsed.agreements.items():
        old = existing.get(uuid)
        aid = created[record.uuid] if old is None else old.id
        have = services.get(aid, set())
        add_services += [{"agreement_id": aid, "service_id": s} for s in sorted(record.services - have)]
        drop_services += [(aid, s) for s in sorted(have - record.services)]
        values = {"id": aid, "last_seen_at": now}
        recorded = old is None or (old.status, have, old.valid_from, old.valid_to) != (
            record.status, record.services, record.valid_from, record.valid_to)
        if old is not None and (recorded or (old.municipality_code, old.it_system_uuid) != (
                record.municipality_code, record.it_system_uuid)):
            changed += 1
            values.update(municipality_code=record.municipality_code, it_system_uuid=record.it_system_uuid,
                          status=record.status, valid_from=record.valid_from, valid_to=record.valid_to,
                          changed_at=now)
        if old is not None:
            updates.append(values)
        if recorded:
            events.append({"agreement_id": aid, "seen_at": now, "status": record.status,
                           "services": ",".join(sorted(record.services)), "valid_from": record.valid_from,
                           "valid_to": record.valid_to, "imported_file_id": file_id})
    # Bulk UPDATE by primary key: one statement per distinct set of columns.
    for keys in {tuple(sorted(u)) for u in updates}:
        session.execute(update(Agreement), [u for u in updates if tuple(sorted(u)) == keys])
    if drop_services:
        for aid, sid in drop_services:
            session.execute(delete(AgreementService).where(AgreementService.agreement_id == aid,
                                                           AgreementService.service_id == sid))
    if add_services:
        session.execute(AgreementService.__table__.insert(), add_services)
    if events:
        session.execute(AgreementEvent.__table__.insert(), events)
    return {"created": len(new), "changed": changed, "unchanged": len(parsed.agreements) - len(new) - changed}


def store_municipalities(session: Session, records: dict[str, MunicipalityRecord], with_access: bool) -> None:
    """Upsert municipalities by code; user_access_control only when the file has that column."""
    stmt = dialect_insert(session)(Municipality)
    columns = ["name", "region", "population", "population_date"] + (["user_access_control"] if with_access else [])
    stmt = stmt.on_conflict_do_update(index_elements=["code"], set_={c: stmt.excluded[c] for c in columns})
    rows = [{"code": r.code, "name": r.name, "region": r.region, "population": r.population,
             "population_date": r.population_date, "user_access_control": r.user_access_control}
            for r in records.values()]
    session.execute(stmt, rows)


def store_tasks(session: Session, tasks: dict[tuple[str, str], tuple[bool, int, dt.date | None]],
                now: dt.datetime) -> None:
    """Upsert cut-over tasks by (municipality, task); `updated_at` moves only when `done` changes.

    The deadline is replaced by the file's (an empty cell clears it).
    """
    stmt = dialect_insert(session)(CutoverTask)
    done_changed = CutoverTask.done != stmt.excluded.done
    stmt = stmt.on_conflict_do_update(
        index_elements=["municipality_code", "task"],
        set_={"done": stmt.excluded.done, "deadline": stmt.excluded.deadline,
              "updated_at": case((done_changed, stmt.excluded.updated_at), else_=CutoverTask.updated_at)},
        where=done_changed | CutoverTask.deadline.is_distinct_from(stmt.excluded.deadline))
    session.execute(stmt, [{"municipality_code": code, "task": task, "done": done, "deadline": deadline,
                            "updated_at": now}
                           for (code, task), (done, _, deadline) in tasks.items()])
