"""The ways call counts reach their tables give the same rows, and each is all or nothing.

On PostgreSQL a file whose periods hold no stored count yet is copied straight into the
table; any other file goes through a staging table and an upsert. A large straight copy has
its foreign keys checked in one join (dropped and added back in the same transaction), unless
their lock does not come in time. On SQLite there is one path. The tests run on both
databases and check the rows and the constraints, not the path's timing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from import_helpers import A1, A2, AGREEMENTS, load, rows, snapshot
from sqlalchemy import text

from monitor.collectors.calls import importer, loaders

HEADER = "period_start,agreement_uuid,calls,errors\n"
LATER = dt.datetime(2020, 11, 29, 9, 0, tzinfo=dt.UTC)


def calls_file(days: range, hours: range, calls: int) -> str:
    """Daily counts of A1 and A2 for November `days`, hourly counts of A1 for `hours` from 27 November 00 UTC."""
    start = dt.datetime(2020, 11, 27, tzinfo=dt.UTC)
    lines = [f"2020-11-{d:02d},{a},{calls + d},{d % 3 or ''}\n" for d in days for a in (A1, A2)]
    lines += [f"{(start + dt.timedelta(hours=h)).isoformat()},{A1},{calls + h},{h % 2}\n" for h in hours]
    return HEADER + "".join(lines)


def stored(engine) -> tuple[list[tuple], list[tuple]]:
    """Daily and hourly rows as (agreement uuid, period text, calls, errors), sorted."""
    daily = rows(engine, "SELECT a.uuid, d.day, d.calls, d.errors FROM daily_calls d "
                         "JOIN agreements a ON a.id = d.agreement_id")
    hourly = rows(engine, "SELECT a.uuid, h.hour, h.day, h.calls, h.errors FROM hourly_calls h "
                          "JOIN agreements a ON a.id = h.agreement_id")
    return (sorted((u, str(d), c, e) for u, d, c, e in daily),
            sorted((u, str(h)[:19], str(d), c, e) for u, h, d, c, e in hourly))


@pytest.fixture
def agreements(engine, now):
    assert load(engine, "agreements", AGREEMENTS, now).outcome == "imported"


@pytest.fixture
def paths(monkeypatch) -> list[bool]:
    """Records, per table written on PostgreSQL, whether the COPY went straight into it."""
    taken: list[bool] = []
    real = loaders._copy_if_all_new

    def spy(*args):
        taken.append(real(*args))
        return taken[-1]

    monkeypatch.setattr(loaders, "_copy_if_all_new", spy)
    return taken


def expected(days: range, hours: range, calls: int) -> tuple[list[tuple], list[tuple]]:
    """The rows `calls_file(days, hours, calls)` describes, in the shape of `stored`."""
    start = dt.datetime(2020, 11, 27)
    cph = dt.timedelta(hours=1)  # Copenhagen is UTC+1 in November
    daily = sorted((a, f"2020-11-{d:02d}", calls + d, (d % 3) or None) for d in days for a in (A1, A2))
    hourly = sorted((A1, str(start + dt.timedelta(hours=h)), str((start + dt.timedelta(hours=h) + cph).date()),
                     calls + h, h % 2) for h in hours)
    return daily, hourly


def test_a_file_of_new_periods_stores_exactly_its_counts(engine, agreements, now, paths):
    result = load(engine, "calls", calls_file(range(1, 21), range(48), 100), now)
    assert result.outcome == "imported", result.report()
    assert stored(engine) == expected(range(1, 21), range(48), 100)
    if engine.dialect.name == "postgresql":
        assert paths == [True, True]  # daily and hourly both copied straight into their tables


def test_a_file_over_stored_periods_replaces_them_and_adds_the_new_ones_as_a_fresh_import_would(
        engine, agreements, now, paths):
    assert load(engine, "calls", calls_file(range(1, 11), range(24), 5), now).outcome == "imported"
    result = load(engine, "calls", calls_file(range(6, 21), range(12, 48), 100), LATER)
    assert result.outcome == "imported", result.report()
    old_daily, old_hourly = expected(range(1, 6), range(12), 5)
    new_daily, new_hourly = expected(range(6, 21), range(12, 48), 100)
    assert stored(engine) == (sorted(old_daily + new_daily), sorted(old_hourly + new_hourly))
    if engine.dialect.name == "postgresql":
        assert paths == [True, True, False, False]  # the second file went through the upsert


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_count_stored_unseen_by_the_probe_sends_the_copy_back_to_the_upsert_with_the_same_result(
        engine, agreements, now, paths, monkeypatch):
    # As when another import commits counts of the same periods between the probe and the COPY.
    assert load(engine, "calls", calls_file(range(10, 12), range(0), 5), now).outcome == "imported"
    monkeypatch.setattr(loaders, "_stored_between", lambda *args: False)
    result = load(engine, "calls", calls_file(range(1, 21), range(0), 100), LATER)
    assert result.outcome == "imported", result.report()
    assert stored(engine) == expected(range(1, 21), range(0), 100)
    assert paths == [True, False]


def test_a_failure_after_the_counts_were_written_leaves_nothing_of_the_file(engine, agreements, now, paths,
                                                                           monkeypatch):
    real = loaders.store_counts

    def write_then_fail(session, daily, hourly):
        real(session, daily, hourly)
        assert session.connection().exec_driver_sql("SELECT count(*) FROM hourly_calls").scalar() == 48
        raise RuntimeError("disk full")

    monkeypatch.setattr(loaders, "store_counts", write_then_fail)
    before = snapshot(engine)
    result = importer._safe_import(engine, "calls", "calls.csv", calls_file(range(1, 21), range(48), 1).encode(), now)
    assert result.outcome == "failed"
    assert snapshot(engine) == before
    if engine.dialect.name == "postgresql":
        assert paths == [True, True]  # the rows had gone straight into the tables, and were taken back


# --- PostgreSQL: a bulk COPY checks the foreign key in one join --------------------------------

def foreign_keys(engine) -> list[tuple]:
    """The count tables' foreign keys: (table, name, definition)."""
    return rows(engine, "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                        "WHERE contype = 'f' AND conrelid IN ('daily_calls'::regclass, 'hourly_calls'::regclass) "
                        "ORDER BY 1, 2")


@pytest.fixture
def bulk(monkeypatch) -> list[bool]:
    """Every file is a bulk load; records, per bulk COPY, whether the foreign keys were dropped for it."""
    dropped: list[bool] = []
    real = loaders.foreign_keys_checked_after

    @contextlib.contextmanager
    def spy(cur, table, lock_timeout):
        with real(cur, table, lock_timeout) as done:
            dropped.append(done)
            yield done

    monkeypatch.setattr(loaders, "BULK_ROWS", 1)
    monkeypatch.setattr(loaders, "foreign_keys_checked_after", spy)
    return dropped



@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_bulk_copy_stores_the_same_rows_and_leaves_the_same_foreign_keys(engine, agreements, now, paths, bulk):
    keys = foreign_keys(engine)
    assert len(keys) == 2
    result = load(engine, "calls", calls_file(range(1, 21), range(48), 100), now)
    assert result.outcome == "imported", result.report()
    assert stored(engine) == expected(range(1, 21), range(48), 100)
    assert paths == [True, True] and bulk == [True, True]
    assert foreign_keys(engine) == keys


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("bulk_rows", [1, 1_000_000], ids=["bulk", "row by row"])
def test_a_count_of_an_agreement_not_in_the_table_is_refused_and_nothing_is_kept(
        engine, agreements, now, monkeypatch, bulk_rows):
    # The import maps every UUID to a stored agreement, so only a bug or a concurrent delete gets
    # here; the database's foreign key is the last check either way.
    monkeypatch.setattr(loaders, "BULK_ROWS", bulk_rows)
    real = loaders.agreement_ids
    monkeypatch.setattr(loaders, "agreement_ids", lambda session: {**real(session), A2.lower(): 999_999})
    keys, before = foreign_keys(engine), snapshot(engine)
    result = importer._safe_import(engine, "calls", "calls.csv", calls_file(range(1, 21), range(48), 1).encode(), now)
    assert result.outcome == "failed"
    assert "ForeignKeyViolation" in result.report() or "foreign key" in result.report()
    assert snapshot(engine) == before
    assert foreign_keys(engine) == keys


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_bulk_copy_that_cannot_lock_the_table_checks_row_by_row_with_the_same_result(
        engine, agreements, now, paths, bulk, monkeypatch):
    monkeypatch.setattr(loaders, "BULK_LOCK_TIMEOUT", "50ms")
    keys = foreign_keys(engine)
    with engine.connect() as reader:  # a long read of the counts (a rating) holds a share lock on the table
        reader.execute(text("SELECT count(*) FROM daily_calls"))
        result = load(engine, "calls", calls_file(range(1, 21), range(48), 100), now)
        reader.rollback()
    assert result.outcome == "imported", result.report()
    assert stored(engine) == expected(range(1, 21), range(48), 100)
    assert bulk == [False, True]  # the reader holds daily_calls only: the hourly counts' keys were dropped
    assert foreign_keys(engine) == keys
    with engine.connect() as conn:  # the lock timeout was the import's own, not left on the connection
        assert conn.execute(text("SHOW lock_timeout")).scalar() == "0"


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_failure_after_a_bulk_copy_leaves_nothing_and_the_foreign_keys_in_place(engine, agreements, now, bulk,
                                                                                 monkeypatch):
    real = loaders.store_counts

    def write_then_fail(session, daily, hourly):
        real(session, daily, hourly)
        raise RuntimeError("disk full")

    monkeypatch.setattr(loaders, "store_counts", write_then_fail)
    keys, before = foreign_keys(engine), snapshot(engine)
    result = importer._safe_import(engine, "calls", "calls.csv", calls_file(range(1, 21), range(48), 1).encode(), now)
    assert result.outcome == "failed"
    assert bulk == [True, True]
    assert snapshot(engine) == before
    assert foreign_keys(engine) == keys


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_database_user_that_does_not_own_the_tables_imports_row_by_row(engine, agreements, now, bulk, db_url):
    from sqlalchemy.engine import make_url

    from monitor.db import make_engine

    role = f"monitor_reader_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:  # may read and write every table, as a deployment's user, but owns none
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"'))
        conn.execute(text(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{role}"'))
    other = make_engine(make_url(db_url).set(username=role).render_as_string(hide_password=False))
    try:
        result = load(other, "calls", calls_file(range(1, 21), range(48), 100), now)
    finally:
        other.dispose()
        with engine.begin() as conn:
            conn.execute(text(f'REASSIGN OWNED BY "{role}" TO CURRENT_USER'))
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
    assert result.outcome == "imported", result.report()
    assert bulk == [False, False]
    assert stored(engine) == expected(range(1, 21), range(48), 100)


# --- every path, any sequence of files ------------------------------------------------------

BUCKETS = st.dictionaries(
    st.tuples(st.sampled_from([A1, A2]), st.integers(1, 20)),
    st.integers(0, 10**9).flatmap(lambda calls: st.tuples(st.just(calls), st.none() | st.integers(0, calls))),
    min_size=1, max_size=25)


def daily_file(buckets: dict) -> str:
    return HEADER + "".join(f"2020-11-{d:02d},{a},{c},{'' if e is None else e}\n" for (a, d), (c, e) in buckets.items())


def reset(engine) -> None:
    with engine.begin() as conn:
        for table in ("daily_calls", "hourly_calls", "held_calls"):
            conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(text("DELETE FROM imported_files WHERE kind = 'calls'"))


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(BUCKETS, min_size=1, max_size=3))
@example(files=[{(A1, 1): (5, None)}, {(A1, 1): (6, 1)}, {(A1, 1): (5, None)}])  # the first file sent again
def test_any_sequence_of_files_leaves_the_same_rows_on_every_path(engine, agreements, now, monkeypatch, files):
    # The model: a later file's count replaces an earlier one's for the same bucket, and a file
    # whose content was imported before changes nothing (the ledger knows it).
    want: dict[tuple[str, int], tuple[int, int | None]] = {}
    seen: set[str] = set()
    for buckets in files:
        if daily_file(buckets) not in seen:
            seen.add(daily_file(buckets))
            want.update(buckets)
    expected_rows = sorted((a, f"2020-11-{d:02d}", c, e) for (a, d), (c, e) in want.items())
    keys = foreign_keys(engine)
    for bulk_rows in (1, 10**9):  # the one-join foreign-key path, and the per-row one
        monkeypatch.setattr(loaders, "BULK_ROWS", bulk_rows)
        reset(engine)
        for i, buckets in enumerate(files):
            result = load(engine, "calls", daily_file(buckets), now + dt.timedelta(minutes=i))
            assert result.outcome in ("imported", "unchanged"), result.report()
        assert stored(engine) == (expected_rows, []), bulk_rows
        assert foreign_keys(engine) == keys
